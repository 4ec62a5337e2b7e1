"""WorkDirLockHook: one training run per work dir, no leftovers of killed writers, no silent fresh start."""
import fcntl
import json
import os
import os.path as osp
import socket
import sys
import time

from mmengine.dist import broadcast_object_list, get_dist_info
from mmengine.hooks import Hook
from mmengine.runner import find_latest_checkpoint
from mmpretrain.registry import HOOKS

from plugins.core.utils.atomic_write import remove_orphaned_tmp_files

#: the lock file in the work dir (kept after the run: removing it could let two later runs lock two files)
LOCK_FILE = '.run.lock'
#: locks this process holds, by work dir: a run that crashed in process (a test, a notebook) never reached
#: ``after_train``; the next run of the same process in that work dir takes its lock over
_HELD = {}


class WorkDirLockedError(RuntimeError):
    """Another training run holds the work dir."""


def _holder_of(lock_file):
    try:
        with open(lock_file) as f:
            holder = json.load(f)
        parts = [f'PID {int(holder["pid"])}']
    except (OSError, ValueError, KeyError, TypeError):
        return 'PID unknown'
    if holder.get('host'):
        parts.append(f'on {holder["host"]}')
    if holder.get('started'):
        parts.append(f'started {holder["started"]}')
    if holder.get('argv'):
        parts.append(f'command: {" ".join(map(str, holder["argv"]))}')
    return ', '.join(parts)


def _locked_error(work_dir, lock_file):
    return WorkDirLockedError(
        f'work dir {work_dir} is in use by another training run ({_holder_of(lock_file)}; lock file {lock_file}). '
        f'Two runs in one work dir overwrite each other\'s checkpoints and logs: wait for it to end or choose '
        f'another --work-dir. Nothing was written.')


def check_work_dir_free(work_dir):
    """Refuse a work dir that another training run holds, without creating or changing anything in it (a probe
    for the launchers, before their slower checks; the lock itself is taken by :func:`lock_work_dir`).

    Raises:
        WorkDirLockedError: naming the holder.
    """
    lock_file = osp.join(work_dir, LOCK_FILE)
    if osp.realpath(work_dir) in _HELD or not osp.isfile(lock_file):
        return
    with open(lock_file) as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _locked_error(work_dir, lock_file) from None
        fcntl.flock(f, fcntl.LOCK_UN)


def lock_work_dir(work_dir):
    """Take the exclusive lock of ``work_dir`` (``fcntl.flock``, released when the process dies).

    A lock this process holds already is kept (the launcher or ``ReIDRunner`` took it before the Runner wrote
    anything; or a run that crashed in process never reached ``after_train``): the holder record is renewed.

    Args:
        work_dir (str): the run's work dir (created if missing).

    Returns:
        file: the open lock file; the lock is held while it is open.

    Raises:
        WorkDirLockedError: another process holds it; names its PID, host, start time and command line.
    """
    key = osp.realpath(work_dir)
    f = _HELD.get(key)
    if f is None or f.closed:
        os.makedirs(work_dir, exist_ok=True)
        lock_file = osp.join(work_dir, LOCK_FILE)
        f = open(lock_file, 'a+')
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            raise _locked_error(work_dir, lock_file) from None
    f.truncate(0)
    json.dump(dict(pid=os.getpid(), host=socket.gethostname(), started=time.strftime('%Y-%m-%d %H:%M:%S'),
                   argv=sys.argv), f)
    f.flush()
    _HELD[key] = f
    return f


def release_work_dir(work_dir):
    """Release the lock this process holds on ``work_dir`` (nothing when it holds none)."""
    f = _HELD.pop(osp.realpath(work_dir), None)
    if f is not None:
        f.close()  # closing the last descriptor releases the flock


def launch_rank(launcher='pytorch'):
    """This process's rank, also before MMEngine initialised the process group (the launchers' variables)."""
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    if launcher in (None, 'none'):
        return 0
    for name in ('RANK', 'SLURM_PROCID', 'OMPI_COMM_WORLD_RANK', 'PMI_RANK'):
        if os.environ.get(name, '').isdigit():
            return int(os.environ[name])
    return 0


def lock_for_training(work_dir, launcher='none'):
    """Take the work dir lock for a training run before anything is written into the work dir (rank 0 only).

    Called by ``tools/train.py`` and by :class:`~plugins.core.runner.ReIDRunner` before MMEngine's ``Runner``
    writes its config copy and timestamped log folder, so a refused run leaves the work dir as it was. When the
    process group exists already (CPU runs: gloo is started before the Runner), every rank learns the outcome and
    none waits for a rank that stopped; otherwise the launcher (torchrun, srun) stops the others when rank 0 exits.

    Raises:
        WorkDirLockedError: another run holds the work dir (on every rank that can learn it).
    """
    import torch.distributed as dist
    rank, outcome, error = launch_rank(launcher), [None], None
    if rank == 0:
        try:
            lock_work_dir(work_dir)
        except Exception as e:  # told to every rank before raising, so that none hangs
            outcome, error = [f'{type(e).__name__}: {e}'], e
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        broadcast_object_list(outcome, src=0)
    if outcome[0] is not None:
        if error is not None:
            raise error
        raise WorkDirLockedError(f'rank 0 could not lock the work dir: {outcome[0]}')


@HOOKS.register_module()
class WorkDirLockHook(Hook):
    """Guard the work dir of a training run.

    - ``before_run``: ``--resume`` with nothing to resume (no ``last_checkpoint`` in the work dir) is a warning,
      not MMEngine's "Auto resumed from the latest checkpoint None" and a silent start from scratch.
    - ``before_train``: rank 0 holds the exclusive lock ``<work_dir>/.run.lock`` with its PID there. It was
      taken before MMEngine's Runner wrote anything (:func:`lock_for_training`, called by ``tools/train.py`` and
      by ``ReIDRunner`` for a run that trains: ``resume`` or nothing to load), so a second run in the same work
      dir stops with an error naming the holder and leaves the work dir unchanged; here it is taken for the
      other runs (a fine-tuning ``load_from`` under mmpretrain's own tools, a plain MMEngine Runner). All ranks
      learn the outcome through a broadcast, so none waits forever for a rank that stopped. With the lock held,
      the temporary files of checkpoint writers that were killed (``kill -9`` during ``torch.save``) are removed.
    - ``after_train``: the lock is released (a crashed process releases it when it dies).

    Evaluation (``tools/test.py``) does not lock: it only adds its own timestamped log folder, and testing a
    checkpoint while the training goes on is a normal use.
    """

    priority = 'VERY_HIGH'

    def __init__(self):
        self._lock = None

    def before_run(self, runner) -> None:
        resuming = getattr(runner, '_resume', False) and getattr(runner, '_load_from', None) is None
        if resuming and find_latest_checkpoint(runner.work_dir) is None:
            runner.logger.warning(f'--resume: nothing to resume in {runner.work_dir} (no last_checkpoint); '
                                  'the training starts from scratch')

    def before_train(self, runner) -> None:
        rank, world_size = get_dist_info()
        outcome = [None]
        if rank == 0:
            try:
                self._lock = lock_work_dir(runner.work_dir)
            except Exception as e:  # told to every rank before raising, so that none hangs
                outcome = [f'{type(e).__name__}: {e}']
                error = e
        if world_size > 1:
            broadcast_object_list(outcome, src=0)
        if outcome[0] is not None:
            if rank == 0:
                raise error
            raise WorkDirLockedError(f'rank 0 could not lock the work dir: {outcome[0]}')
        if rank == 0:
            removed = remove_orphaned_tmp_files(runner.work_dir)
            if removed:
                runner.logger.info(f'removed {len(removed)} orphaned temporary file(s) of killed writers in '
                                   f'{runner.work_dir}: {", ".join(osp.basename(p) for p in removed)}')

    def after_train(self, runner) -> None:
        if self._lock is not None:
            release_work_dir(runner.work_dir)
            self._lock = None
