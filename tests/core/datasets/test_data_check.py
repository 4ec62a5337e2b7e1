"""tools/dataset_stats.py and the start-up verdict: counts against the official (or demo) counts, every difference
named, duplicates and skipped files listed, exit status."""
import os
import os.path as osp
import shutil
import types

import pytest
from dataset_test_utils import REPO

from plugins.core.datasets.data_check import official_differences, subset_counts, verdict_line
from tests.helpers import load_tool

MARKET_DEMO = osp.join(REPO, 'configs', 'demo', 'baseline_market1501_demo.py')
SYSU_DEMO = osp.join(REPO, 'configs', 'demo', 'cal_sysu_demo.py')


def stats(capsys, config, root, *extra):
    loaders = ('train_dataloader', 'val_dataloader', 'test_dataloader')
    code = load_tool('dataset_stats').main(
        [config, *extra, '--cfg-options', *[f'{loader}.dataset.data_root={root}' for loader in loaders]])
    return code, capsys.readouterr().out


@pytest.fixture
def market_copy(demo_root, tmp_path):
    root = str(tmp_path / 'market1501')
    shutil.copytree(osp.join(demo_root, 'market1501'), root)
    return root


def test_demo_market_counts_then_a_deleted_image(capsys, market_copy):
    code, out = stats(capsys, MARKET_DEMO, market_copy)
    assert code == 0, out
    assert out.count('matches the demo counts') == 2
    assert 'query   |    30 |       94 |' in out and '751 ids / 12,936 images / 6 cameras' in out
    gallery = osp.join(market_copy, 'Market-1501-v15.09.15', 'bounding_box_test')
    os.remove(osp.join(gallery, sorted(n for n in os.listdir(gallery) if n.startswith('00'))[0]))
    code, out = stats(capsys, MARKET_DEMO, market_copy, '--split', 'test')
    assert code == 1
    assert ("DIFFERENCE: Market-1501-v15.09.15/bounding_box_test [split 'test' (gallery)]: 1 image(s) fewer than "
            'the demo generator wrote (219 of 220)') in out
    assert stats(capsys, MARKET_DEMO, market_copy, '--split', 'test', '--allow-partial')[0] == 0


def test_copied_query_image_and_skipped_file_named(capsys, market_copy):
    layout = osp.join(market_copy, 'Market-1501-v15.09.15')
    query = sorted(os.listdir(osp.join(layout, 'query')))[0]
    shutil.copy(osp.join(layout, 'query', query), osp.join(layout, 'bounding_box_test', query[:-4] + ' (copy).jpg'))
    open(osp.join(layout, 'query', 'Thumbs.db'), 'w').close()
    code, out = stats(capsys, MARKET_DEMO, market_copy, '--split', 'test', '--allow-partial')
    assert code == 1  # duplicates fail even with --allow-partial
    assert 'BYTE-IDENTICAL: 1 group(s)' in out and query in out
    assert 'PARTIAL NAME: 1 file(s)' in out and f'{query[:-4]} (copy).jpg' in out
    assert "skipped by the layout's parser: 1 file(s):" in out and 'Thumbs.db' in out


def test_missing_camera_folders(capsys, demo_root, tmp_path):
    root = str(tmp_path / 'sysu')
    shutil.copytree(osp.join(demo_root, 'sysu-mm01'), root)
    with open(osp.join(root, 'exp', 'test_id.txt')) as f:
        test_id = int(f.read().split(',')[0])
    person = next(osp.join(root, f'cam{c}', f'{test_id:04d}') for c in (1, 2, 4, 5)
                  if osp.isdir(osp.join(root, f'cam{c}', f'{test_id:04d}')))
    n_images = len(os.listdir(person))
    shutil.rmtree(person)  # one camera's folder of one person: the parser accepts it (not every camera saw everyone)
    code, out = stats(capsys, SYSU_DEMO, root, '--split', 'test')
    rel = osp.relpath(person, root)
    assert code == 1 and f'DIFFERENCE: {rel} [folder missing]: {n_images} image(s) fewer' in out
    shutil.rmtree(osp.join(root, 'cam2'))  # a whole camera folder
    code, out = stats(capsys, SYSU_DEMO, root, '--split', 'test')
    assert code == 1 and 'CANNOT BUILD' in out and osp.join(root, 'cam2') in out


def fake_market(split, images_per_id):
    """A data_list of a Market-1501 split: ``images_per_id[pid]`` images per id over cameras 0..5."""
    infos = []
    for pid, n in images_per_id.items():
        for k in range(n):
            infos.append(dict(gt_label=pid, img_path=f'/m/{pid}_{k}.jpg', camid=k % 6, modality='image',
                              split_role=split))
    return infos


def test_official_counts_every_difference_named(tmp_path):
    ds = types.SimpleNamespace(DATASET_NAME='market1501', split='train', data_root=str(tmp_path))
    per_id = {pid: 18 if pid < 169 else 17 for pid in range(751)}  # 169 * 18 + 582 * 17 = 12,936
    infos = fake_market('train', per_id)
    assert len(infos) == 12936
    assert official_differences(ds, subset_counts(infos)) == []
    assert verdict_line(ds, infos) == "Data check: SimpleNamespace split 'train' matches the official counts"
    fewer = [i for i in infos if not (i['gt_label'] == 3 and i['camid'] == 2)]
    expected = "split 'train' train: 12,933 images, official 12,936 (3 fewer)"
    assert official_differences(ds, subset_counts(fewer)) == [expected]
    no_cam = [i for i in infos if i['camid'] != 4]
    diffs = official_differences(ds, subset_counts(no_cam))
    assert "split 'train' train: 5 cameras, official 6 (1 fewer); cameras found: 0, 1, 2, 3, 5" in diffs
    assert 'DIFFERS from the official counts' in verdict_line(ds, no_cam)


def test_build_logs_the_verdict(demo_root):
    from mmengine.logging import MMLogger

    from plugins.core.datasets import Market1501
    lines = []
    logger = MMLogger.get_current_instance()
    logger.addFilter(lambda record: lines.append(record.getMessage()) or True)
    Market1501(osp.join(demo_root, 'market1501'), split='train')
    assert "Data check: Market1501 split 'train' matches the demo counts" in lines
