"""Query-gallery distances computed in row chunks with one matrix product each.

Definitions follow ``torchreid.reid.metrics.distance.compute_distance_matrix``:
``'euclidean'`` is the *squared* euclidean distance ``|q|^2 + |g|^2 - 2 q.g`` and ``'cosine'`` is
``1 - cos(q, g)``. The ranking of both is what torchreid evaluates.

Distances are stored as float32 (features of higher precision are computed chunk by chunk in their own dtype
and then cast), so a 100k-item gallery never needs a full float64 matrix.
"""
import torch
import torch.nn.functional as F

#: Distance names understood by :func:`compute_distance`.
DISTANCES = ('euclidean', 'cosine')
#: Distance (or ranking) entries handled at once by the chunked evaluators, here and in :mod:`.rank`,
#: :mod:`.rerank` and the gallery index: bounds the working memory to roughly 300 MB.
DEFAULT_CHUNK_ELEMENTS = 1 << 23


def _check_features(query, gallery, metric):
    if metric not in DISTANCES:
        raise ValueError(f'distance: metric must be one of {DISTANCES}, got {metric!r}')
    if query.dim() != 2 or gallery.dim() != 2 or query.size(1) != gallery.size(1):
        raise ValueError(f'distance: expected query (Q, D) and gallery (G, D) features, got '
                         f'{tuple(query.shape)} and {tuple(gallery.shape)}')


def _as_float(x):
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def iter_distance_chunks(query, gallery, metric='euclidean', chunk_size=None):
    """Yield ``(start, stop, dist)`` for consecutive query rows; ``dist`` float32 of shape (stop - start, G).

    Args:
        query (Tensor): query features, shape (Q, D).
        gallery (Tensor): gallery features, shape (G, D), on the same device.
        metric (str): ``'euclidean'`` (squared, like torchreid) or ``'cosine'``.
        chunk_size (int | None): query rows per chunk; None keeps a chunk near 8M entries.
    """
    _check_features(query, gallery, metric)
    query, gallery = _as_float(query), _as_float(gallery)
    if metric == 'cosine':
        query, gallery = F.normalize(query, dim=1), F.normalize(gallery, dim=1)
    else:
        g_sq = gallery.pow(2).sum(1)
    gallery_t = gallery.t()
    step = chunk_size or max(1, DEFAULT_CHUNK_ELEMENTS // max(1, gallery.size(0)))
    for start in range(0, query.size(0), step):
        q = query[start:start + step]
        if metric == 'cosine':
            dist = 1 - q @ gallery_t
        else:
            # same operation order as torchreid's euclidean_squared_distance
            dist = (q.pow(2).sum(1, keepdim=True) + g_sq).addmm_(q, gallery_t, beta=1, alpha=-2)
        yield start, start + q.size(0), dist.float()


def compute_distance(query, gallery, metric='euclidean', chunk_size=None):
    """Full query x gallery distance matrix, float32, built chunk by chunk.

    Args:
        query (Tensor): shape (Q, D).
        gallery (Tensor): shape (G, D).
        metric (str): ``'euclidean'`` (squared) or ``'cosine'``.
        chunk_size (int | None): query rows per matrix product.

    Returns:
        Tensor: float32 distances, shape (Q, G), on the features' device.
    """
    _check_features(query, gallery, metric)
    out = torch.empty(query.size(0), gallery.size(0), dtype=torch.float32, device=query.device)
    for start, stop, dist in iter_distance_chunks(query, gallery, metric, chunk_size):
        out[start:stop] = dist
    return out
