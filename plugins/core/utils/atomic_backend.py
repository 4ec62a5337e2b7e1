"""Atomic writes for MMEngine's local file backend (checkpoints, ``last_checkpoint``).

MMEngine writes a checkpoint with ``open(path, 'wb').write(...)``: a process killed mid-write leaves a
truncated ``epoch_N.pth`` that ``--resume`` picks up and fails on. Writing to a temporary file in the same
folder and renaming it (``os.replace`` is atomic on POSIX and Windows) means a reader sees either the old file
or the complete new one, never a partial one.

The temporary file is ``.<name>.<writer PID>.<random>.tmp``: a writer killed with ``kill -9`` cannot remove
it, and :func:`remove_orphaned_tmp_files` (called by ``WorkDirLockHook`` when a training run starts) removes those
of writers that are no longer alive, never the file of a live writer.
"""
import os
import os.path as osp
import re
import tempfile

from mmengine.fileio import backends as _backends
from mmengine.fileio import io as _io
from mmengine.fileio.backends import LocalBackend, register_backend


def _umask_mode():
    """The permission bits a plain ``open()`` would give a new file (mkstemp always uses 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(data, filepath, mode='wb', encoding=None):
    """Write ``data`` to ``filepath`` through a temporary file and an atomic rename."""
    filepath = str(filepath)
    folder = osp.dirname(osp.abspath(filepath))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{osp.basename(filepath)}.{os.getpid()}.', suffix='.tmp', dir=folder)
    try:
        with os.fdopen(fd, mode, encoding=encoding) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, filepath)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


#: ``.<name>.<PID>.<random>.tmp`` (mkstemp's random part has no dot)
TMP_FILE_NAME = re.compile(r'^\.(?P<name>.+)\.(?P<pid>\d+)\.[^.]+\.tmp$')


def pid_alive(pid):
    """Whether a process ``pid`` exists on this machine (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def remove_orphaned_tmp_files(folder):
    """Remove the temporary files :func:`atomic_write` left in ``folder`` when its writer was killed.

    Only files whose writer PID is no longer alive are removed; files of live writers stay.

    Args:
        folder (str): the folder to clean (not recursive).

    Returns:
        list[str]: the removed paths.
    """
    removed = []
    for name in sorted(os.listdir(folder)) if osp.isdir(folder) else []:
        match = TMP_FILE_NAME.match(name)
        if match and int(match['pid']) != os.getpid() and not pid_alive(int(match['pid'])):
            try:
                os.remove(osp.join(folder, name))
            except FileNotFoundError:  # another cleaner was faster
                continue
            removed.append(osp.join(folder, name))
    return removed


class AtomicLocalBackend(LocalBackend):
    """``LocalBackend`` whose ``put``/``put_text`` write atomically."""

    def put(self, obj: bytes, filepath) -> None:
        atomic_write(obj, filepath, 'wb')

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        atomic_write(obj, filepath, 'w', encoding=encoding)


def install_atomic_local_backend():
    """Make every later ``get_file_backend('<local path>')`` return the atomic backend. Idempotent."""
    if _backends.prefix_to_backends.get('') is AtomicLocalBackend:
        return
    register_backend('local', AtomicLocalBackend, force=True, prefixes='')
    # drop instances of the plain backend cached before the plugin was imported
    for key in [k for k, v in _io.backend_instances.items() if type(v) is LocalBackend]:
        del _io.backend_instances[key]
