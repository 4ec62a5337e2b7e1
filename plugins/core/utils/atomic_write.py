"""Atomic writes of files and folders: a reader sees the old version or the complete new one, never a part.

The content is written under a temporary name in the same folder, ``.{name}.{pid}.tmp``, and renamed into place
at the end (``os.replace`` / ``os.rename`` are atomic within one file system). The PID in the name lets a later
run tell the orphan of a killed writer (its process is gone) from the work in progress of a live one. The
temporary file or folder is created with a plain ``open`` / ``os.makedirs``, so the result has the permissions
the umask gives (0644 / 0755 under umask 022), like any file the user writes; on any exception, including
``KeyboardInterrupt``, it is removed and the previous version stays untouched. A full disk (``ENOSPC``,
``EDQUOT``) is re-raised as :class:`DiskFullError`, naming the file and the space left (``shutil.disk_usage``).

Example:
    >>> with atomic_write('work_dir/vocab.json', 'w', encoding='utf-8') as f:
    ...     json.dump(payload, f)
    >>> with atomic_dir('data/demo/cuhk-pedes') as tmp:
    ...     write_everything_into(tmp)
"""
import errno
import os
import os.path as osp
import re
import shutil

#: modes that create a file from scratch (appending or reading would not be atomic)
WRITE_MODES = ('w', 'wb', 'wt', 'w+', 'wb+', 'w+b', 'wt+', 'w+t')


def temporary_path(path, suffix='tmp'):
    """``<folder>/.<name>.<pid>.<suffix>``: where ``path`` is written before it is renamed into place."""
    path = osp.abspath(os.fspath(path))
    return osp.join(osp.dirname(path), f'.{osp.basename(path)}.{os.getpid()}.{suffix}')


#: ``.<name>.<PID>.tmp`` / ``.<name>.<PID>.old`` (an optional ``.<random>`` part before the suffix is accepted)
TMP_NAME = re.compile(r'^\.(?P<name>.+)\.(?P<pid>\d+)(?:\.[^.]+)?\.(?:tmp|old)$')


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
    """Remove the temporary files and folders :func:`atomic_write` / :func:`atomic_dir` left in ``folder``
    when their writer was killed (``kill -9`` runs no clean-up).

    Only those whose writer PID is no longer alive are removed; the work of live writers stays.

    Args:
        folder (str): the folder to clean (not recursive).

    Returns:
        list[str]: the removed paths.
    """
    removed = []
    for name in sorted(os.listdir(folder)) if osp.isdir(folder) else []:
        match = TMP_NAME.match(name)
        if match and int(match['pid']) != os.getpid() and not pid_alive(int(match['pid'])):
            _remove(osp.join(folder, name))
            removed.append(osp.join(folder, name))
    return removed


def _remove(path):
    if osp.isdir(path) and not osp.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif osp.lexists(path):
        os.remove(path)


#: the errors of a full disk or an exhausted quota
DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


class DiskFullError(OSError):
    """No space left for a file written by :func:`atomic_write` (``errno`` stays ``ENOSPC`` / ``EDQUOT``)."""


def human_size(num_bytes):
    """``1536`` -> ``'1.5 KB'``."""
    for unit in ('bytes', 'KB', 'MB', 'GB', 'TB'):
        if num_bytes < 1024 or unit == 'TB':
            return f'{num_bytes:.0f} {unit}' if unit == 'bytes' else f'{num_bytes:.1f} {unit}'
        num_bytes /= 1024


def disk_full_error(error, path, hint=''):
    """A :class:`DiskFullError` for ``error`` raised while writing ``path``: the file, the free space, the fix."""
    folder = osp.dirname(path)
    try:
        usage = shutil.disk_usage(folder)
        space = f'{human_size(usage.free)} free of {human_size(usage.total)} on the disk of {folder}'
    except OSError:
        space = f'free space of {folder} unknown'
    kept = 'keeps its previous version' if osp.exists(path) else 'was not created'
    return DiskFullError(error.errno, f'{os.strerror(error.errno)} while writing {path} ({space}); the partial file '
                                      f'was removed and {osp.basename(path)} {kept}. Free space on that disk or '
                                      f'write to another one{hint}')


class atomic_write:  # noqa: N801  (used like ``open``)
    """Context manager: ``with atomic_write(path, 'wb') as f: f.write(data)``.

    Args:
        path (str | os.PathLike): the final file; its folder is created when missing.
        mode (str): a writing mode of :func:`open` (``'w'``, ``'wb'``, ...). Default ``'w'``.
        encoding (str, optional): text encoding (text modes).
        fsync (bool): flush the data to disk before the rename, so that a power loss cannot leave an empty file
            under the final name. Default True.
        hint (str): added to the message of a :class:`DiskFullError`, e.g. how to keep fewer checkpoints.

    Raises:
        ValueError: at the call, when ``path`` is not a path or ``mode`` does not write a new file (e.g. the
            ``atomic_write(data, path)`` order of an older helper).
        DiskFullError: the disk is full (writing, flushing or renaming); names the file and the free space.
    """

    def __init__(self, path, mode='w', encoding=None, fsync=True, hint=''):
        if not isinstance(path, (str, os.PathLike)) or mode not in WRITE_MODES:
            raise ValueError(f'atomic_write(path, mode): path must be a str or os.PathLike and mode one of '
                             f'{WRITE_MODES}, got path={path!r:.80} and mode={mode!r:.80}; write with '
                             f'`with atomic_write(path, "wb") as f: f.write(data)`')
        self.path = osp.abspath(os.fspath(path))
        self.mode, self.encoding, self.fsync, self.hint = mode, encoding, fsync, hint
        self.tmp = temporary_path(self.path)
        self._file = None

    def __enter__(self):
        os.makedirs(osp.dirname(self.path), exist_ok=True)
        _remove(self.tmp)  # left by an earlier failure of this very process
        self._file = open(self.tmp, self.mode, encoding=self.encoding)
        return self._file

    def __exit__(self, exc_type, exc, tb):
        try:
            self._finish(complete=exc_type is None)
        except OSError as e:
            if e.errno in DISK_FULL_ERRNOS and not isinstance(e, DiskFullError):
                raise disk_full_error(e, self.path, self.hint) from e
            raise
        if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS and not isinstance(exc, DiskFullError):
            raise disk_full_error(exc, self.path, self.hint) from exc
        return False

    def _finish(self, complete):
        """Flush and rename a complete file into place; always close and remove the temporary file."""
        try:
            try:
                if complete:
                    self._file.flush()
                    if self.fsync:
                        os.fsync(self._file.fileno())
            finally:
                self._file.close()  # a failed flush leaves buffered data: close() raises again, but closes
            if complete:
                os.replace(self.tmp, self.path)
        finally:
            _remove(self.tmp)


class atomic_dir:  # noqa: N801  (used like ``tempfile.TemporaryDirectory``)
    """Context manager that yields an empty temporary folder and renames it to ``path`` when the block succeeds.

    An existing ``path`` is replaced: it is moved aside to ``.{name}.{pid}.old``, the new folder is renamed into
    place, then the old one is removed.

    Args:
        path (str | os.PathLike): the final folder; its parent is created when missing.
    """

    def __init__(self, path):
        if not isinstance(path, (str, os.PathLike)):
            raise ValueError(f'atomic_dir(path): path must be a str or os.PathLike, got {path!r:.80}')
        self.path = osp.abspath(os.fspath(path))
        self.tmp = temporary_path(self.path)

    def __enter__(self):
        _remove(self.tmp)
        os.makedirs(self.tmp)
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self._swap_into_place()
        finally:
            _remove(self.tmp)
        return False

    def _swap_into_place(self):
        if not osp.lexists(self.path):
            os.rename(self.tmp, self.path)
            return
        old = temporary_path(self.path, 'old')
        _remove(old)
        os.rename(self.path, old)
        os.rename(self.tmp, self.path)
        _remove(old)
