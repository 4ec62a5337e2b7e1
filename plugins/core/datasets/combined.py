"""``CombinedReIDDataset``: several ReID data sets as one (multi-source training, several test sets in one run).

torchreid's ``sources=[...]`` / ``targets=[...]`` and fast-reid's ``DATASETS.NAMES`` / ``DATASETS.TESTS`` as an
mmengine data set: the wrapper builds its sources, concatenates their samples and

- **training split**: offsets the (already contiguous) person labels of each source, so that Market-1501's 0001
  and DukeMTMC-reID's 0001 are two people of one label space, and offsets the cameras of each source, so that
  cameras stay distinct; ``metainfo['num_classes']`` is the sum over the sources;
- **test splits**: keeps every source's original person ids and cameras (each test set is evaluated on its own
  with its own protocol, :class:`~plugins.core.evaluation.MultiSetReIDMetric`);
- tags every sample with ``dataset_name``, the name of the set it came from (the metric's key prefix).

It is a :class:`~plugins.core.datasets.base.ReIDBaseDataset` itself, so the identity and cross-modality samplers,
the per-sample random draws keyed to the sample index, mid-epoch resume and the word-vocabulary hook see one
data set; nothing is added per sample at loading time.
"""
import copy
from collections import OrderedDict

from mmengine.dataset import BaseDataset
from mmengine.logging import MMLogger
from mmpretrain.registry import DATASETS

from .base import ReIDBaseDataset


#: ReIDBaseDataset options that the wrapper passes on to its source configs.
SOURCE_OPTIONS = ('check_image_headers', 'min_image_side', 'check_images', 'skip_bad_images', 'allow_duplicates')


def _source_label(cfg, index):
    kind = cfg.get('type') if isinstance(cfg, dict) else type(cfg).__name__
    kind = kind if isinstance(kind, str) else getattr(kind, '__name__', str(kind))
    return f'source {index} ({kind})'


@DATASETS.register_module()
class CombinedReIDDataset(ReIDBaseDataset):
    """Several ReID data sets in one run, with one label space for training.

    Example (Market-1501 + DukeMTMC-reID training; ``configs/baseline_multi_source.py`` has a full config)::

        dataset=dict(type='CombinedReIDDataset', split='train', pipeline=train_pipeline, datasets=[
            dict(type='Market1501', data_root='data/market1501'),
            dict(type='DukeMTMCReID', data_root='data/dukemtmc-reid')])

    Args:
        datasets (list[dict | ReIDBaseDataset]): the sources: data set configs (built here, without pipelines)
            or built data sets. A source config that sets a ``pipeline`` is an error: the wrapper's ``pipeline``
            applies to every sample, as torchreid's transforms apply to every source.
        split (str): the split of every source config that names none: ``'train'`` or a test split
            (``'test'``, ``'val'``). All sources must be training sources, or all test sources.
        names (list[str], optional): the set name of each source (the metric prefix, ``<name>/R1``); default
            each source's ``dataset_name`` (``market1501``, ``dukemtmc-reid``, ...). Names must be unique.
        pipeline (list[dict]): the data pipeline of every sample.
        verbose (bool): log the per-source table.
        **kwargs: the image checks of :class:`~plugins.core.datasets.base.ReIDBaseDataset`
            (``check_image_headers``, ``min_image_side``, ``check_images``, ``skip_bad_images``) go to every
            source config that does not set them; the rest to :class:`mmengine.dataset.BaseDataset`
            (``serialize_data``, ``lazy_init``, ...).
    """

    DATASET_NAME = 'combined'
    LAYOUT = "CombinedReIDDataset(datasets=[dict(type='Market1501', data_root=...), ...])"
    SPLITS = ('train', 'val', 'test')

    def __init__(self, datasets, split='train', names=None, pipeline=(), verbose=True, metainfo=None,
                 data_root=None, **kwargs):
        if data_root is not None:  # e.g. `--cfg-options train_dataloader.dataset.data_root=...` meant for one set
            raise ValueError(f'CombinedReIDDataset has no data_root of its own (got {data_root!r}); set the root of '
                             'each source: <loader>.dataset.datasets.<i>.data_root=...')
        if not isinstance(datasets, (list, tuple)) or not datasets:
            raise ValueError('CombinedReIDDataset: `datasets` must be a non-empty list of data set configs, '
                             f'got {datasets!r}')
        if names is not None and len(names) != len(datasets):
            raise ValueError(f'CombinedReIDDataset: {len(names)} names for {len(datasets)} data sets: {names}')
        self.source_cfgs = [copy.deepcopy(d) if isinstance(d, dict) else d for d in datasets]
        self.source_names = list(names) if names is not None else None
        self.split = split
        self.verbose = verbose
        self.source_options = {k: kwargs.pop(k) for k in SOURCE_OPTIONS if k in kwargs}
        # the image checks run in each source, not again over the concatenation
        self.check_image_headers, self.check_images, self.skip_bad_images = False, False, False
        self.combineall, self.allow_duplicates = False, False
        self.datasets, self.skipped_files, self.partial_names, self.identical_images = [], [], [], []
        kwargs.setdefault('test_mode', split != 'train')
        BaseDataset.__init__(self, data_root='', pipeline=list(pipeline), metainfo=metainfo, **kwargs)

    # ------------------------------------------------------------------ building the sources
    def build_sources(self):
        """The built source data sets (configs get the wrapper's split, no pipeline, its ``verbose``)."""
        sources = []
        for index, cfg in enumerate(self.source_cfgs):
            if isinstance(cfg, dict):
                if cfg.get('pipeline'):
                    raise ValueError(f'CombinedReIDDataset: {_source_label(cfg, index)} sets its own `pipeline`; '
                                     'the wrapper\'s `pipeline` applies to every sample: move it there')
                cfg = dict(cfg, pipeline=[])
                cfg.setdefault('split', self.split)
                cfg.setdefault('verbose', self.verbose)
                for key, value in self.source_options.items():
                    cfg.setdefault(key, value)
                source = DATASETS.build(cfg)
            else:
                source = cfg
            if not isinstance(source, ReIDBaseDataset):
                raise TypeError(f'CombinedReIDDataset: {_source_label(cfg, index)} is a {type(source).__name__}, '
                                'not a ReID data set (a subclass of ReIDBaseDataset)')
            if source.is_train != self.is_train:
                raise ValueError(f'CombinedReIDDataset(split={self.split!r}): {_source_label(cfg, index)} has '
                                 f'split={source.split!r}; combine training sources or test sources, not both')
            sources.append(source)
        return sources

    def _names(self, sources):
        names = self.source_names or [s.metainfo.get('dataset_name', s.DATASET_NAME) for s in sources]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f'CombinedReIDDataset: the set names {repeated} repeat (names: {names}); give each '
                             'source its own name with `names=[...]` (e.g. the same data set under two protocols)')
        return [str(n) for n in names]

    # ------------------------------------------------------------------ mmengine hook
    def load_data_list(self):
        """Concatenate the sources' samples: label and camera offsets (training), set names, global indices."""
        sources = self.build_sources()
        names = self._names(sources)
        self.datasets = sources  # kept for the data check (tools/dataset_stats.py reports each source)
        data_list, label_offset, camera_offset, rows = [], 0, 0, []
        for name, source in zip(names, sources):
            infos = [source.get_data_info(i) for i in range(len(source))]
            num_classes = int(source.metainfo['num_classes']) if self.is_train else 0
            cameras = max((int(i.get('camid', -1)) for i in infos), default=-1) + 1
            for info in infos:
                info = dict(info, dataset_name=name, sample_idx=len(data_list))
                if self.is_train:
                    info['gt_label'] = int(info['gt_label']) + label_offset
                    if info.get('camid', -1) >= 0:
                        info['camid'] = int(info['camid']) + camera_offset
                data_list.append(info)
            rows.append((name, type(source).__name__, len(infos), num_classes, cameras, label_offset, camera_offset))
            label_offset += num_classes
            camera_offset += cameras if self.is_train else 0
        if self.is_train:
            self._metainfo['num_classes'] = label_offset
        self._metainfo.update(dataset_name='+'.join(names), split=self.split, sources=names,
                              source_classes=OrderedDict((r[0], r[3]) for r in rows))
        if self.verbose:
            MMLogger.get_current_instance().info(self.sources_table(rows))
        return data_list

    def sources_table(self, rows):
        """One line per source: its name, class, images and (training) the label and camera ranges."""
        lines = [f'=> Loaded CombinedReIDDataset (split={self.split!r}) from {len(rows)} data sets:']
        for name, kind, images, num_classes, cameras, label_offset, camera_offset in rows:
            line = f'  {name:<16s} {kind:<14s} {images:>7d} samples'
            if self.is_train:
                line += (f'  ids {num_classes:>5d} -> labels {label_offset}..{label_offset + num_classes - 1}'
                         f'  cameras {cameras} -> {camera_offset}..{camera_offset + cameras - 1}')
            lines.append(line)
        if self.is_train:
            lines.append(f'  total: {sum(r[2] for r in rows)} samples, num_classes={sum(r[3] for r in rows)}')
        return '\n'.join(lines)
