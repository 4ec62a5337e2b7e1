"""Batch-hard triplet loss (Hermans et al., 2017), optionally across two sets (cross-modal)."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from plugins.core import distributed


def euclidean_dist(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Pairwise euclidean distances, shape (M, N), clamped so the gradient at 0 stays finite."""
    d2 = x.pow(2).sum(1, keepdim=True) + y.pow(2).sum(1).unsqueeze(0) - 2 * x @ y.t()
    return d2.clamp(min=1e-12).sqrt()


@MODELS.register_module()
class TripletLoss(nn.Module):
    """Batch-hard triplet loss.

    For every anchor the hardest positive (largest distance, same pid) and the hardest negative (smallest
    distance, other pid) are mined in the batch; ``loss = mean(max(0, d_ap - d_an + margin))``, or the soft
    margin ``log(1 + exp(d_ap - d_an))`` when ``margin`` is None.

    With ``gallery_feats`` given, anchors come from ``feats`` and positives/negatives from the gallery set:
    the cross-modal batch-hard triplet (e.g. text anchors against images).

    Mining is over the **global batch**: in a distributed run the rows of every rank are gathered with exact
    gradients first (:mod:`plugins.core.distributed`), so W processes compute the 1-process loss. Callers that
    already pass global rows (gathered themselves) set ``gather=False``.

    Args:
        margin (float | None): triplet margin; None selects the soft margin. Defaults to 0.3.
        norm_feat (bool): L2-normalise features first. Defaults to False.
        loss_weight (float): multiplier of the loss. Defaults to 1.0.
        gather (bool): gather the rows of every rank before mining. Defaults to True.
    """

    def __init__(self, margin: Optional[float] = 0.3, norm_feat: bool = False, loss_weight: float = 1.0,
                 gather: bool = True):
        super().__init__()
        self.gather = gather
        self.margin = margin
        self.norm_feat = norm_feat
        self.loss_weight = loss_weight

    def forward(self,
                feats: torch.Tensor,
                pids: torch.Tensor,
                gallery_feats: Optional[torch.Tensor] = None,
                gallery_pids: Optional[torch.Tensor] = None) -> torch.Tensor:
        """
        Args:
            feats (Tensor): anchor features, shape (B, D).
            pids (Tensor): anchor person ids, shape (B,).
            gallery_feats (Tensor, optional): positives/negatives, shape (N, D). Defaults to ``feats``.
            gallery_pids (Tensor, optional): their person ids, shape (N,).

        Returns:
            Tensor: scalar loss (mean over anchors that have both a positive and a negative).
        """
        if gallery_feats is None:
            gallery_feats, gallery_pids = feats, pids
        elif gallery_pids is None:
            raise ValueError('TripletLoss: gallery_pids is required with gallery_feats')
        if self.gather:
            feats, pids = distributed.all_gather_with_grad(feats), distributed.all_gather_no_grad(pids)
            gallery_feats = distributed.all_gather_with_grad(gallery_feats)
            gallery_pids = distributed.all_gather_no_grad(gallery_pids)
        if self.norm_feat:
            feats, gallery_feats = F.normalize(feats, dim=1), F.normalize(gallery_feats, dim=1)
        dist = euclidean_dist(feats, gallery_feats)
        same = pids.view(-1, 1).eq(gallery_pids.view(1, -1))
        # Masked fill instead of boolean indexing keeps a fixed (B,) shape for batches with varying K.
        d_ap = dist.masked_fill(~same, float('-inf')).max(dim=1).values
        d_an = dist.masked_fill(same, float('inf')).min(dim=1).values
        valid = torch.isfinite(d_ap) & torch.isfinite(d_an)
        if not valid.any():
            return dist.sum() * 0.0
        d_ap, d_an = d_ap[valid], d_an[valid]
        if self.margin is None:
            loss = F.softplus(d_ap - d_an)
        else:
            loss = F.relu(d_ap - d_an + self.margin)
        return self.loss_weight * loss.mean()
