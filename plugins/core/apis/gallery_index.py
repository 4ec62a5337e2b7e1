"""``GalleryIndex``: embedded gallery (L2-normalised features + paths) searched by cosine similarity.

With faiss installed (``pip install faiss-cpu``), search runs on a faiss index: ``IndexFlatIP`` (exact) or,
for million-image galleries, ``IndexIVFPQ`` (approximate, ``index_type='ivfpq'``). Without faiss an exact
chunked torch matrix product + top-k gives the same ranking as ``IndexFlatIP``.
"""
import json
import math
import os
import os.path as osp
from typing import List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from plugins.core.evaluation.distance import DEFAULT_CHUNK_ELEMENTS
from plugins.core.utils.atomic_write import atomic_dir

INDEX_TYPES = ('flat', 'ivfpq')
BACKENDS = ('auto', 'faiss', 'torch')
#: Files of a saved index; ``META_FILE`` marks a folder as a gallery index.
META_FILE = 'gallery_index.json'
FEATURES_FILE = 'features.npy'
FAISS_FILE = 'index.faiss'
#: 2 added the per-image file stamps; a version-1 index still loads (without stamps: every file counts as changed)
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)


def faiss_available() -> bool:
    """Whether ``import faiss`` works."""
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def default_pq_m(dim: int) -> int:
    """Sub-quantizers of IVF-PQ: the largest divisor of ``dim`` not above ``min(64, dim // 4)``."""
    cap = max(1, min(64, dim // 4))
    return max(m for m in range(1, cap + 1) if dim % m == 0)


def default_nlist(num: int) -> int:
    """IVF lists: about ``4 sqrt(N)``, with at least 39 training points per list (faiss' advice)."""
    return max(1, min(int(4 * math.sqrt(num)), num // 39))


def file_stamp(path: str) -> List[int]:
    """``[size, mtime_ns]`` of a file: how a saved index tells that an image was replaced.

    The size and the modification time in nanoseconds are what ``make`` / ``rsync`` / git's index compare: one
    ``stat`` per image, so checking a large gallery costs almost nothing, while a content hash would read every
    image again at each search. A replacement that keeps both (``cp -p`` of another file of the same size) is
    not seen; delete the index folder after such a copy.
    """
    stat = os.stat(path)
    return [int(stat.st_size), int(stat.st_mtime_ns)]


class GalleryIndex:
    """Features of a gallery, L2-normalised, with their file paths and optional person / camera ids.

    Args:
        index_type (str): ``'flat'`` (exact inner product) or ``'ivfpq'`` (faiss IVF-PQ, approximate; needs
            faiss and at least ``2 ** pq_nbits`` gallery items to train).
        backend (str): ``'auto'`` (faiss when importable, else torch), ``'faiss'`` or ``'torch'``.
        nlist (int, optional): IVF lists; default :func:`default_nlist`.
        pq_m (int, optional): PQ sub-quantizers (must divide the feature dimension); default
            :func:`default_pq_m`.
        pq_nbits (int): bits per PQ code. Default 8.
        nprobe (int): IVF lists visited per query (recall / speed trade-off). Default 16.
    """

    def __init__(self, index_type: str = 'flat', backend: str = 'auto', nlist: Optional[int] = None,
                 pq_m: Optional[int] = None, pq_nbits: int = 8, nprobe: int = 16):
        if index_type not in INDEX_TYPES:
            raise ValueError(f'GalleryIndex: index_type must be one of {INDEX_TYPES}, got {index_type!r}')
        if backend not in BACKENDS:
            raise ValueError(f'GalleryIndex: backend must be one of {BACKENDS}, got {backend!r}')
        has_faiss = faiss_available()
        if (backend == 'faiss' or index_type == 'ivfpq') and not has_faiss:
            raise ImportError(f"GalleryIndex: backend='faiss' / index_type='ivfpq' needs faiss "
                              f"(pip install faiss-cpu); got backend={backend!r}, index_type={index_type!r}")
        if index_type == 'ivfpq' and backend == 'torch':
            raise ValueError("GalleryIndex: index_type='ivfpq' is a faiss index; use backend='auto' or 'faiss'")
        self.index_type = index_type
        self.backend = 'faiss' if backend == 'faiss' or (backend == 'auto' and has_faiss) else 'torch'
        self.nlist, self.pq_m, self.pq_nbits, self.nprobe = nlist, pq_m, pq_nbits, nprobe
        self.features = torch.zeros(0, 0)
        self.paths: List[Optional[str]] = []
        self.pids: Optional[List[int]] = None
        self.camids: Optional[List[int]] = None
        #: per item ``[size, mtime_ns]`` of its file (:func:`file_stamp`) when known, else None
        self.stamps: List[Optional[List[int]]] = []
        #: free JSON-serialisable information saved with the index (e.g. which checkpoint embedded it)
        self.meta: dict = {}
        self._faiss_index = None  # built lazily from the features

    def __len__(self):
        return self.features.size(0)

    @property
    def dim(self) -> int:
        """Feature dimension D (0 while empty)."""
        return self.features.size(1)

    # ------------------------------------------------------------------ building
    def add(self, feats: torch.Tensor, paths: Optional[Sequence[str]] = None, pids: Optional[Sequence[int]] = None,
            camids: Optional[Sequence[int]] = None, stamps: Optional[Sequence[Sequence[int]]] = None):
        """Append gallery items.

        Args:
            feats (Tensor | ndarray): features, shape (N, D); L2-normalised here.
            paths (Sequence[str], optional): one path per row (None entries when absent).
            pids (Sequence[int], optional): person ids, given for every call or for none.
            camids (Sequence[int], optional): camera ids, given for every call or for none.
            stamps (Sequence[list[int]], optional): :func:`file_stamp` of each path, taken *before* the image was
                embedded (a file changed while embedding then counts as changed at the next check).
        """
        feats = F.normalize(torch.as_tensor(feats).detach().float().cpu(), dim=1)
        if feats.dim() != 2 or (len(self) and feats.size(1) != self.dim):
            raise ValueError(f'GalleryIndex.add: expected features (N, {self.dim or "D"}), got {tuple(feats.shape)}')
        num = feats.size(0)
        paths = [None] * num if paths is None else [None if p is None else str(p) for p in paths]
        stamps = [None] * num if stamps is None else [None if st is None else [int(v) for v in st] for st in stamps]
        for name, values in (('paths', paths), ('pids', pids), ('camids', camids), ('stamps', stamps)):
            if values is not None and len(values) != num:
                raise ValueError(f'GalleryIndex.add: {len(values)} {name} for {num} features')
        self.pids = self._extend_labels(self.pids, pids, 'pids')
        self.camids = self._extend_labels(self.camids, camids, 'camids')
        self.features = feats if not len(self) else torch.cat([self.features, feats])
        self.paths.extend(paths)
        self.stamps.extend(stamps)
        self._faiss_index = None
        return self

    def select(self, positions: Sequence[int]) -> 'GalleryIndex':
        """A new index of the items at ``positions`` (in that order), with the same options and ``meta``."""
        positions = [int(p) for p in positions]
        out = GalleryIndex(self.index_type, self.backend, self.nlist, self.pq_m, self.pq_nbits, self.nprobe)
        out.features = self.features[positions] if positions else torch.zeros(0, self.dim)
        out.paths = [self.paths[p] for p in positions]
        out.stamps = [self.stamps[p] for p in positions]
        out.pids = None if self.pids is None else [self.pids[p] for p in positions]
        out.camids = None if self.camids is None else [self.camids[p] for p in positions]
        out.meta = dict(self.meta)
        return out

    def changed_files(self, paths: Sequence[str]) -> dict:
        """How the files ``paths`` differ from the indexed ones.

        Args:
            paths (Sequence[str]): the gallery files now.

        Returns:
            dict: ``added`` (in ``paths``, not indexed), ``removed`` (indexed, not in ``paths``) and ``changed``
            (indexed with another :func:`file_stamp`, or without a stamp), each a sorted list of paths.
        """
        stamps = dict(zip(self.paths, self.stamps))
        current = set(paths)
        changed = [p for p in paths if p in stamps and (stamps[p] is None or file_stamp(p) != stamps[p])]
        return dict(added=sorted(current - set(stamps)), removed=sorted(set(stamps) - current),
                    changed=sorted(changed))

    def _extend_labels(self, current, new, name):
        if len(self) and (current is None) != (new is None):
            raise ValueError(f'GalleryIndex.add: {name} must be given for every added batch or for none')
        return None if new is None else (current or []) + [int(v) for v in new]

    def _build_faiss(self):
        """The faiss index of the current features (IVF-PQ is trained on them)."""
        import faiss
        feats = np.ascontiguousarray(self.features.numpy(), dtype=np.float32)
        if self.index_type == 'flat':
            index = faiss.IndexFlatIP(self.dim)
        else:
            nlist = self.nlist or default_nlist(len(self))
            pq_m = self.pq_m or default_pq_m(self.dim)
            if self.dim % pq_m or len(self) < max(nlist, 2 ** self.pq_nbits):
                raise ValueError(f'GalleryIndex(ivfpq): need pq_m dividing D={self.dim} (got {pq_m}) and at least '
                                 f'max(nlist={nlist}, 2**pq_nbits={2 ** self.pq_nbits}) gallery items to train '
                                 f'(got {len(self)}); use index_type="flat" for a small gallery')
            quantizer = faiss.IndexFlatIP(self.dim)
            index = faiss.IndexIVFPQ(quantizer, self.dim, nlist, pq_m, self.pq_nbits, faiss.METRIC_INNER_PRODUCT)
            index.train(feats)
        index.add(feats)
        return index

    def _faiss(self):
        if self._faiss_index is None:
            self._faiss_index = self._build_faiss()
        if self.index_type == 'ivfpq':
            self._faiss_index.nprobe = self.nprobe
        return self._faiss_index

    # ------------------------------------------------------------------ search
    def search(self, query_feats: torch.Tensor, topk: int = 10):
        """Most similar gallery items of each query by cosine similarity.

        Args:
            query_feats (Tensor | ndarray): query features, shape (Q, D) or (D,); L2-normalised here.
            topk (int): results per query (at most the gallery size).

        Returns:
            tuple[Tensor, Tensor]: ``scores`` float32 (Q, k), descending, and ``indices`` int64 (Q, k) into the
            gallery (-1 where an approximate IVF search found fewer than k items).
        """
        if not len(self):
            raise ValueError('GalleryIndex.search: the gallery is empty')
        query = torch.as_tensor(query_feats).detach().float().cpu()
        query = F.normalize(query.view(1, -1) if query.dim() == 1 else query, dim=1)
        if query.size(1) != self.dim:
            raise ValueError(f'GalleryIndex.search: query dimension {query.size(1)} != gallery dimension {self.dim}')
        topk = min(int(topk), len(self))
        if topk < 1:
            raise ValueError(f'GalleryIndex.search: topk must be >= 1, got {topk}')
        if self.backend == 'faiss':
            scores, indices = self._faiss().search(np.ascontiguousarray(query.numpy()), topk)
            return torch.from_numpy(scores).float(), torch.from_numpy(indices).long()
        return self._search_torch(query, topk)

    def _search_torch(self, query, topk):
        scores, indices = [], []
        step = max(1, DEFAULT_CHUNK_ELEMENTS // len(self))  # query rows per product: bounded (rows x N) matrix
        gallery_t = self.features.t()
        for start in range(0, query.size(0), step):
            top = (query[start:start + step] @ gallery_t).topk(topk, dim=1)
            scores.append(top.values)
            indices.append(top.indices)
        return torch.cat(scores), torch.cat(indices)

    def records(self, scores: torch.Tensor, indices: torch.Tensor) -> List[dict]:
        """Ranked results of one query (rows of :meth:`search`) as JSON-ready dicts.

        Args:
            scores (Tensor): shape (k,).
            indices (Tensor): shape (k,).

        Returns:
            list[dict]: ``rank`` (1-based), ``index``, ``path``, ``score`` (+ ``pid`` / ``camid`` when stored).
        """
        out = []
        for rank, (score, idx) in enumerate(zip(scores.tolist(), indices.tolist()), 1):
            if idx < 0:
                continue
            rec = dict(rank=rank, index=idx, path=self.paths[idx], score=float(score))
            if self.pids is not None:
                rec['pid'] = self.pids[idx]
            if self.camids is not None:
                rec['camid'] = self.camids[idx]
            out.append(rec)
        return out

    # ------------------------------------------------------------------ persistence
    def state(self) -> dict:
        """Everything but the features, as saved in ``gallery_index.json``."""
        return dict(version=FORMAT_VERSION, index_type=self.index_type, num=len(self), dim=self.dim,
                    nlist=self.nlist, pq_m=self.pq_m, pq_nbits=self.pq_nbits, nprobe=self.nprobe,
                    paths=self.paths, stamps=self.stamps, pids=self.pids, camids=self.camids, meta=self.meta)

    def save(self, out_dir: str):
        """Write the index to ``out_dir`` atomically: files go to a temporary sibling folder renamed into place,
        so a crash never leaves a half-written index (and a reader sees the old or the new one).

        Files: ``gallery_index.json`` (paths, ids, options, ``meta``), ``features.npy`` (N, D) float32 and, for
        IVF-PQ, the trained ``index.faiss`` (so loading does not retrain).
        """
        out_dir = osp.abspath(out_dir)
        if osp.isdir(out_dir) and os.listdir(out_dir) and not osp.isfile(osp.join(out_dir, META_FILE)):
            raise FileExistsError(f'GalleryIndex.save: {out_dir} exists and is not a gallery index; refusing to '
                                  f'replace it')
        with atomic_dir(out_dir) as tmp:  # .<name>.<pid>.tmp, renamed into place (old index removed) when complete
            np.save(osp.join(tmp, FEATURES_FILE), self.features.numpy().astype(np.float32))
            if self.index_type == 'ivfpq' and len(self):
                import faiss
                faiss.write_index(self._faiss(), osp.join(tmp, FAISS_FILE))
            with open(osp.join(tmp, META_FILE), 'w') as f:  # written last: a complete folder has it
                json.dump(self.state(), f)
        return out_dir

    @classmethod
    def load(cls, index_dir: str, backend: str = 'auto'):
        """Read an index written by :meth:`save`.

        Args:
            index_dir (str): the folder given to :meth:`save`.
            backend (str): ``'auto'``, ``'faiss'`` or ``'torch'`` (a flat index saved with one backend loads with
                the other: the features are the index).
        """
        meta_file = osp.join(index_dir, META_FILE)
        if not osp.isfile(meta_file):
            raise FileNotFoundError(f'GalleryIndex.load: {meta_file} not found (not a saved gallery index)')
        with open(meta_file) as f:
            state = json.load(f)
        if state.get('version') not in READABLE_VERSIONS:
            raise ValueError(f'GalleryIndex.load: {meta_file} has format version {state.get("version")}, '
                             f'expected one of {READABLE_VERSIONS}')
        index = cls(state['index_type'], backend, state['nlist'], state['pq_m'], state['pq_nbits'], state['nprobe'])
        feats = torch.from_numpy(np.load(osp.join(index_dir, FEATURES_FILE)))
        if feats.shape[0] != state['num']:
            raise ValueError(f'GalleryIndex.load: {index_dir} holds {feats.shape[0]} features for {state["num"]} '
                             f'items (corrupt index)')
        index.features = feats
        index.paths, index.pids, index.camids = state['paths'], state['pids'], state['camids']
        index.stamps = state.get('stamps') or [None] * len(index.paths)
        index.meta = state['meta']
        faiss_file = osp.join(index_dir, FAISS_FILE)
        if index.index_type == 'ivfpq' and osp.isfile(faiss_file):
            import faiss
            index._faiss_index = faiss.read_index(faiss_file)
        return index
