"""FiniteLossHook: stop training at the first NaN/Inf loss term, before a checkpoint with broken weights is saved."""
import math
from typing import Dict, Optional

import torch
from mmengine import dist
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS


def _as_float(value) -> Optional[float]:
    """A python float of a scalar log value (tensor or number); None for anything else (strings, vectors)."""
    if isinstance(value, torch.Tensor):
        return float(value.detach().float().mean()) if value.numel() else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


@HOOKS.register_module()
class FiniteLossHook(Hook):
    """Raise ``FloatingPointError`` as soon as a logged loss term is NaN or Inf.

    After every training iteration the parsed log variables (``outputs`` of ``after_train_iter``: the total
    ``loss`` and each ``loss_*`` term) are checked. On a fault the error names the non-finite term(s), the epoch
    and iteration, and the last finite value of every term, e.g.::

        FloatingPointError: FiniteLossHook: non-finite loss at epoch 3, iteration 412 (iteration 12 of the
        epoch): loss_triplet=nan, loss=nan. Last finite values: loss_triplet=0.8123 (iteration 411), ...

    The optimizer has already stepped when the hook runs, so the weights may hold NaN: the priority
    ``ABOVE_NORMAL`` (40) makes the hook run before ``CheckpointHook`` (``VERY_LOW``, 90), whose
    ``after_train_iter`` / ``after_train_epoch`` would save them, and before ``LoggerHook``. In distributed
    training the fault flag is all-reduced, so every rank stops at the same iteration (a rank whose own loss is
    finite also got the NaN gradients through DDP, and rank 0 must not save them).

    Args:
        key_contains (str): only log variables whose name contains this string are checked (accuracies and
            other metrics may legitimately be NaN). Defaults to ``'loss'``.
        sync (bool): all-reduce the fault flag across ranks (one scalar per iteration). Defaults to True.
        enable (bool): False switches the hook off (``--cfg-options default_hooks.finite_loss.enable=False``).
            Defaults to True.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, key_contains: str = 'loss', sync: bool = True, enable: bool = True):
        self.key_contains = key_contains
        self.sync = sync
        self.enable = enable
        self.last_finite: Dict[str, tuple] = {}  # name -> (value, global iteration)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not self.enable:
            return
        values = {name: _as_float(value) for name, value in (outputs or {}).items() if self.key_contains in name}
        values = {name: value for name, value in values.items() if value is not None}
        bad = [name for name, value in values.items() if not math.isfinite(value)]
        if not self._any_rank_faulted(bool(bad)):
            for name, value in values.items():
                self.last_finite[name] = (value, runner.iter)
            return
        raise FloatingPointError(self._message(runner, batch_idx, bad, values))

    def _any_rank_faulted(self, faulted: bool) -> bool:
        if not self.sync or dist.get_world_size() == 1:
            return faulted
        flag = torch.tensor([int(faulted)], dtype=torch.int32)
        dist.all_reduce(flag, op='max')
        return bool(flag.item())

    def _message(self, runner, batch_idx, bad, values) -> str:
        # runner.epoch / runner.iter are 0-based and not yet incremented for this iteration: report 1-based,
        # as the logger does
        where = f'epoch {runner.epoch + 1}, iteration {runner.iter + 1} (iteration {batch_idx + 1} of the epoch)'
        if bad:
            terms = ', '.join(f'{name}={values[name]}' for name in bad)
        else:
            terms = f'on another rank (rank {dist.get_rank()} has finite losses)'
        last = ', '.join(f'{name}={value:.6g} (iteration {it + 1})' for name, (value, it) in self.last_finite.items())
        return (f'FiniteLossHook: non-finite loss at {where}: {terms}. '
                f'Last finite values: {last or "none (the first checked iteration)"}. '
                f'Training stopped before any checkpoint of this iteration was saved; lower the learning rate, '
                f'enable gradient clipping (optim_wrapper.clip_grad) or check the data of this batch.')
