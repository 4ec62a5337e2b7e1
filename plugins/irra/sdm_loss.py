"""Similarity distribution matching (SDM) loss of IRRA (Jiang & Ye, CVPR 2023)."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS


@MODELS.register_module()
class SDMLoss(nn.Module):
    """KL divergence between in-batch image-text similarity distributions and the identity label distribution.

    For image ``i`` the predicted distribution over the batch's captions is
    ``p_ij = softmax_j(cos(v_i, t_j) / temperature)`` and the target is ``q_ij = 1[pid_i = pid_j] / n_i`` (``n_i``
    = number of batch samples with ``pid_i``, so repeated ids share the mass). The loss is
    ``mean_i KL(p_i || q_i) = mean_i sum_j p_ij (log p_ij - log(q_ij + epsilon))`` for image->text plus the same
    for text->image, as in the official ``objectives.compute_sdm`` (logit scale ``1 / temperature``, epsilon
    1e-8 keeping ``log q`` finite where ``q = 0``).

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

    def _kl_to_labels(self, logits: torch.Tensor, log_target: torch.Tensor) -> torch.Tensor:
        """Row-wise KL(softmax(logits) || target), averaged over rows."""
        log_pred = F.log_softmax(logits, dim=1)
        return (log_pred.exp() * (log_pred - log_target)).sum(dim=1).mean()

    def forward(self, image_feats: torch.Tensor, text_feats: torch.Tensor, pids: torch.Tensor) -> torch.Tensor:
        """
        Args:
            image_feats (Tensor): image features, not normalised, shape (B, D).
            text_feats (Tensor): features of the paired captions, not normalised, shape (B, D).
            pids (Tensor): person ids, shape (B,).

        Returns:
            Tensor: scalar loss ``loss_weight * (L_i2t + L_t2i)``.
        """
        if image_feats.shape != text_feats.shape or image_feats.size(0) != pids.numel():
            raise ValueError(f'SDMLoss: expected paired features (B, D) and pids (B,), got image '
                             f'{tuple(image_feats.shape)}, text {tuple(text_feats.shape)}, pids {tuple(pids.shape)}')
        image = F.normalize(image_feats.float(), dim=1)
        text = F.normalize(text_feats.float(), dim=1)
        logits_i2t = image @ text.t() / self.temperature
        pids = pids.view(-1)
        same_id = (pids[:, None] == pids[None, :]).float()
        # the label matrix is symmetric, so one target serves both directions
        log_target = torch.log(same_id / same_id.sum(dim=1, keepdim=True) + self.epsilon)
        loss = self._kl_to_labels(logits_i2t, log_target) + self._kl_to_labels(logits_i2t.t(), log_target)
        return self.loss_weight * loss

    def extra_repr(self) -> str:
        return f'temperature={self.temperature}, epsilon={self.epsilon}, loss_weight={self.loss_weight}'
