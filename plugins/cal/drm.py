"""DRM: discriminative region mining (CAL, ICCV 2023, Sec. "DRM")."""
import math
from typing import Sequence, Tuple

import torch
import torch.nn as nn


def num_selected_tokens(num_tokens: int, num_parts: int, alpha: float) -> int:
    """``N_k = ceil(alpha * HW / N_p)``, clipped to ``[1, HW]``."""
    return max(1, min(num_tokens, math.ceil(alpha * num_tokens / num_parts)))


def select_top_tokens(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k`` largest scores of every part (column) and zero the rest: ``S_hat = T(S, N_k)``.

    Args:
        scores (Tensor): part scores ``S``, shape (B, HW, N_p).
        k (int): tokens kept per part.

    Returns:
        Tensor: ``S_hat``, shape (B, HW, N_p); differentiable w.r.t. the kept scores.
    """
    top_idx = scores.topk(k, dim=1).indices
    mask = torch.zeros_like(scores).scatter_(1, top_idx, 1.0)
    return scores * mask


def aggregate_parts(selected: torch.Tensor, tokens: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """``P = S_hat^T T / sum_j S_hat_j`` (weighted mean of the selected tokens of each part).

    Args:
        selected (Tensor): ``S_hat``, shape (B, HW, N_p).
        tokens (Tensor): ``T``, flattened feature map, shape (B, HW, C).

    Returns:
        Tensor: part features ``P``, shape (B, N_p, C).
    """
    weighted = selected.transpose(1, 2) @ tokens
    return weighted / selected.sum(dim=1).unsqueeze(-1).clamp(min=eps)


class PartScorer(nn.Module):
    """``gamma_theta``: multi-size max-pooling (stride 1, same size), channel concat, 1x1 conv, softmax over parts.

    Args:
        in_channels (int): channels ``C`` of the feature map.
        num_parts (int): ``N_p``.
        pool_sizes (Sequence[int]): odd max-pool kernel sizes; 1 keeps the map itself.
        reduce_channels (int, optional): 1x1 conv applied to each pooled map before the concat (the paper's
            "down-sampling"); None concatenates the pooled maps as they are.
    """

    def __init__(self, in_channels: int, num_parts: int, pool_sizes: Sequence[int] = (1, 3, 5),
                 reduce_channels: int = None):
        super().__init__()
        if any(k % 2 == 0 for k in pool_sizes):
            raise ValueError(f'PartScorer: pool_sizes must be odd to keep H x W, got {pool_sizes}')
        self.pools = nn.ModuleList(
            nn.Identity() if k == 1 else nn.MaxPool2d(k, stride=1, padding=k // 2) for k in pool_sizes)
        if reduce_channels:
            self.reduce = nn.ModuleList(nn.Conv2d(in_channels, reduce_channels, 1) for _ in pool_sizes)
            cat_channels = reduce_channels * len(pool_sizes)
        else:
            self.reduce = None
            cat_channels = in_channels * len(pool_sizes)
        self.score = nn.Conv2d(cat_channels, num_parts, kernel_size=1)

    def forward(self, feat_map: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> softmax part scores ``S`` of shape (B, HW, N_p)."""
        # channels-last: the same maxima, but PyTorch's CPU max-pooling is ~8x faster on it than on NCHW
        # (stride-1 pools of a 2048-channel map were 5% of a CAL training step)
        feat_map = feat_map.contiguous(memory_format=torch.channels_last)
        pooled = [pool(feat_map) for pool in self.pools]
        if self.reduce is not None:
            pooled = [conv(p) for conv, p in zip(self.reduce, pooled)]
        logits = self.score(torch.cat(pooled, dim=1))
        return logits.flatten(2).transpose(1, 2).softmax(dim=-1)


class DRM(nn.Module):
    """Part scoring, top-``N_k`` token selection and aggregation, plus the per-part classifiers of ``L_dis``.

    CAL uses one DRM per modality.

    Args:
        in_channels (int): ``C``.
        num_parts (int): ``N_p``.
        num_classes (int): training identities (for the part classifiers ``Phi_i``).
        alpha (float): selection ratio in ``N_k = ceil(alpha * HW / N_p)``.
        pool_sizes (Sequence[int]): max-pool kernel sizes of the part scorer.
        reduce_channels (int, optional): see ``PartScorer``.
    """

    def __init__(self, in_channels: int, num_parts: int, num_classes: int, alpha: float = 1.0,
                 pool_sizes: Sequence[int] = (1, 3, 5), reduce_channels: int = None):
        super().__init__()
        self.num_parts = num_parts
        self.alpha = alpha
        self.scorer = PartScorer(in_channels, num_parts, pool_sizes, reduce_channels)
        # One FC + softmax classifier per part (Phi_i); BN first, as for every ReID embedding classifier.
        self.part_bn = nn.ModuleList(nn.BatchNorm1d(in_channels) for _ in range(num_parts))
        self.part_classifiers = nn.ModuleList(nn.Linear(in_channels, num_classes, bias=False)
                                              for _ in range(num_parts))
        for fc in self.part_classifiers:
            nn.init.normal_(fc.weight, std=0.001)

    def forward(self, feat_map: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """
        Args:
            feat_map (Tensor): ``X``, shape (B, C, H, W).

        Returns:
            tuple: part features ``P`` (B, N_p, C), selected scores ``S_hat`` (B, HW, N_p) and the flattened
            tokens ``T`` (B, HW, C).
        """
        tokens = feat_map.flatten(2).transpose(1, 2)
        scores = self.scorer(feat_map)
        k = num_selected_tokens(tokens.size(1), self.num_parts, self.alpha)
        selected = select_top_tokens(scores, k)
        return aggregate_parts(selected, tokens), selected, tokens

    def classify(self, parts: torch.Tensor) -> torch.Tensor:
        """Per-part identity logits ``Phi_i(P_i)``: (B, N_p, C) -> (B, N_p, num_classes)."""
        return torch.stack([fc(bn(parts[:, i])) for i, (bn, fc) in
                            enumerate(zip(self.part_bn, self.part_classifiers))], dim=1)
