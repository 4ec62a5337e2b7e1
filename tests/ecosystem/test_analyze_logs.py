"""tools/analyze_logs.py on a hand-written mmengine ``vis_data/scalars.json``."""
import json

import pytest

from tests.helpers import load_tool

# two epochs of 3 logged training steps each, a validation record after each epoch (step = epoch)
RECORDS = [
    dict(lr=0.1, loss=3.0, loss_id=2.0, time=9.0, epoch=1, iter=5, step=5),  # data loader start: an outlier
    dict(lr=0.1, loss=2.5, loss_id=1.8, time=1.0, epoch=1, iter=10, step=10),
    dict(lr=0.1, loss=2.0, loss_id=1.5, time=2.0, epoch=1, iter=15, step=15),
    dict(R1=40.0, mAP=20.0, time=0.5, data_time=0.1, step=1),  # validation: its time is not a training time
    dict(lr=0.1, loss=1.5, loss_id=1.2, time=7.0, epoch=2, iter=20, step=20),
    dict(lr=0.1, loss=1.2, loss_id=1.0, time=3.0, epoch=2, iter=25, step=25),
    dict(lr=0.1, loss=1.0, loss_id=0.9, time=5.0, epoch=2, iter=30, step=30),
    dict(R1=55.0, mAP=30.0, time=0.5, data_time=0.1, step=2),
]


@pytest.fixture
def work_dir(tmp_path):
    vis_data = tmp_path / '20240101_000000' / 'vis_data'
    vis_data.mkdir(parents=True)
    (vis_data / 'scalars.json').write_text(''.join(json.dumps(r) + '\n' for r in RECORDS))
    return tmp_path


def test_plot_curve_writes_png_of_expected_size(work_dir, tmp_path):
    from PIL import Image
    out = tmp_path / 'plots' / 'curves.png'
    load_tool('analyze_logs').main(['plot_curve', str(work_dir), '--keys', 'loss', 'loss_id', 'R1',
                                    '--out', str(out)])
    with Image.open(out) as image:
        assert image.format == 'PNG'
        assert image.size == (800, 900)  # 8 in wide, 3 in per key, 100 dpi
    assert [p.name for p in out.parent.iterdir()] == ['curves.png']  # atomic: no temporary file left


def test_curves_use_iterations_for_losses_and_epochs_for_metrics(work_dir):
    tool = load_tool('analyze_logs')
    records = tool.load_scalars(str(work_dir))
    assert tool.curve(records, 'loss') == ([5, 10, 15, 20, 25, 30], [3.0, 2.5, 2.0, 1.5, 1.2, 1.0], 'iteration')
    assert tool.curve(records, 'R1') == ([1, 2], [40.0, 55.0], 'epoch')


def test_missing_key_names_it_and_lists_available(work_dir, tmp_path):
    tool = load_tool('analyze_logs')
    with pytest.raises(SystemExit) as error:
        tool.main(['plot_curve', str(work_dir), '--keys', 'loss', 'R5', 'loss_tri', '--out', str(tmp_path / 'x.png')])
    message = str(error.value)
    assert 'no R5, loss_tri in the log' in message
    assert 'available keys: lr, loss, loss_id, time, R1, mAP, data_time' in message
    assert not (tmp_path / 'x.png').exists()


def test_cal_train_time(work_dir, capsys):
    tool = load_tool('analyze_logs')
    (stats, ) = tool.main(['cal_train_time', str(work_dir / '20240101_000000' / 'vis_data' / 'scalars.json')])
    # first record of each epoch dropped: epoch 1 -> (1 + 2) / 2, epoch 2 -> (3 + 5) / 2; validation times ignored
    assert stats['epochs'] == {1: 1.5, 2: 4.0}
    assert stats['average'] == pytest.approx(11 / 4)
    assert stats['slowest'] == (2, 4.0) and stats['fastest'] == (1, 1.5)
    assert stats['std'] == pytest.approx(1.25)
    assert 'average iter time: 2.7500 s/iter' in capsys.readouterr().out
    (with_outliers, ) = tool.cal_train_time([str(work_dir)], include_outliers=True)
    assert with_outliers['average'] == pytest.approx(27 / 6)
