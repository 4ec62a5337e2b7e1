"""Adaptive pooling with static bins, for exporting graphs whose input size is fixed.

Neither ONNX exporter of torch 2.14 handles every adaptive pooling the models use: the TorchScript exporter
refuses an output size that does not divide the input (PCB / SSAN: 6 stripes of an 8-row map) and the
``torch.export`` one has no ``adaptive_max_pool2d`` at all. With the image size fixed at export, the bins are
known, and each output cell is a plain reduction over a static slice -- the same numbers, ops every exporter
supports.
"""
import contextlib
from typing import List, Tuple

import torch
import torch.nn.functional as F


def adaptive_bins(size: int, out: int) -> List[Tuple[int, int]]:
    """PyTorch's adaptive pooling bins: cell ``i`` spans ``[floor(i*size/out), ceil((i+1)*size/out))``."""
    return [(i * size // out, -(-(i + 1) * size // out)) for i in range(out)]


def _output_size(x: torch.Tensor, output_size) -> Tuple[int, int]:
    if isinstance(output_size, int):
        output_size = (output_size, output_size)
    return tuple(int(x.shape[-2 + i]) if s is None else int(s) for i, s in enumerate(output_size))


def static_adaptive_pool2d(x: torch.Tensor, output_size, reduce: str = 'mean') -> torch.Tensor:
    """``adaptive_{avg,max}_pool2d`` as reductions over static slices.

    Args:
        x (Tensor): (..., H, W) with H and W fixed for the exported graph.
        output_size (int | tuple): as for ``F.adaptive_avg_pool2d`` (None keeps that dimension).
        reduce (str): ``'mean'`` or ``'amax'``.

    Returns:
        Tensor: (..., out_h, out_w), equal to PyTorch's adaptive pooling.
    """
    out_h, out_w = _output_size(x, output_size)
    height, width = int(x.shape[-2]), int(x.shape[-1])
    rows = []
    for h0, h1 in adaptive_bins(height, out_h):
        cells = [getattr(x[..., h0:h1, w0:w1], reduce)(dim=(-2, -1), keepdim=True)
                 for w0, w1 in adaptive_bins(width, out_w)]
        rows.append(torch.cat(cells, dim=-1))
    return torch.cat(rows, dim=-2)


@contextlib.contextmanager
def static_adaptive_pooling():
    """Within the block, ``F.adaptive_avg_pool2d`` / ``F.adaptive_max_pool2d`` use :func:`static_adaptive_pool2d`.

    Patched at the ``torch.nn.functional`` attributes the models call (``nn.AdaptiveAvgPool2d`` goes through
    them too) and restored on exit; meant around one export call (not thread-safe). ``return_indices`` is
    left to PyTorch.
    """
    originals = F.adaptive_avg_pool2d, F.adaptive_max_pool2d

    def avg(x, output_size):
        return static_adaptive_pool2d(x, output_size, 'mean')

    def max_(x, output_size, return_indices=False):
        if return_indices:
            return originals[1](x, output_size, return_indices=True)
        return static_adaptive_pool2d(x, output_size, 'amax')

    F.adaptive_avg_pool2d, F.adaptive_max_pool2d = avg, max_
    try:
        yield
    finally:
        F.adaptive_avg_pool2d, F.adaptive_max_pool2d = originals
