"""Similarity distribution matching (SDM) loss of IRRA (Jiang & Ye, CVPR 2023)."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from plugins.core import distributed


def at_least_float32(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` in float32 if it is a half type (AMP), else unchanged (float64 stays float64)."""
    return tensor.to(torch.promote_types(tensor.dtype, torch.float32))


@MODELS.register_module()
class SDMLoss(nn.Module):
    """KL divergence between in-batch image-text similarity distributions and the identity label distribution.

    For image ``i`` the predicted distribution over the batch's captions is
    ``p_ij = softmax_j(cos(v_i, t_j) / temperature)`` and the target is ``q_ij = 1[pid_i = pid_j] / n_i`` (``n_i``
    = number of batch samples with ``pid_i``, so repeated ids share the mass). The loss is
    ``mean_i KL(p_i || q_i) = mean_i sum_j p_ij (log p_ij - log(q_ij + epsilon))`` for image->text plus the same
    for text->image, as in the official ``objectives.compute_sdm`` (logit scale ``1 / temperature``, epsilon
    1e-8 keeping ``log q`` finite where ``q = 0``).

    Over the global batch: ``j`` runs over the captions (images) and ids of every rank, gathered with exact
    gradients; ``i`` over this rank's images (captions); the mean over ``i`` is the global mean. Every rank of a
    distributed run thus gets the 1-process loss of the concatenated batch, from a ``(B_r, B)`` similarity block.
    Features of half types are promoted to float32 (float64 stays float64).

    Args:
        temperature (float): softmax temperature; the paper uses 0.02 (logit scale 50).
        epsilon (float): added to the label distribution before the log. Defaults to 1e-8.
        loss_weight (float): multiplier of the loss. Defaults to 1.0.
    """

    def __init__(self, temperature: float = 0.02, epsilon: float = 1e-8, loss_weight: float = 1.0):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f'SDMLoss: temperature must be > 0, got {temperature}')
        self.temperature = temperature
        self.epsilon = epsilon
        self.loss_weight = loss_weight

    @staticmethod
    def _row_kl(logits: torch.Tensor, log_target: torch.Tensor) -> torch.Tensor:
        """Per-row KL(softmax(logits) || target), shape (N,), for logits and log targets of shape (N, M)."""
        log_pred = F.log_softmax(logits, dim=1)
        return (log_pred.exp() * (log_pred - log_target)).sum(dim=1)

    def log_targets(self, pids: torch.Tensor, all_pids: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """``log(q_ij + epsilon)`` of the rows ``pids`` (N,) against the columns ``all_pids`` (M,): (N, M) in
        ``dtype``.

        ``q_ij = 1[pid_i = pid_j] / n_i`` with ``n_i`` counted over the columns (the global batch), which
        contain the rows, so ``n_i >= 1``. The label matrix is symmetric, so one target serves both directions.
        """
        same_id = (pids[:, None] == all_pids[None, :]).to(dtype)
        return torch.log(same_id / same_id.sum(dim=1, keepdim=True) + self.epsilon)

    def forward(self, image_feats: torch.Tensor, text_feats: torch.Tensor, pids: torch.Tensor) -> torch.Tensor:
        """
        Args:
            image_feats (Tensor): this rank's image features, not normalised, shape (B_r, D).
            text_feats (Tensor): features of the paired captions, not normalised, shape (B_r, D).
            pids (Tensor): person ids, shape (B_r,).

        Returns:
            Tensor: scalar loss ``loss_weight * (L_i2t + L_t2i)`` over the global batch (the same value on every
            rank; the 1-process loss without a process group).
        """
        if image_feats.shape != text_feats.shape or image_feats.size(0) != pids.numel():
            raise ValueError(f'SDMLoss: expected paired features (B, D) and pids (B,), got image '
                             f'{tuple(image_feats.shape)}, text {tuple(text_feats.shape)}, pids {tuple(pids.shape)}')
        image = F.normalize(at_least_float32(image_feats), dim=1)
        text = F.normalize(at_least_float32(text_feats), dim=1)
        pids = pids.view(-1)
        # this rank's rows against the columns of the whole batch (gathered in rank order = 1-process order)
        all_image = distributed.all_gather_with_grad(image)
        all_text = distributed.all_gather_with_grad(text)
        log_target = self.log_targets(pids, distributed.all_gather_no_grad(pids), image.dtype)
        kl_i2t = self._row_kl(image @ all_text.t() / self.temperature, log_target)
        kl_t2i = self._row_kl(text @ all_image.t() / self.temperature, log_target)
        # mean_i KL_i2t + mean_i KL_t2i = mean_i (KL_i2t + KL_t2i), the mean over the global batch
        return self.loss_weight * distributed.global_mean(kl_i2t + kl_t2i)

    def extra_repr(self) -> str:
        return f'temperature={self.temperature}, epsilon={self.epsilon}, loss_weight={self.loss_weight}'
