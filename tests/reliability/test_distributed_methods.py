"""Every method's demo trains in 2 gloo processes on CPU, and 2-process testing equals 1-process testing.

One demo per method (the demo of its benchmark model, from the metafiles), except where the demo's metafile entry
names another test that covers it (``Two-Process Test``: the baseline's tests/e2e/test_baseline_demo.py). One
short epoch per method: what is tested is the distributed plumbing (process group, DDP wrapper without CUDA,
samplers split across ranks, features of every rank gathered once), not how well the model learns.
"""
import json
import os
import os.path as osp

import pytest

from plugins.core.metafile import benchmark_models, load_model_index
from tests.helpers import REPO, launcher_port, make_demo_data, run_tool

#: method -> the demo spec of its benchmark model (configs/<method>/metafile.yml)
DEMOS = {model.collection: model.demo for model in benchmark_models(load_model_index(REPO))
         if model.demo.two_process_test is None}


@pytest.fixture(scope='module')
def demo_cwd(tmp_path_factory):
    """A working directory with ``data/demo`` holding the layouts the demo configs read."""
    cwd = tmp_path_factory.mktemp('dist_methods')
    make_demo_data(cwd / 'data' / 'demo', *sorted({d for demo in DEMOS.values() for d in demo.data_sets}))
    return cwd


@pytest.mark.slow
@pytest.mark.parametrize('method', sorted(DEMOS))
def test_two_process_training_and_evaluation(demo_cwd, method):
    config = osp.join(REPO, DEMOS[method].config)
    work_dir = demo_cwd / 'work_dirs' / method
    # one epoch, no validation during training (each rank keeps its own BatchNorm statistics there)
    # another pytest-xdist worker may run a distributed test at the same time: a port of its own
    env = dict(PORT=launcher_port())
    run_tool(demo_cwd, osp.join(REPO, 'tools', 'dist_train.sh'), config, '2', '--work-dir', str(work_dir),
             '--cfg-options', 'train_cfg.max_epochs=1', 'train_cfg.val_interval=2', env=env)
    ckpt = work_dir / 'epoch_1.pth'
    assert ckpt.is_file(), sorted(os.listdir(work_dir))

    single, dist = work_dir / 'single.json', work_dir / 'dist.json'
    run_tool(demo_cwd, osp.join(REPO, 'tools', 'test.py'), config, str(ckpt), '--work-dir', str(work_dir / 't1'),
             '--out', str(single))
    run_tool(demo_cwd, osp.join(REPO, 'tools', 'dist_test.sh'), config, str(ckpt), '2',
             '--work-dir', str(work_dir / 't2'), '--out', str(dist), env=env)
    a, b = json.load(open(single)), json.load(open(dist))
    assert set(a) == set(b) and {'R1', 'mAP'} <= set(a), (a, b)
    for key in a:  # the metrics (the notes beside them, e.g. model_selection, are equal as well)
        assert a[key] == (pytest.approx(b[key], abs=1e-4) if isinstance(a[key], float) else b[key]), (key, a, b)
