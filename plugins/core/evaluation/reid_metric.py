"""``ReIDMetric``: CMC / mAP / mINP for every protocol of the plugin (one code path).

Protocols (``docs/data_contract.md`` section 5):

* ``'market'`` (Market-1501, DukeMTMC-reID, CUHK03, any torchreid image set): ``split_role`` decides query and
  gallery; gallery items with the query's pid and camera are removed; junk ids (pid < 0) are ignored.
* ``'sysu_mm01'``: query = every infrared image of cameras 3 and 6; gallery = for each trial the official
  single-shot (or multi-shot) selection among the visible images of cameras 1, 2, 4, 5 (``search_mode='all'``)
  or 1, 2 (``'indoor'``); official SYSU rules for the ranking (see :mod:`.rank`); ``trials`` averaged.
* ``'regdb'``: visible and thermal (``modality='infrared'``) test images; ``direction='v2t'`` queries with the
  visible ones, ``'t2v'`` with the thermal ones; no camera filtering.
* ``'text_image'``: captions (``modality='text'``) query every other sample (the test images); no camera
  filtering; cosine distance unless ``dist`` says otherwise.
"""
import random
import warnings
from collections import defaultdict

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from mmpretrain.registry import METRICS

from .distance import DISTANCES, compute_distance
from .rank import RankAccumulator, default_chunk_size, evaluate_features, evaluate_rank
from .rerank import re_ranking

PROTOCOLS = ('market', 'sysu_mm01', 'regdb', 'text_image')
BACKENDS = ('plugin', 'torchreid')
#: SYSU-MM01 cameras in 0-based ids (official ``cam1`` = 0): infrared query cameras 3 and 6, and the visible
#: gallery cameras per search mode, in the official order.
SYSU_QUERY_CAMS = (2, 5)
SYSU_GALLERY_CAMS = dict(all=(0, 1, 3, 4), indoor=(0, 1))
#: Ranks reported as ``R<k>``.
REPORTED_RANKS = (1, 5, 10, 20)
RESULT_KEYS = ('R1', 'R5', 'R10', 'R20', 'mAP', 'mINP')


def _pid_of(gt_label):
    if isinstance(gt_label, torch.Tensor):
        return int(gt_label.view(-1)[0])
    if isinstance(gt_label, dict):  # a LabelData turned into a dict
        return _pid_of(gt_label['label'])
    return int(np.asarray(gt_label).reshape(-1)[0])


def sysu_gallery_groups(pids, camids, img_paths, search_mode='all'):
    """The (id, camera) groups the official SYSU-MM01 gallery draw walks through, in its order.

    Args:
        pids (Sequence[int]): person id of each visible candidate.
        camids (Sequence[int]): 0-based camera id of each candidate.
        img_paths (Sequence[str | None]): image path of each candidate.
        search_mode (str): ``'all'`` (cameras 1, 2, 4, 5) or ``'indoor'`` (cameras 1, 2).

    Returns:
        list[list[int]]: candidate positions per group, ids ascending, cameras in the official order, files
        sorted by path (the official code sorts the file names of one ``camX/ID`` folder).
    """
    pids, camids = np.asarray(pids).tolist(), np.asarray(camids).tolist()
    groups = defaultdict(list)
    for i, key in enumerate(zip(pids, camids)):
        groups[key].append(i)
    ordered = []
    for pid in sorted(set(pids)):
        for cam in SYSU_GALLERY_CAMS[search_mode]:
            members = groups.get((pid, cam))
            if members:
                ordered.append(sorted(members, key=lambda i: (img_paths[i] or '', i)))
    return ordered


def draw_sysu_gallery(groups, trial, shots=1):
    """One trial's gallery from :func:`sysu_gallery_groups`, drawn as the official evaluation code does.

    Single-shot (``process_gallery_sysu`` of the AGW / DDAG code): ``random.seed(trial)`` then one
    ``random.choice`` per group. Multi-shot follows the official multi-shot code, ``np.random.choice(files,
    shots, replace=False)`` per group, with numpy's generator seeded by ``trial`` (where the official code would
    crash on a group with fewer than ``shots`` files, the whole group is taken).

    Returns:
        list[int]: candidate positions, in the official gallery order.
    """
    if shots == 1:
        py_rng = random.Random(trial)  # the same stream as random.seed(trial) + random.choice
        return [py_rng.choice(members) for members in groups]
    np_rng = np.random.RandomState(trial)
    selected = []
    for members in groups:
        if len(members) < shots:
            selected.extend(members)
        else:
            selected.extend(members[j] for j in np_rng.choice(len(members), shots, replace=False))
    return selected


def select_sysu_gallery(pids, camids, img_paths, trial, search_mode='all', shots=1):
    """Positions of the SYSU-MM01 gallery of one trial among the visible candidates (official draw).

    Args:
        pids, camids, img_paths: per visible candidate (see :func:`sysu_gallery_groups`).
        trial (int): trial index, the seed.
        search_mode (str): ``'all'`` or ``'indoor'``.
        shots (int): images per (id, camera): 1 = single-shot, 10 = the official multi-shot.
    """
    return draw_sysu_gallery(sysu_gallery_groups(pids, camids, img_paths, search_mode), trial, shots)


@METRICS.register_module()
class ReIDMetric(BaseMetric):
    """Person re-identification ranking metric: ``R1, R5, R10, R20, mAP, mINP`` in percent.

    Args:
        protocol (str): ``'market'``, ``'sysu_mm01'``, ``'regdb'`` or ``'text_image'`` (module docstring).
        search_mode (str): SYSU-MM01 gallery cameras, ``'all'`` or ``'indoor'``.
        shots (int): SYSU-MM01 gallery images per (id, camera): 1 (single-shot) or 10 (multi-shot).
        trials (int): SYSU-MM01 gallery draws averaged (trial seeds 0..trials-1).
        dist (str | None): ``'euclidean'`` (squared, torchreid's) or ``'cosine'``; None = cosine for
            ``text_image``, euclidean otherwise.
        direction (str): RegDB query modality, ``'v2t'`` (visible -> thermal) or ``'t2v'``.
        max_rank (int): CMC length (>= 20 so that R20 exists).
        backend (str): ``'plugin'`` (the exact vectorised evaluator) or ``'torchreid'`` (torchreid's
            ``compute_distance_matrix`` + ``evaluate_rank`` for CMC and mAP; torchreid has no mINP, so mINP
            still comes from the plugin's evaluator; not available for ``sysu_mm01``).
        norm_feat (bool): L2-normalise features before the distance.
        rerank (bool | dict | None): k-reciprocal re-ranking (Zhong et al. 2017) before ranking; True uses
            ``k1=20, k2=6, lambda_value=0.3``, a dict overrides them. Dense (Q+G)^2 matrices, like torchreid's;
            not available for ``sysu_mm01``.
        device (str): where distances and ranking are computed (``'cpu'`` or e.g. ``'cuda'``).
        chunk_size (int | None): query rows ranked at once (None: automatic, bounded memory).
        collect_device (str): ``'cpu'`` or ``'gpu'`` for gathering results across ranks.
        prefix (str | None): prefix of the metric names (none by default, so the keys are ``R1`` ...).
        collect_dir (str | None): temporary directory for collecting results on CPU.
    """
    default_prefix = ''

    def __init__(self, protocol='market', search_mode='all', shots=1, trials=10, dist=None, direction='v2t',
                 max_rank=50, backend='plugin', norm_feat=False, rerank=None, device='cpu', chunk_size=None,
                 collect_device='cpu', prefix=None, collect_dir=None):
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        dist = dist or ('cosine' if protocol == 'text_image' else 'euclidean')
        checks = [('protocol', protocol, PROTOCOLS), ('search_mode', search_mode, tuple(SYSU_GALLERY_CAMS)),
                  ('dist', dist, DISTANCES), ('direction', direction, ('v2t', 't2v')),
                  ('backend', backend, BACKENDS)]
        for name, value, allowed in checks:
            if value not in allowed:
                raise ValueError(f'ReIDMetric: {name} must be one of {allowed}, got {value!r}')
        if max_rank < max(REPORTED_RANKS):
            raise ValueError(f'ReIDMetric: max_rank must be >= {max(REPORTED_RANKS)} to report R20, got {max_rank}')
        if int(shots) < 1 or int(trials) < 1:
            raise ValueError(f'ReIDMetric: shots and trials must be >= 1, got shots={shots}, trials={trials}')
        if backend == 'torchreid' and protocol == 'sysu_mm01':
            raise ValueError("ReIDMetric: backend='torchreid' has no SYSU-MM01 rules; use backend='plugin'")
        if rerank and protocol == 'sysu_mm01':
            raise ValueError('ReIDMetric: rerank is not available for the SYSU-MM01 protocol')
        self.rerank = None
        if rerank:
            self.rerank = dict(k1=20, k2=6, lambda_value=0.3)
            if isinstance(rerank, dict):
                unknown = set(rerank) - set(self.rerank)
                if unknown:
                    raise ValueError(f'ReIDMetric: unknown rerank keys {sorted(unknown)}; '
                                     f'expected {sorted(self.rerank)}')
                self.rerank.update(rerank)
        self.protocol = protocol
        self.search_mode = search_mode
        self.shots = int(shots)
        self.trials = int(trials)
        self.dist = dist
        self.direction = direction
        self.max_rank = int(max_rank)
        self.backend = backend
        self.norm_feat = norm_feat
        self.device = device
        self.chunk_size = chunk_size

    # ------------------------------------------------------------------ collection
    def process(self, data_batch, data_samples):
        """Keep feature and labels of every sample of the batch.

        Args:
            data_batch: the loader's batch (unused).
            data_samples (Sequence[dict | DataSample]): model outputs, each with ``pred_feature`` (D,),
                ``gt_label`` and the metainfo keys of the contract.
        """
        for sample in data_samples:
            if not isinstance(sample, dict):
                sample = sample.to_dict()
            if 'pred_feature' not in sample:
                raise KeyError(f'ReIDMetric: a data sample has no `pred_feature` (keys: {sorted(sample)}); the '
                               "model's predict mode must set one feature per sample (set_pred_features)")
            feature = sample['pred_feature']
            feature = torch.as_tensor(feature).detach().reshape(-1).float().cpu()
            self.results.append(dict(
                feature=feature,
                pid=_pid_of(sample['gt_label']),
                camid=-1 if sample.get('camid') is None else int(sample['camid']),
                modality=sample.get('modality', 'image'),
                img_path=sample.get('img_path'),
                split_role=sample.get('split_role'),
                sample_idx=sample.get('sample_idx'),
            ))

    # ------------------------------------------------------------------ evaluation
    def compute_metrics(self, results):
        """Build query and gallery per protocol and rank.

        Args:
            results (list[dict]): everything :meth:`process` kept, gathered over ranks.

        Returns:
            dict: ``R1, R5, R10, R20, mAP, mINP`` in percent.
        """
        results = self.deduplicate(results)
        if not results:
            raise ValueError(f"ReIDMetric(protocol='{self.protocol}'): no samples were processed; the test loop "
                             'produced no predictions (is the test dataset empty?)')
        feats = torch.stack([r['feature'] for r in results]).to(self.device)
        if self.norm_feat:
            feats = F.normalize(feats, dim=1)
        pids = np.array([r['pid'] for r in results], dtype=np.int64)
        camids = np.array([r['camid'] for r in results], dtype=np.int64)
        if self.protocol == 'sysu_mm01':
            cmc, mAP, mINP, sizes = self._evaluate_sysu(results, feats, pids, camids)
        else:
            q_idx, g_idx, q_camids, g_camids = self._split(results, pids, camids)
            cmc, mAP, mINP = self._rank(feats[q_idx], feats[g_idx], pids[q_idx], pids[g_idx], q_camids, g_camids)
            sizes = (len(q_idx), len(g_idx))
        metrics = {f'R{k}': float(cmc[min(k, len(cmc)) - 1]) * 100 for k in REPORTED_RANKS}
        metrics.update(mAP=float(mAP) * 100, mINP=float(mINP) * 100)
        self._log_table(metrics, sizes)
        return metrics

    @staticmethod
    def deduplicate(results):
        """Drop repeated samples (the distributed sampler pads ranks with copies), keyed by ``sample_idx``."""
        seen, unique = set(), []
        for r in results:
            idx = r.get('sample_idx')
            if idx is not None:
                if idx in seen:
                    continue
                seen.add(idx)
            unique.append(r)
        return unique

    def _split(self, results, pids, camids):
        """Query and gallery positions (and the camera ids to rank with) for the single-split protocols."""
        if self.protocol == 'market':
            roles = np.array([r['split_role'] for r in results], dtype=object)
            valid = pids >= 0  # junk images (pid -1) take no part, as in torchreid's data sets
            q_idx = np.flatnonzero((roles == 'query') & valid)
            g_idx = np.flatnonzero((roles == 'gallery') & valid)
            expect = "samples with split_role='query' and split_role='gallery' (and pid >= 0)"
            self._check_sides(q_idx, g_idx, expect, results)
            return q_idx, g_idx, camids[q_idx], camids[g_idx]
        modality = np.array([r['modality'] for r in results], dtype=object)
        if self.protocol == 'regdb':
            q_mod, g_mod = ('visible', 'infrared') if self.direction == 'v2t' else ('infrared', 'visible')
            q_idx, g_idx = np.flatnonzero(modality == q_mod), np.flatnonzero(modality == g_mod)
            expect = (f"modality='{q_mod}' queries and modality='{g_mod}' gallery samples "
                      f"(direction='{self.direction}')")
        else:  # text_image
            q_idx, g_idx = np.flatnonzero(modality == 'text'), np.flatnonzero(modality != 'text')
            expect = "modality='text' queries (captions) and image gallery samples"
        self._check_sides(q_idx, g_idx, expect, results)
        # cross-modal search: query and gallery never share a camera, so nothing is removed
        return q_idx, g_idx, np.zeros(len(q_idx), np.int64), np.ones(len(g_idx), np.int64)

    def _check_sides(self, q_idx, g_idx, expect, results):
        for side, idx in (('query', q_idx), ('gallery', g_idx)):
            if len(idx) == 0:
                seen = sorted({(r['split_role'], r['modality']) for r in results}, key=str)
                raise ValueError(f"ReIDMetric(protocol='{self.protocol}'): no {side} samples; expected {expect}. "
                                 f'Got {len(results)} samples with (split_role, modality) in {seen}')

    def _rank(self, q_feats, g_feats, q_pids, g_pids, q_camids, g_camids):
        """(cmc, mAP, mINP) of one query/gallery split with the configured backend."""
        if self.backend == 'torchreid':
            return self._rank_torchreid(q_feats, g_feats, q_pids, g_pids, q_camids, g_camids)
        if self.rerank:
            distmat = re_ranking(compute_distance(q_feats, g_feats, self.dist, self.chunk_size),
                                 compute_distance(q_feats, q_feats, self.dist, self.chunk_size),
                                 compute_distance(g_feats, g_feats, self.dist, self.chunk_size), **self.rerank)
            return evaluate_rank(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=self.max_rank,
                                 chunk_size=self.chunk_size)
        return evaluate_features(q_feats, g_feats, q_pids, g_pids, q_camids, g_camids, metric=self.dist,
                                 max_rank=self.max_rank, chunk_size=self.chunk_size)

    def _rank_torchreid(self, q_feats, g_feats, q_pids, g_pids, q_camids, g_camids):
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # torchreid warns when its Cython extension is not built
            from torchreid.reid.metrics import compute_distance_matrix
            from torchreid.reid.metrics import evaluate_rank as torchreid_evaluate_rank
        q_feats, g_feats = q_feats.cpu(), g_feats.cpu()
        distmat = compute_distance_matrix(q_feats, g_feats, metric=self.dist).numpy()
        if self.rerank:
            from torchreid.reid.utils.rerank import re_ranking as torchreid_re_ranking
            distmat = torchreid_re_ranking(distmat, compute_distance_matrix(q_feats, q_feats, self.dist).numpy(),
                                           compute_distance_matrix(g_feats, g_feats, self.dist).numpy(),
                                           **self.rerank)
        cmc, mAP = torchreid_evaluate_rank(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=self.max_rank)
        # torchreid defines no mINP: take it from the plugin's evaluator on the same distances
        _, _, mINP = evaluate_rank(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=self.max_rank)
        return cmc, mAP, mINP

    def _evaluate_sysu(self, results, feats, pids, camids):
        """Official SYSU-MM01 evaluation: fixed infrared queries, ``trials`` drawn visible galleries."""
        modality = np.array([r['modality'] for r in results], dtype=object)
        q_idx = np.flatnonzero((modality == 'infrared') & np.isin(camids, SYSU_QUERY_CAMS))
        cand = np.flatnonzero((modality == 'visible') & np.isin(camids, SYSU_GALLERY_CAMS[self.search_mode]))
        cams = [c + 1 for c in SYSU_GALLERY_CAMS[self.search_mode]]
        self._check_sides(q_idx, cand, f"modality='infrared' queries of cameras 3/6 (camid 2/5) and "
                                       f"modality='visible' gallery candidates of cameras {cams}", results)
        groups = sysu_gallery_groups(pids[cand], camids[cand], [results[i]['img_path'] for i in cand],
                                     self.search_mode)
        draws = [cand[draw_sysu_gallery(groups, trial, self.shots)] for trial in range(self.trials)]
        # distances only to the images some trial draws, once; each trial ranks a column subset
        used, columns = np.unique(np.concatenate(draws), return_inverse=True)
        distmat = compute_distance(feats[q_idx], feats[used], self.dist, self.chunk_size)
        columns = torch.from_numpy(columns.reshape(self.trials, -1)).to(distmat.device)
        # every trial draws from the same (id, camera) groups in the same order, so the gallery labels are the
        # same for all trials and the trials can be ranked as extra query rows of one problem: the mean over
        # all (trial, query) rows is the mean over trials of the per-trial means (same valid queries each trial)
        g_idx = draws[0]
        same_labels = all(np.array_equal(pids[d], pids[g_idx]) and np.array_equal(camids[d], camids[g_idx])
                          for d in draws)
        if not same_labels:  # cannot happen with the official draw; kept as a guard
            raise RuntimeError('ReIDMetric: SYSU-MM01 trials drew galleries with different labels')
        acc = RankAccumulator(pids[g_idx], camids[g_idx], max_rank=self.max_rank, rules='sysu_mm01',
                              device=distmat.device)
        # rows of the stacked problem are (trial, query) pairs, ranked in bounded chunks that may span trials
        num_q, total = len(q_idx), self.trials * len(q_idx)
        q_pids, q_camids = torch.from_numpy(pids[q_idx]), torch.from_numpy(camids[q_idx])
        step = self.chunk_size or default_chunk_size(len(g_idx))
        for start in range(0, total, step):
            stop = min(total, start + step)
            dist = torch.empty(stop - start, len(g_idx), dtype=distmat.dtype, device=distmat.device)
            rows = torch.arange(start, stop) % num_q
            for trial in range(start // num_q, (stop - 1) // num_q + 1):
                lo, hi = max(start, trial * num_q), min(stop, (trial + 1) * num_q)
                torch.index_select(distmat[lo - trial * num_q:hi - trial * num_q], 1, columns[trial],
                                   out=dist[lo - start:hi - start])
            acc.update(dist, q_pids[rows], q_camids[rows])
        cmc, mAP, mINP = acc.result()
        return cmc, mAP, mINP, (len(q_idx), len(g_idx))

    def _log_table(self, metrics, sizes):
        extra = f', {self.trials} trials, {self.search_mode}, {self.shots}-shot' \
            if self.protocol == 'sysu_mm01' else ''
        extra += f', {self.direction}' if self.protocol == 'regdb' else ''
        extra += ', k-reciprocal re-ranking' if self.rerank else ''
        names = ('mAP', 'Rank-1', 'Rank-5', 'Rank-10', 'Rank-20', 'mINP')
        values = [metrics[k] for k in ('mAP', 'R1', 'R5', 'R10', 'R20', 'mINP')]
        header = ' | '.join(f'{n:>7}' for n in names)
        row = ' | '.join(f'{v:6.2f}%' for v in values)
        MMLogger.get_current_instance().info(
            f'** ReID results ({self.protocol}, {self.dist} distance, {self.backend} evaluator, '
            f'{sizes[0]} queries x {sizes[1]} gallery{extra}) **\n| {header} |\n| {row} |')
