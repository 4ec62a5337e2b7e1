"""``MultiSetReIDMetric``: one table over several test sets, each ranked with its own protocol.

The test loader reads a :class:`~plugins.core.datasets.CombinedReIDDataset` (every sample carries the
``dataset_name`` of the set it came from); this metric splits the collected features by set and ranks each set
alone with a :class:`~.reid_metric.ReIDMetric` of its own protocol, so a set's numbers are the numbers of a
single-set run of the same checkpoint. MMDetection's ``MultiDatasetsEvaluator`` is the precedent (one
concatenated loader, metrics keyed ``<set>/<metric>``). One loader rather than one loop per set keeps the
standard test loop, so mmpretrain's ``tools/test.py``, ``mim test`` and ``dist_test.sh`` run it unchanged.
"""
from collections import OrderedDict

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from mmpretrain.registry import METRICS

from .reid_metric import RESULT_KEYS, ReIDMetric

#: The columns of the printed table, in torchreid's order.
TABLE_COLUMNS = (('mAP', 'mAP'), ('R1', 'Rank-1'), ('R5', 'Rank-5'), ('R10', 'Rank-10'), ('R20', 'Rank-20'),
                 ('mINP', 'mINP'))
MEAN_ROW = 'mean'


@METRICS.register_module()
class MultiSetReIDMetric(BaseMetric):
    """Rank several test sets of one run; metrics ``<set>/R1, <set>/mAP, ...`` and their mean ``mean/...``.

    Example (a table over three image test sets; SYSU-MM01 all and indoor from the same features)::

        test_evaluator = dict(type='MultiSetReIDMetric', sets=dict(
            market1501=dict(protocol='market'),
            **{'dukemtmc-reid': dict(protocol='market'), 'cuhk03-np': dict(protocol='market')}))
        test_evaluator = dict(type='MultiSetReIDMetric', sets={
            'sysu-mm01': dict(protocol='sysu_mm01', search_mode='all'),
            'sysu-mm01-indoor': dict(dataset='sysu-mm01', protocol='sysu_mm01', search_mode='indoor')})

    Args:
        sets (dict[str, dict]): table row name -> :class:`ReIDMetric` options of that set (``protocol``,
            ``search_mode``, ``direction``, ...), in table order. ``dataset`` names the source set when it is not
            the row name (one set under two protocols). Every set of the test data must have a row.
        mean (bool): add the mean over the rows (``mean/R1``, ...) and its table row. Default True.
        collect_device (str): ``'cpu'`` or ``'gpu'`` for gathering results across ranks.
        prefix (str | None): prefix of the metric names (none by default).
        collect_dir (str | None): temporary directory for collecting results on CPU.
        **common: :class:`ReIDMetric` options of every row (``dist``, ``norm_feat``, ``rerank``, ``device``,
            ``chunk_size``, ``max_rank``, ...); a row's own options win.
    """
    default_prefix = ''

    def __init__(self, sets, mean=True, collect_device='cpu', prefix=None, collect_dir=None, **common):
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        if not isinstance(sets, dict) or not sets:
            raise ValueError('MultiSetReIDMetric: `sets` must be a non-empty dict {set name: ReIDMetric options}, '
                             f'got {sets!r}')
        self.sources, self.metrics = OrderedDict(), OrderedDict()
        for name, options in sets.items():
            options = dict(options or {})
            if str(name) == MEAN_ROW or '/' in str(name):
                raise ValueError(f"MultiSetReIDMetric: set name {name!r} is reserved or has a '/'; rename the row")
            self.sources[name] = str(options.pop('dataset', name))
            try:  # options are checked now, not after the test loop extracted every feature
                self.metrics[name] = ReIDMetric(**dict(common, **options))
            except (TypeError, ValueError) as err:
                raise type(err)(f'MultiSetReIDMetric: set {name!r}: {err}') from err
        self.mean = mean

    def process(self, data_batch, data_samples):
        """Keep feature, labels and set name of every sample (see :meth:`ReIDMetric.record`)."""
        self.results.extend(ReIDMetric.record(sample) for sample in data_samples)

    def compute_metrics(self, results):
        """Rank each set alone with its own metric; the mean row averages the rows.

        Args:
            results (list[dict]): every record of :meth:`process`, gathered over ranks.

        Returns:
            dict: ``<set>/<key>`` for every row and key of :data:`~.reid_metric.RESULT_KEYS`, and ``mean/<key>``.
        """
        by_set = OrderedDict()
        for record in ReIDMetric.deduplicate(results):
            by_set.setdefault(record.get('dataset_name'), []).append(record)
        self._check_sets(by_set)
        table = OrderedDict()
        for name, metric in self.metrics.items():
            table[name] = metric.compute_metrics(by_set[self.sources[name]])
        if self.mean:
            table[MEAN_ROW] = {key: float(np.mean([row[key] for row in table.values()])) for key in RESULT_KEYS}
        self._log_table(table)
        return {f'{name}/{key}': value for name, row in table.items() for key, value in row.items()}

    def _check_sets(self, by_set):
        found = [name for name in by_set if name is not None]
        if None in by_set:
            raise ValueError('MultiSetReIDMetric: test samples without a `dataset_name`: the test set must be a '
                             "CombinedReIDDataset (dataset=dict(type='CombinedReIDDataset', datasets=[...])) and "
                             "its pipeline must end in PackReIDInputs (which packs `dataset_name`)")
        missing = sorted({s for s in self.sources.values() if s not in by_set})
        unused = [name for name in found if name not in self.sources.values()]
        if missing or unused:
            raise ValueError(f'MultiSetReIDMetric: the rows {list(self.sources)} read the sets '
                             f'{sorted(set(self.sources.values()))}, the test data has the sets {found}'
                             + (f'; no test data for {missing}' if missing else '')
                             + (f'; no row for {unused} (add one to `sets`)' if unused else ''))

    def _log_table(self, table):
        width = max(len('test set'), *(len(name) for name in table))
        protocols = {name: metric.protocol for name, metric in self.metrics.items()}
        proto_width = max(len('protocol'), *(len(p) for p in protocols.values()))
        header = (f"| {'test set':<{width}} | {'protocol':<{proto_width}} | "
                  + ' | '.join(f'{title:>7}' for _, title in TABLE_COLUMNS) + ' |')
        lines = [f'** ReID results over {len(self.metrics)} test sets **', header]
        for name, row in table.items():
            lines.append(f'| {name:<{width}} | {protocols.get(name, ""):<{proto_width}} | '
                         + ' | '.join(f'{row[key]:6.2f}%' for key, _ in TABLE_COLUMNS) + ' |')
        MMLogger.get_current_instance().info('\n'.join(lines))
