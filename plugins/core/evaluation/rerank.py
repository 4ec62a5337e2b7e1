"""k-reciprocal re-ranking (Zhong et al., CVPR 2017) in bounded memory, equal to torchreid's ``re_ranking``.

Same steps and numbers as ``torchreid.reid.utils.rerank.re_ranking`` (numpy, dense): the original distances
of all N = Q + G samples squared and divided per column by the column maximum (the matrix is transposed after,
so sample i's row is divided by the maximum of ITS distances to all N samples); each sample's k-reciprocal set
among its ``k1 + 1`` nearest neighbours, expanded with the half-size sets (``round(k1 / 2) + 1``) of its members
when two thirds of such a set lies inside; Gaussian-weighted encodings ``V`` over the expanded set; local query
expansion (mean of the ``V`` of the ``k2`` nearest neighbours); Jaccard distance ``1 - s / (2 - s)`` with
``s = sum_k min(V_i[k], V_j[k])``; final mix ``(1 - lambda) * jaccard + lambda * original``.

No (Q + G)^2 or G x G matrix exists here (torchreid builds several, 35 GiB each at MSMT17's 93,820 samples):

1. one chunked pass over the distances keeps, per sample, its row maximum and its ``max(k1 + 1, k2)`` nearest
   neighbours (on features the pass computes each block of the symmetric matrix once and uses it for the rows
   and, transposed, for the columns); the neighbour order is the stable ascending order (ties by index),
   exact even under ties (:func:`_nearest_neighbours`);
2. k-reciprocal sets and their expansion on those lists, ``V`` as sparse rows (CSR), local query expansion as
   sparse sums of ``k2`` rows;
3. ``s`` only between queries and gallery items that share a non-zero column (an inverted index of the gallery
   rows, column -> rows); every other pair has ``s = 0``, a Jaccard distance of 1;
4. the final distances are produced a chunk of query rows at a time (:func:`iter_re_ranked`) and ranked as they
   come (:func:`evaluate_re_ranked`), so the Q x G result is never stored either.

Every intermediate is bounded by ``chunk_elements`` entries (the sparse rows hold about N x 300 entries at
``k1=20, k2=6``). All steps are torch operations on the features' device (CPU or CUDA).
"""
import numpy as np
import torch
import torch.nn.functional as F

from .distance import DISTANCES, DEFAULT_CHUNK_ELEMENTS
from .rank import default_chunk_size, rank_distance_chunks

#: The paper's setting (and torchreid's defaults).
DEFAULT_RERANK = dict(k1=20, k2=6, lambda_value=0.3)
#: Entries of one distance block / one batch of sparse work: 32M float32 = 128 MB.
RERANK_CHUNK_ELEMENTS = 4 * DEFAULT_CHUNK_ELEMENTS
#: The query x gallery distances of the first pass are kept for the final mix up to this many entries (1 GiB);
#: above (e.g. MSMT17: 11,659 x 82,161 = 3.8 GB) they are computed again chunk by chunk.
QUERY_GALLERY_CACHE = 1 << 28
#: Extra nearest-neighbour candidates kept per sample, so that dividing by the row maximum (which can merge
#: two neighbouring float values into one) cannot change which samples are the nearest ones.
_EXTRA_CANDIDATES = 8


# ---------------------------------------------------------------------------------------------- distance sources
class _FeatureDistances:
    """Squared original distances ``A = d^2`` of the N = Q + G samples, computed from features on demand.

    ``d`` is :mod:`.distance`'s (squared euclidean ``|x|^2 + |y|^2 - 2 x.y`` or ``1 - cos``): what torchreid's
    ``re_ranking`` receives from ``compute_distance_matrix`` in the ``ReIDMetric(backend='torchreid')`` path.
    """
    symmetric = True

    def __init__(self, q_feats, g_feats, metric):
        if metric not in DISTANCES:
            raise ValueError(f're_ranking: metric must be one of {DISTANCES}, got {metric!r}')
        if q_feats.dim() != 2 or g_feats.dim() != 2 or q_feats.size(1) != g_feats.size(1):
            raise ValueError(f're_ranking: expected query (Q, D) and gallery (G, D) features, got '
                             f'{tuple(q_feats.shape)} and {tuple(g_feats.shape)}')
        # one (N, D) copy: every distance block is then a single matrix product
        feats = torch.cat([q_feats, g_feats])
        feats = feats if feats.dtype in (torch.float32, torch.float64) else feats.float()
        self.feats = F.normalize(feats, dim=1) if metric == 'cosine' else feats
        self.metric = metric
        self.num_q, self.num = q_feats.size(0), feats.size(0)
        self.device = feats.device
        self.sq = self.feats.pow(2).sum(1)

    def block(self, start, stop, col_start=0):
        """``A`` of samples ``start:stop`` to samples ``col_start:N``, float32, shape (stop - start, N - col_start)."""
        rows, cols = self.feats[start:stop], self.feats[col_start:]
        if self.metric == 'cosine':
            dist = 1 - rows @ cols.t()
        else:
            # same operation order as torchreid's euclidean_squared_distance (and distance.iter_distance_chunks)
            dist = (self.sq[start:stop].view(-1, 1) + self.sq[col_start:]).addmm_(rows, cols.t(), beta=1, alpha=-2)
        return dist.float().pow_(2)

    def query_gallery(self, start, stop):
        """``A`` of queries ``start:stop`` to the gallery, shape (stop - start, G)."""
        return self.block(start, stop, self.num_q)

    def pairs(self, rows, cols, chunk_elements):
        """``A`` of the (rows[e], cols[e]) pairs, shape (E,)."""
        out = torch.empty(rows.numel(), dtype=torch.float32, device=self.device)
        step = max(1, chunk_elements // max(1, self.feats.size(1)))
        for start in range(0, rows.numel(), step):
            r, c = rows[start:start + step], cols[start:start + step]
            dot = (self.feats[r] * self.feats[c]).sum(1)
            d = 1 - dot if self.metric == 'cosine' else self.sq[r] + self.sq[c] - 2 * dot
            out[start:start + step] = d.float()
        return out.pow_(2)


class _MatrixDistances:
    """``A`` from the three distance matrices of torchreid's API, laid out exactly as torchreid does.

    torchreid builds ``M = [[q_q, q_g], [q_g^T, g_g]]``, squares it, divides each column by its maximum and
    transposes: sample i's row is column i of ``M``. For symmetric ``q_q`` and ``g_g`` that is row i.
    """
    symmetric = False

    def __init__(self, q_g, q_q, g_g):
        self.q_g, self.q_q, self.g_g = q_g, q_q, g_g
        self.num_q, self.num = q_g.size(0), q_g.size(0) + q_g.size(1)
        self.device = q_g.device

    def block(self, start, stop, col_start=0):
        num_q, rows = self.num_q, []
        if start < num_q:
            hi = min(stop, num_q)
            rows.append(torch.cat([self.q_q[:, start:hi].t(), self.q_g[start:hi]], 1))
        if stop > num_q:
            lo, hi = max(start, num_q) - num_q, stop - num_q
            rows.append(torch.cat([self.q_g[:, lo:hi].t(), self.g_g[:, lo:hi].t()], 1))
        return torch.cat(rows)[:, col_start:].pow(2).float()

    def query_gallery(self, start, stop):
        return self.q_g[start:stop].pow(2).float()

    def pairs(self, rows, cols, chunk_elements):
        # entry (row i, column k) of sample i's row is M[k, i]
        num_q, out = self.num_q, torch.empty(rows.numel(), dtype=torch.float64, device=self.device)
        for r_q in (True, False):
            for c_q in (True, False):
                sel = ((rows < num_q) == r_q) & ((cols < num_q) == c_q)
                i, k = rows[sel] - (0 if r_q else num_q), cols[sel] - (0 if c_q else num_q)
                if c_q and r_q:
                    out[sel] = self.q_q[k, i].double()
                elif c_q:
                    out[sel] = self.q_g[k, i].double()
                elif r_q:
                    out[sel] = self.q_g[i, k].double()
                else:
                    out[sel] = self.g_g[k, i].double()
        return out.pow_(2).float()


# ---------------------------------------------------------------------------------------------- sparse helpers
def _segment_arange(starts, counts):
    """Concatenation of ``arange(starts[e], starts[e] + counts[e])`` for every e."""
    total = int(counts.sum())
    offsets = counts.cumsum(0) - counts
    return torch.repeat_interleave(starts - offsets, counts, output_size=total) + \
        torch.arange(total, device=counts.device)


def _pieces(counts, limit):
    """Consecutive ranges of entries whose ``counts`` sum to at most ``limit`` (or one entry each)."""
    ends = counts.cumsum(0)
    start, bounds = 0, []
    while start < counts.numel():
        base = int(ends[start - 1]) if start else 0
        stop = int(torch.searchsorted(ends, base + limit, right=True))
        stop = max(stop, start + 1)
        bounds.append((start, stop))
        start = stop
    return bounds


class _SparseRows:
    """Rows of an N x N matrix as CSR: ``ptr`` (N + 1,), ``cols`` (nnz,) ascending in each row, ``vals``."""

    def __init__(self, ptr, cols, vals):
        self.ptr, self.cols, self.vals = ptr, cols, vals

    @classmethod
    def from_entries(cls, rows, cols, vals, num_rows):
        """From entries sorted by (row, column), unique."""
        counts = torch.bincount(rows, minlength=num_rows)
        ptr = torch.zeros(num_rows + 1, dtype=torch.long, device=rows.device)
        ptr[1:] = counts.cumsum(0)
        return cls(ptr, cols, vals)

    def counts(self, rows=None):
        lengths = self.ptr[1:] - self.ptr[:-1]
        return lengths if rows is None else lengths[rows]

    def gather(self, rows):
        """Entries of the given rows in order: (index into ``rows`` of each entry, positions into cols/vals)."""
        counts = self.counts(rows)
        owner = torch.repeat_interleave(torch.arange(rows.numel(), device=rows.device), counts)
        return owner, _segment_arange(self.ptr[rows], counts)


# ---------------------------------------------------------------------------------------------- the steps
def _merge_candidates(values, index, new_values, new_index, width):
    """Keep the ``width`` smallest of the current and new candidates of each row."""
    values, index = torch.cat([values, new_values], 1), torch.cat([index, new_index], 1)
    keep = values.topk(min(width, values.size(1)), dim=1, largest=False).indices
    return values.gather(1, keep), index.gather(1, keep)


def _merge_entries(cand_v, cand_i, rows, index, values, width):
    """Merge candidates (row, index, value), ordered by row, into the sorted candidate lists of their rows."""
    affected, counts = torch.unique_consecutive(rows, return_counts=True)
    first = torch.repeat_interleave(counts.cumsum(0) - counts, counts)
    slot = torch.arange(rows.numel(), device=rows.device) - first
    local = torch.repeat_interleave(torch.arange(affected.numel(), device=rows.device), counts)
    pad_v = torch.full((affected.numel(), int(counts.max())), float('inf'), dtype=values.dtype,
                       device=rows.device)
    pad_i = torch.full(pad_v.shape, -1, dtype=torch.long, device=rows.device)
    pad_v[local, slot], pad_i[local, slot] = values, index
    cand_v[affected], cand_i[affected] = _merge_candidates(cand_v[affected], cand_i[affected], pad_v, pad_i, width)


def _nearest_neighbours(source, num_neighbours, chunk_elements, keep_query_gallery=False):
    """Row maxima of ``A`` and the nearest neighbours of every sample in torchreid's order.

    Args:
        source: :class:`_FeatureDistances` or :class:`_MatrixDistances`.
        num_neighbours (int): K, neighbours kept per sample (clipped to N).
        chunk_elements (int): entries of one distance block.
        keep_query_gallery (bool): also return the query x gallery part of ``A`` (symmetric sources), so that
            the final mix need not compute it again.

    Returns:
        tuple: ``row_max`` (N,) float32; ``rank`` (N, K) long, the first K columns of a stable ascending argsort
        of each row of ``O = A / row_max``; ``rank_dist`` (N, K) float32, their ``O`` values; the (Q, G) part
        of ``A`` or None.
    """
    num, device = source.num, source.device
    k = min(num_neighbours, num)
    width = min(num, k + _EXTRA_CANDIDATES)
    row_max = torch.zeros(num, dtype=torch.float32, device=device)  # A >= 0
    cand_v = torch.full((num, width), float('inf'), dtype=torch.float32, device=device)
    cand_i = torch.full((num, width), -1, dtype=torch.long, device=device)
    keep = keep_query_gallery and source.symmetric
    query_gallery = torch.empty(source.num_q, num - source.num_q, device=device) if keep else None
    step = max(1, chunk_elements // num)
    # last chunk first: when a block's transposed part reaches the rows of later chunks, those rows already hold
    # their nearest candidates, so only the few entries below their current worst candidate are merged
    for start in reversed(range(0, num, step)):
        stop = min(num, start + step)
        col_start = start if source.symmetric else 0
        block = source.block(start, stop, col_start)            # rows start:stop, columns col_start:N
        if keep and start < source.num_q:
            query_gallery[start:stop] = block[:source.num_q - start, source.num_q - col_start:]
        row_max[start:stop] = torch.maximum(row_max[start:stop], block.amax(1))
        top = block.topk(min(width, block.size(1)), dim=1, largest=False)
        cand_v[start:stop], cand_i[start:stop] = _merge_candidates(
            cand_v[start:stop], cand_i[start:stop], top.values, top.indices + col_start, width)
        if source.symmetric and stop < num:
            # the same block, transposed, holds rows stop:N at columns start:stop
            rest = block[:, stop - start:]
            row_max[stop:] = torch.maximum(row_max[stop:], rest.amax(0))
            src, dst = (rest < cand_v[stop:, -1]).nonzero(as_tuple=True)
            if dst.numel():
                # grouped by destination row (a stable sort: the same order as a scan of the transposed block,
                # which costs more than the few entries that pass)
                by_dst = torch.sort(dst, stable=True).indices
                src, dst = src[by_dst], dst[by_dst]
                _merge_entries(cand_v, cand_i, stop + dst, start + src, rest[src, dst], width)
        del block
    # (O, index) order: sort by index, then stably by O (O is what torchreid sorts)
    by_index = cand_i.sort(1).indices
    cand_i, cand_v = cand_i.gather(1, by_index), cand_v.gather(1, by_index)
    cand_o = cand_v / row_max.view(-1, 1)
    order = torch.sort(cand_o, dim=1, stable=True).indices
    rank, rank_dist = cand_i.gather(1, order), cand_o.gather(1, order)
    if width > k:
        # every sample outside the candidates has O >= the last candidate's; when that equals the K-th O, a
        # tie may reach past the candidates: rank that row in full
        for row in (rank_dist[:, k - 1] == rank_dist[:, width - 1]).nonzero().view(-1).tolist():
            full = source.block(row, row + 1, 0).view(-1) / row_max[row]
            order = torch.sort(full, stable=True).indices[:width]
            rank[row], rank_dist[row] = order, full[order]
    return row_max, rank[:, :k].contiguous(), rank_dist[:, :k].contiguous(), query_gallery


def _reciprocal(rank, k, chunk_elements):
    """For every node, which of its ``k`` nearest neighbours have the node among their own ``k`` nearest.

    Returns:
        BoolTensor: shape (N, k'), aligned with ``rank[:, :k]`` (k' = min(k, K)).
    """
    num = rank.size(0)
    width = min(k, rank.size(1))
    out = torch.empty(num, width, dtype=torch.bool, device=rank.device)
    step = max(1, chunk_elements // (width * width))
    for start in range(0, num, step):
        rows = torch.arange(start, min(num, start + step), device=rank.device)
        out[start:start + step] = (rank[rank[rows, :k], :k] == rows.view(-1, 1, 1)).any(-1)
    return out


def _expanded_sets(rank, k1, chunk_elements):
    """Members of the expanded k-reciprocal set of every node, as sorted unique (node, member) entries.

    Returns:
        tuple: ``nodes``, ``members`` (LongTensors of equal length, sorted by node then member).
    """
    num, device = rank.size(0), rank.device
    k_half = int(np.around(k1 / 2.)) + 1
    recip, recip_half = _reciprocal(rank, k1 + 1, chunk_elements), _reciprocal(rank, k_half, chunk_elements)
    step = max(1, chunk_elements // (4 * (k1 + 1) * (k_half + 1)))
    nodes_out, members_out = [], []
    for start in range(0, num, step):
        stop = min(num, start + step)
        f, r = rank[start:stop, :k1 + 1], recip[start:stop]                 # (c, k1+1): candidates, validity
        cand_set, cand_valid = rank[f, :k_half], recip_half[f]              # (c, k1+1, k_half)
        # |candidate's half set ∩ the node's k-reciprocal set| by binary search in the sorted set (the
        # invalid slots hold N, which no candidate equals; both sets hold distinct items)
        sorted_set = torch.where(r, f, num).sort(1).values
        flat = cand_set.reshape(f.size(0), -1)
        pos = torch.searchsorted(sorted_set, flat).clamp_(max=sorted_set.size(1) - 1)
        inside = (sorted_set.gather(1, pos) == flat).view(cand_set.shape)
        overlap = (inside & cand_valid).sum(-1).double()
        size = cand_valid.sum(-1).double()
        take = r & (overlap > 2. / 3 * size)                                 # same float test as torchreid
        local = torch.arange(f.size(0), device=device)
        valid = take.unsqueeze(-1) & cand_valid
        node = torch.cat([local.view(-1, 1).expand_as(f)[r], local.view(-1, 1, 1).expand_as(cand_set)[valid]])
        member = torch.cat([f[r], cand_set[valid]])
        key = torch.unique((node + start) * num + member)
        nodes_out.append(key // num)
        members_out.append(key % num)
    return torch.cat(nodes_out), torch.cat(members_out)


def _encodings(source, row_max, rank, rank_dist, nodes, members, chunk_elements):
    """``V``: Gaussian weights ``exp(-O[i, k])`` over each node's expanded set, normalised to sum 1 per row."""
    num_k = rank.size(1)
    dist = torch.empty(nodes.numel(), dtype=torch.float32, device=rank.device)
    step = max(1, chunk_elements // num_k)
    for start in range(0, nodes.numel(), step):
        i, k = nodes[start:start + step], members[start:start + step]
        # most members are among the node's own nearest neighbours, whose O is known from the first pass
        match = rank[i] == k.view(-1, 1)
        found = match.any(1)
        d = rank_dist[i].gather(1, match.to(torch.int8).argmax(1, keepdim=True)).view(-1)
        missing = (~found).nonzero().view(-1)
        if missing.numel():
            d[missing] = source.pairs(i[missing], k[missing], chunk_elements) / row_max[i[missing]]
        dist[start:start + step] = d
    weight = torch.exp(-dist)
    total = torch.zeros(rank.size(0), dtype=torch.float32, device=rank.device).index_add_(0, nodes, weight)
    return _SparseRows.from_entries(nodes, members, weight / total[nodes], rank.size(0))


def _local_query_expansion(encoding, rank, k2, chunk_elements):
    """``V_qe[i] = mean of V[m] over the k2 nearest neighbours m of i``, as sparse rows."""
    num = rank.size(0)
    width = max(1, int(encoding.counts().max()) * k2)
    step = max(1, chunk_elements // width)
    rows_out, cols_out, vals_out = [], [], []
    for start in range(0, num, step):
        nb = rank[start:min(num, start + step), :k2].reshape(-1)
        owner, pos = encoding.gather(nb)                    # entries in (node, neighbour rank, column) order
        node = start + torch.div(owner, k2, rounding_mode='floor')
        key, inverse = torch.unique(node * num + encoding.cols[pos], return_inverse=True)
        # index_add_ sums each (node, column) in neighbour order, like numpy's mean over axis 0
        sums = torch.zeros(key.numel(), dtype=torch.float32, device=rank.device)
        sums.index_add_(0, inverse, encoding.vals[pos])
        rows_out.append(key // num)
        cols_out.append(key % num)
        vals_out.append(sums / k2)
    return _SparseRows.from_entries(torch.cat(rows_out), torch.cat(cols_out), torch.cat(vals_out), num)


def _inverted_gallery_index(encoding, num_q):
    """Column -> gallery rows holding it: (column pointers (N + 1,), gallery indices, values)."""
    num = encoding.ptr.numel() - 1
    start = int(encoding.ptr[num_q])
    rows = torch.repeat_interleave(torch.arange(num, device=encoding.cols.device), encoding.counts())[start:]
    cols, vals = encoding.cols[start:], encoding.vals[start:]
    order = torch.sort(cols, stable=True).indices               # rows stay ascending within a column
    index = _SparseRows.from_entries(cols[order], rows[order] - num_q, vals[order], num)
    return index


def _index_dtype(*bounds):
    """int32 when every index stays below 2^31: gathers and scatters of int32 indices move half the bytes, and
    ``index_select`` with them is several times faster than advanced indexing on CPU."""
    return torch.int32 if max(bounds) < 2**31 else torch.int64


def _shared_weight(encoding, index, start, stop, num_g, chunk_elements):
    """``s[i, j] = sum_k min(V[i, k], V[j, k])`` of queries ``start:stop`` x gallery, shape (stop - start, G)."""
    device = encoding.cols.device
    shared = torch.zeros((stop - start) * num_g, dtype=torch.float32, device=device)
    lo, hi = int(encoding.ptr[start]), int(encoding.ptr[stop])
    cols, vals = encoding.cols[lo:hi], encoding.vals[lo:hi]
    dtype = _index_dtype(shared.numel(), index.cols.numel())
    base = torch.repeat_interleave(torch.arange(stop - start, device=device, dtype=dtype) * num_g,
                                   encoding.counts()[start:stop])
    counts = index.counts(cols)
    gallery = index.cols.to(dtype)
    for a, b in _pieces(counts, chunk_elements):
        # entries are in (query, column) order: each (query, gallery) sum runs over ascending columns, as
        # torchreid's loop over the query's non-zero columns does
        n = counts[a:b]
        total = int(n.sum())
        entry = torch.repeat_interleave(torch.arange(b - a, device=device, dtype=dtype), n, output_size=total)
        first = (index.ptr[cols[a:b]] - (n.cumsum(0) - n)).to(dtype)         # position of an entry's run - its start
        pos = torch.arange(total, device=device, dtype=dtype).add_(first.index_select(0, entry))
        target = base[a:b].index_select(0, entry).add_(gallery.index_select(0, pos))
        weight = torch.minimum(vals[a:b].index_select(0, entry), index.vals.index_select(0, pos))
        shared.index_add_(0, target, weight)
    return shared.view(stop - start, num_g)


def _check_options(k1, k2, lambda_value):
    if int(k1) != k1 or k1 < 1 or int(k2) != k2 or k2 < 1:
        raise ValueError(f're_ranking: k1 and k2 must be positive integers, got k1={k1!r}, k2={k2!r}')
    if not 0 <= lambda_value <= 1:
        raise ValueError(f're_ranking: lambda_value must lie in [0, 1], got {lambda_value!r}')


def _iter_final(source, k1, k2, lambda_value, chunk_size, chunk_elements, cache_elements=QUERY_GALLERY_CACHE):
    _check_options(k1, k2, lambda_value)
    num_q, num = source.num_q, source.num
    num_g = num - num_q
    keep = num_q * num_g <= cache_elements
    row_max, rank, rank_dist, query_gallery = _nearest_neighbours(source, max(k1 + 1, k2), chunk_elements, keep)
    nodes, members = _expanded_sets(rank, k1, chunk_elements)
    encoding = _encodings(source, row_max, rank, rank_dist, nodes, members, chunk_elements)
    del nodes, members, rank_dist
    if k2 != 1:
        encoding = _local_query_expansion(encoding, rank, k2, chunk_elements)
    del rank
    index = _inverted_gallery_index(encoding, num_q)
    step = chunk_size or max(1, chunk_elements // max(1, num_g))
    for start in range(0, num_q, step):
        stop = min(num_q, start + step)
        shared = _shared_weight(encoding, index, start, stop, num_g, chunk_elements)
        jaccard = 1 - shared / (2. - shared)
        original = source.query_gallery(start, stop) if query_gallery is None else query_gallery[start:stop]
        original = original / row_max[start:stop].view(-1, 1)
        yield start, stop, jaccard * (1 - lambda_value) + original * lambda_value


def iter_re_ranked(q_feats, g_feats, metric='euclidean', k1=20, k2=6, lambda_value=0.3, chunk_size=None,
                   chunk_elements=RERANK_CHUNK_ELEMENTS):
    """Yield ``(start, stop, dist)``: the re-ranked distances of queries ``start:stop``, from features.

    Args:
        q_feats (Tensor): query features, shape (Q, D).
        g_feats (Tensor): gallery features, shape (G, D), on the same device.
        metric (str): original distance, ``'euclidean'`` (squared, torchreid's) or ``'cosine'``.
        k1 (int): size of the k-reciprocal neighbourhood.
        k2 (int): neighbours of the local query expansion (1 = none).
        lambda_value (float): weight of the original distance in the final mix.
        chunk_size (int | None): query rows per yielded chunk (None: about ``chunk_elements`` entries).
        chunk_elements (int): bound on the entries of every intermediate (distance blocks, sparse batches).

    Yields:
        tuple: ``start``, ``stop`` and float32 distances of shape (stop - start, G) on the features' device.
    """
    yield from _iter_final(_FeatureDistances(q_feats, g_feats, metric), k1, k2, lambda_value, chunk_size,
                           chunk_elements)


def evaluate_re_ranked(q_feats, g_feats, q_pids, g_pids, q_camids, g_camids, metric='euclidean', k1=20, k2=6,
                       lambda_value=0.3, max_rank=50, chunk_size=None, chunk_elements=RERANK_CHUNK_ELEMENTS):
    """CMC, mAP and mINP of the re-ranked distances, ranked chunk by chunk as :func:`iter_re_ranked` yields them.

    Args:
        q_feats, g_feats, metric, k1, k2, lambda_value, chunk_size, chunk_elements: as :func:`iter_re_ranked`.
        q_pids, g_pids, q_camids, g_camids: as :func:`.rank.evaluate_rank` (Market rules).
        max_rank (int): CMC length.

    Returns:
        tuple: ``(cmc, mAP, mINP)`` as :func:`.rank.evaluate_rank`.
    """
    chunk_size = chunk_size or default_chunk_size(g_feats.size(0))
    chunks = iter_re_ranked(q_feats, g_feats, metric, k1, k2, lambda_value, chunk_size, chunk_elements)
    return rank_distance_chunks(chunks, q_pids, g_pids, q_camids, g_camids, q_feats.size(0), q_feats.device,
                                max_rank, owner='evaluate_re_ranked')


def re_ranking(q_g_dist, q_q_dist, g_g_dist, k1=20, k2=6, lambda_value=0.3, chunk_elements=RERANK_CHUNK_ELEMENTS):
    """torchreid's API: re-ranked query x gallery distances from the three distance matrices.

    The inputs are the caller's (a G x G matrix is its choice); nothing larger is built inside. From features,
    :func:`iter_re_ranked` / :func:`evaluate_re_ranked` need no G x G input at all.

    Args:
        q_g_dist (np.ndarray | Tensor): query x gallery distances, shape (Q, G).
        q_q_dist (np.ndarray | Tensor): query x query distances, shape (Q, Q).
        g_g_dist (np.ndarray | Tensor): gallery x gallery distances, shape (G, G).
        k1, k2, lambda_value: as :func:`iter_re_ranked`.
        chunk_elements (int): bound on the entries of every intermediate.

    Returns:
        Tensor: float32 distances, shape (Q, G), on the inputs' device.
    """
    as_tensor = (lambda x: x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x)))
    q_g, q_q, g_g = as_tensor(q_g_dist), as_tensor(q_q_dist), as_tensor(g_g_dist)
    num_q, num_g = q_g.shape
    if q_q.shape != (num_q, num_q) or g_g.shape != (num_g, num_g):
        raise ValueError(f're_ranking: expected q_q ({num_q}, {num_q}) and g_g ({num_g}, {num_g}) distances, got '
                         f'{tuple(q_q.shape)} and {tuple(g_g.shape)}')
    out = torch.empty(num_q, num_g, dtype=torch.float32, device=q_g.device)
    for start, stop, dist in _iter_final(_MatrixDistances(q_g, q_q, g_g), k1, k2, lambda_value, None,
                                         chunk_elements):
        out[start:stop] = dist
    return out
