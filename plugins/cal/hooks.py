"""MatchDistillHook: counts CAL's per-step part matchings (once per step) and fixes the most frequent one."""
from collections import Counter
from typing import Optional

import torch
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS
from mmpretrain.utils import get_ori_model

from plugins.core import distributed
from .matching import matching_key

CHECKPOINT_KEY = 'match_distill'


def most_frequent_matching(counts: dict) -> Optional[torch.Tensor]:
    """The matching with the largest count (first seen wins ties); None for no counts.

    Args:
        counts (dict[str, int]): ``matching_key`` -> count.
    """
    if not counts:
        return None
    key = max(counts, key=counts.get)  # max keeps the first maximal key in insertion order
    return torch.tensor([int(v) for v in key.split(',')], dtype=torch.long)


@HOOKS.register_module()
class MatchDistillHook(Hook):
    """Drives CAL's MatchDistill during training.

    - before the run: checks that the model is CAL-like (its own ``part_matcher`` solves the matching; the hook
      only reads ``last_matching``);
    - every iteration from ``count_begin_epoch`` (the "late stage"): counts the step's matching once. It is the
      matching of the global batch (the same on every rank, the 1-process one), so a run on W processes counts
      what 1 process counts; rank 0's copy is the one counted, so all ranks hold the same counts even if a
      floating-point tie were broken differently on another rank;
    - after every epoch: writes the current most frequent matching into the model buffer ``part_matching``
      (validation during training uses it); once ``fix_epoch`` epochs are done (or at the last epoch) it is
      frozen: ``matching_fixed`` is set, the losses use M-hat and counting stops;
    - checkpoints: the counts (``{'2,0,1,...': n}``, plain python) and the fixed flag are stored under
      ``checkpoint['match_distill']`` and restored on resume; the buffers travel with the weights.

    The KD warm-up is the model's ``kd_begin_epoch`` (the epoch reaches the model through ``TrainEpochHook``).

    Args:
        count_begin_epoch (int): first epoch (0-based) whose matchings are counted. Defaults to 0.
        fix_epoch (int, optional): fix M-hat after this many epochs; None fixes it after the last epoch.
    """

    priority = 'NORMAL'

    def __init__(self, count_begin_epoch: int = 0, fix_epoch: Optional[int] = None):
        self.count_begin_epoch = count_begin_epoch
        self.fix_epoch = fix_epoch
        self.counts = Counter()
        self.fixed = False

    @staticmethod
    def _model(runner):
        return get_ori_model(runner.model)

    def before_run(self, runner) -> None:
        model = self._model(runner)
        missing = [name for name in ('part_matching', 'matching_fixed', 'last_matching') if not hasattr(model, name)]
        if missing:
            raise TypeError(f'MatchDistillHook needs a CAL-like model (with {", ".join(missing)}), '
                            f'got {type(model).__name__}')

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        model = self._model(runner)
        if self.fixed or runner.epoch < self.count_begin_epoch or model.last_matching is None:
            return
        # on the model's device: NCCL gathers CUDA tensors only
        matching = model.last_matching.to(device=model.part_matching.device, dtype=torch.long).view(1, -1)
        self.count(distributed.all_gather_no_grad(matching)[:1].cpu())  # rank 0's (identity at world size 1)

    def count(self, matchings) -> None:
        """Add matchings (iterable of (N_p,) tensors / sequences) to the counts."""
        for m in matchings:
            self.counts[matching_key(torch.as_tensor(m).tolist())] += 1

    def after_train_epoch(self, runner) -> None:
        if self.fixed:
            return
        model = self._model(runner)
        best = most_frequent_matching(self.counts)
        if best is not None:
            model.part_matching.copy_(best.to(model.part_matching.device))
        done = runner.epoch + 1
        if done >= runner.max_epochs or (self.fix_epoch is not None and done >= self.fix_epoch):
            self.fixed = True
            model.matching_fixed.fill_(True)
            runner.logger.info(f'MatchDistillHook: fixed M-hat = {model.part_matching.tolist()} '
                               f'({self.counts.get(matching_key(model.part_matching.tolist()), 0)} of '
                               f'{sum(self.counts.values())} counted matchings)')

    def state_dict(self) -> dict:
        """Checkpoint-safe state: only str/int/bool (loads with ``torch.load(weights_only=True)``)."""
        return dict(counts={k: int(v) for k, v in self.counts.items()}, fixed=bool(self.fixed))

    def load_state_dict(self, state: dict) -> None:
        self.counts = Counter({str(k): int(v) for k, v in state.get('counts', {}).items()})
        self.fixed = bool(state.get('fixed', False))

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint[CHECKPOINT_KEY] = self.state_dict()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if CHECKPOINT_KEY in checkpoint:
            self.load_state_dict(checkpoint[CHECKPOINT_KEY])
