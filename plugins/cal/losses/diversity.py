"""Diversity constraint ``L_div`` of CAL's DRM."""
import torch
import torch.nn as nn
from mmpretrain.registry import MODELS

from plugins.core import distributed


@MODELS.register_module()
class DiversityLoss(nn.Module):
    """``L_div = sum_{i,j} triu(S_hat^T S_hat, 1)_{i,j}``: penalises parts that select the same tokens.

    Strict upper triangle (each pair of parts once, no diagonal); averaged over the global batch.

    Args:
        loss_weight (float): ``lambda_4``.
    """

    def __init__(self, loss_weight: float = 1.0):
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, selected: torch.Tensor) -> torch.Tensor:
        """
        Args:
            selected (Tensor): ``S_hat`` (top-k scores, zeros elsewhere), shape (B, HW, N_p).
        """
        gram = selected.transpose(1, 2) @ selected
        return self.loss_weight * distributed.global_mean(torch.triu(gram, diagonal=1).sum((1, 2)))
