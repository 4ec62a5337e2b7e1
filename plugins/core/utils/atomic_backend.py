"""Atomic writes for MMEngine's local file backend (checkpoints, ``last_checkpoint``).

MMEngine writes a checkpoint with ``open(path, 'wb').write(...)``: a process killed mid-write leaves a
truncated ``epoch_N.pth`` that ``--resume`` picks up and fails on. Writing through
:func:`~plugins.core.utils.atomic_write.atomic_write` (temporary file in the same folder, then a rename) means a
reader sees either the old file or the complete new one, never a partial one. A full disk is a
:class:`~plugins.core.utils.atomic_write.DiskFullError` naming the checkpoint, its size and the free space.
"""
from mmengine.fileio import backends as _backends
from mmengine.fileio import io as _io
from mmengine.fileio.backends import LocalBackend, register_backend

from .atomic_write import atomic_write, human_size

#: how to need less space, added to a full disk's error for a checkpoint
CHECKPOINT_HINT = (': --work-dir on a disk with room, or keep fewer checkpoints '
                   '(--cfg-options default_hooks.checkpoint.max_keep_ckpts=1)')


class AtomicLocalBackend(LocalBackend):
    """``LocalBackend`` whose ``put``/``put_text`` write atomically."""

    def put(self, obj: bytes, filepath) -> None:
        hint = f' (the file needs {human_size(len(obj))}){CHECKPOINT_HINT}' if str(filepath).endswith('.pth') else ''
        with atomic_write(filepath, 'wb', hint=hint) as f:
            f.write(obj)

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        with atomic_write(filepath, 'w', encoding=encoding) as f:
            f.write(obj)


def install_atomic_local_backend():
    """Make every later ``get_file_backend('<local path>')`` return the atomic backend. Idempotent.

    Called by :func:`~plugins.core.utils.apply_mmengine_patches`, not on import.
    """
    if _backends.prefix_to_backends.get('') is AtomicLocalBackend:
        return
    register_backend('local', AtomicLocalBackend, force=True, prefixes='')
    # drop instances of the plain backend cached before the plugin was imported
    for key in [k for k, v in _io.backend_instances.items() if type(v) is LocalBackend]:
        del _io.backend_instances[key]
