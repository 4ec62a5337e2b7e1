"""CASN's attention losses (Zheng et al., CVPR 2019): identification attention and Siamese attention."""
from typing import Callable, List, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from plugins.core import distributed

Logits = Union[torch.Tensor, List[torch.Tensor]]


@MODELS.register_module()
class IdentificationAttentionLoss(nn.Module):
    """L_ia: the network's true-class score on the image with its attention region erased (GAIN-style).

    ``mask = sigmoid(alpha * (M - beta))``, ``masked = img * (1 - mask)``, and
    ``L_ia = mean_n score_{c_n}(classify(masked_n))``, the mean over the global batch (the same value on every
    rank of a distributed run; ``img``, ``maps``, ``targets`` are this rank's images). Minimising it pushes
    the attention to cover *all* of the person: whatever identity evidence remains outside the map is
    penalised. The maps must come from
    Grad-CAM with ``create_graph=True`` so the gradient reaches the network through the mask, and
    ``classify`` must be the same network (shared weights).

    Args:
        alpha (float): mask sharpness. Defaults to 10 (GAIN).
        beta (float): mask threshold on the [0, 1] map. Defaults to 0.5 (GAIN).
        score (str): ``'prob'`` (softmax probability of the true class, bounded in [0, 1]) or ``'logit'``
            (raw true-class logit, as written in the paper). Defaults to ``'prob'``.
        loss_weight (float): lambda_ia. Defaults to 1.0.
    """

    def __init__(self, alpha: float = 10.0, beta: float = 0.5, score: str = 'prob', loss_weight: float = 1.0):
        super().__init__()
        if score not in ('prob', 'logit'):
            raise ValueError(f'IdentificationAttentionLoss: score must be "prob" or "logit", got "{score}"')
        self.alpha, self.beta, self.score, self.loss_weight = alpha, beta, score, loss_weight

    def soft_mask(self, maps: torch.Tensor) -> torch.Tensor:
        """sigma(M) = sigmoid(alpha (M - beta)), same shape as ``maps``."""
        return torch.sigmoid(self.alpha * (maps - self.beta))

    def mask_images(self, img: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
        """Erase the attended region.

        Args:
            img (Tensor): normalised images, shape (B, 3, H, W).
            maps (Tensor): attention maps in [0, 1], shape (B, 1, H, W).

        Returns:
            Tensor: ``img * (1 - sigma(maps))``, shape (B, 3, H, W).
        """
        if maps.dim() == 3:
            maps = maps.unsqueeze(1)
        if maps.shape[-2:] != img.shape[-2:]:
            raise ValueError(f'IdentificationAttentionLoss: maps {tuple(maps.shape)} must have the image size '
                             f'{tuple(img.shape[-2:])} (upsample the Grad-CAM maps first)')
        return img * (1 - self.soft_mask(maps))

    def true_class_score(self, logits: Logits, targets: torch.Tensor) -> torch.Tensor:
        """Per-image true-class score, averaged over classifiers (one per PCB stripe), shape (B,)."""
        logits = logits if isinstance(logits, (list, tuple)) else [logits]
        scores = []
        for lg in logits:
            values = lg.softmax(dim=1) if self.score == 'prob' else lg
            scores.append(values.gather(1, targets.view(-1, 1)).squeeze(1))
        return torch.stack(scores).mean(0)

    def forward(self, img: torch.Tensor, maps: torch.Tensor, targets: torch.Tensor,
                classify: Callable[[torch.Tensor], Logits]) -> torch.Tensor:
        """
        Args:
            img (Tensor): normalised images, shape (B, 3, H, W).
            maps (Tensor): Grad-CAM maps of the true-class scores, shape (B, 1, H, W), in [0, 1].
            targets (Tensor): training ids, shape (B,).
            classify (callable): the network, images -> logits (B, C) or a list of them.

        Returns:
            Tensor: scalar ``loss_weight * L_ia`` over the global batch.
        """
        masked = self.mask_images(img, maps)
        # a per-image score: its mean over the global batch is the 1-process mean at any world size
        return self.loss_weight * distributed.global_mean(self.true_class_score(classify(masked), targets))


def crop_to_attention(m: torch.Tensor, threshold: float, size: Sequence[int]) -> torch.Tensor:
    """M_m^resize of one map: keep elements above ``threshold``, crop to their bounding box, resize.

    Args:
        m (Tensor): one attention map, shape (H, W).
        threshold (float): t.
        size (Sequence[int]): output (h, w).

    Returns:
        Tensor: shape (h, w); differentiable w.r.t. the kept elements (the box itself is not).
    """
    keep = m > threshold
    kept = m * keep
    if keep.any():
        rows = keep.any(dim=1).nonzero().squeeze(1)
        cols = keep.any(dim=0).nonzero().squeeze(1)
        kept = kept[int(rows[0]):int(rows[-1]) + 1, int(cols[0]):int(cols[-1]) + 1]
    return F.interpolate(kept[None, None], size=tuple(size), mode='bilinear', align_corners=False)[0, 0]


@MODELS.register_module()
class SiameseAttentionLoss(nn.Module):
    """L_sa: attention consistency of positive pairs despite misalignment.

    For each positive pair, both maps are thresholded at ``t``, cropped to the bounding box of what is kept
    and resized to ``size``; the loss is the L2 distance ``||M_m1^resize - M_m2^resize||_2``, averaged over
    the pairs. Zero for identical maps (and for maps that differ only by a shift/scale of the attended box).
    The mean is over the pairs it is given: :class:`~plugins.casn.model.CASN` gives it the positive pairs of
    the global batch (maps gathered from every rank), so every rank computes the 1-process value.

    Args:
        threshold (float): t. Defaults to 0.5.
        size (Sequence[int]): common (h, w) of the cropped maps. Defaults to (32, 16).
        loss_weight (float): lambda_sa. Defaults to 1.0.
    """

    def __init__(self, threshold: float = 0.5, size: Sequence[int] = (32, 16), loss_weight: float = 1.0):
        super().__init__()
        self.threshold, self.size, self.loss_weight = threshold, tuple(size), loss_weight

    def pair_distances(self, maps1: torch.Tensor, maps2: torch.Tensor) -> torch.Tensor:
        """L2 distance per pair, shape (P,), for maps of shape (P, H, W) or (P, 1, H, W)."""
        if maps1.shape != maps2.shape:
            raise ValueError(f'SiameseAttentionLoss: map shapes differ: {tuple(maps1.shape)} vs '
                             f'{tuple(maps2.shape)}')
        maps1, maps2 = maps1.flatten(0, -3), maps2.flatten(0, -3)  # (P, H, W)
        if maps1.size(0) == 0:
            return maps1.new_zeros(0)
        squared = torch.stack([
            (crop_to_attention(a, self.threshold, self.size) - crop_to_attention(b, self.threshold, self.size))
            .pow(2).sum() for a, b in zip(maps1, maps2)])
        # exact 0 for identical maps, and a finite (zero) gradient there instead of sqrt's infinite one
        return torch.where(squared > 0, squared.clamp_min(1e-12).sqrt(), torch.zeros_like(squared))

    def forward(self, maps1: torch.Tensor, maps2: torch.Tensor) -> torch.Tensor:
        """
        Args:
            maps1 (Tensor): attention maps of the first images of the positive pairs, (P, [1,] H, W), in [0, 1].
            maps2 (Tensor): maps of the second images, same shape.

        Returns:
            Tensor: scalar ``loss_weight * mean_p ||.||_2`` (0 with a graph when there is no pair).
        """
        dists = self.pair_distances(maps1, maps2)
        if dists.numel() == 0:
            return maps1.sum() * 0
        return self.loss_weight * dists.mean()
