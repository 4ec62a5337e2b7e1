"""PreemptionHook: on SIGINT / SIGTERM / SIGUSR1, finish the iteration, save a resumable checkpoint, exit 130 / 143
/ 75."""
import os
import os.path as osp
import signal
import sys
import threading

import torch
import torch.distributed as dist
from mmengine.dist import barrier
from mmengine.runner import find_latest_checkpoint
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS

from plugins.core import distributed
from plugins.core.utils.atomic_backend import install_atomic_local_backend
from plugins.core.utils.atomic_write import atomic_write

#: the exit status of a run stopped by SIGUSR1 (Slurm's ``--signal=USR1@120``: the time limit is near) after saving
#: its checkpoint (``EX_TEMPFAIL``: "try again"): tools/slurm_train.sh requeues the job with ``--resume``
PREEMPTED_EXIT_CODE = 75
#: the exit status after saving, by signal: the shell's 128 + signal number for Ctrl-C (130) and SIGTERM (143:
#: ``kill``, ``scancel``, ``docker stop``, Slurm's preemption), 75 for Slurm's time-limit warning. tools/slurm_train.sh
#: requeues on any of them when the run wrote a new preempted.pth (unchanged convention: 75, or a fresh checkpoint)
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGUSR1: PREEMPTED_EXIT_CODE}
#: environment variable naming a file in which rank 0 writes the checkpoint path and exit code of a stop
#: (tools/dist_train.sh exits with that code when it is not empty: torchrun itself reports 1)
LAUNCHER_MARKER = 'REID_PREEMPTED_FILE'
#: the checkpoint of the latest stop (one file: each stop replaces it; ``last_checkpoint`` names it)
CHECKPOINT_NAME = 'preempted.pth'


def exit_code_of(signum):
    """The exit status of a run stopped by ``signum`` after saving (:data:`EXIT_CODES`; else 128 + number)."""
    return EXIT_CODES.get(signal.Signals(signum), 128 + int(signum)) if signum else PREEMPTED_EXIT_CODE


def _global_max(value):
    """The largest ``value`` (an int) over the ranks: every rank stops with the same signal's exit code."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return int(value)
    device = 'cuda' if dist.get_backend() == 'nccl' else 'cpu'  # NCCL reduces CUDA tensors only
    tensor = torch.tensor([int(value)], dtype=torch.int64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return int(tensor.item())


class TrainingPreempted(SystemExit):
    """The run stopped on a signal after saving ``checkpoint``; exits the process with ``code`` (no traceback:
    a ``SystemExit``)."""

    def __init__(self, message, checkpoint=None, code=PREEMPTED_EXIT_CODE):
        super().__init__(code)
        self.message, self.checkpoint = message, checkpoint

    def __str__(self):
        return self.message


@HOOKS.register_module()
class PreemptionHook(Hook):
    """Stop a training run cleanly when asked: Ctrl-C (SIGINT), SIGTERM (Slurm's preemption, ``scancel``,
    ``docker stop``, torchrun passing on its own SIGTERM or SIGINT) or SIGUSR1 (Slurm's
    ``--signal=USR1@<seconds>``).

    The signal handler only records the signal (DataLoader workers forked after ``before_train`` inherit it, so a
    Ctrl-C to the whole process group does not kill them mid-batch). After every training iteration the ranks
    agree whether any of them got one (:func:`plugins.core.distributed.global_any`: every rank stops after the
    same iteration, none waits in a collective for a rank that left). Then rank 0 saves
    ``<work_dir>/preempted.pth`` through MMEngine's ``save_checkpoint`` (weights, optimizer, LR schedulers,
    message hub, the hooks' state such as CAL's matching counts; written atomically) with ``epoch`` = the epoch in
    progress and ``iter`` = the iterations done, points ``last_checkpoint`` at it, logs one line, and every
    process exits with code 130 (SIGINT), 143 (SIGTERM) or 75 (SIGUSR1: :data:`EXIT_CODES`), without a traceback.
    ``--resume`` continues at the next batch (:class:`~plugins.core.loops.ReIDEpochBasedTrainLoop`); once the
    resumed run has written a newer checkpoint, it removes the ``preempted.pth`` it resumed from.

    A second signal (Slurm's SIGTERM after its SIGUSR1, a user's ``scancel`` on top, torchrun passing on the Ctrl-C
    that the workers got already) changes nothing: the save goes on, a line on stderr says so. A third one stops
    at once and says that the save is discarded (the run then resumes from its last checkpoint); ``kill -9``
    cannot be caught. A signal during validation or a checkpoint write is acted on after the next training
    iteration.

    Priority ``LOWEST``: the last ``after_train_iter`` action, so the checkpoint holds the finished iteration
    (the LR scheduler stepped, the logger and the method hooks counted it).

    Args:
        signals (Sequence[str]): names of the signals that stop the run. Defaults to
            ``('SIGINT', 'SIGTERM', 'SIGUSR1')``.
        enable (bool): False leaves the signals' default actions (``default_hooks.preemption.enable=False``).
    """

    priority = 'LOWEST'

    def __init__(self, signals=('SIGINT', 'SIGTERM', 'SIGUSR1'), enable=True):
        self.signals = [signal.Signals[name] for name in signals]
        self.enable = enable
        self.received = None
        self.count = 0
        self._previous = {}
        self._resumed_from = None

    def before_train(self, runner) -> None:
        self._resumed_from = self._preempted_checkpoint_resumed(runner)
        if not self.enable or threading.current_thread() is not threading.main_thread():
            return  # Python installs signal handlers in the main thread only
        for signum in self.signals:
            self._previous[signum] = signal.signal(signum, self._on_signal)

    @staticmethod
    def _preempted_checkpoint_resumed(runner):
        """``<work_dir>/preempted.pth`` when this run resumed from it, else None."""
        if not getattr(runner, '_resume', False) or not hasattr(runner, 'work_dir'):
            return None
        path = osp.join(runner.work_dir, CHECKPOINT_NAME)
        loaded = getattr(runner, '_load_from', None) or find_latest_checkpoint(runner.work_dir)
        return path if loaded and osp.isfile(path) and osp.realpath(loaded) == osp.realpath(path) else None

    def after_train_epoch(self, runner) -> None:
        self._remove_resumed_checkpoint(runner)

    def after_train(self, runner) -> None:
        self.restore_signal_handlers()
        if self.received is not None and getattr(runner, 'rank', 0) == 0:
            runner.logger.warning(f'{self.received.name} after the last training iteration: the run is complete')
        self._remove_resumed_checkpoint(runner)

    def _remove_resumed_checkpoint(self, runner):
        """Remove the ``preempted.pth`` this run resumed from once a newer checkpoint is ``last_checkpoint``."""
        path = self._resumed_from
        if path is None or getattr(runner, 'rank', 0) != 0 or not osp.isfile(path):
            return
        latest = find_latest_checkpoint(runner.work_dir)
        if latest and osp.realpath(latest) != osp.realpath(path) and osp.isfile(latest):
            os.remove(path)
            self._resumed_from = None
            runner.logger.info(f'removed {path}, the preemption checkpoint this run resumed from: {latest} is newer')

    def _on_signal(self, signum, frame):
        self.count += 1
        name = signal.Signals(signum).name
        if self.count == 1:
            self.received = signal.Signals(signum)
        elif self.count == 2:  # no logging in a signal handler (the logger's lock may be held): a plain write
            _say(f'{name} again: already stopping after this iteration and saving preempted.pth (a third signal '
                 'stops at once and discards the save)')
        else:
            _say(f'{name} a third time: stopping now; the save of preempted.pth is discarded, --resume continues from '
                 'the last checkpoint written before')
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    def restore_signal_handlers(self):
        """Give the signals their handlers from before the run back (``ReIDEpochBasedTrainLoop`` calls it also
        when training fails). Idempotent."""
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self._previous = {}

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if not self._previous or not distributed.global_any(self.received is not None):
            return
        path = osp.join(runner.work_dir, CHECKPOINT_NAME)
        code = exit_code_of(_global_max(self.received or 0))  # the same on every rank
        iteration, epoch_length = runner.iter + 1, len(runner.train_dataloader)
        who = self.received.name if self.received is not None else 'a signal to another process'
        message = (f'Stopped by {who} after iteration {iteration} (epoch {runner.epoch + 1}, batch {batch_idx + 1}/'
                   f'{epoch_length}): saved {path}; resume with `--resume` (or `--resume {path}`); '
                   f'exit code {code}')
        if runner.rank == 0:
            self._save(runner, path, batch_idx, code)
            runner.logger.info(message)
        barrier()  # no process exits (which makes torchrun stop the others) before the checkpoint is complete
        self.restore_signal_handlers()
        raise TrainingPreempted(message, path, code)

    def _save(self, runner, path, batch_idx, code):
        install_atomic_local_backend()  # MMEngine's writer then writes a temporary file and renames it
        meta = dict(epoch=runner.epoch, iter=runner.iter + 1,  # the epoch in progress, the iterations done
                    preempted=dict(signal=self.received.name if self.received is not None else None,
                                   batch=batch_idx + 1))
        runner.save_checkpoint(runner.work_dir, CHECKPOINT_NAME, meta=meta, by_epoch=False)
        with atomic_write(osp.join(runner.work_dir, 'last_checkpoint'), 'w') as f:  # what `--resume` reads
            f.write(path)
        marker = os.environ.get(LAUNCHER_MARKER)
        if marker:  # tools/dist_train.sh: torchrun's own exit code says only "a worker failed"
            with open(marker, 'w') as f:
                f.write(f'preempted: {path} (exit {code})\n')


def _say(text):
    """One line on stderr from a signal handler (``os.write``: no lock that the interrupted code may hold)."""
    try:
        os.write(sys.stderr.fileno(), f'PreemptionHook: {text}\n'.encode())
    except (OSError, ValueError):
        pass
