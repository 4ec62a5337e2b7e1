"""Preemption: SIGTERM / SIGUSR1 in the middle of an epoch saves a checkpoint, ``--resume`` continues at the next batch.

The launched runs train the baseline demo for one epoch of 6 iterations (12 identities x 4 images, batches of 8,
the warm-up LR changing every iteration, no validation); ``tests/reliability/signal_hook.py`` signals a process
after a chosen iteration, so the stop point does not depend on timing. The in-process tests cover the pieces:
the samplers' start batch, the loop's arithmetic, the stop agreement of 2 ranks and the ETA after a change of
the number of processes.
"""
import datetime
import os
import os.path as osp
import signal
import subprocess
import sys

import pytest
import torch

import plugins  # noqa: F401
from plugins.core.hooks.preemption_hook import CHECKPOINT_NAME, EXIT_CODES, PREEMPTED_EXIT_CODE
from plugins.core.loops import BATCHES_DONE, EPOCH_LENGTH, ReIDEpochBasedTrainLoop, resume_position
from tests.helpers import REPO, launcher_port, make_demo_data, read_scalars, tool_path

CONFIG = osp.join(REPO, 'configs', 'demo', 'baseline_market1501_demo.py')
ITERS = 6  # per epoch: 12 ids x 1 chunk of 4 / 2 ids per batch
WRAPPER = """_base_ = [{config!r}]
custom_imports = dict(imports=['plugins.mmengine_patches', 'tests.reliability.signal_hook'],
                      allow_failed_imports=False)
custom_hooks = [dict(type='SignalAtIterationHook', iteration={iteration}, signal={signal!r}, rank={rank},
                     again={again}, group={group})]
"""


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    return osp.join(make_demo_data(tmp_path_factory.mktemp('preempt_data'), 'market1501'), 'market1501')


def options(root):
    """The first 4 training images of the first 12 identities (ids are contiguous in the demo's train list)."""
    from mmengine.config import Config
    from mmpretrain.registry import DATASETS
    cfg = Config.fromfile(CONFIG).train_dataloader.dataset
    dataset = DATASETS.build(dict(cfg, data_root=root, pipeline=[], verbose=False))
    taken, indices = {}, []
    for i in range(len(dataset)):
        pid = dataset.get_data_info(i)['gt_label']
        if pid < 12 and taken.get(pid, 0) < 4:
            taken[pid] = taken.get(pid, 0) + 1
            indices.append(i)
    return ['--no-validate', '--cfg-options', f'train_dataloader.dataset.data_root={root}',
            f'train_dataloader.dataset.indices={indices}',
            'train_dataloader.batch_size=8', 'train_dataloader.sampler.batch_size=8', 'train_cfg.max_epochs=1',
            'default_hooks.logger.interval=1', 'randomness.seed=0', 'randomness.deterministic=True']


def launch(cwd, config, work_dir, opts, procs=1, resume=False, threads=2, session=False):
    """``tools/train.py`` (or ``tools/dist_train.sh CFG 2``) as a subprocess; returns (exit code, output).

    The 1-process runs use 2 threads, the 2 processes one each (the first-step test's thread split, so that their
    float32 sums agree to ~1e-5)."""
    tool = [sys.executable, tool_path('train.py')] if procs == 1 else ['bash', tool_path('dist_train.sh')]
    args = [str(config)] + ([] if procs == 1 else [str(procs)]) + ['--work-dir', str(work_dir)]
    env = {**os.environ, 'PYTHONPATH': REPO, 'OMP_NUM_THREADS': str(threads if procs == 1 else 1),
           'PORT': launcher_port()}
    proc = subprocess.run(tool + args + (['--resume'] if resume else []) + opts, cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900, start_new_session=session)
    return proc.returncode, proc.stdout + proc.stderr


def succeed(result):
    code, output = result
    assert code == 0, output[-6000:]
    return output


def wrapper(tmp_path, iteration, sig, rank=0, again=False, group=False):
    path = tmp_path / f'signal_{sig}_{iteration}_{rank}.py'
    path.write_text(WRAPPER.format(config=CONFIG, iteration=iteration, signal=sig, rank=rank, again=again,
                                   group=group))
    return path


def losses_by_iter(work_dir):
    return {r['iter']: r['loss'] for r in read_scalars(work_dir) if 'loss' in r}


def weights(path):
    return torch.load(path, map_location='cpu', weights_only=True)['state_dict']


@pytest.fixture(scope='module')
def reference(tmp_path_factory, data_root):
    """The uninterrupted 1-process epoch."""
    cwd = tmp_path_factory.mktemp('preempt_ref')
    succeed(launch(cwd, CONFIG, cwd / 'work', options(data_root)))
    return cwd / 'work'


def assert_stopped(result, work_dir, sig, iteration, again=False):
    code, output = result
    expected = EXIT_CODES[getattr(signal, sig)]
    assert code == expected, f'exit code {code}, expected {expected}:\n{output[-6000:]}'
    path = osp.join(work_dir, CHECKPOINT_NAME)
    line = [text for text in output.splitlines() if 'Stopped by' in text]
    assert len(line) == 1 and f'Stopped by {sig} after iteration {iteration} ' in line[0] and path in line[0] \
        and '--resume' in line[0] and f'exit code {expected}' in line[0], output[-4000:]
    assert 'Traceback' not in output, output[-6000:]
    assert (f'{sig} again: already stopping' in output) == again, output[-4000:]
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        assert f.read().strip() == path
    meta = torch.load(path, map_location='cpu', weights_only=True)['meta']
    assert (meta['epoch'], meta['iter']) == (0, iteration)
    assert not osp.exists(osp.join(work_dir, 'epoch_1.pth'))


def assert_same_epoch(reference, resumed, rtol, atol):
    ref, res = weights(reference / 'epoch_1.pth'), weights(resumed / 'epoch_1.pth')
    assert ref.keys() == res.keys()
    for key, value in ref.items():
        assert torch.allclose(value.float(), res[key].float(), rtol=rtol, atol=atol), key
    ref_losses, res_losses = losses_by_iter(reference), losses_by_iter(resumed)
    assert sorted(ref_losses) == sorted(res_losses) == list(range(1, ITERS + 1))  # every iteration once
    for it, loss in ref_losses.items():
        assert res_losses[it] == pytest.approx(loss, rel=max(rtol, 1e-6)), it


@pytest.mark.slow
def test_two_sigterms_mid_epoch_save_once_then_resume_gives_the_uninterrupted_weights(tmp_path, data_root, reference):
    """Slurm's and a user's SIGTERM together: the second one (during the save) does not kill the run (issue 33:
    exit 143 without a checkpoint); the resumed run removes the preempted.pth it resumed from."""
    work = tmp_path / 'work'
    assert_stopped(launch(tmp_path, wrapper(tmp_path, 2, 'SIGTERM', again=True), work, options(data_root)), work,
                   'SIGTERM', 3, again=True)
    output = succeed(launch(tmp_path, CONFIG, work, options(data_root), resume=True))
    assert 'resuming epoch 1 at batch 4/6' in output
    assert_same_epoch(reference, work, rtol=1e-5, atol=1e-6)
    assert not osp.exists(work / CHECKPOINT_NAME) and f'removed {work / CHECKPOINT_NAME}' in output, output[-3000:]


@pytest.mark.slow
def test_ctrl_c_twice_with_dataloader_workers_saves_and_exits_130(tmp_path, data_root):
    """Ctrl-C in a terminal signals the whole process group (the DataLoader workers too), and torchrun passes it
    on once more: one checkpoint, one line, exit 130, no KeyboardInterrupt traceback (issue 33: exit 130, a
    traceback, no checkpoint)."""
    work = tmp_path / 'work'
    opts = options(data_root) + ['train_dataloader.num_workers=2', 'train_dataloader.persistent_workers=False']
    result = launch(tmp_path, wrapper(tmp_path, 1, 'SIGINT', again=True, group=True), work, opts, session=True)
    assert_stopped(result, work, 'SIGINT', 2, again=True)
    checkpoint = torch.load(work / CHECKPOINT_NAME, map_location='cpu', weights_only=True)
    assert checkpoint['meta']['preempted'] == dict(signal='SIGINT', batch=2) and checkpoint['optimizer']


@pytest.mark.slow
def test_sigusr1_on_one_of_two_processes_stops_both_and_resumes(tmp_path, data_root, reference):
    """Rank 1 alone gets the signal: both ranks stop after the same iteration (none hangs), rank 0 saves; the
    2-process resume takes the 1-process steps (float32 reduction order: ~1e-5 per step)."""
    work = tmp_path / 'work'
    result = launch(tmp_path, wrapper(tmp_path, 3, 'SIGUSR1', rank=1), work, options(data_root), procs=2)
    # torchrun reports a worker's exit 75 as its own failure (exit 1); dist_train.sh exits 75 (rank 0 told it)
    assert result[0] == PREEMPTED_EXIT_CODE and f'(exit code {PREEMPTED_EXIT_CODE})' in result[1], result[1][-6000:]
    assert_stopped((PREEMPTED_EXIT_CODE, result[1].replace('a signal to another process', 'SIGUSR1')), work,
                   'SIGUSR1', 4)
    output = succeed(launch(tmp_path, CONFIG, work, options(data_root), procs=2, resume=True))
    assert 'resuming epoch 1 at batch 5/6' in output
    assert_same_epoch(reference, work, rtol=1e-3, atol=1e-5)


# -- in process ----------------------------------------------------------------------------------------------------

def _image_dataset():
    from tests.core.data.fake_datasets import image_dataset
    return image_dataset([5, 8, 4, 9, 4, 12, 6, 4, 7, 4, 8, 5])


@pytest.mark.parametrize('world_size', [1, 2])
@pytest.mark.parametrize('sampler_type', ['IdentitySampler', 'GlobalRandomSampler', 'CrossModalitySampler'])
def test_sampler_start_batch_skips_whole_batches_with_their_seeds(monkeypatch, sampler_type, world_size):
    """``set_start_batch(n)`` yields the epoch's indices from batch n on, each with its uninterrupted seed, for
    one epoch only."""
    from mmpretrain.registry import DATA_SAMPLERS
    from plugins.core.data.samplers import cross_modality_sampler, global_random_sampler, identity_sampler
    from tests.core.data.fake_datasets import cross_modality_dataset
    for module in (identity_sampler, cross_modality_sampler, global_random_sampler):
        monkeypatch.setattr(module, 'get_dist_info', lambda: (world_size - 1, world_size))
    dataset = cross_modality_dataset([4, 6, 5, 8, 4, 7], [5, 4, 6, 4, 8, 4]) \
        if sampler_type == 'CrossModalitySampler' else _image_dataset()
    cfg = dict(type=sampler_type, batch_size=8, seed=5)
    if sampler_type != 'GlobalRandomSampler':
        cfg['num_instances'] = 2 if sampler_type == 'CrossModalitySampler' else 4
    sampler = DATA_SAMPLERS.build(cfg, default_args=dict(dataset=dataset))
    sampler.set_epoch(3)
    full = [(int(i), i.draw_seed) for i in sampler]
    batches = len(full) // 8
    assert batches >= 3 and len(full) == len(sampler)
    for start in (1, batches - 1, batches):
        sampler.set_start_batch(start)
        assert [(int(i), i.draw_seed) for i in sampler] == full[start * 8:]
        assert [(int(i), i.draw_seed) for i in sampler] == full  # the start is for one epoch
    with pytest.raises(ValueError, match='between 0 and'):
        sampler.set_start_batch(batches + 1)


def test_resume_position_with_the_same_and_another_epoch_length():
    assert resume_position(15, 2, 6, saved_length=6, saved_done=3) == (3, 15)  # any number of processes, same total
    assert resume_position(18, 2, 6, saved_length=6, saved_done=6) == (6, 18)  # only the end-of-epoch actions left
    assert resume_position(12, 2, 6) == (0, 12)  # MMEngine's loop (no position saved): an epoch end
    assert resume_position(36, 2, 9) == (0, 18)  # ... of a run with 18 batches per epoch
    # per_process at 2 processes: half the batches per epoch; the count is rebased, a position scaled
    assert resume_position(18, 1, 9, saved_length=18, saved_done=0) == (0, 9)
    assert resume_position(24, 1, 9, saved_length=18, saved_done=6) == (3, 12)


def _loop_at(iteration, epoch, epoch_length, **info):
    """A ReIDEpochBasedTrainLoop restored at (iteration, epoch), with ``info`` in its message hub."""
    from types import SimpleNamespace
    from mmengine.logging import MessageHub, MMLogger
    hub = MessageHub.get_instance(f'preempt_test_{iteration}_{epoch}_{epoch_length}')
    for key, value in info.items():
        hub.update_info(key, value)
    loop = ReIDEpochBasedTrainLoop.__new__(ReIDEpochBasedTrainLoop)
    loop._runner = SimpleNamespace(message_hub=hub, logger=MMLogger.get_instance('preempt_test'))
    loop.dataloader, loop._iter, loop._epoch = list(range(epoch_length)), iteration, epoch
    loop._max_iters = 2 * epoch_length
    return loop


def test_eta_after_resuming_one_process_with_two_is_the_time_left():
    """Case 9: epoch 1 of a 1-process run (18 iterations) resumed by 2 processes with another epoch length
    (per_process: 9): the count is rebased, so the ETA of the next iteration is 8 iterations, not -1."""
    from mmengine.hooks import IterTimerHook
    loop = _loop_at(18, 1, 9, **{EPOCH_LENGTH: 18, BATCHES_DONE: 0})
    assert loop._resume_start() == 0 and loop._iter == 9

    def eta_after_one_iteration(iteration):
        from types import SimpleNamespace
        runner = SimpleNamespace(iter=iteration, max_iters=loop._max_iters, message_hub=loop.runner.message_hub)
        hook = IterTimerHook()
        hook.before_train(runner)
        hook.before_train_epoch(runner)
        hook.t -= 2.0  # the iteration took 2 s
        hook.after_train_iter(runner, batch_idx=0)
        return runner.message_hub.get_info('eta')

    eta = eta_after_one_iteration(loop._iter)
    assert eta == pytest.approx(2.0 * 8, rel=0.05)
    assert str(datetime.timedelta(seconds=int(eta))) in ('0:00:15', '0:00:16')  # LoggerHook's `eta:` text
    assert eta_after_one_iteration(18) < 0  # MMEngine's count of the old run: "-1 day, 23:59:58"


def test_the_loop_resumes_at_the_saved_batch_at_the_same_epoch_length():
    loop = _loop_at(15, 2, 6, **{EPOCH_LENGTH: 6, BATCHES_DONE: 3})
    assert loop._resume_start() == 3 and loop._iter == 15


def _any_flag(rank, world_size):
    from plugins.core import distributed
    return [distributed.global_any(rank == 1), distributed.global_any(False)]


def test_global_any_is_the_same_on_every_rank():
    from tests.distributed_harness import run_on_ranks
    assert run_on_ranks(_any_flag, 2) == [[True, False], [True, False]]


def test_a_signal_only_sets_a_flag_until_the_iteration_ends():
    from plugins.core.hooks import PreemptionHook
    import logging
    hook = PreemptionHook()

    class Runner:
        rank, logger = 0, logging.getLogger('preemption_test')
    before = signal.getsignal(signal.SIGUSR1)  # what this process had (another test's run may have set one)
    hook.before_train(Runner())
    try:
        signal.raise_signal(signal.SIGUSR1)  # the process survives: the stop waits for after_train_iter
        assert hook.received == signal.SIGUSR1
    finally:
        hook.after_train(Runner())
    assert signal.getsignal(signal.SIGUSR1) == (before if before is not None else signal.SIG_DFL)


def test_a_second_signal_is_told_and_a_third_stops_at_once_discarding_the_save(monkeypatch, capfd):
    from plugins.core.hooks import PreemptionHook
    from plugins.core.hooks import preemption_hook
    sent, hook = [], PreemptionHook()
    monkeypatch.setattr(preemption_hook.os, 'kill', lambda pid, signum: sent.append(signum))
    monkeypatch.setattr(preemption_hook.signal, 'signal', lambda signum, handler: None)
    hook._on_signal(signal.SIGTERM, None)
    hook._on_signal(signal.SIGINT, None)
    assert hook.received == signal.SIGTERM and sent == []  # the first one is acted on; the second changes nothing
    assert 'SIGINT again: already stopping after this iteration' in capfd.readouterr().err
    hook._on_signal(signal.SIGINT, None)
    assert sent == [signal.SIGINT]  # the default action: the process ends now
    assert 'SIGINT a third time: stopping now; the save of preempted.pth is discarded' in capfd.readouterr().err
