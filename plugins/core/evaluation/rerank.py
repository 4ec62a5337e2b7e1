"""k-reciprocal re-ranking (Zhong et al., CVPR 2017) in torch, equal to ``torchreid.reid.utils.re_ranking``.

Same steps as torchreid's numpy version (which takes distance matrices): squared distances normalised per
column, k-reciprocal neighbour sets expanded with the half-size sets of their members (when two thirds of a
member's set lies in the query's set), Gaussian-weighted encodings ``V``, local query expansion over the
``k2`` nearest neighbours, Jaccard distance from ``sum_k min(V_i, V_j)``, and the final mix
``(1 - lambda) * jaccard + lambda * original``. The python loops over samples become batched tensor operations.

Memory: like torchreid, the (Q + G) x (Q + G) float32 matrices of distances and encodings are dense.
"""
import numpy as np
import torch

from .distance import DEFAULT_CHUNK_ELEMENTS
from .rank import argsort_rows

#: Rows of the neighbour-set tensors processed at once.
ROW_CHUNK = 1024


def _as_tensor(x):
    return x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))


def _reciprocal_mask(initial_rank, k):
    """For every node i, which of its ``k`` nearest neighbours have i among their own ``k`` nearest.

    Returns:
        BoolTensor: shape (N, k), aligned with ``initial_rank[:, :k]``.
    """
    forward = initial_rank[:, :k]
    nodes = torch.arange(initial_rank.size(0), device=initial_rank.device).view(-1, 1, 1)
    return (initial_rank[forward, :k] == nodes).any(-1)


def _expanded_sets(initial_rank, k1):
    """Membership mask (N, N) of the expanded k-reciprocal set of every node."""
    num = initial_rank.size(0)
    k_half = int(np.around(k1 / 2.)) + 1
    forward, recip = initial_rank[:, :k1 + 1], _reciprocal_mask(initial_rank, k1 + 1)
    forward_half, recip_half = initial_rank[:, :k_half], _reciprocal_mask(initial_rank, k_half)
    members = torch.zeros(num, num, dtype=torch.bool, device=initial_rank.device)
    for start in range(0, num, ROW_CHUNK):
        rows = slice(start, start + ROW_CHUNK)
        f, r = forward[rows], recip[rows]                      # (c, k1+1): candidates and their validity
        cand_set, cand_valid = forward_half[f], recip_half[f]  # (c, k1+1, k_half): each candidate's half set
        # |candidate's half set ∩ the node's k-reciprocal set| (both sets hold distinct items)
        inside = ((cand_set.unsqueeze(-1) == f.view(f.size(0), 1, 1, -1)) & r.view(r.size(0), 1, 1, -1)).any(-1)
        overlap = (inside & cand_valid).sum(-1).double()
        size = cand_valid.sum(-1).double()
        take = r & (overlap > 2. / 3 * size)                   # same float test as torchreid
        block = members[rows]  # a view: writes go into ``members``
        local = torch.arange(f.size(0), device=f.device)
        block[local.view(-1, 1).expand_as(f)[r], f[r]] = True
        valid = take.unsqueeze(-1) & cand_valid
        block[local.view(-1, 1, 1).expand_as(cand_set)[valid], cand_set[valid]] = True
    return members


def re_ranking(q_g_dist, q_q_dist, g_g_dist, k1=20, k2=6, lambda_value=0.3):
    """k-reciprocal re-ranked query x gallery distances.

    Args:
        q_g_dist (np.ndarray | Tensor): query x gallery distances, shape (Q, G).
        q_q_dist (np.ndarray | Tensor): query x query distances, shape (Q, Q).
        g_g_dist (np.ndarray | Tensor): gallery x gallery distances, shape (G, G).
        k1 (int): size of the k-reciprocal neighbourhood.
        k2 (int): neighbours used for the local query expansion (1 = none).
        lambda_value (float): weight of the original distance in the final mix.

    Returns:
        Tensor: float32 distances, shape (Q, G), on the inputs' device.
    """
    q_g, q_q, g_g = _as_tensor(q_g_dist), _as_tensor(q_q_dist), _as_tensor(g_g_dist)
    num_q, num_g = q_g.shape
    if q_q.shape != (num_q, num_q) or g_g.shape != (num_g, num_g):
        raise ValueError(f're_ranking: expected q_q ({num_q}, {num_q}) and g_g ({num_g}, {num_g}) distances, got '
                         f'{tuple(q_q.shape)} and {tuple(g_g.shape)}')
    original = torch.cat([torch.cat([q_q, q_g], 1), torch.cat([q_g.t(), g_g], 1)], 0)
    original = original.pow(2).float()
    original = (original / original.max(0).values).t().contiguous()
    initial_rank = argsort_rows(original)
    num = original.size(0)

    members = _expanded_sets(initial_rank, k1)
    weight = torch.where(members, torch.exp(-original), torch.zeros((), device=original.device))
    encoding = weight / weight.sum(1, keepdim=True)
    del members, weight
    if k2 != 1:
        expanded = torch.empty_like(encoding)
        for start in range(0, num, ROW_CHUNK):
            expanded[start:start + ROW_CHUNK] = encoding[initial_rank[start:start + ROW_CHUNK, :k2]].mean(1)
        encoding = expanded
    del initial_rank

    # Jaccard: sum_k min(V_i[k], V_j[k]) over the non-zero entries k of each query's encoding, for a chunk of
    # queries at once (their non-zero columns first, padded with zero entries that add nothing to the sum)
    gallery_enc = encoding[num_q:]
    jaccard = torch.empty(num_q, num_g, dtype=torch.float32, device=original.device)
    nonzero = encoding[:num_q] > 0
    width = max(1, int(nonzero.sum(1).max()))
    step = max(1, DEFAULT_CHUNK_ELEMENTS // max(1, num_g * width))
    for start in range(0, num_q, step):
        stop = min(num_q, start + step)
        cols = torch.sort(nonzero[start:stop].to(torch.int8), dim=1, descending=True, stable=True).indices
        cols = cols[:, :width]
        values = encoding[start:stop].gather(1, cols)                               # (c, K)
        shared = torch.minimum(values.unsqueeze(0), gallery_enc[:, cols.flatten()].view(num_g, stop - start, width))
        shared = shared.sum(-1).t()                                                 # (c, G)
        jaccard[start:stop] = 1 - shared / (2. - shared)
    return jaccard * (1 - lambda_value) + original[:num_q, num_q:] * lambda_value
