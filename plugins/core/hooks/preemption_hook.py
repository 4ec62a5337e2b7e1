"""PreemptionHook: on SIGTERM / SIGUSR1, finish the iteration, save a resumable checkpoint, exit with code 75."""
import os
import os.path as osp
import signal
import threading

from mmengine.dist import barrier
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS

from plugins.core import distributed
from plugins.core.utils.atomic_backend import install_atomic_local_backend
from plugins.core.utils.atomic_write import atomic_write

#: the exit status of a run stopped by a signal after saving its checkpoint (``EX_TEMPFAIL``: "try again"): a
#: launcher that sees it can requeue the job with ``--resume`` (tools/slurm_train.sh does)
PREEMPTED_EXIT_CODE = 75
#: environment variable naming a file in which rank 0 writes the checkpoint path of a stop (tools/dist_train.sh
#: exits 75 when it is not empty)
LAUNCHER_MARKER = 'REID_PREEMPTED_FILE'
#: the checkpoint of the latest stop (one file: each stop replaces it; ``last_checkpoint`` names it)
CHECKPOINT_NAME = 'preempted.pth'


class TrainingPreempted(SystemExit):
    """The run stopped on a signal after saving ``checkpoint``; exits the process with code 75."""

    def __init__(self, message, checkpoint=None):
        super().__init__(PREEMPTED_EXIT_CODE)
        self.message, self.checkpoint = message, checkpoint

    def __str__(self):
        return self.message


@HOOKS.register_module()
class PreemptionHook(Hook):
    """Stop a training run cleanly when the scheduler asks: SIGTERM (Slurm's preemption, ``scancel``,
    ``docker stop``, torchrun passing on its own SIGTERM) or SIGUSR1 (Slurm's ``--signal=USR1@<seconds>``).

    The signal handler only records the signal. After every training iteration the ranks agree whether any of
    them got one (:func:`plugins.core.distributed.global_any`: every rank stops after the same iteration, none
    waits in a collective for a rank that left). Then rank 0 saves ``<work_dir>/preempted.pth`` through
    MMEngine's ``save_checkpoint`` (weights, optimizer, LR schedulers, message hub, the hooks' state such as
    CAL's matching counts; written atomically) with ``epoch`` = the epoch in progress and ``iter`` = the
    iterations done, points ``last_checkpoint`` at it, logs one line, and every process exits with code 75
    (:data:`PREEMPTED_EXIT_CODE`). ``--resume`` continues at the next batch
    (:class:`~plugins.core.loops.ReIDEpochBasedTrainLoop`).

    A signal during validation or a checkpoint write is acted on after the next training iteration. A second
    signal of the same kind ends the process at once, without a checkpoint (as the signal's default action), and
    ``kill -9`` cannot be caught: those runs resume from the last checkpoint written (the last epoch's).

    Priority ``LOWEST``: the last ``after_train_iter`` action, so the checkpoint holds the finished iteration
    (the LR scheduler stepped, the logger and the method hooks counted it).

    Args:
        signals (Sequence[str]): names of the signals that stop the run. Defaults to ``('SIGTERM', 'SIGUSR1')``.
        enable (bool): False leaves the signals' default actions (``default_hooks.preemption.enable=False``).
    """

    priority = 'LOWEST'

    def __init__(self, signals=('SIGTERM', 'SIGUSR1'), enable=True):
        self.signals = [signal.Signals[name] for name in signals]
        self.enable = enable
        self.received = None
        self._previous = {}

    def before_train(self, runner) -> None:
        if not self.enable or threading.current_thread() is not threading.main_thread():
            return  # Python installs signal handlers in the main thread only
        for signum in self.signals:
            self._previous[signum] = signal.signal(signum, self._on_signal)

    def after_train(self, runner) -> None:
        self.restore_signal_handlers()

    def _on_signal(self, signum, frame):
        if self.received is not None:  # asked twice: stop now, as without the hook
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        self.received = signal.Signals(signum)

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
        iteration, epoch_length = runner.iter + 1, len(runner.train_dataloader)
        who = self.received.name if self.received is not None else 'a signal to another process'
        message = (f'Stopped by {who} after iteration {iteration} (epoch {runner.epoch + 1}, batch {batch_idx + 1}/'
                   f'{epoch_length}): saved {path}; resume with `--resume` (or `--resume {path}`); '
                   f'exit code {PREEMPTED_EXIT_CODE}')
        if runner.rank == 0:
            self._save(runner, path, batch_idx)
            runner.logger.info(message)
        barrier()  # no process exits (which makes torchrun stop the others) before the checkpoint is complete
        self.restore_signal_handlers()
        raise TrainingPreempted(message, path)

    def _save(self, runner, path, batch_idx):
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
                f.write(f'preempted: {path}\n')
