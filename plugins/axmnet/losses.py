"""Cross-modal affinity loss of AXM-Net: binary cross-entropy over all image-text pairs of a batch."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from plugins.core import distributed


@MODELS.register_module()
class CrossModalAffinityLoss(nn.Module):
    """Affinity loss over every (image i, caption j) pair of the global batch, ``y_ij = 1`` for the same identity.

    ``form='paper'`` (default) is the formula exactly as printed in the paper:
    ``L = -[y log sigma(S) + (1 - y) log sigma(1 - S)]``;
    ``form='bce'`` is the standard binary cross-entropy on the logit S:
    ``L = -[y log sigma(S) + (1 - y) log(1 - sigma(S))]``.
    ``S(V_i, T_j)`` is the cosine similarity of the two embeddings; the loss is the mean over the B x B' pairs
    of the **global batch**: in a distributed run each rank pairs its own images with the captions of every
    rank (gathered with exact gradients) and the mean divides by the global count of pairs, so W processes
    compute the 1-process loss (:mod:`plugins.core.distributed`).

    Args:
        form (str): ``'paper'`` or ``'bce'``. Defaults to ``'paper'``.
        loss_weight (float): multiplier of the loss. Defaults to 1.0.
        gather (bool): gather the captions of every rank first. Defaults to True; callers that pass the global
            rows on every rank (gathered themselves) set ``gather=False``.
    """

    def __init__(self, form: str = 'paper', loss_weight: float = 1.0, gather: bool = True):
        super().__init__()
        if form not in ('paper', 'bce'):
            raise ValueError(f"CrossModalAffinityLoss: form must be 'paper' or 'bce', got {form!r}")
        self.form = form
        self.loss_weight = loss_weight
        self.gather = gather

    def forward(self, image_feats: torch.Tensor, text_feats: torch.Tensor, pids: torch.Tensor,
                text_pids: Optional[torch.Tensor] = None) -> torch.Tensor:
        """
        Args:
            image_feats (Tensor): this rank's image embeddings, shape (B_r, D) (not normalised; the loss
                normalises).
            text_feats (Tensor): this rank's caption embeddings, shape (B'_r, D).
            pids (Tensor): person ids of the images, shape (B_r,).
            text_pids (Tensor, optional): person ids of the captions, shape (B'_r,). Defaults to ``pids``.

        Returns:
            Tensor: scalar loss, the mean over the global B x B' pairs (the same value on every rank).
        """
        text_pids = pids if text_pids is None else text_pids
        if self.gather:
            text_feats = distributed.all_gather_with_grad(text_feats)
            text_pids = distributed.all_gather_no_grad(text_pids)
        sim = F.normalize(image_feats, dim=1) @ F.normalize(text_feats, dim=1).t()  # (B_r, B')
        terms = self.pair_losses(sim, pids.view(-1, 1).eq(text_pids.view(1, -1)))
        # This rank holds the rows of its own images against every caption: the global mean over ranks divides
        # by B x B'. Without gathering the rows are already global on every rank, so the plain mean is exact.
        mean = distributed.global_mean(terms) if self.gather else terms.mean()
        return self.loss_weight * mean

    def pair_losses(self, sim: torch.Tensor, same: torch.Tensor) -> torch.Tensor:
        """The loss of every pair from a similarity matrix ``sim`` (M, N) and the same-identity mask ``same``
        (M, N); returns (M, N)."""
        y = same.to(sim.dtype)
        if self.form == 'paper':
            neg = F.logsigmoid(1 - sim)  # log sigma(1 - S), as printed
        else:
            neg = F.logsigmoid(-sim)  # log(1 - sigma(S))
        return -(y * F.logsigmoid(sim) + (1 - y) * neg)
