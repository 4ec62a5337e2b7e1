"""Reading checkpoints: the one path from a file to a loaded checkpoint and into a model.

Every place that opens a checkpoint goes through :func:`read_checkpoint` (or :func:`check_checkpoint_file` first,
before anything is built): ``load_from`` / ``--resume`` of the Runner (MMEngine's local loader is replaced by
:func:`load_local_checkpoint` when the patches are applied), ``tools/test.py``, ``tools/train.py``,
:func:`plugins.core.apis.load_model` (and through it ``ReIDInferencer``, ``tools/search.py``,
``tools/export_onnx.py``, the visualisation tools) and ``tools/model_converters``. Three parts:

1. **Safe unpickling** (torch >= 2.6 loads with ``weights_only=True``). MMEngine 0.10.7 stores its message hub
   (``HistoryBuffer`` objects, numpy arrays and scalars) inside every checkpoint. ``HistoryBuffer`` pickled its
   class-level ``statistics_methods`` dict, i.e. bound methods, which unpickle through ``builtins.getattr`` -- a
   global that must never be allow-listed. :func:`install_safe_checkpoint_loading` pickles the buffer without
   them and rebuilds the defaults on load (custom statistics are registered at import time anyway), and
   allow-lists the remaining harmless globals (the buffer class, numpy array reconstruction,
   ``collections.Counter``, ``_codecs.encode`` used by numpy's pickles) with
   ``torch.serialization.add_safe_globals``. Anything else in a checkpoint is still refused by torch;
   ``weights_only=False`` is never used.
2. **Files that are no checkpoint** are named before torch reads them: a directory, a missing or empty file, a
   truncated zip, and a file that is no PyTorch format at all (random bytes, an HTML error page saved by a failed
   download: ``<path>: not a PyTorch checkpoint (N bytes; starts with ...): damaged or not downloaded
   completely?``) instead of torch's ``Weights only load failed ... weights_only=False ... file an issue``,
   advice that is wrong and unsafe here.
3. **Strict loading into a model**: MMEngine loads with ``strict=False`` (missing and unexpected keys and tensors
   of another shape only warn and keep their random initialisation), so evaluating the baseline config with an
   SSAN checkpoint printed metrics of a mostly random model. :func:`load_state_dict_checked` refuses any
   mismatch unless partial loading is asked for (``--cfg-options load_strict=False``), naming the config the
   checkpoint comes from (MMEngine saves ``meta.experiment_name`` = ``<config name>_<timestamp>`` and
   ``meta.cfg``, the config text, in every checkpoint).
"""
import _codecs
import collections
import os
import os.path as osp
import pickle
import re
import tarfile
import zipfile
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np
import torch
from mmengine.config import Config
from mmengine.logging import HistoryBuffer, print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import CheckpointLoader
from torch.nn.modules.module import _IncompatibleKeys

#: the first bytes of torch's (zip) serialization format
ZIP_MAGIC = b'PK\x03\x04'


# ------------------------------------------------------------------------------------------- safe unpickling
def _history_buffer_getstate(self):
    state = dict(self.__dict__)
    state.pop('statistics_methods', None)
    return state


def _history_buffer_setstate(self, state):
    state = dict(state)
    state.pop('statistics_methods', None)  # checkpoints written before this patch
    self.__dict__.update(state)
    self._set_default_statistics()


def _numpy_globals():
    """numpy objects that appear in pickled arrays and scalars (names moved in numpy 2)."""
    try:
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct, scalar
    dtype_classes = [type(np.dtype(t)) for t in (
        np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
        np.float16, np.float32, np.float64, np.complex64, np.complex128, np.str_, np.bytes_, np.object_)]
    return [_reconstruct, scalar, np.ndarray, np.dtype] + dtype_classes


SAFE_GLOBALS = [HistoryBuffer, collections.Counter, collections.OrderedDict, _codecs.encode] + _numpy_globals()


def install_safe_checkpoint_loading():
    """Patch ``HistoryBuffer`` pickling, allow-list the globals MMEngine checkpoints need, and make MMEngine's
    local checkpoint loader (``load_from``, ``--resume``, ``init_cfg`` of type ``Pretrained``) this module's
    :func:`load_from_local`.

    Idempotent; called by :func:`~plugins.core.utils.apply_mmengine_patches`, not on import.
    """
    HistoryBuffer.__getstate__ = _history_buffer_getstate
    HistoryBuffer.__setstate__ = _history_buffer_setstate
    if hasattr(torch.serialization, 'add_safe_globals'):
        torch.serialization.add_safe_globals(SAFE_GLOBALS)
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local, force=True)


# ------------------------------------------------------------------------------------ files that are no checkpoint
class CheckpointFileError(ValueError):
    """The file exists but is not a readable checkpoint (empty, truncated, not a PyTorch file, or no weights)."""


def _pth_files(folder, limit=5):
    names = sorted(n for n in os.listdir(folder) if n.endswith('.pth'))
    return ', '.join(names[:limit]) + (f', ... ({len(names) - limit} more)' if len(names) > limit else '')


def _torch_format(head):
    """``'zip'`` (torch >= 1.6), ``'pickle'`` (``_use_new_zipfile_serialization=False``), ``'tar'`` (torch < 0.4)
    or None: which of torch's serialization formats the first 512 bytes of a file start."""
    if head.startswith(ZIP_MAGIC):
        return 'zip'
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:  # a pickle's PROTO opcode
        return 'pickle'
    if head[257:262] == b'ustar':
        return 'tar'
    return None


def _show_start(head):
    """The first bytes of a file for a message: quoted text when they read as text (``'<!DOCTYPE html>...'``),
    else hexadecimal."""
    text = head[:32].decode('latin-1')
    if all(c.isprintable() or c in '\n\r\t' for c in text):
        return repr(text) + (' ...' if len(head) > 32 else '')
    return ' '.join(f'{b:02x}' for b in head[:12]) + ' ... (binary)'


def not_a_checkpoint(path, size, head, what='checkpoint', detail=''):
    """The error for a file that no torch format can read: its size and first bytes say what it is (an HTML page,
    a text file, random bytes), and what to do."""
    return CheckpointFileError(
        f'{path}: not a PyTorch checkpoint ({size} bytes; starts with {_show_start(head)}{detail}): damaged or not '
        f'downloaded completely? Copy or download the {what} again, or pass another file')


def check_checkpoint_file(path, what='checkpoint'):
    """Refuse a local checkpoint path that cannot be a checkpoint, before anything is built (reads the first 512
    bytes, and the directory at the end of a zip).

    Args:
        path (str): the file (``~`` is expanded).
        what (str): how the messages call it, e.g. ``'--resume checkpoint'``.

    Returns:
        str: the expanded path.

    Raises:
        FileNotFoundError: no such file; lists the ``.pth`` files of its folder.
        IsADirectoryError: a folder; lists the ``.pth`` files in it.
        CheckpointFileError: empty; no PyTorch format (random bytes, an HTML page: :func:`not_a_checkpoint`); a zip
            checkpoint whose end is missing (truncated copy or write).
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
        head = f.read(512)
    file_format = _torch_format(head)
    if file_format is None:
        raise not_a_checkpoint(path, size, head, what)
    if file_format == 'zip':
        try:  # reads only the directory at the end of the file: what a truncated file lacks
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except zipfile.BadZipFile:
            raise CheckpointFileError(
                f'{what} {path} is truncated or damaged ({size} bytes, the end of its zip archive is missing): an '
                f'interrupted copy or save; copy it again or use another checkpoint') from None
        if not any(name == 'data.pkl' or name.endswith('/data.pkl') for name in names):
            raise not_a_checkpoint(path, size, head, what, detail=f'; a zip archive of {len(names)} files without '
                                                                  'the data.pkl of torch.save')
    elif file_format == 'tar' and not tarfile.is_tarfile(path):
        raise not_a_checkpoint(path, size, head, what)
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
    """The one checkpoint reader: :func:`check_checkpoint_file`, then ``torch.load(weights_only=True)`` with errors
    that name the file (never torch's advice to load with ``weights_only=False``, which would run arbitrary code).

    A URL (``https://``, ``open-mmlab://``, ...) goes to MMEngine's loader of that scheme.

    Args:
        path (str): the checkpoint.
        map_location (str | callable): as ``torch.load``.
        what (str): how the messages call it, e.g. ``'--resume checkpoint'``.

    Returns:
        dict: the loaded checkpoint.

    Raises:
        FileNotFoundError | IsADirectoryError | CheckpointFileError: see :func:`check_checkpoint_file`; also when
            torch could not read it (damaged inside, or it holds objects ``weights_only`` refuses).
    """
    if '://' in str(path):
        return CheckpointLoader.load_checkpoint(path, map_location=map_location)
    path = check_checkpoint_file(path, what)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        # torch's advice (weights_only=False) would run arbitrary code: quote only its diagnosis
        refused = re.search(r'Unsupported global: GLOBAL [\w.]+', str(e))
        if refused is None:  # not a pickle of objects at all (e.g. "Unsupported operand 60": random bytes)
            with open(path, 'rb') as f:
                operand = re.search(r'Unsupported operand \d+', str(e))
                raise not_a_checkpoint(path, osp.getsize(path), f.read(512), what,
                                       detail=f'; {operand.group(0) if operand else type(e).__name__}') from None
        diagnosis = refused.group(0) + ' was not an allowed global'
        raise CheckpointFileError(f'{what} {path} cannot be loaded with torch.load(weights_only=True): {diagnosis}. '
                                  f'Save the weights as a plain state dict (torch.save(model.state_dict(), path)) '
                                  f'where they were trained') from None
    except (RuntimeError, EOFError, OSError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise CheckpointFileError(f'{what} {path} is damaged or not a PyTorch checkpoint '
                                  f'({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""}); copy it again '
                                  f'or use another checkpoint') from None


def load_from_local(filename, map_location=None):
    """MMEngine's local checkpoint loader (``CheckpointLoader`` scheme ``''``), replaced by
    :func:`install_safe_checkpoint_loading`: the Runner's ``load_from`` / ``--resume`` read through
    :func:`read_checkpoint` (same name: MMEngine's log line stays "Loads checkpoint by local backend")."""
    return read_checkpoint(filename, map_location=map_location)


# ----------------------------------------------------------------------------------------- strict loading into a model
#: How to opt out, quoted by every error.
OPT_OUT = '--cfg-options load_strict=False'
#: MMEngine's own key revision: weights saved from a DDP-wrapped model start with ``module.``
REVISE_KEYS = ((r'^module\.', ''),)


class CheckpointMismatchError(RuntimeError):
    """The checkpoint's tensors do not fit the model (or its optimizer state the optimizer)."""


def _model_type_of(cfg_text):
    try:
        return Config.fromstring(cfg_text, file_format='.py').model.type
    except Exception:  # config text of another code base: fall back to a plain search
        match = re.search(r"^model = dict\((?:.|\n)*?\btype='([\w.]+)'", cfg_text, flags=re.M)
        return match.group(1) if match else None


def checkpoint_origin(checkpoint):
    """Where a checkpoint seems to come from, from its MMEngine ``meta``.

    Args:
        checkpoint (dict): a loaded checkpoint.

    Returns:
        str: e.g. ``"config ssan_cuhkpedes_demo.py (experiment ssan_cuhkpedes_demo_20250101_120000, model SSAN,
        epoch 3)"``, or a sentence saying that the checkpoint carries no MMEngine meta.
    """
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    if not isinstance(meta, dict) or not (meta.get('experiment_name') or meta.get('cfg')):
        return 'an unknown config (the checkpoint has no mmengine meta)'
    details = []
    experiment = meta.get('experiment_name')
    config = re.sub(r'_\d{8}_\d{6}$', '', experiment) + '.py' if experiment else 'an unnamed config'
    if experiment:
        details.append(f'experiment {experiment}')
    model_type = _model_type_of(meta['cfg']) if meta.get('cfg') else None
    if model_type:
        details.append(f'model {model_type}')
    if 'epoch' in meta:
        details.append(f'epoch {meta["epoch"]}')
    return f'config {config} ({", ".join(details)})'


def describe_target(model, config=None):
    """``"config baseline_market1501_demo.py (model ReIDBaseline)"``: what a checkpoint is loaded into."""
    name = f'config {osp.basename(config)}' if config else 'this config'
    return f'{name} (model {type(model).__name__})'


def _incompatible_keys(model, state_dict):
    """Load ``state_dict`` into ``model`` as ``nn.Module.load_state_dict`` does, but collect every problem.

    Returns:
        tuple[list, list, list]: missing keys, unexpected keys, size mismatch messages.
    """
    missing, unexpected, errors = [], [], []
    metadata = getattr(state_dict, '_metadata', None)

    def load(module, prefix=''):
        local_metadata = {} if metadata is None else metadata.get(prefix[:-1], {})
        # strict=True: torch records missing/unexpected keys only then; nothing is raised here
        module._load_from_state_dict(state_dict, prefix, local_metadata, True, missing, unexpected, errors)
        for name, child in module._modules.items():
            if child is not None:
                load(child, prefix + name + '.')

    load(model)
    for module in model.modules():  # post hooks may forgive keys, as in nn.Module.load_state_dict
        for hook in getattr(module, '_load_state_dict_post_hooks', {}).values():
            hook(module, _IncompatibleKeys(missing, unexpected))
    # MMEngine's rule: BatchNorm counters of old checkpoints may be absent
    missing = [k for k in missing if not k.endswith('num_batches_tracked')]
    return missing, unexpected, errors


def _listing(keys, limit=5):
    shown = ', '.join(keys[:limit])
    return shown + (f', ... ({len(keys) - limit} more)' if len(keys) > limit else '')


def load_state_dict_checked(model, checkpoint, strict=True, source='the checkpoint', target=None):
    """Copy a checkpoint's ``state_dict`` into ``model``; refuse (``strict``) or report any mismatch.

    Args:
        model (nn.Module): the model (a DDP wrapper is unwrapped).
        checkpoint (dict): the loaded checkpoint (``{'state_dict': ..., 'meta': ...}`` or a plain state dict).
        strict (bool): raise on missing or unexpected keys and on tensors of another shape. False loads what
            fits and logs a warning naming the rest.
        source (str): the checkpoint file, for the messages.
        target (str, optional): what is being loaded into, e.g. ``describe_target(model, cfg.filename)``.

    Raises:
        CheckpointMismatchError: ``strict`` and the checkpoint does not fit; names the file, the config the
            checkpoint comes from, the keys, and the opt-out.
        CheckpointFileError: the checkpoint holds no state dict (e.g. a bare tensor); names the file.
    """
    check_checkpoint_content(checkpoint, source)
    if is_model_wrapper(model):
        model = model.module
    state_dict = checkpoint.get('state_dict', checkpoint)
    metadata = getattr(state_dict, '_metadata', OrderedDict())
    for pattern, replacement in REVISE_KEYS:
        state_dict = OrderedDict((re.sub(pattern, replacement, k), v) for k, v in state_dict.items())
    state_dict._metadata = metadata
    missing, unexpected, errors = _incompatible_keys(model, state_dict)
    if not (missing or unexpected or errors):
        return
    errors = [e.strip().rstrip('.') for e in errors]
    problems = [f'{len(missing)} missing keys ({_listing(missing)})' if missing else '',
                f'{len(unexpected)} unexpected keys ({_listing(unexpected)})' if unexpected else '',
                f'{len(errors)} size mismatches ({_listing(errors, 3)})' if errors else '']
    message = (f'checkpoint {source} does not fit {target or describe_target(model)}: '
               f'{"; ".join(p for p in problems if p)}. The checkpoint seems to come from '
               f'{checkpoint_origin(checkpoint)}.')
    if strict:
        raise CheckpointMismatchError(f'{message} Use the config it was trained with, or load partially on '
                                      f'purpose with `{OPT_OUT}` (the other weights keep their initialisation).')
    print_log(f'{message} Partial loading ({OPT_OUT}): the other weights keep their initialisation.',
              logger='current', level=30)


def load_model_checkpoint(model, filename, strict=True, config=None, map_location='cpu'):
    """Load ``filename`` into ``model`` through :func:`load_state_dict_checked` (the tools' loading call).

    Args:
        model (nn.Module): the built model.
        filename (str): checkpoint file.
        strict (bool): refuse a checkpoint that does not fit (``cfg.get('load_strict', True)`` in the tools).
        config (str, optional): the config file the model was built from, for the messages.
        map_location (str): where to load the tensors.

    Returns:
        dict: the loaded checkpoint.
    """
    checkpoint = read_checkpoint(filename, map_location=map_location)
    load_state_dict_checked(model, checkpoint, strict, source=filename, target=describe_target(model, config))
    print_log(f'Load checkpoint from {filename}', logger='current')
    return checkpoint
