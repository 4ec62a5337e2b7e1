"""Exact CMC / mAP / mINP from a distance matrix, vectorised in torch.

The definitions are torchreid's (``torchreid.reid.metrics.rank.eval_market1501``) and, with
``rules='sysu_mm01'``, those of the official SYSU-MM01 evaluation (``eval_sysu`` of the AGW / DDAG code):

* ``'market'``: for each query, the gallery items with the query's pid **and** camera are removed; a query whose
  identity is then absent from the gallery is skipped; CMC(k) = 1 if a true match is within the first k kept
  items; AP = mean over the hits of the precision at each hit; INP = (number of true matches) / (kept rank of
  the hardest, i.e. last, true match) as in Ye et al., "Deep Learning for Person Re-identification" (AGW).
* ``'sysu_mm01'``: a query from camera 3 (``camid == 2``, 0-based as in ``docs/data_contract.md``) loses every
  gallery item of camera 2 (``camid == 1``), whatever its identity; nothing else is removed. CMC counts each
  identity once along the ranking (rank = 1 + number of distinct identities seen before the first true match);
  AP and INP are computed on the raw (kept) ranking as above.
* ``'llcm'``: the official LLCM evaluation (``eval_llcm`` of the authors' DEEN code): the removal rule of
  ``'market'`` (same pid and same camera number; an LLCM camera number is one site in both modalities) with the
  identity-once CMC of ``'sysu_mm01'``; AP and INP as above.

Instead of torchreid's python loop over queries, queries are processed in chunks: one argsort per chunk, then
gathers, cumulative sums and reductions over the whole chunk, so memory stays bounded by ``chunk_size x G``.

Ties in distances: torchreid ranks with ``np.argsort`` (numpy's default, non-stable introsort / SIMD sort), and
the order of tied items does change CMC and AP. On CPU this module therefore sorts each chunk with the very same
``np.argsort`` call (the order of a row depends only on that row's values, so chunking does not change it) and
reproduces torchreid exactly, ties included. On an accelerator it uses torch's stable sort (ties by gallery
index); results then equal torchreid's whenever no two gallery distances of a query are exactly equal.
"""
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from ..datasets.sysu_cameras import SYSU_GALLERY_CAM2, SYSU_QUERY_CAM3
from .distance import DEFAULT_CHUNK_ELEMENTS
from .produce_ahead import produce_ahead

#: Removal rules understood by :func:`evaluate_rank`.
RANK_RULES = ('market', 'sysu_mm01', 'llcm')
#: dtype of person / camera ids inside the evaluator.
LABEL_DTYPE = torch.int32
#: Fewest rows per thread of :func:`argsort_rows` (below, a thread costs more than it saves).
_ROWS_PER_SORT_THREAD = 16


def _to_tensor(values, device, dtype=None):
    """Numpy array, list or tensor -> tensor on ``device``."""
    if not isinstance(values, torch.Tensor):
        values = torch.as_tensor(np.asarray(values))
    return values.to(device=device, dtype=dtype)


def _by_row_blocks(numpy_fn, values, dtype):
    """``numpy_fn(values, axis=1)`` on row blocks in torch's threads (numpy sorts on one thread but releases the
    GIL; each row's result depends on that row alone, so the blocks give the same result)."""
    workers = min(torch.get_num_threads(), values.shape[0] // _ROWS_PER_SORT_THREAD)
    if workers < 2:
        return numpy_fn(values, axis=1)
    out = np.empty(values.shape, dtype=dtype)
    bounds = np.linspace(0, values.shape[0], workers + 1).astype(int)

    def run_block(i):
        out[bounds[i]:bounds[i + 1]] = numpy_fn(values[bounds[i]:bounds[i + 1]], axis=1)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(run_block, range(workers)))
    return out


def argsort_rows(dist):
    """Ascending order of every row of ``dist``.

    Args:
        dist (Tensor): distances, shape (C, G).

    Returns:
        LongTensor: shape (C, G), on ``dist``'s device. On CPU identical to ``np.argsort(dist, axis=1)``
        (torchreid's ranking, same tie order); elsewhere a stable sort.
    """
    if dist.device.type != 'cpu':
        return torch.sort(dist, dim=1, stable=True).indices
    return torch.from_numpy(_by_row_blocks(np.argsort, dist.detach().numpy(), np.int64))


def sort_rows(dist):
    """Every row of ``dist`` sorted ascending (values only: on CPU numpy's vectorised sort, about half the cost of
    an argsort), shape (C, G), on ``dist``'s device."""
    if dist.device.type != 'cpu':
        return torch.sort(dist, dim=1).values
    values = dist.detach().contiguous().numpy()
    return torch.from_numpy(_by_row_blocks(np.sort, values, values.dtype))


def ignored_gallery(q_pids, q_camids, g_pids, g_camids, rules='market'):
    """Which gallery items the evaluation removes for each query (the rules of the module docstring).

    The ranking below applies the same rules without building this dense mask; drawings of a ranking
    (``tools/visualize_ranking.py``) use it to show exactly what was scored.

    Args:
        q_pids, q_camids (Tensor): shape (Q,); g_pids, g_camids (Tensor): shape (G,); camera ids 0-based.
        rules (str): ``'market'``, ``'sysu_mm01'`` or ``'llcm'``.

    Returns:
        BoolTensor: shape (Q, G), True where the item takes no part in that query's ranking.
    """
    if rules not in RANK_RULES:
        raise ValueError(f'evaluate_rank: rules must be one of {RANK_RULES}, got {rules!r}')
    q_pids, q_camids = torch.as_tensor(q_pids).view(-1, 1), torch.as_tensor(q_camids).view(-1, 1)
    g_pids, g_camids = torch.as_tensor(g_pids).view(1, -1), torch.as_tensor(g_camids).view(1, -1)
    if rules in ('market', 'llcm'):
        return (q_pids == g_pids) & (q_camids == g_camids)
    return (q_camids == SYSU_QUERY_CAM3) & (g_camids == SYSU_GALLERY_CAM2)


class _PaddedRows:
    """Entries of each row left-aligned in a padded (C, P) matrix: ``values`` and the ``slot`` of every entry."""

    def __init__(self, values, slot):
        self.values, self.slot = values, slot


def _pad_rows(rows, values, num_rows, fill):
    """Pad the entries ``values`` of rows ``rows`` (ascending) into a (num_rows, P) matrix (P = most entries)."""
    counts = torch.bincount(rows, minlength=num_rows)
    slot = torch.arange(rows.numel(), device=rows.device) - (counts.cumsum(0) - counts)[rows]
    out = torch.full((num_rows, max(1, int(counts.max()) if rows.numel() else 1)), fill, dtype=values.dtype,
                     device=values.device)
    out[rows, slot] = values
    return _PaddedRows(out.contiguous(), slot)


class RankAccumulator:
    """Accumulates per-query ranking statistics chunk by chunk; :meth:`result` gives ``(cmc, mAP, mINP)``.

    Args:
        g_pids (array-like): gallery person ids, shape (G,).
        g_camids (array-like): gallery camera ids (0-based), shape (G,).
        max_rank (int): length of the CMC curve (clipped to G with a warning, like torchreid).
        rules (str): ``'market'`` or ``'sysu_mm01'`` (see the module docstring).
        device (torch.device | str | None): where the statistics are computed (the distances' device).
    """

    def __init__(self, g_pids, g_camids, max_rank=50, rules='market', device=None):
        if rules not in RANK_RULES:
            raise ValueError(f'evaluate_rank: rules must be one of {RANK_RULES}, got {rules!r}')
        self.device = torch.device('cpu') if device is None else torch.device(device)
        # int32 labels: the (C, G) gathers of the ranking move half the bytes of int64
        self.g_pids = _to_tensor(g_pids, self.device, LABEL_DTYPE).view(-1)
        self.g_camids = _to_tensor(g_camids, self.device, LABEL_DTYPE).view(-1)
        if self.g_pids.numel() != self.g_camids.numel():
            raise ValueError(f'evaluate_rank: g_pids has {self.g_pids.numel()} entries but g_camids '
                             f'{self.g_camids.numel()}')
        num_g = self.g_pids.numel()
        if num_g == 0:
            raise ValueError('evaluate_rank: the gallery is empty')
        if num_g < max_rank:
            warnings.warn(f'evaluate_rank: number of gallery samples is quite small, got {num_g}; '
                          f'max_rank is clipped from {max_rank} to {num_g}')
            max_rank = num_g
        self.max_rank = int(max_rank)
        self.rules = rules
        if rules != 'market':  # sysu_mm01, llcm: CMC counts each identity once
            # contiguous identity index of each gallery item (for the "each identity once" CMC and the matches)
            self.g_id_values, self.g_pid_index = torch.unique(self.g_pids, return_inverse=True)
            self.num_g_ids = self.g_id_values.numel()
            self.g_is_cam2 = self.g_camids == SYSU_GALLERY_CAM2
        self.cmc_hist = torch.zeros(self.max_rank + 1, dtype=torch.long, device=self.device)
        self.ap_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        self.inp_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        self.num_valid = 0
        self.num_query = 0

    def update(self, dist, q_pids, q_camids):
        """Rank one chunk of queries.

        Args:
            dist (Tensor): distances of the chunk's queries to the whole gallery, shape (C, G).
            q_pids (Tensor): query person ids, shape (C,).
            q_camids (Tensor): query camera ids (0-based), shape (C,).
        """
        num_q, num_g = dist.shape
        if num_g != self.g_pids.numel():
            raise ValueError(f'evaluate_rank: distmat has {num_g} columns but the gallery has '
                             f'{self.g_pids.numel()} items')
        self.num_query += num_q
        if num_q == 0:
            return
        q_pids = _to_tensor(q_pids, self.device, LABEL_DTYPE).view(-1, 1)
        q_camids = _to_tensor(q_camids, self.device, LABEL_DTYPE).view(-1, 1)
        dist = dist.to(self.device)
        if dist.dtype == torch.bfloat16:
            dist = dist.float()  # numpy has no bfloat16; the float32 values keep their order
        if self.rules == 'market':
            rows, ranks = self._market_hits_by_counting(dist, q_pids, q_camids)
        else:
            rows, ranks, identity_rank = self._sysu_hits(argsort_rows(dist), q_pids, q_camids)

        # hits in row-major order: the k-th hit of a row has precision k / (its kept rank)
        num_rel = torch.bincount(rows, minlength=num_q)
        valid = num_rel > 0
        if not bool(valid.any()):
            return
        starts = num_rel.cumsum(0) - num_rel
        ranks = ranks.to(torch.float64)
        hit_number = torch.arange(rows.numel(), device=self.device) - starts[rows] + 1
        ap = torch.zeros(num_q, dtype=torch.float64, device=self.device)
        ap.index_add_(0, rows, hit_number.to(torch.float64) / ranks)
        ap = ap[valid] / num_rel[valid].to(torch.float64)
        first = starts[valid]
        last = first + num_rel[valid] - 1
        inp = num_rel[valid].to(torch.float64) / ranks[last]

        cmc_rank = ranks[first].long() if self.rules == 'market' else identity_rank[valid]

        self.cmc_hist += torch.bincount(cmc_rank.clamp(max=self.max_rank + 1) - 1, minlength=self.max_rank + 1)
        self.ap_sum += ap.sum()
        self.inp_sum += inp.sum()
        self.num_valid += int(valid.sum())

    def _market_hits_by_counting(self, dist, q_pids, q_camids):
        """:meth:`_market_hits` without ranking whole rows: a hit's place in the ranking is the number of items
        strictly closer, read from the sorted rows (a sort of values costs half an argsort).

        That equals the hit's position in numpy's argsort whenever no other item has exactly the hit's distance;
        rows where one has (ties, which numpy orders its own way) or where a hit is NaN are ranked by
        :func:`argsort_rows` and :meth:`_market_hits`, so the result is the same for every row.

        Returns:
            tuple: as :meth:`_market_hits`.
        """
        num_q = dist.size(0)
        match = self.g_pids == q_pids
        removed = match & (self.g_camids == q_camids)
        h_rows, h_cols = (match ^ removed).nonzero(as_tuple=True)          # kept true matches
        r_rows, r_cols = removed.nonzero(as_tuple=True)
        h_dist = dist[h_rows, h_cols]
        hits = _pad_rows(h_rows, h_dist, num_q, float('inf'))                # (C, P)
        removed_dist = _pad_rows(r_rows, dist[r_rows, r_cols], num_q, float('inf')).values.sort(1).values
        sorted_dist = sort_rows(dist)
        closer = torch.searchsorted(sorted_dist, hits.values)
        tied = torch.searchsorted(sorted_dist, hits.values, right=True) - closer != 1   # another item at d_hit
        rank = (closer - torch.searchsorted(removed_dist, hits.values) + 1)[h_rows, hits.slot]
        redo_hit = tied[h_rows, hits.slot] | torch.isnan(h_dist)
        exact = torch.ones(num_q, dtype=torch.bool, device=self.device).index_fill_(0, h_rows[redo_hit], False)
        keep = exact[h_rows]
        rows, ranks = h_rows[keep], rank[keep]
        redo = (~exact).nonzero().view(-1)
        if redo.numel():
            rows_r, ranks_r = self._market_hits(argsort_rows(dist[redo]), q_pids[redo], q_camids[redo])
            rows, ranks = torch.cat([rows, redo[rows_r]]), torch.cat([ranks, ranks_r])
        # row-major, ascending rank within a row (what the AP / INP / CMC reductions expect)
        order = torch.sort(rows * (dist.size(1) + 1) + ranks).indices
        return rows[order], ranks[order]

    def _market_hits(self, order, q_pids, q_camids):
        """Kept hits under the Market rule, from the sparse list of true matches (no dense cumsum needed).

        Removed items (same pid and camera) are a subset of the true matches, so the kept rank of a hit at
        ranking position ``col`` is ``col + 1`` minus the removed matches ranked before it in its row.

        Returns:
            tuple: ``rows`` and 1-based kept ``ranks`` of every hit (row-major order).
        """
        num_q = order.size(0)
        rows, cols = (self.g_pids[order] == q_pids).nonzero(as_tuple=True)
        removed = self.g_camids[order[rows, cols]] == q_camids[rows, 0]
        removed_incl = removed.long().cumsum(0)
        removed_per_row = torch.bincount(rows[removed], minlength=num_q)
        removed_before_row = removed_per_row.cumsum(0) - removed_per_row
        removed_before = removed_incl - removed.long() - removed_before_row[rows]
        kept = ~removed
        return rows[kept], cols[kept] + 1 - removed_before[kept]

    def _sysu_hits(self, order, q_pids, q_camids):
        """Kept hits under the SYSU rule (a cam-3 query drops every cam-2 item; ``'llcm'``: the Market rule) and
        the identity-unique rank.

        The CMC rank of a query is 1 + the number of distinct identities whose first kept item precedes its
        first true match (the official code keeps the first occurrence of each id along the ranking).

        Returns:
            tuple: ``rows`` and 1-based kept ``ranks`` of every hit (row-major order), and the identity rank
            of every query of the chunk, shape (C,) (meaningless for queries without a hit).
        """
        num_q, num_g = order.shape
        if self.rules == 'llcm':
            keep = ~((self.g_pids[order] == q_pids) & (self.g_camids[order] == q_camids))
        else:
            keep = ~((q_camids == SYSU_QUERY_CAM3) & self.g_is_cam2[order])
        sorted_ids = self.g_pid_index[order]
        # the query's identity as a gallery identity index (-1 when absent: no item can match)
        q_index = torch.searchsorted(self.g_id_values, q_pids.view(-1)).clamp(max=self.num_g_ids - 1)
        q_index = torch.where(self.g_id_values[q_index] == q_pids.view(-1), q_index, -1)
        hit = (sorted_ids == q_index.view(-1, 1)) & keep
        kept_rank = keep.to(torch.int32).cumsum(1, dtype=torch.int32)
        rows, cols = hit.nonzero(as_tuple=True)

        # ranking position of each identity's first kept item (removed items get the sentinel num_g)
        position = torch.arange(num_g, dtype=torch.int32, device=self.device).expand(num_q, num_g)
        position = position.masked_fill(~keep, num_g)
        first_seen = torch.full((num_q, self.num_g_ids), num_g, dtype=torch.int32, device=self.device)
        first_seen.scatter_reduce_(1, sorted_ids, position, reduce='amin')
        first_hit = torch.full((num_q, ), -1, dtype=torch.int32, device=self.device)
        first_hit.scatter_reduce_(0, rows, cols.to(torch.int32), reduce='amin', include_self=False)
        identity_rank = (first_seen < first_hit.view(-1, 1)).sum(1) + 1
        return rows, kept_rank[rows, cols], identity_rank

    def result(self):
        """Returns ``(cmc, mAP, mINP)``: cmc a float32 numpy array of length ``max_rank``, fractions in [0, 1]."""
        if self.num_valid == 0:
            raise ValueError('evaluate_rank: all query identities do not appear in gallery '
                             f'({self.num_query} queries, {self.g_pids.numel()} gallery items)')
        counts = self.cmc_hist[:self.max_rank].cumsum(0).cpu().numpy()
        # float32 like torchreid (sum of float32 0/1 rows divided by the number of valid queries)
        cmc = counts.astype(np.float32) / np.float32(self.num_valid)
        mAP = float(self.ap_sum) / self.num_valid
        mINP = float(self.inp_sum) / self.num_valid
        return cmc, mAP, mINP


def default_chunk_size(num_gallery, chunk_elements=DEFAULT_CHUNK_ELEMENTS):
    """Number of query rows ranked at once so that a chunk holds about ``chunk_elements`` distances."""
    return max(1, chunk_elements // max(1, num_gallery))


def evaluate_rank(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=50, rules='market', chunk_size=None):
    """CMC, mAP and mINP of a distance matrix (exactly torchreid's ``evaluate_rank`` plus mINP).

    Args:
        distmat (np.ndarray | Tensor): distances (smaller = more similar), shape (Q, G); CPU or GPU.
        q_pids (array-like): query person ids, shape (Q,).
        g_pids (array-like): gallery person ids, shape (G,).
        q_camids (array-like): query camera ids, shape (Q,) (0-based for ``rules='sysu_mm01'``).
        g_camids (array-like): gallery camera ids, shape (G,).
        max_rank (int): length of the CMC curve; clipped to G with a warning like torchreid.
        rules (str): ``'market'`` (torchreid), ``'sysu_mm01'`` (official SYSU-MM01 rules) or ``'llcm'``.
        chunk_size (int | None): queries ranked at once; None picks it from the gallery size.

    Returns:
        tuple: ``(cmc, mAP, mINP)``; ``cmc`` float32 numpy array of shape (max_rank,), ``mAP`` and ``mINP``
        python floats, all fractions in [0, 1].
    """
    if not isinstance(distmat, torch.Tensor):
        distmat = torch.from_numpy(np.asarray(distmat))
    if distmat.dim() != 2:
        raise ValueError(f'evaluate_rank: distmat must be 2-D (Q, G), got shape {tuple(distmat.shape)}')
    num_q, num_g = distmat.shape
    acc = RankAccumulator(g_pids, g_camids, max_rank=max_rank, rules=rules, device=distmat.device)
    q_pids = _to_tensor(q_pids, distmat.device, torch.long).view(-1)
    q_camids = _to_tensor(q_camids, distmat.device, torch.long).view(-1)
    if q_pids.numel() != num_q or q_camids.numel() != num_q:
        raise ValueError(f'evaluate_rank: distmat has {num_q} rows but q_pids has {q_pids.numel()} and '
                         f'q_camids {q_camids.numel()} entries')
    step = chunk_size or default_chunk_size(num_g)
    for start in range(0, num_q, step):
        stop = start + step
        acc.update(distmat[start:stop], q_pids[start:stop], q_camids[start:stop])
    return acc.result()


def evaluate_features(q_feats, g_feats, q_pids, g_pids, q_camids, g_camids, metric='euclidean', max_rank=50,
                      rules='market', chunk_size=None):
    """Distances and ranking fused per query chunk, so the full (Q, G) matrix never exists in memory.

    Args:
        q_feats (Tensor): query features, shape (Q, D).
        g_feats (Tensor): gallery features, shape (G, D), same device.
        q_pids, g_pids, q_camids, g_camids: as in :func:`evaluate_rank`.
        metric (str): ``'euclidean'`` (squared, torchreid's) or ``'cosine'``.
        max_rank (int): CMC length.
        rules (str): ``'market'`` or ``'sysu_mm01'``.
        chunk_size (int | None): query rows per chunk.

    Returns:
        tuple: ``(cmc, mAP, mINP)`` as :func:`evaluate_rank`.
    """
    from .distance import iter_distance_chunks
    step = chunk_size or default_chunk_size(g_feats.size(0))
    return rank_distance_chunks(iter_distance_chunks(q_feats, g_feats, metric, step), q_pids, g_pids, q_camids,
                                g_camids, q_feats.size(0), q_feats.device, max_rank, rules, 'evaluate_features')


def rank_distance_chunks(chunks, q_pids, g_pids, q_camids, g_camids, num_queries, device, max_rank=50,
                         rules='market', owner='rank_distance_chunks'):
    """Rank query-row chunks of a distance matrix as they are produced; the whole (Q, G) matrix never exists.

    Args:
        chunks (Iterable[tuple]): ``(start, stop, dist)`` with ``dist`` of shape (stop - start, G), in query order
            (e.g. :func:`~.distance.iter_distance_chunks`, :func:`~.rerank.iter_re_ranked`); read lazily, after
            the labels are checked, one chunk ahead in a background thread (:func:`~.produce_ahead.produce_ahead`).
        q_pids, g_pids, q_camids, g_camids: as in :func:`evaluate_rank`.
        num_queries (int): Q, the rows the chunks cover.
        device (torch.device): where the distances are.
        max_rank (int): CMC length.
        rules (str): ``'market'`` or ``'sysu_mm01'``.
        owner (str): the caller's name, for the error message.

    Returns:
        tuple: ``(cmc, mAP, mINP)`` as :func:`evaluate_rank`.
    """
    acc = RankAccumulator(g_pids, g_camids, max_rank=max_rank, rules=rules, device=device)
    q_pids = _to_tensor(q_pids, device, torch.long).view(-1)
    q_camids = _to_tensor(q_camids, device, torch.long).view(-1)
    if q_pids.numel() != num_queries or q_camids.numel() != num_queries:
        raise ValueError(f'{owner}: {num_queries} query features but q_pids has '
                         f'{q_pids.numel()} and q_camids {q_camids.numel()} entries')
    # the next chunk is computed while this one is ranked
    for start, stop, dist in produce_ahead(chunks):
        acc.update(dist, q_pids[start:stop], q_camids[start:stop])
    return acc.result()
