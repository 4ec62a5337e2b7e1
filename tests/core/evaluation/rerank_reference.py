"""Dense and naive references of re-ranking and query expansion (test oracles only: (Q + G)^2 memory).

``dense_re_ranking`` is the plugin's former dense torch re-ranking (torchreid's steps, batched), with a stable
neighbour order (ties by index) so that it is deterministic where torchreid's ``np.argsort`` is not.
``naive_aqe`` is fast-reid's ``aqe`` loop; ``naive_dba`` the same weighting over the gallery alone.
"""
import numpy as np
import torch
import torch.nn.functional as F


def _reciprocal_mask(initial_rank, k):
    forward = initial_rank[:, :k]
    nodes = torch.arange(initial_rank.size(0)).view(-1, 1, 1)
    return (initial_rank[forward, :k] == nodes).any(-1)


def dense_re_ranking(q_g_dist, q_q_dist, g_g_dist, k1=20, k2=6, lambda_value=0.3):
    """k-reciprocal re-ranking with dense (Q + G)^2 matrices; returns float32 (Q, G)."""
    q_g, q_q, g_g = (torch.as_tensor(np.asarray(x)) for x in (q_g_dist, q_q_dist, g_g_dist))
    num_q, num_g = q_g.shape
    original = torch.cat([torch.cat([q_q, q_g], 1), torch.cat([q_g.t(), g_g], 1)], 0).pow(2).float()
    original = (original / original.max(0).values).t().contiguous()
    initial_rank = torch.sort(original, dim=1, stable=True).indices
    num = original.size(0)
    k_half = int(np.around(k1 / 2.)) + 1
    forward, recip = initial_rank[:, :k1 + 1], _reciprocal_mask(initial_rank, k1 + 1)
    forward_half, recip_half = initial_rank[:, :k_half], _reciprocal_mask(initial_rank, k_half)
    members = torch.zeros(num, num, dtype=torch.bool)
    for i in range(num):
        f = forward[i][recip[i]]
        members[i, f] = True
        for c in f.tolist():
            half = forward_half[c][recip_half[c]]
            if len(set(half.tolist()) & set(f.tolist())) > 2. / 3 * len(half):
                members[i, half] = True
    weight = torch.where(members, torch.exp(-original), torch.zeros(()))
    encoding = weight / weight.sum(1, keepdim=True)
    if k2 != 1:
        encoding = encoding[initial_rank[:, :k2]].mean(1)
    shared = torch.minimum(encoding[:num_q].unsqueeze(1), encoding[num_q:].unsqueeze(0)).sum(-1)
    jaccard = 1 - shared / (2. - shared)
    return jaccard * (1 - lambda_value) + original[:num_q, num_q:] * lambda_value


def naive_aqe(query_feat, gallery_feat, qe_times=1, qe_k=10, alpha=3.0):
    """fast-reid's ``fastreid/evaluation/query_expansion.py::aqe``, loop for loop."""
    num_query = query_feat.shape[0]
    all_feat = torch.cat((query_feat, gallery_feat), dim=0)
    norm_feat = F.normalize(all_feat, p=2, dim=1)
    all_feat = all_feat.numpy()
    for _ in range(qe_times):
        all_feat_list = []
        sims = torch.mm(norm_feat, norm_feat.t()).numpy()
        for sim in sims:
            init_rank = np.argpartition(-sim, range(1, qe_k + 1))
            weights = np.power(sim[init_rank[:qe_k]].reshape((-1, 1)), alpha)
            all_feat_list.append(np.mean(all_feat[init_rank[:qe_k], :] * weights, axis=0))
        all_feat = np.stack(all_feat_list, axis=0)
        norm_feat = F.normalize(torch.from_numpy(all_feat), p=2, dim=1)
    return torch.from_numpy(all_feat[:num_query]), torch.from_numpy(all_feat[num_query:])


def naive_dba(gallery_feat, k=10, alpha=3.0):
    """Database-side augmentation, one gallery item at a time: alpha-weighted mean of its k nearest (itself
    included) by cosine similarity among the gallery."""
    feats = gallery_feat.numpy().astype(np.float64)
    norm = feats / np.linalg.norm(feats, axis=1, keepdims=True)
    out = np.empty_like(feats)
    for j in range(len(feats)):
        sim = norm @ norm[j]
        top = np.argsort(-sim, kind='stable')[:k]
        out[j] = np.mean(feats[top] * sim[top, None] ** alpha, axis=0)
    return torch.from_numpy(out)
