"""``ReIDMetric``: CMC / mAP / mINP for every protocol of the plugin (one code path).

The protocol (:mod:`.protocols`, registered in ``REID_PROTOCOLS``) splits the test samples into ranking problems;
the metric ranks them and averages. Built-in protocols (``docs/data_contract.md`` section 5):

* ``'market'`` (Market-1501, DukeMTMC-reID, CUHK03, any torchreid image set): ``split_role`` decides query and
  gallery; gallery items with the query's pid and camera are removed; junk ids (pid < 0) are ignored.
* ``'sysu_mm01'``: query = every infrared image of cameras 3 and 6; gallery = for each trial the official
  single-shot (or multi-shot) selection among the visible images of cameras 1, 2, 4, 5 (``search_mode='all'``)
  or 1, 2 (``'indoor'``); official SYSU rules for the ranking (see :mod:`.rank`); ``trials`` averaged.
* ``'regdb'``: visible and thermal (``modality='infrared'``) test images; ``direction='v2t'`` queries with the
  visible ones, ``'t2v'`` with the thermal ones; no camera filtering.
* ``'llcm'``: the official LLCM evaluation (:class:`~.protocols.LLCMProtocol`): ``direction='ir2vis'``
  (infrared queries, a visible gallery drawn per trial) or ``'vis2ir'``; ``trials`` draws averaged; removal
  of the query's identity in its camera number, identity-once CMC.
* ``'text_image'``: captions (``modality='text'``) query every other sample (the test images); no camera
  filtering; cosine distance unless ``dist`` says otherwise.
"""
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from mmpretrain.registry import METRICS

from .distance import DISTANCES, compute_distance
from .protocols import build_protocol
from .query_expansion import DEFAULT_AQE, DEFAULT_DBA, average_query_expansion, database_augmentation
from .rank import RankAccumulator, default_chunk_size, evaluate_features, evaluate_rank
from .rerank import DEFAULT_RERANK, evaluate_re_ranked

BACKENDS = ('plugin', 'torchreid')
#: Ranks reported as ``R<k>``.
REPORTED_RANKS = (1, 5, 10, 20)
RESULT_KEYS = ('R1', 'R5', 'R10', 'R20', 'mAP', 'mINP')
#: Cross-modality protocols whose official evaluation code defines no re-ranking or query expansion.
NO_RERANK_PROTOCOLS = ('sysu_mm01', 'regdb', 'llcm')


def _options(name, value, defaults):
    """None / False -> None; True -> the defaults; a dict -> the defaults updated (unknown keys refused)."""
    if not value:
        return None
    options = dict(defaults)
    if isinstance(value, dict):
        unknown = set(value) - set(defaults)
        if unknown:
            raise ValueError(f'ReIDMetric: unknown {name} keys {sorted(unknown)}; expected {sorted(defaults)}')
        options.update(value)
    return options


def _pid_of(gt_label):
    if isinstance(gt_label, torch.Tensor):
        return int(gt_label.view(-1)[0])
    if isinstance(gt_label, dict):  # a LabelData turned into a dict
        return _pid_of(gt_label['label'])
    return int(np.asarray(gt_label).reshape(-1)[0])


@METRICS.register_module()
class ReIDMetric(BaseMetric):
    """Person re-identification ranking metric: ``R1, R5, R10, R20, mAP, mINP`` in percent.

    Args:
        protocol (str | dict): ``'market'``, ``'sysu_mm01'``, ``'regdb'``, ``'llcm'`` or ``'text_image'`` (module
            docstring; the options below configure them), or a protocol config ``dict(type=..., ...)`` of
            ``REID_PROTOCOLS``.
        search_mode (str): SYSU-MM01 gallery cameras, ``'all'`` or ``'indoor'``.
        shots (int): SYSU-MM01 gallery images per (id, camera): 1 (single-shot) or 10 (multi-shot).
        trials (int): SYSU-MM01 / LLCM gallery draws averaged (trial seeds 0..trials-1).
        dist (str | None): ``'euclidean'`` (squared, torchreid's) or ``'cosine'``; None = cosine for
            ``text_image``, euclidean otherwise.
        direction (str | None): RegDB: ``'v2t'`` (visible -> thermal, its default) or ``'t2v'``; LLCM:
            ``'ir2vis'`` (its default) or ``'vis2ir'``; None = the protocol's default.
        max_rank (int): CMC length (>= 20 so that R20 exists).
        backend (str): ``'plugin'`` (the exact vectorised evaluator) or ``'torchreid'`` (torchreid's
            ``compute_distance_matrix`` + ``evaluate_rank`` for CMC and mAP; torchreid has no mINP, so mINP
            still comes from the plugin's evaluator; not available for ``sysu_mm01``).
        norm_feat (bool): L2-normalise features before the distance.
        rerank (bool | dict | None): k-reciprocal re-ranking (Zhong et al. 2017) before ranking; True uses
            ``k1=20, k2=6, lambda_value=0.3``, a dict overrides them. Equal to torchreid's ``re_ranking`` but in
            bounded memory (:mod:`.rerank`: sparse encodings, no (Q+G)^2 matrix, the final distances ranked
            chunk by chunk); not available for ``sysu_mm01`` / ``regdb`` / ``llcm`` (their official code has none).
        aqe (bool | dict | None): fast-reid's average query expansion (``TEST.AQE``) of query and gallery
            features before the distance; True uses ``qe_times=1, qe_k=5, alpha=3.0``, a dict overrides them.
        dba (bool | dict | None): database-side augmentation of the gallery features (``k=10, alpha=3.0``),
            applied before ``aqe``; both combine with ``rerank`` and with either backend.
        device (str): where distances and ranking are computed (``'cpu'`` or e.g. ``'cuda'``).
        chunk_size (int | None): query rows ranked at once (None: automatic, bounded memory).
        collect_device (str): ``'cpu'`` or ``'gpu'`` for gathering results across ranks.
        prefix (str | None): prefix of the metric names (none by default, so the keys are ``R1`` ...).
        collect_dir (str | None): temporary directory for collecting results on CPU.
    """
    default_prefix = ''

    def __init__(self, protocol='market', search_mode='all', shots=1, trials=10, dist=None, direction=None,
                 max_rank=50, backend='plugin', norm_feat=False, rerank=None, device='cpu', chunk_size=None,
                 collect_device='cpu', prefix=None, collect_dir=None, aqe=None, dba=None):
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        self.split_protocol = build_protocol(protocol, search_mode=search_mode, shots=shots, trials=trials,
                                             direction=direction)
        dist = dist or self.split_protocol.default_dist
        for name, value, allowed in (('dist', dist, DISTANCES), ('backend', backend, BACKENDS)):
            if value not in allowed:
                raise ValueError(f'ReIDMetric: {name} must be one of {allowed}, got {value!r}')
        if max_rank < max(REPORTED_RANKS):
            raise ValueError(f'ReIDMetric: max_rank must be >= {max(REPORTED_RANKS)} to report R20, got {max_rank}')
        self.protocol = self.split_protocol.name or type(self.split_protocol).__name__
        if backend == 'torchreid' and self.split_protocol.rules != 'market':
            raise ValueError(f"ReIDMetric: backend='torchreid' has no {self.protocol} ranking rules; "
                             "use backend='plugin'")
        for name, value in (('rerank', rerank), ('aqe', aqe), ('dba', dba)):
            if value and (self.split_protocol.rules != 'market' or self.protocol in NO_RERANK_PROTOCOLS):
                raise ValueError(f'ReIDMetric: {name} is not available for the {self.protocol} protocol (its '
                                 'official evaluation code defines no re-ranking or query expansion)')
        self.rerank = _options('rerank', rerank, DEFAULT_RERANK)
        self.aqe = _options('aqe', aqe, DEFAULT_AQE)
        self.dba = _options('dba', dba, DEFAULT_DBA)
        self.dist = dist
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
        self.results.extend(self.record(sample) for sample in data_samples)

    @staticmethod
    def record(sample):
        """What the metric keeps of one model output: feature (D,) on the CPU, labels and the contract's metainfo
        (``dataset_name``: the set of a :class:`~plugins.core.datasets.CombinedReIDDataset`, else None)."""
        if not isinstance(sample, dict):
            sample = sample.to_dict()
        if 'pred_feature' not in sample:
            raise KeyError(f'ReIDMetric: a data sample has no `pred_feature` (keys: {sorted(sample)}); the '
                           "model's predict mode must set one feature per sample (set_pred_features)")
        feature = torch.as_tensor(sample['pred_feature']).detach().reshape(-1).float().cpu()
        return dict(
            feature=feature,
            pid=_pid_of(sample['gt_label']),
            camid=-1 if sample.get('camid') is None else int(sample['camid']),
            modality=sample.get('modality', 'image'),
            img_path=sample.get('img_path'),
            split_role=sample.get('split_role'),
            sample_idx=sample.get('sample_idx'),
            dataset_name=sample.get('dataset_name'),
        )

    # ------------------------------------------------------------------ evaluation
    def compute_metrics(self, results):
        """Split the samples by the protocol into ranking problems, rank them and average.

        Args:
            results (list[dict]): everything :meth:`process` kept, gathered over ranks.

        Returns:
            dict: ``R1, R5, R10, R20, mAP, mINP`` in percent.
        """
        results = self.deduplicate(results)
        sets = sorted({r['dataset_name'] for r in results if r.get('dataset_name') is not None})
        if len(sets) > 1:  # one gallery over several test sets would rank people of one set against another's
            raise ValueError(f'ReIDMetric: the test samples come from {len(sets)} data sets {sets}; evaluate each '
                             "with its own protocol: test_evaluator = dict(type='MultiSetReIDMetric', sets={"
                             + ', '.join(f"{n!r}: dict(protocol=...)" for n in sets) + '})')
        if not results:
            raise ValueError(f"ReIDMetric(protocol='{self.protocol}'): no samples were processed; the test loop "
                             'produced no predictions (is the test dataset empty?)')
        feats = self.features(results)
        pids = np.array([r['pid'] for r in results], dtype=np.int64)
        problems = self.split_protocol.split(results)
        if len(problems) == 1:
            p = problems[0]
            cmc, mAP, mINP = self._rank(feats[p.query], feats[p.gallery], pids[p.query], pids[p.gallery],
                                        p.q_camids, p.g_camids)
        else:
            cmc, mAP, mINP = self._rank_trials(problems, feats, pids)
        metrics = {f'R{k}': float(cmc[min(k, len(cmc)) - 1]) * 100 for k in REPORTED_RANKS}
        metrics.update(mAP=float(mAP) * 100, mINP=float(mINP) * 100)
        self._log_table(metrics, (len(problems[0].query), len(problems[0].gallery)))
        return metrics

    def features(self, results):
        """(N, D) features of the records on the metric's device, L2-normalised when ``norm_feat``."""
        feats = torch.stack([r['feature'] for r in results]).to(self.device)
        return F.normalize(feats, dim=1) if self.norm_feat else feats

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

    def _rank(self, q_feats, g_feats, q_pids, g_pids, q_camids, g_camids):
        """(cmc, mAP, mINP) of one query/gallery split with the configured backend."""
        q_feats, g_feats = self._expand(q_feats, g_feats)
        if self.backend == 'torchreid':
            return self._rank_torchreid(q_feats, g_feats, q_pids, g_pids, q_camids, g_camids)
        if self.rerank:
            # the re-ranked distances are ranked chunk by chunk as they are produced (never stored whole)
            return evaluate_re_ranked(q_feats, g_feats, q_pids, g_pids, q_camids, g_camids, metric=self.dist,
                                      max_rank=self.max_rank, chunk_size=self.chunk_size, **self.rerank)
        return evaluate_features(q_feats, g_feats, q_pids, g_pids, q_camids, g_camids, metric=self.dist,
                                 max_rank=self.max_rank, chunk_size=self.chunk_size)

    def _expand(self, q_feats, g_feats):
        """Database-side augmentation of the gallery, then average query expansion (when configured)."""
        if self.dba:
            g_feats = database_augmentation(g_feats, **self.dba)
        if self.aqe:
            q_feats, g_feats = average_query_expansion(q_feats, g_feats, **self.aqe)
        return q_feats, g_feats

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

    def _rank_trials(self, problems, feats, pids):
        """Mean (cmc, mAP, mINP) over the problems of a protocol (e.g. SYSU-MM01's gallery draws); problems with
        queries of their own (LLCM's visible-to-infrared draws) are ranked one by one.

        Distances are computed once to every gallery item some problem uses. When every problem's gallery has
        the same labels in the same order (the official SYSU draw: the same (id, camera) groups each trial), the
        problems are ranked as extra query rows of one problem: the mean over all (problem, query) rows is then
        the mean over problems of the per-problem means (the same queries are valid in each).
        """
        query, rules = problems[0].query, problems[0].rules
        if any(p.rules != rules for p in problems):
            raise ValueError(f'ReIDMetric({self.protocol}): the problems of one protocol must share their ranking '
                             'rules')
        if any(not np.array_equal(p.query, query) for p in problems):  # each draw its own queries (LLCM vis2ir)
            return self._mean_scores([evaluate_features(
                feats[p.query], feats[p.gallery], pids[p.query], pids[p.gallery], p.q_camids, p.g_camids,
                metric=self.dist, max_rank=self.max_rank, rules=p.rules, chunk_size=self.chunk_size)
                for p in problems])
        used, columns = np.unique(np.concatenate([p.gallery for p in problems]), return_inverse=True)
        distmat = compute_distance(feats[query], feats[used], self.dist, self.chunk_size)
        columns = torch.from_numpy(columns.reshape(len(problems), -1)).to(distmat.device)
        first = problems[0]
        same_labels = all(np.array_equal(pids[p.gallery], pids[first.gallery]) and
                          np.array_equal(p.g_camids, first.g_camids) for p in problems)
        if not same_labels:
            return self._mean_of_problems(problems, distmat, columns, pids)
        acc = RankAccumulator(pids[first.gallery], first.g_camids, max_rank=self.max_rank, rules=rules,
                              device=distmat.device)
        # rows of the stacked problem are (problem, query) pairs, ranked in bounded chunks that may span problems
        num_q, total = len(query), len(problems) * len(query)
        q_pids, q_camids = torch.from_numpy(pids[query]), torch.from_numpy(first.q_camids)
        step = self.chunk_size or default_chunk_size(len(first.gallery))
        for start in range(0, total, step):
            stop = min(total, start + step)
            dist = torch.empty(stop - start, len(first.gallery), dtype=distmat.dtype, device=distmat.device)
            rows = torch.arange(start, stop) % num_q
            for k in range(start // num_q, (stop - 1) // num_q + 1):
                lo, hi = max(start, k * num_q), min(stop, (k + 1) * num_q)
                torch.index_select(distmat[lo - k * num_q:hi - k * num_q], 1, columns[k],
                                   out=dist[lo - start:hi - start])
            acc.update(dist, q_pids[rows], q_camids[rows])
        return acc.result()

    def _mean_of_problems(self, problems, distmat, columns, pids):
        """Mean over problems of each one's (cmc, mAP, mINP), ranked one after the other."""
        return self._mean_scores([evaluate_rank(torch.index_select(distmat, 1, columns[k]), pids[p.query],
                                                pids[p.gallery], p.q_camids, p.g_camids, max_rank=self.max_rank,
                                                rules=p.rules, chunk_size=self.chunk_size)
                                  for k, p in enumerate(problems)])

    @staticmethod
    def _mean_scores(scores):
        """Mean over problems of ``[(cmc, mAP, mINP)]`` (CMC cut to the shortest curve)."""
        length = min(len(cmc) for cmc, _, _ in scores)
        return (np.mean([cmc[:length] for cmc, _, _ in scores], axis=0),
                float(np.mean([s[1] for s in scores])), float(np.mean([s[2] for s in scores])))

    def _log_table(self, metrics, sizes):
        extra = self.split_protocol.describe() + (', database augmentation' if self.dba else '') + \
            (', average query expansion' if self.aqe else '') + (', k-reciprocal re-ranking' if self.rerank else '')
        names = ('mAP', 'Rank-1', 'Rank-5', 'Rank-10', 'Rank-20', 'mINP')
        values = [metrics[k] for k in ('mAP', 'R1', 'R5', 'R10', 'R20', 'mINP')]
        header = ' | '.join(f'{n:>7}' for n in names)
        row = ' | '.join(f'{v:6.2f}%' for v in values)
        MMLogger.get_current_instance().info(
            f'** ReID results ({self.protocol}, {self.dist} distance, {self.backend} evaluator, '
            f'{sizes[0]} queries x {sizes[1]} gallery{extra}) **\n| {header} |\n| {row} |')
