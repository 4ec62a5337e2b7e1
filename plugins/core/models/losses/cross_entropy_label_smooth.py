"""Cross-entropy with label smoothing (Szegedy et al., 2016), the ID loss of the BoT/AGW ReID baselines."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from plugins.core import distributed


@MODELS.register_module()
class CrossEntropyLabelSmoothLoss(nn.Module):
    """Identity classification loss with label smoothing.

    The target distribution is ``(1 - epsilon) * one_hot(y) + epsilon / C``.

    Args:
        epsilon (float): smoothing weight; 0 gives plain cross-entropy. Defaults to 0.1.
        loss_weight (float): multiplier of the loss. Defaults to 1.0.
    """

    def __init__(self, epsilon: float = 0.1, loss_weight: float = 1.0):
        super().__init__()
        if not 0 <= epsilon < 1:
            raise ValueError(f'epsilon must be in [0, 1), got {epsilon}')
        self.epsilon = epsilon
        self.loss_weight = loss_weight

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """
        Args:
            logits (Tensor): un-normalised class scores, shape (B, C).
            targets (Tensor): class indices, shape (B,).

        Returns:
            Tensor: scalar loss, mean over the global batch (every rank of a distributed run: the same value).
        """
        log_probs = F.log_softmax(logits, dim=1)
        nll = -log_probs.gather(1, targets.view(-1, 1)).squeeze(1)
        uniform = -log_probs.mean(dim=1)
        loss = (1 - self.epsilon) * nll + self.epsilon * uniform
        return self.loss_weight * distributed.global_mean(loss)
