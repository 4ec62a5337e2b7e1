"""Part-aligned center loss (PCL) of CAL."""
from typing import Dict, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from plugins.core import distributed


def identity_centres(feats: torch.Tensor, pids: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Batch centre of every identity: ``c_j = mean_{i: y_i = y_j} f_i``.

    Args:
        feats (Tensor): shape (B, N_p, C).
        pids (Tensor): shape (B,).

    Returns:
        tuple: identities (M,) and their centres (M, N_p, C).
    """
    ids, inverse = torch.unique(pids, return_inverse=True)
    sums = feats.new_zeros((ids.numel(),) + feats.shape[1:]).index_add_(0, inverse, feats)
    counts = torch.bincount(inverse, minlength=ids.numel()).to(feats.dtype)
    return ids, sums / counts.view(-1, 1, 1)


def _part_dist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Euclidean distance per part, (M, N_p, C) x (N, N_p, C) -> (M, N, N_p); clamped for a finite gradient."""
    d2 = (a.unsqueeze(1) - b.unsqueeze(0)).pow(2).sum(-1)
    return d2.clamp(min=1e-12).sqrt()


@MODELS.register_module()
class PartAlignedCenterLoss(nn.Module):
    """``L_pcl = sum_{i,j} [g(f^VI_i, c^I_j) + g(f^IV_i, c^V_j)
    + s(c^I_i, c^V_j) + s(c^I_i, c^I_j) + s(c^V_i, c^V_j)]``.

    ``g(f, c) = 1[y_f = y_c] ||f - c||`` pulls a cross-refined embedding to the centre of the self-refined
    embeddings of its identity *in the modality that gave the part queries* (same queries -> same regions);
    ``s(c_i, c_j) = 1[y_i != y_j] [margin - ||c_i - c_j||]_+`` pushes centres of different identities apart.
    Distances are per part. Each of the five sums is divided by its number of non-zero-indicator terms
    (pairs x parts), so the scale does not grow with the batch size; the loss is their sum.

    Over the **global batch**: in a distributed run the embeddings of every rank are gathered (exact
    gradients), so the centres are those of every image of an identity and every rank gets the 1-process loss.
    Every term is a sum or mean over identities / samples of a modality, so the order of the gathered rows does
    not matter (and rank order keeps the 1-process order within each modality).

    Args:
        margin (float): ``sigma``. Defaults to 0.3.
        norm_feat (bool): L2-normalise every part embedding first, which gives the margin a fixed scale.
            Defaults to True.
        loss_weight (float): multiplier of the loss.
        gather (bool): gather the rows of every rank first; ``False`` for rows already gathered.
            Defaults to True.
    """

    def __init__(self, margin: float = 0.3, norm_feat: bool = True, loss_weight: float = 1.0,
                 gather: bool = True):
        super().__init__()
        self.margin = margin
        self.norm_feat = norm_feat
        self.loss_weight = loss_weight
        self.gather = gather

    @staticmethod
    def gather_batch(cross_feats, self_feats, pids, is_infrared, valid):
        """The arguments of :meth:`terms` gathered over ranks (rank order); two collectives."""
        valid = torch.ones_like(is_infrared) if valid is None else valid
        feats = distributed.all_gather_with_grad(torch.stack([cross_feats, self_feats], 1))
        labels = distributed.all_gather_no_grad(torch.stack([pids.long(), is_infrared.long(), valid.long()], 1))
        return feats[:, 0], feats[:, 1], labels[:, 0], labels[:, 1].bool(), labels[:, 2].bool()

    def terms(self, cross_feats, self_feats, pids, is_infrared, valid=None) -> Dict[str, torch.Tensor]:
        """The five normalised sums (``g_vi``, ``g_iv``, ``s_iv``, ``s_ii``, ``s_vv``); see ``forward``."""
        if self.norm_feat:
            cross_feats, self_feats = F.normalize(cross_feats, dim=-1), F.normalize(self_feats, dim=-1)
        valid = torch.ones_like(is_infrared) if valid is None else valid
        zero = self_feats.sum() * 0.0
        centres = {}
        for name, flag in (('I', True), ('V', False)):
            sel = is_infrared == flag
            centres[name] = identity_centres(self_feats[sel], pids[sel]) if sel.any() else None
        out = {}
        # g terms: query modality of f_i decides the centre set (f^{V,I}: infrared queries -> c^I).
        for key, name, flag in (('g_vi', 'I', True), ('g_iv', 'V', False)):
            sel = valid & (is_infrared == flag)
            if not sel.any():
                out[key] = zero
                continue
            ids, cents = centres[name]
            pos = torch.searchsorted(ids, pids[sel])
            out[key] = (cross_feats[sel] - cents[pos]).pow(2).sum(-1).clamp(min=1e-12).sqrt().mean()
        for key, a, b in (('s_iv', 'I', 'V'), ('s_ii', 'I', 'I'), ('s_vv', 'V', 'V')):
            if centres[a] is None or centres[b] is None:
                out[key] = zero
                continue
            (ids_a, c_a), (ids_b, c_b) = centres[a], centres[b]
            differ = ids_a.view(-1, 1) != ids_b.view(1, -1)
            if not differ.any():
                out[key] = zero
                continue
            hinge = F.relu(self.margin - _part_dist(c_a, c_b))
            out[key] = hinge[differ].mean()
        return out

    def forward(self, cross_feats: torch.Tensor, self_feats: torch.Tensor, pids: torch.Tensor,
                is_infrared: torch.Tensor, valid: torch.Tensor = None) -> torch.Tensor:
        """
        Args (this rank's samples, gathered here when ``gather``):
            cross_feats (Tensor): cross-refined ``f_i = A(T_partner(i); P_i)``, shape (B, N_p, C).
            self_feats (Tensor): self-refined ``f_i = A(T_i; P_i)``, shape (B, N_p, C).
            pids (Tensor): person ids, shape (B,).
            is_infrared (Tensor): bool, shape (B,); modality of sample i (of its part queries P_i).
            valid (Tensor, optional): bool, shape (B,); samples with a cross-modal partner.

        Returns:
            Tensor: scalar loss.
        """
        if self.gather and distributed.is_distributed():
            cross_feats, self_feats, pids, is_infrared, valid = self.gather_batch(
                cross_feats, self_feats, pids, is_infrared, valid)
        return self.loss_weight * sum(self.terms(cross_feats, self_feats, pids, is_infrared, valid).values())
