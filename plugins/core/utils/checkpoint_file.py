"""Checkpoint files given by the user: a directory, a truncated file or a plain tensor is named, not a traceback.

``torch.load`` reports a truncated checkpoint as ``OSError: [Errno 22] Invalid argument`` (or a zip error) without
the path, MMEngine reports a directory as "can not be found", and a ``.pth`` that holds a bare tensor fails as
``'Tensor' object has no attribute 'get'``. The checks here name the file and say what was expected. Loading
keeps the rules of :mod:`~plugins.core.utils.checkpoint`: ``torch.load(weights_only=True)`` (torch's default),
nothing allow-listed beyond :data:`~plugins.core.utils.checkpoint.SAFE_GLOBALS`.
"""
import os
import os.path as osp
import pickle
import zipfile
from collections.abc import Mapping

import torch
from mmengine.runner import CheckpointLoader

#: the first bytes of torch's (zip) serialization format
ZIP_MAGIC = b'PK\x03\x04'


class CheckpointFileError(ValueError):
    """The file exists but is not a readable checkpoint (empty, truncated, or not model weights)."""


def _pth_files(folder, limit=5):
    names = sorted(n for n in os.listdir(folder) if n.endswith('.pth'))
    return ', '.join(names[:limit]) + (f', ... ({len(names) - limit} more)' if len(names) > limit else '')


def check_checkpoint_file(path, what='checkpoint'):
    """Refuse a local checkpoint path that cannot be a checkpoint, before anything is built.

    Args:
        path (str): the file (``~`` is expanded).
        what (str): how the messages call it, e.g. ``'--resume checkpoint'``.

    Returns:
        str: the expanded path.

    Raises:
        FileNotFoundError: no such file; lists the ``.pth`` files of its folder.
        IsADirectoryError: a folder; lists the ``.pth`` files in it.
        CheckpointFileError: empty, or a zip checkpoint whose end is missing (truncated copy or write).
    """
    path = osp.expanduser(os.fspath(path))
    if osp.isdir(path):
        inside = _pth_files(path)
        raise IsADirectoryError(f'{what} {path} is a directory, expected a .pth file; '
                                + (f'it holds {inside}: pass one of them, e.g. {osp.join(path, inside.split(",")[0])}'
                                   if inside else 'it holds no .pth file'))
    if not osp.isfile(path):
        folder = osp.dirname(path) or '.'
        nearby = _pth_files(folder) if osp.isdir(folder) else ''
        raise FileNotFoundError(f'{what} {path} does not exist'
                                + (f'; {folder} holds {nearby}' if nearby else ' (nor any .pth file next to it)'))
    size = osp.getsize(path)
    if size == 0:
        raise CheckpointFileError(f'{what} {path} is empty (0 bytes): an interrupted copy or save; copy it again or '
                                  f'use another checkpoint')
    with open(path, 'rb') as f:
        zipped = f.read(4) == ZIP_MAGIC
    if zipped:
        try:  # reads only the directory at the end of the file: what a truncated file lacks
            zipfile.ZipFile(path).close()
        except zipfile.BadZipFile:
            raise CheckpointFileError(
                f'{what} {path} is truncated or damaged ({size} bytes, the end of its zip archive is missing): an '
                f'interrupted copy or save; copy it again or use another checkpoint') from None
    return path


def describe_object(obj):
    """``'a torch.Tensor of shape (3, 4)'``, ``'a list of 2 items'``: what a checkpoint file held instead."""
    if isinstance(obj, torch.Tensor):
        return f'a torch.Tensor of shape {tuple(obj.shape)}'
    if isinstance(obj, (list, tuple)):
        return f'a {type(obj).__name__} of {len(obj)} items'
    return f'a {type(obj).__module__}.{type(obj).__qualname__}'.replace('builtins.', '')


def check_checkpoint_content(checkpoint, source='the checkpoint'):
    """Refuse a loaded checkpoint that holds no state dict (a bare tensor, a list, a whole pickled model).

    Raises:
        CheckpointFileError: naming ``source``, what it holds and the two layouts that are accepted.
    """
    state_dict = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, Mapping) else checkpoint
    if isinstance(state_dict, Mapping):
        return
    held = describe_object(checkpoint) + (f' whose state_dict is {describe_object(state_dict)}'
                                          if state_dict is not checkpoint else '')
    raise CheckpointFileError(
        f'checkpoint {source} holds {held}, not model weights: expected a dict of tensors '
        f'(torch.save(model.state_dict(), path)) or an mmengine checkpoint {{"state_dict": ..., "meta": ...}}')


def read_checkpoint(path, map_location='cpu', what='checkpoint'):
    """:func:`check_checkpoint_file`, then ``CheckpointLoader.load_checkpoint`` with errors that name the file.

    Returns:
        dict: the loaded checkpoint.

    Raises:
        CheckpointFileError: torch could not read it (damaged, or it holds objects ``weights_only`` refuses).
    """
    if '://' not in str(path):
        path = check_checkpoint_file(path, what)
    try:
        return CheckpointLoader.load_checkpoint(path, map_location=map_location)
    except pickle.UnpicklingError as e:
        # torch's advice (weights_only=False) would run arbitrary code: quote only its diagnosis
        reason = next((line.strip() for line in str(e).splitlines() if 'WeightsUnpickler error' in line),
                      str(e).splitlines()[0] if str(e) else type(e).__name__)
        raise CheckpointFileError(f'{what} {path} cannot be loaded with torch.load(weights_only=True): {reason}. '
                                  f'Save the weights as a plain state dict (torch.save(model.state_dict(), path)) '
                                  f'where they were trained') from None
    except (RuntimeError, EOFError, OSError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise CheckpointFileError(f'{what} {path} is damaged or not a PyTorch checkpoint '
                                  f'({type(e).__name__}: {e}); copy it again or use another checkpoint') from e
