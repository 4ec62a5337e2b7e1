"""Cross-modal affinity loss of AXM-Net: binary cross-entropy over all image-text pairs of a batch."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS


@MODELS.register_module()
class CrossModalAffinityLoss(nn.Module):
    """Affinity loss over every (image i, caption j) pair of the batch, ``y_ij = 1`` for the same identity.

    ``form='paper'`` (default) is the formula exactly as printed in the paper:
    ``L = -[y log sigma(S) + (1 - y) log sigma(1 - S)]``;
    ``form='bce'`` is the standard binary cross-entropy on the logit S:
    ``L = -[y log sigma(S) + (1 - y) log(1 - sigma(S))]``.
    ``S(V_i, T_j)`` is the cosine similarity of the two embeddings; the loss is the mean over the B x B' pairs.

    Args:
        form (str): ``'paper'`` or ``'bce'``. Defaults to ``'paper'``.
        loss_weight (float): multiplier of the loss. Defaults to 1.0.
    """

    def __init__(self, form: str = 'paper', loss_weight: float = 1.0):
        super().__init__()
        if form not in ('paper', 'bce'):
            raise ValueError(f"CrossModalAffinityLoss: form must be 'paper' or 'bce', got {form!r}")
        self.form = form
        self.loss_weight = loss_weight

    def forward(self, image_feats: torch.Tensor, text_feats: torch.Tensor, pids: torch.Tensor,
                text_pids: Optional[torch.Tensor] = None) -> torch.Tensor:
        """
        Args:
            image_feats (Tensor): image embeddings, shape (B, D) (not normalised; the loss normalises).
            text_feats (Tensor): caption embeddings, shape (B', D).
            pids (Tensor): person ids of the images, shape (B,).
            text_pids (Tensor, optional): person ids of the captions, shape (B',). Defaults to ``pids``.

        Returns:
            Tensor: scalar loss.
        """
        text_pids = pids if text_pids is None else text_pids
        sim = F.normalize(image_feats, dim=1) @ F.normalize(text_feats, dim=1).t()
        return self.loss_weight * self.from_similarity(sim, pids.view(-1, 1).eq(text_pids.view(1, -1)))

    def from_similarity(self, sim: torch.Tensor, same: torch.Tensor) -> torch.Tensor:
        """The loss from a similarity matrix ``sim`` (B, B') and the same-identity mask ``same`` (B, B')."""
        y = same.to(sim.dtype)
        if self.form == 'paper':
            neg = F.logsigmoid(1 - sim)  # log sigma(1 - S), as printed
        else:
            neg = F.logsigmoid(-sim)  # log(1 - sigma(S))
        return -(y * F.logsigmoid(sim) + (1 - y) * neg).mean()
