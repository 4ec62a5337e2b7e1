"""Distinction (distinctiveness) constraint ``L_dis`` of CAL's DRM."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from plugins.core import distributed


@MODELS.register_module()
class DistinctionLoss(nn.Module):
    """``L_dis = - sum_{i=1..N_p} log Phi_i(P_i)_y``: every part alone must identify the person.

    Summed over parts, averaged over the global batch.

    Args:
        loss_weight (float): ``lambda_3``.
    """

    def __init__(self, loss_weight: float = 1.0):
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, part_logits: torch.Tensor, pids: torch.Tensor) -> torch.Tensor:
        """
        Args:
            part_logits (Tensor): ``Phi_i(P_i)`` before softmax, shape (B, N_p, num_classes).
            pids (Tensor): shape (B,).
        """
        b, n, k = part_logits.shape
        nll = F.cross_entropy(part_logits.reshape(b * n, k), pids.repeat_interleave(n), reduction='none')
        return self.loss_weight * distributed.global_mean(nll.view(b, n).sum(1))
