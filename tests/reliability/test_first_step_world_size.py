"""``bash tools/dist_train.sh CFG 2`` takes the same first step as ``python tools/train.py CFG`` for every demo
config, with the configs' random augmentation on (issue 23's acceptance).

Each demo config is wrapped in a config that only swaps the optimizer for plain SGD (the step is then the
gradient, so the comparison sees every term of it) and adds a hook that records the first step
(tests/reliability/first_step_hook.py). Update error = ||update_2p - update_1p|| / ||update_1p|| over all
parameters; before the exact distributed computations it was 0.1 to 1.1 (issue 23).
"""
import glob
import json
import os.path as osp

import pytest
import torch

from tests.helpers import REPO, launcher_port, make_demo_data, run_tool

DEMOS = sorted(glob.glob(osp.join(REPO, 'configs', 'demo', '*.py')))
WRAPPER = """_base_ = [{config!r}]
custom_imports = dict(imports=['plugins.mmengine_patches', 'tests.reliability.first_step_hook'],
                      allow_failed_imports=False)
optim_wrapper = dict(optimizer=dict(_delete_=True, type='SGD', lr={lr!r}, weight_decay=0.0))
custom_hooks = {hooks!r}
"""


@pytest.fixture(scope='module')
def demo_cwd(tmp_path_factory):
    cwd = tmp_path_factory.mktemp('first_step')
    make_demo_data(cwd / 'data' / 'demo')
    return cwd


def _wrapper(cwd, config, record=True):
    """A config of ``config`` with plain SGD at its lr and (``record``) the first-step recorder after its hooks."""
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    hooks = [dict(h) for h in cfg.to_dict().get('custom_hooks', [])]
    hooks += [dict(type='FirstStepRecorderHook')] if record else []
    path = cwd / f'first_step_{"" if record else "plain_"}{osp.basename(config)}'
    path.write_text(WRAPPER.format(config=config, lr=cfg.optim_wrapper.optimizer.lr, hooks=hooks))
    return path


def _step(work_dir):
    before, after = torch.load(work_dir / 'before.pth'), torch.load(work_dir / 'after.pth')
    update = torch.cat([(after[n] - before[n]).flatten().double() for n in sorted(before)])
    losses = [json.load(open(p)) for p in sorted(glob.glob(str(work_dir / 'losses_rank*.json')))]
    return update, losses


@pytest.mark.slow
@pytest.mark.parametrize('config', DEMOS, ids=lambda p: osp.splitext(osp.basename(p))[0])
def test_two_processes_take_the_one_process_first_step(demo_cwd, config):
    wrapper = _wrapper(demo_cwd, config)
    name = osp.splitext(osp.basename(config))[0]
    one, two = demo_cwd / 'work' / f'{name}_1p', demo_cwd / 'work' / f'{name}_2p'
    run_tool(demo_cwd, osp.join(REPO, 'tools', 'train.py'), wrapper, '--work-dir', str(one))
    run_tool(demo_cwd, osp.join(REPO, 'tools', 'dist_train.sh'), wrapper, '2', '--work-dir', str(two),
             env=dict(PORT=launcher_port()))
    update_1p, (losses_1p, ) = _step(one)
    update_2p, losses_2p = _step(two)
    assert len(losses_2p) == 2 and update_1p.norm() > 0
    for rank_losses in losses_2p:  # every rank logs the 1-process (global) value of every loss
        for key, value in losses_1p.items():
            if key.startswith('loss'):
                assert rank_losses[key] == pytest.approx(value, rel=1e-4, abs=1e-6), (key, rank_losses, losses_1p)
    error = ((update_2p - update_1p).norm() / update_1p.norm()).item()
    # float32 floor: the first convolution's gradient passes every BatchNorm backward, and its sum over the
    # batch runs in another order at 2 processes (baseline: 1.5e-4 there, every other parameter < 1e-4; the
    # float64 tests of each method's loss path agree to 1e-13)
    assert error < 5e-4, f'{name}: update error {error:.2e} between 2 processes and 1'


@pytest.mark.slow
def test_a_checkpoint_of_two_processes_resumes_with_one_at_the_same_next_step(demo_cwd):
    """An epoch trained by 2 processes, then the next step resumed from its checkpoint by 1 and by 2 processes."""
    config = osp.join(REPO, 'configs', 'demo', 'baseline_market1501_demo.py')
    plain, record = _wrapper(demo_cwd, config, record=False), _wrapper(demo_cwd, config)
    first = demo_cwd / 'work' / 'resume_first'
    run_tool(demo_cwd, osp.join(REPO, 'tools', 'dist_train.sh'), plain, '2', '--work-dir', str(first),
             '--cfg-options', 'train_cfg.max_epochs=1', env=dict(PORT=launcher_port()))
    ckpt = first / 'epoch_1.pth'
    one, two = demo_cwd / 'work' / 'resume_1p', demo_cwd / 'work' / 'resume_2p'
    run_tool(demo_cwd, osp.join(REPO, 'tools', 'train.py'), record, '--work-dir', str(one), '--resume', str(ckpt))
    run_tool(demo_cwd, osp.join(REPO, 'tools', 'dist_train.sh'), record, '2', '--work-dir', str(two),
             '--resume', str(ckpt), env=dict(PORT=launcher_port()))
    update_1p, (losses_1p, ) = _step(one)
    update_2p, losses_2p = _step(two)
    before = torch.load(one / 'before.pth')
    resumed = torch.load(ckpt)['state_dict']
    assert all(torch.equal(before[n], resumed[n]) for n in before)  # the step starts from the checkpoint
    for key, value in losses_1p.items():
        if key.startswith('loss'):
            assert losses_2p[0][key] == pytest.approx(value, rel=1e-4, abs=1e-6), key
    error = ((update_2p - update_1p).norm() / update_1p.norm()).item()
    assert error < 5e-4, f'resumed step: update error {error:.2e} between 2 processes and 1'
