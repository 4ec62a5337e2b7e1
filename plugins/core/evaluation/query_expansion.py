"""Feature-level query expansion before ranking: fast-reid's average query expansion and database augmentation.

* :func:`average_query_expansion` is fast-reid's ``aqe`` (``TEST.AQE``: ``QE_TIME``, ``QE_K``, ``ALPHA``; after
  PyRetri, alpha-QE of Radenovic et al.): ``qe_times`` times, every query AND gallery feature ``x_i`` becomes
  ``mean_{m in top-qe_k(i)} x_m * cos(x_i, x_m) ** alpha``, where ``top-qe_k(i)`` are the ``qe_k`` samples of
  query + gallery most cosine-similar to ``x_i`` (itself included, as its own first neighbour).
* :func:`database_augmentation` (DBA, Arandjelovic & Zisserman 2012, alpha-weighted as in Radenovic et al.) does
  the same over the gallery only: ``g_j <- mean_{m in top-k(j) of the gallery} g_m * cos(g_j, g_m) ** alpha``;
  queries are untouched and never look at each other.

Both are exact (no approximate search): one chunked cosine-similarity pass over the N candidates per round, the
top-k of each row, and a weighted mean of k features; memory is one copy of the features plus a block of about
``chunk_elements`` similarities. All torch operations, on the features' device.
"""
import torch
import torch.nn.functional as F

from .distance import DEFAULT_CHUNK_ELEMENTS

#: fast-reid's defaults (``TEST.AQE.QE_TIME``, ``QE_K``, ``ALPHA``).
DEFAULT_AQE = dict(qe_times=1, qe_k=5, alpha=3.0)
#: Database-side augmentation defaults.
DEFAULT_DBA = dict(k=10, alpha=3.0)


def _check(name, k, alpha, times=1):
    if int(k) != k or k < 1 or int(times) != times or times < 1:
        raise ValueError(f'{name}: the neighbour count and the number of rounds must be positive integers, got '
                         f'{k!r} and {times!r}')
    if not isinstance(alpha, (int, float)):
        raise ValueError(f'{name}: alpha must be a number, got {alpha!r}')


def weighted_neighbour_mean(feats, k, alpha, chunk_elements=DEFAULT_CHUNK_ELEMENTS):
    """One round: ``x_i <- mean_{m in top-k(i)} x_m * cos(x_i, x_m) ** alpha`` over the rows of ``feats``.

    Args:
        feats (Tensor): features, shape (N, D).
        k (int): neighbours averaged (clipped to N; the sample itself is its first).
        alpha (float): exponent of the cosine-similarity weights.
        chunk_elements (int): similarities (and gathered feature entries) computed at once.

    Returns:
        Tensor: the new features, shape (N, D), dtype of ``feats``.
    """
    num, dim = feats.shape
    k = min(int(k), num)
    norm = F.normalize(feats, p=2, dim=1)
    out = torch.empty_like(feats)
    step = max(1, chunk_elements // max(num, k * dim))
    for start in range(0, num, step):
        sims = norm[start:start + step] @ norm.t()
        top = sims.topk(k, dim=1, largest=True, sorted=True)
        weights = top.values.pow(alpha).unsqueeze(-1)
        out[start:start + step] = (feats[top.indices] * weights).mean(1)
    return out


def average_query_expansion(q_feats, g_feats, qe_times=1, qe_k=5, alpha=3.0, chunk_elements=DEFAULT_CHUNK_ELEMENTS):
    """fast-reid's ``aqe``: alpha-weighted average query expansion over query + gallery, ``qe_times`` rounds.

    Args:
        q_feats (Tensor): query features, shape (Q, D).
        g_feats (Tensor): gallery features, shape (G, D).
        qe_times (int): rounds.
        qe_k (int): neighbours averaged per sample (itself included).
        alpha (float): exponent of the cosine weights.
        chunk_elements (int): working-memory bound of :func:`weighted_neighbour_mean`.

    Returns:
        tuple: expanded query (Q, D) and gallery (G, D) features.
    """
    _check('average_query_expansion', qe_k, alpha, qe_times)
    feats = torch.cat([q_feats, g_feats]).float()
    for _ in range(int(qe_times)):
        feats = weighted_neighbour_mean(feats, qe_k, alpha, chunk_elements)
    return feats[:q_feats.size(0)], feats[q_feats.size(0):]


def database_augmentation(g_feats, k=10, alpha=3.0, chunk_elements=DEFAULT_CHUNK_ELEMENTS):
    """DBA: every gallery feature becomes the alpha-weighted mean of its ``k`` nearest gallery features.

    Args:
        g_feats (Tensor): gallery features, shape (G, D).
        k (int): neighbours averaged (itself included).
        alpha (float): exponent of the cosine weights.
        chunk_elements (int): working-memory bound.

    Returns:
        Tensor: augmented gallery features, shape (G, D).
    """
    _check('database_augmentation', k, alpha)
    return weighted_neighbour_mean(g_feats.float(), k, alpha, chunk_elements)
