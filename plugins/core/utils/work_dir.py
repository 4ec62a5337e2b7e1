"""What ``--resume`` (no path) resumes from: the ``last_checkpoint`` of *this* work dir, never another run's file.

MMEngine's ``CheckpointHook`` writes the absolute path of the newest checkpoint into ``<work_dir>/last_checkpoint``
and ``--resume`` loads whatever that file names. In a copied work dir (``cp -r work_dirs/a work_dirs/b``) it still
names ``work_dirs/a/epoch_N.pth``: the copy would silently resume the original's checkpoint, and continue the other
run if that one went on training. :func:`resolve_last_checkpoint` takes the file of the same name in this work dir
instead (with a warning), or refuses.
"""
import os
import os.path as osp

#: the file MMEngine's CheckpointHook writes into the work dir
LAST_CHECKPOINT = 'last_checkpoint'


class ResumeError(RuntimeError):
    """``--resume`` cannot tell which checkpoint of this work dir to resume from."""


def nothing_to_resume(work_dir):
    """The warning of a ``--resume`` without a ``last_checkpoint`` (the run starts from scratch)."""
    return f'--resume: nothing to resume in {osp.abspath(work_dir)} (no last_checkpoint); the training starts ' \
           'from scratch'


def _checkpoints_in(folder):
    names = sorted(n for n in os.listdir(folder) if n.endswith('.pth')) if osp.isdir(folder) else []
    return ', '.join(names) if names else 'no .pth file'


def resolve_last_checkpoint(work_dir, out_dir=None):
    """The checkpoint ``--resume`` should load for ``work_dir``, read from its ``last_checkpoint``.

    Args:
        work_dir (str): the run's work dir.
        out_dir (str, optional): ``default_hooks.checkpoint.out_dir``; MMEngine then saves the checkpoints into
            ``<out_dir>/<work dir name>``, which is not "outside" the run.

    Returns:
        tuple[str | None, str | None]: the checkpoint (None: nothing to resume) and a warning to log (None when
        ``last_checkpoint`` names a file of this run).

    Raises:
        ResumeError: ``last_checkpoint`` is empty, names a missing file of this run, or names a file outside this
            work dir that has no file of the same name; says which file to pass with ``--resume PATH``.
    """
    work_dir = osp.abspath(work_dir)
    record = osp.join(work_dir, LAST_CHECKPOINT)
    if not osp.isfile(record):
        return None, None
    with open(record) as f:
        recorded = f.read().strip()
    if not recorded:
        raise ResumeError(f'--resume: {record} is empty; this work dir holds {_checkpoints_in(work_dir)}: resume '
                          f'from one with --resume PATH')
    if '://' in recorded:  # a remote out_dir (s3://...): MMEngine's file backends read it
        return recorded, None
    path = recorded if osp.isabs(recorded) else osp.join(work_dir, recorded)
    own = {osp.realpath(work_dir)}
    if out_dir and '://' not in out_dir:
        own.add(osp.realpath(osp.join(out_dir, osp.basename(work_dir))))
    if osp.realpath(osp.dirname(path)) in own:
        if not osp.isfile(path):
            raise ResumeError(f'--resume: {record} names {recorded}, which does not exist; this work dir holds '
                              f'{_checkpoints_in(osp.dirname(path))}: resume from one with --resume PATH')
        return path, None
    local = osp.join(work_dir, osp.basename(path))
    if osp.isfile(local):
        return local, (f'--resume: {record} names {recorded}, outside this work dir (a copied work dir?); resuming '
                       f'from {local}, the file of the same name here')
    raise ResumeError(
        f'--resume: {record} names {recorded}, outside this work dir, and {work_dir} has no '
        f'{osp.basename(path)} (it holds {_checkpoints_in(work_dir)}): resuming would continue another run. Pass the '
        f'checkpoint on purpose with --resume PATH, or delete {record} to start from scratch')


def check_work_dir_usable(work_dir, option='--work-dir'):
    """Refuse a work dir that cannot be made, before anything is written (MMEngine's ``os.makedirs`` raised a
    bare ``FileExistsError`` / ``NotADirectoryError`` after the config was loaded).

    Args:
        work_dir (str): the run's work dir (may not exist yet).
        option (str): how the message calls it.

    Raises:
        NotADirectoryError: it is a regular file, or lies under one; names the file.
        PermissionError: the nearest existing folder cannot be written.
    """
    path = osp.abspath(osp.expanduser(str(work_dir)))
    if osp.exists(path) and not osp.isdir(path):
        raise NotADirectoryError(f'{option} {work_dir} is a file, not a folder: choose a folder for the run\'s logs '
                                 'and checkpoints')
    parent = path
    while not osp.exists(parent):
        parent = osp.dirname(parent)
    if not osp.isdir(parent):
        raise NotADirectoryError(f'{option} {work_dir}: {parent} is a file, so no folder can be made under it')
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f'{option} {work_dir}: cannot write in {parent} (permission denied)')
