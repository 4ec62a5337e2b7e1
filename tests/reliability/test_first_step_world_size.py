"""``bash tools/dist_train.sh CFG 2`` takes the same first step as ``python tools/train.py CFG`` for every demo
config, with the configs' own pipeline and random augmentation (issue 23's acceptance).

Each demo config is wrapped in a config that only swaps the optimizer for plain SGD (the step is then the
gradient, so the comparison sees every term of it) and adds a hook that records the first step
(tests/reliability/first_step_hook.py). Update error = ||update_2p - update_1p|| / ||update_1p|| over all
parameters; before the exact distributed computations it was 0.1 to 1.1 in float32 (issue 23).

The demo configs train in float32, as users run them (issue 33: in float64 cal_regdb_demo agreed to 7.5e-14,
in float32 it was 7.2e-3 off: a ReLU input of -7.7e-7 at 1 process and +1.8e-6 at 2, from the last bit of the
BatchNorm statistics, passed a gradient at one world size only). The toy method and mmpretrain's launcher train
in float64, so that the comparison there sees the computation itself and not float32 summation order.
"""
import glob
import json
import os.path as osp

import mmpretrain
import pytest
import torch

from tests.helpers import REPO, launcher_port, make_demo_data, run_tool
from tests.toy_method.toy_reid import write_toy_config

MMPRETRAIN_TRAIN = osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'tools', 'train.py')  # = `mim train`
FLOAT64 = dict(FIRST_STEP_DTYPE='float64')  # tests/reliability/first_step_hook.py then trains in float64
# float32: the update agrees to float32 summation order (cal_regdb_demo 5.5e-6, the other demos 4e-6 to 3.6e-5,
# measured), except where a gradient sums per-sample terms that cancel: the baseline's first convolution
# (1.3e-4 between 2 processes and 1, as between 1 and 2 threads of one process)
FLOAT32_BOUND = 1e-4
FLOAT32_BOUNDS = {'ReIDBaseline': 3e-4}  # by model type: every demo of that model (one or several data sets)
DEMOS = sorted(glob.glob(osp.join(REPO, 'configs', 'demo', '*.py')))
WRAPPER = """_base_ = [{config!r}]
custom_imports = dict(imports={imports!r}, allow_failed_imports=False)
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
    imports = list(cfg.get('custom_imports', {}).get('imports', [])) + ['tests.reliability.first_step_hook']
    path.write_text(WRAPPER.format(config=str(config), imports=imports, lr=cfg.optim_wrapper.optimizer.lr,
                                   hooks=hooks))
    # the config's own pipeline, augmentation included
    assert Config.fromfile(path).train_dataloader.dataset.pipeline == cfg.train_dataloader.dataset.pipeline
    return path


def _step(work_dir):
    before, after = torch.load(work_dir / 'before.pth'), torch.load(work_dir / 'after.pth')
    update = torch.cat([(after[n] - before[n]).flatten().double() for n in sorted(before)])
    losses = [json.load(open(p)) for p in sorted(glob.glob(str(work_dir / 'losses_rank*.json')))]
    return update, losses


def _one_process(cwd, wrapper, name, env=None):
    """The recorded first step of ``python tools/train.py`` (float64 with ``env=FLOAT64``; run once per config,
    dtype and module)."""
    work_dir = cwd / 'work' / f'{name}_{"float64" if env else "float32"}_1p'
    if not (work_dir / 'after.pth').exists():
        run_tool(cwd, osp.join(REPO, 'tools', 'train.py'), wrapper, '--work-dir', str(work_dir), env=env)
    return _step(work_dir)


def _assert_same_step(name, one, two, float64=True, model_type=None):
    (update_1p, (losses_1p, )), (update_2p, losses_2p) = one, two
    assert len(losses_2p) == 2 and update_1p.norm() > 0
    for rank_losses in losses_2p:  # every rank logs the 1-process (global) value of every loss
        for key, value in losses_1p.items():
            if key.startswith('loss'):
                assert rank_losses[key] == pytest.approx(value, rel=1e-9 if float64 else 2e-5,
                                                         abs=1e-12 if float64 else 1e-7), (key, rank_losses, losses_1p)
    error = ((update_2p - update_1p).norm() / update_1p.norm()).item()
    # in float64 the whole launch agrees to ~1e-12 (baseline 4.8e-13); the bound leaves room for the float32
    # islands a model may keep (explicit casts), and is 4 orders below issue 23's 1e-4
    bound = 1e-8 if float64 else FLOAT32_BOUNDS.get(model_type, FLOAT32_BOUND)
    assert error < bound, f'{name}: update error {error:.2e} between 2 processes and 1 (bound {bound:.0e})'
    print(f'first-step update error {name} ({"float64" if float64 else "float32"}): {error:.2e}')


@pytest.mark.slow
@pytest.mark.parametrize('config', DEMOS, ids=lambda p: osp.splitext(osp.basename(p))[0])
def test_two_processes_take_the_one_process_first_step(demo_cwd, config):
    """In float32, the dtype the demos train in."""
    _dist_train_takes_the_one_process_step(demo_cwd, config, osp.splitext(osp.basename(config))[0], float64=False)


def _dist_train_takes_the_one_process_step(cwd, config, name, float64=True):
    wrapper, env = _wrapper(cwd, config), (FLOAT64 if float64 else {})
    two = cwd / 'work' / f'{name}_2p'
    run_tool(cwd, osp.join(REPO, 'tools', 'dist_train.sh'), wrapper, '2', '--work-dir', str(two),
             env=dict(PORT=launcher_port(), **env))
    from mmengine.config import Config
    _assert_same_step(name, _one_process(cwd, wrapper, name, env), _step(two), float64,
                      model_type=Config.fromfile(config).model.type)


@pytest.mark.slow
def test_the_toy_method_at_two_processes_takes_the_one_process_first_step(demo_cwd):
    """A method outside plugins/ (tests/toy_method, only the model contract) gets the same guarantee."""
    config = write_toy_config(demo_cwd / 'toy_reid_market1501.py', demo_cwd / 'data' / 'demo' / 'market1501')
    _dist_train_takes_the_one_process_step(demo_cwd, config, 'toy_reid')


@pytest.mark.slow
def test_mmpretrain_own_launcher_with_two_processes_takes_the_one_process_first_step(demo_cwd):
    """``torchrun --nproc_per_node 2 <mmpretrain>/.mim/tools/train.py CFG --launcher pytorch`` (what
    ``mim train mmpretrain CFG --launcher pytorch --gpus 2`` runs) builds the config's ReIDRunner, which starts the
    gloo group on a machine without CUDA: the same first step as this repository's 1-process launcher."""
    config = osp.join(REPO, 'configs', 'demo', 'baseline_market1501_demo.py')
    wrapper, name = _wrapper(demo_cwd, config), 'baseline_market1501_demo'
    two = demo_cwd / 'work' / f'{name}_mmpretrain_2p'
    run_tool(demo_cwd, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_port', launcher_port(),
             MMPRETRAIN_TRAIN, wrapper, '--launcher', 'pytorch', '--work-dir', str(two), env=FLOAT64)
    _assert_same_step(name, _one_process(demo_cwd, wrapper, name, FLOAT64), _step(two))


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
    # float32 here (the checkpoint's dtype): the first convolution's weight gradient is a float32 sum over the
    # batch with heavy cancellation, so its summation order shows: 1.5e-4 between 1 and 2 processes, and the
    # 1-process run alone differs by 1.3e-4 between 1 and 2 threads (baseline demo, measured)
    assert error < 5e-4, f'resumed step: update error {error:.2e} between 2 processes and 1'
