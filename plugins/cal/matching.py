"""MatchDistill's part-query matching: bipartite edge weights and the maximum-weight perfect matching."""
from typing import Sequence

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from plugins.core import distributed


def max_weight_matching(weights) -> torch.Tensor:
    """One-to-one maximum-weight matching of a complete bipartite graph (Kuhn-Munkres / Hungarian).

    Args:
        weights (Tensor | ndarray): edge weights ``w[u, v]``, shape (N, N).

    Returns:
        Tensor: long, shape (N,); ``matching[u] = v`` maximises ``sum_u w[u, matching[u]]``.
    """
    w = weights.detach().cpu().double().numpy() if isinstance(weights, torch.Tensor) else np.asarray(weights)
    if w.ndim != 2 or w.shape[0] != w.shape[1]:
        raise ValueError(f'max_weight_matching: expected a square (N, N) weight matrix, got shape {w.shape}')
    if not np.isfinite(w).all():
        raise ValueError('max_weight_matching: edge weights contain NaN/inf')
    rows, cols = linear_sum_assignment(w, maximize=True)
    matching = torch.empty(w.shape[0], dtype=torch.long)
    matching[torch.as_tensor(rows)] = torch.as_tensor(cols, dtype=torch.long)
    return matching


def attention_overlap(query_attn: torch.Tensor, target_attn: torch.Tensor) -> torch.Tensor:
    """Per-sample edge weights ``w[b, u, v] = <S_b(query part u), S_b(target part v)>``.

    Both attention maps are over the same feature map (e.g. a visible image attended by the infrared part
    queries of its same-identity partner and by its own visible part queries).

    Args:
        query_attn (Tensor): shape (B, N_p, HW).
        target_attn (Tensor): shape (B, N_p, HW).

    Returns:
        Tensor: shape (B, N_p, N_p).
    """
    return query_attn @ target_attn.transpose(1, 2)


def batch_edge_weights(overlap: torch.Tensor, is_infrared: torch.Tensor, valid: torch.Tensor = None) -> torch.Tensor:
    """Batch-level edge weights between infrared part queries (rows) and visible part queries (columns), over
    the global batch.

    An infrared sample's overlap is already indexed (infrared part, visible part); a visible sample's overlap is
    (visible part, infrared part) and is transposed. Both directions are averaged over their samples of the
    global batch (sums and counts over every rank) and summed, so one matching serves the two symmetric
    distillation directions, and every rank solves the same matching (the 1-process one).

    Args:
        overlap (Tensor): ``attention_overlap`` of the cross-refined vs. the partner's self-refined maps,
            shape (B, N_p, N_p), of this rank's samples.
        is_infrared (Tensor): bool, shape (B,); modality of the sample that provided the *query* parts.
        valid (Tensor, optional): bool, shape (B,); samples that have a partner.

    Returns:
        Tensor: shape (N_p, N_p), detached, the same on every rank.
    """
    overlap = overlap.detach()
    valid = torch.ones_like(is_infrared) if valid is None else valid
    sels = [valid & is_infrared, valid & ~is_infrared]
    # one collective for both directions' sums and counts (every rank joins, whatever its batch holds)
    sums = distributed.global_sum(torch.stack([overlap[sel].sum(0) for sel in sels]))
    counts = distributed.global_count(torch.stack([sel.sum() for sel in sels]), overlap.device)
    weights = overlap.new_zeros(overlap.shape[1:])
    for total, count, transpose in zip(sums, counts, (False, True)):
        if count > 0:
            mean = total / count.to(total.dtype)
            weights += mean.t() if transpose else mean
    return weights


def inverse_matching(matching: torch.Tensor) -> torch.Tensor:
    """Inverse permutation: ``inv[matching[u]] = u``."""
    return torch.argsort(matching)


def matching_key(matching: Sequence[int]) -> str:
    """Plain-string key of a matching (checkpoint-safe), e.g. ``'2,0,1'``."""
    return ','.join(str(int(v)) for v in matching)
