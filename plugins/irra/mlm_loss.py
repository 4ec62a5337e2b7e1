"""Masked language modelling loss of IRRA's implicit relation reasoning branch."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS


@MODELS.register_module()
class MLMLoss(nn.Module):
    """Cross-entropy over the masked caption positions.

    Positions whose label is ``ignore_index`` (every token the MLM transform left alone) do not count. A batch
    without any masked position gives a zero loss that still carries a (zero) gradient, so distributed
    training does not stall on parameters without gradients.

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
            Tensor: scalar, mean over the counted positions.
        """
        scores = scores.reshape(-1, scores.size(-1)).float()
        labels = labels.reshape(-1)
        if scores.size(0) != labels.numel():
            raise ValueError(f'MLMLoss: {scores.size(0)} score rows for {labels.numel()} labels')
        if not bool((labels != self.ignore_index).any()):
            return scores.sum() * 0.0
        return self.loss_weight * F.cross_entropy(scores, labels, ignore_index=self.ignore_index)

    def extra_repr(self) -> str:
        return f'ignore_index={self.ignore_index}, loss_weight={self.loss_weight}'
