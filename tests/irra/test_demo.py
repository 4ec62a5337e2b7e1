"""End to end: the IRRA demo config trains on generated CUHK-PEDES, and tools/test.py reproduces its metrics."""
import json
import os.path as osp

import pytest

from tests.helpers import REPO
from tests.helpers import read_scalars as _scalars
from tests.helpers import run_tool as _run


CONFIG = osp.join(REPO, 'configs', 'demo', 'irra_cuhkpedes_demo.py')
CHANCE_R1 = 100.0 * 3 / 48  # 48 test images, 3 per identity: a random ranking hits one first 1 time in 16


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    cwd = tmp_path_factory.mktemp('irra_demo')  # the demo config reads data/demo/cuhk-pedes relative to cwd
    _run(cwd, osp.join(REPO, 'tools', 'make_demo_data.py'), str(cwd / 'data' / 'demo'), '--datasets', 'cuhk-pedes')
    work_dir = cwd / 'work'
    _run(cwd, osp.join(REPO, 'tools', 'train.py'), CONFIG, '--work-dir', str(work_dir))
    return cwd, work_dir


@pytest.mark.slow
def test_demo_losses_decrease_and_r1_far_above_chance(trained):
    _, work_dir = trained
    records = _scalars(work_dir)
    for key in ('loss', 'loss_sdm', 'loss_mlm'):
        values = [r[key] for r in records if key in r]
        quarter = max(1, len(values) // 4)
        assert sum(values[-quarter:]) / quarter < sum(values[:quarter]) / quarter, key
    r1 = [r['R1'] for r in records if 'R1' in r]
    assert r1[-1] > 3 * CHANCE_R1, f'text->image R1 {r1} vs chance {CHANCE_R1:.1f}'


@pytest.mark.slow
def test_test_tool_reproduces_logged_metrics(trained):
    cwd, work_dir = trained
    ckpt = open(work_dir / 'last_checkpoint').read().strip()
    out = work_dir / 'test_metrics.json'
    _run(cwd, osp.join(REPO, 'tools', 'test.py'), CONFIG, ckpt, '--work-dir', str(work_dir / 'test'),
         '--out', str(out))
    tested = json.load(open(out))
    logged = [r for r in _scalars(work_dir) if 'R1' in r][-1]
    for key in ('R1', 'R5', 'R10', 'mAP', 'mINP'):
        assert tested[key] == pytest.approx(logged[key], abs=1e-3), key
