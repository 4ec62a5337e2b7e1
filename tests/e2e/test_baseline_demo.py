"""The README demo end to end: train, test from checkpoint, 2-process gloo training and evaluation.

Exact resume is tested in tests/reliability/test_exact_resume.py.
"""
import json
import os.path as osp

import pytest

from tests.helpers import REPO, assert_demo_learned, launcher_port, read_scalars, run_tool

CONFIG = osp.join(REPO, 'configs', 'demo', 'baseline_market1501_demo.py')
TRAIN, TEST = osp.join(REPO, 'tools', 'train.py'), osp.join(REPO, 'tools', 'test.py')
CHANCE_R1 = 100.0 / 30  # about 30 test identities in the demo Market-1501


@pytest.fixture(scope='module')
def trained(demo_root):
    work_dir = demo_root / 'work_dirs' / 'baseline'
    run_tool(demo_root, TRAIN, CONFIG, '--work-dir', str(work_dir))
    return work_dir


@pytest.mark.slow
def test_training_loss_decreases_and_r1_above_chance(trained):
    records = read_scalars(trained)
    assert_demo_learned(records)
    r1 = [r['R1'] for r in records if 'R1' in r]
    assert r1 and r1[-1] > 5 * CHANCE_R1


@pytest.mark.slow
def test_test_tool_reproduces_logged_metrics(trained, demo_root):
    ckpt = open(trained / 'last_checkpoint').read().strip()
    out = trained / 'test_metrics.json'
    run_tool(demo_root, TEST, CONFIG, ckpt, '--work-dir', str(trained / 'test'), '--out', str(out))
    tested = json.load(open(out))
    logged = [r for r in read_scalars(trained) if 'R1' in r][-1]
    for key in ('R1', 'mAP', 'mINP'):
        assert tested[key] == pytest.approx(logged[key], abs=1e-3)


@pytest.mark.slow
def test_two_process_gloo_training_and_evaluation_match_single_process(trained, demo_root):
    work_dir = demo_root / 'work_dirs' / 'baseline_dist'
    env = dict(PORT=launcher_port())
    run_tool(demo_root, osp.join(REPO, 'tools', 'dist_train.sh'), CONFIG, '2', '--work-dir', str(work_dir),
             '--cfg-options', 'train_cfg.max_epochs=1', env=env)
    ckpt = str(work_dir / 'epoch_1.pth')
    single, dist = work_dir / 'single.json', work_dir / 'dist.json'
    run_tool(demo_root, TEST, CONFIG, ckpt, '--work-dir', str(work_dir / 't1'), '--out', str(single))
    run_tool(demo_root, osp.join(REPO, 'tools', 'dist_test.sh'), CONFIG, ckpt, '2',
             '--work-dir', str(work_dir / 't2'), '--out', str(dist), env=env)
    a, b = json.load(open(single)), json.load(open(dist))
    for key in ('R1', 'R5', 'mAP', 'mINP'):
        assert a[key] == pytest.approx(b[key], abs=1e-4)
