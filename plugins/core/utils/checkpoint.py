"""Make MMEngine checkpoints loadable with ``torch.load(weights_only=True)`` (torch >= 2.6).

MMEngine 0.10.7 stores its message hub (``HistoryBuffer`` objects, numpy arrays and scalars) inside every
checkpoint. torch >= 2.6 refuses to unpickle those by default, so ``--resume`` fails. Two changes fix it
without opening arbitrary code execution:

1. ``HistoryBuffer`` pickled its class-level ``statistics_methods`` dict, i.e. bound methods, which unpickle
   through ``builtins.getattr`` -- a global that must never be allow-listed. We pickle the buffer without
   them and rebuild the defaults on load (custom statistics are registered at import time anyway).
2. The remaining harmless globals (the buffer class, numpy array reconstruction, ``collections.Counter``,
   ``_codecs.encode`` used by numpy's pickles) are allow-listed with
   ``torch.serialization.add_safe_globals``. Anything else in a checkpoint is still refused by torch.
"""
import _codecs
import collections

import numpy as np
import torch
from mmengine.logging import HistoryBuffer


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
    """Patch ``HistoryBuffer`` pickling and allow-list the globals MMEngine checkpoints need.

    Idempotent; called by :func:`~plugins.core.utils.apply_mmengine_patches`, not on import.
    """
    HistoryBuffer.__getstate__ = _history_buffer_getstate
    HistoryBuffer.__setstate__ = _history_buffer_setstate
    if hasattr(torch.serialization, 'add_safe_globals'):
        torch.serialization.add_safe_globals(SAFE_GLOBALS)
