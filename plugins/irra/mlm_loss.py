"""Masked language modelling loss of IRRA's implicit relation reasoning branch."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from plugins.core import distributed


@MODELS.register_module()
class MLMLoss(nn.Module):
    """Cross-entropy over the masked caption positions, averaged over the masked tokens of the global batch.

    Positions whose label is ``ignore_index`` (every token the MLM transform left alone) do not count. The ranks
    of a distributed run hold different numbers of masked tokens, so the loss is the sum of the per-token losses
    of every rank divided by the global masked-token count (:func:`plugins.core.distributed.global_mean`): the
    1-process loss of the concatenated batch, on every rank. Only these per-token losses are reduced, never the
    (N, V) scores. A rank (or a whole batch) without any masked position still takes part in the reduction; a
    global batch without any gives a zero loss that still carries a (zero) gradient, so distributed training
    does not stall on parameters without gradients.

    Args:
        ignore_index (int): label of positions to skip; the data contract uses -100.
        loss_weight (float): multiplier of the loss. Defaults to 1.0.
    """

    def __init__(self, ignore_index: int = -100, loss_weight: float = 1.0):
        super().__init__()
        self.ignore_index = ignore_index
        self.loss_weight = loss_weight

    def forward(self, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """
        Args:
            scores (Tensor): vocabulary logits, shape (B, L, V) or (N, V).
            labels (Tensor): original token ids at masked positions, ``ignore_index`` elsewhere, shape (B, L)
                or (N,).

        Returns:
            Tensor: scalar, mean over the counted positions of the global batch (the same on every rank).
        """
        # float32 for half scores (AMP), float64 kept
        scores = scores.reshape(-1, scores.size(-1))
        scores = scores.to(torch.promote_types(scores.dtype, torch.float32))
        labels = labels.reshape(-1)
        if scores.size(0) != labels.numel():
            raise ValueError(f'MLMLoss: {scores.size(0)} score rows for {labels.numel()} labels')
        counted = labels != self.ignore_index
        # zero (with a zero gradient) at ignored positions, so the sum is that of the counted tokens and the
        # scores stay in the graph even when nothing is counted
        token_losses = F.cross_entropy(scores, labels, ignore_index=self.ignore_index, reduction='none')
        return self.loss_weight * distributed.global_mean(token_losses, counted.sum())

    def extra_repr(self) -> str:
        return f'ignore_index={self.ignore_index}, loss_weight={self.loss_weight}'
