"""CASN demos end to end (IDE and PCB) on generated Market-1501: losses fall, R1 far above chance, the saved
checkpoint reproduces the logged metric, the GradCAMHook wrote overlays, tools/visualize_attention.py runs."""
import glob
import json
import os.path as osp

import cv2
import pytest

from tests.helpers import REPO, assert_demo_learned, data_root_options, load_tool, make_demo_data
from tests.helpers import read_scalars as scalars


#: demo Market-1501 test set: 30 query ids among 32 gallery ids (+ distractors); random R1 is about 1/32
CHANCE_R1 = 100.0 / 32


def config(head):
    return osp.join(REPO, 'configs', 'demo', f'casn_{head}_market1501_demo.py')


@pytest.fixture(scope='module')
def market(tmp_path_factory):
    root = tmp_path_factory.mktemp('casn_demo')
    return make_demo_data(root, 'market1501')


def train(market, head):
    work_dir = market / f'work_{head}'
    load_tool('train').main([config(head), '--work-dir', str(work_dir),
                             '--cfg-options', *data_root_options(market / 'market1501')])
    return work_dir


def check_training(work_dir):
    records = scalars(work_dir)
    for key in ('loss_id', 'loss_ia', 'loss_sia', 'loss_sa'):  # every term is logged
        assert any(key in r for r in records), key
    assert_demo_learned(records, ('loss', 'loss_id'))
    r1 = [r['R1'] for r in records if 'R1' in r]
    assert r1 and max(r1) > 6 * CHANCE_R1, r1
    return records


@pytest.mark.slow
def test_pcb_demo_trains_tests_and_visualises(market):
    work_dir = train(market, 'pcb')
    records = check_training(work_dir)

    # the hook wrote viewable overlays after every validation
    panels = sorted(glob.glob(str(work_dir / 'gradcam' / 'epoch_3' / '*.png')))
    assert len(panels) == 4
    panel = cv2.imread(panels[0])
    assert panel.shape[0] >= 256 and panel.shape[1] == 3 * (panel.shape[1] // 3) and panel.std() > 10

    # testing the last checkpoint reproduces the logged metric (and the hook runs at test time)
    ckpt = open(work_dir / 'last_checkpoint').read().strip()
    out = work_dir / 'test.json'
    load_tool('test').main([config('pcb'), ckpt, '--work-dir', str(work_dir / 'test'), '--out', str(out),
                            '--cfg-options', *data_root_options(market / 'market1501')])
    tested = json.load(open(out))
    logged = [r for r in records if 'R1' in r][-1]
    assert tested['R1'] == pytest.approx(logged['R1'], abs=1e-3)
    assert tested['mAP'] == pytest.approx(logged['mAP'], abs=1e-3)
    assert len(glob.glob(str(work_dir / 'test' / 'gradcam' / 'test' / '*.png'))) == 4

    # the visualiser on chosen images and a query-gallery pair
    query = sorted(glob.glob(str(market / 'market1501' / '*' / 'query' / '*.jpg')))
    gallery = sorted(glob.glob(str(market / 'market1501' / '*' / 'bounding_box_test' / '*.jpg')))
    same_id = next(g for g in gallery if osp.basename(g)[:4] == osp.basename(query[0])[:4])
    vis_dir = work_dir / 'vis'
    written = load_tool('visualize_attention').main([
        config('pcb'), ckpt, '--images', query[0], query[1], '--pair', query[0], same_id,
        '--out', str(vis_dir)])
    assert len(written) == 3 and all(osp.isfile(p) for p in written)  # 2 images + 1 pair (no grid)
    pair = json.load(open(vis_dir / 'pairs.json'))[0]
    assert pair['attention_distance'] >= 0 and pair['gallery'] == same_id
    img = cv2.imread(written[0])
    assert img.ndim == 3 and img.dtype.name == 'uint8' and img.max() > img.min()


@pytest.mark.slow
def test_ide_demo_trains(market):
    check_training(train(market, 'ide'))
