"""Shared machinery of every ReID data set: path checks, relabelling, statistics table, data_info contract.

A concrete data set only parses its on-disk layout into *raw samples* (see :meth:`ReIDBaseDataset.parse_samples`);
this class turns them into the ``data_info`` dicts of ``docs/data_contract.md`` section 1.
"""
import contextlib
import os
import os.path as osp
import random
from collections import OrderedDict

import numpy as np
import torch
from mmengine.dataset import BaseDataset
from mmengine.logging import MMLogger

from .data_check import verdict_line
from .duplicates import describe_paths, find_identical_files
from .image_headers import DEFAULT_MIN_IMAGE_SIDE, describe_files, read_image_sizes

#: Image file extensions accepted when listing folders.
IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp')
#: Keys a raw sample may carry (besides ``pid``); anything else is a parser bug.
SAMPLE_KEYS = ('img_path', 'camid', 'modality', 'split_role', 'caption', 'weak_caption')
MODALITIES = ('image', 'visible', 'infrared', 'text')
SPLIT_ROLES = ('train', 'query', 'gallery')


class ReIDBaseDataset(BaseDataset):
    """Base class of the ReID data sets (image, visible-infrared, text-image).

    Subclasses set :attr:`DATASET_NAME`, :attr:`LAYOUT` (the expected folder tree, printed in errors) and
    :attr:`SPLITS`, and implement :meth:`parse_samples`. The base class then

    - checks that ``data_root`` exists (error naming the path and the expected layout),
    - reads the header of every image once, at start-up (``check_image_headers``): unreadable or zero-byte files
      are an error naming them, images under ``min_image_side`` px a one-line warning with their count,
    - optionally checks that every image can be decoded (``check_images``),
    - refuses byte-identical images and file names the layout matches only in part (``allow_duplicates``),
    - relabels the person ids of a training split to ``0..N-1`` (sorted original ids, as torchreid does) and
      keeps original ids for query/gallery,
    - sets ``sample_idx`` and the metainfo ``dataset_name`` (+ ``num_classes`` for a training split),
    - logs a statistics table (``subset | # ids | # images | # cameras`` [``| # captions``]) and the data check's
      one-line verdict against the official (or demo) counts (:mod:`~plugins.core.datasets.data_check`),
    - raises if the split yields zero samples or ids.

    Args:
        data_root (str): root folder of the data set (the folder shown at the top of :attr:`LAYOUT`).
        split (str): which split to load, one of :attr:`SPLITS`. ``'train'`` yields training samples with
            relabelled ids; the others yield query + gallery samples in one data set.
        pipeline (list[dict | callable]): data pipeline.
        check_image_headers (bool): read the header of every image at load time (about 1 s per 100k images,
            see :mod:`~plugins.core.datasets.image_headers`), in the main process, before any sample is loaded:
            zero-byte and non-image files raise an error naming them (first few + count) unless
            ``skip_bad_images``. Default True.
        min_image_side (int): images smaller than this on a side (e.g. 1x1 px crops, upscaled to the input size
            by the pipeline) are counted in one warning line; 0 turns the warning off. Default 8.
        check_images (bool): decode every image once at load time (slow on real data; finds truncated pixel
            data too). Unreadable images raise an error naming their path unless ``skip_bad_images``.
        skip_bad_images (bool): drop the unreadable images found by either check and log how many were dropped.
        combineall (bool): with ``split='train'``, train on the train, query and gallery images together
            (torchreid's ``combineall``): the test ids become training ids after the train ids, junk ids
            (:attr:`COMBINEALL_JUNK_PIDS` and ids < 0) are left out. Image and visible-infrared sets only.
        allow_duplicates (bool): keep, with a warning, byte-identical image files (a copied file, a query image
            also in the gallery) and files whose name the layout's pattern matches only in part (``... (copy).jpg``);
            by default they are an error naming them. Found by :mod:`~plugins.core.datasets.duplicates` (sizes
            first, a hash only of equal sizes). Default False.
        verbose (bool): log the statistics table and the data check's verdict.
        metainfo (dict, optional): extra metainfo; ``dataset_name``, ``split`` and (training) ``num_classes``
            are added after parsing.
        **kwargs: forwarded to :class:`mmengine.dataset.BaseDataset` (``indices``, ``serialize_data``,
            ``lazy_init``, ``test_mode``, ``max_refetch``, ...).
    """

    DATASET_NAME = 'reid'
    #: Expected on-disk layout, shown in error messages.
    LAYOUT = ''
    SPLITS = ('train', 'test')
    TRAIN_SPLITS = ('train',)
    #: Test ids that ``combineall`` leaves out besides ids < 0 (torchreid's ``_junk_pids``).
    COMBINEALL_JUNK_PIDS = ()

    def __init__(self, data_root, split='train', pipeline=(), check_image_headers=True,
                 min_image_side=DEFAULT_MIN_IMAGE_SIDE, check_images=False, skip_bad_images=False,
                 combineall=False, verbose=True, metainfo=None, allow_duplicates=False, **kwargs):
        if split not in self.SPLITS:
            raise ValueError(f'{type(self).__name__}: split must be one of {self.SPLITS}, got {split!r}')
        if not data_root:
            raise ValueError(f'{type(self).__name__}: data_root is empty; expected layout:\n{self.LAYOUT}')
        self.split = split
        # Absolute root so that every img_path in the data_info dicts is absolute (data contract).
        data_root = osp.abspath(osp.expanduser(str(data_root)))
        self.check_image_headers = check_image_headers
        self.min_image_side = min_image_side
        self.check_images = check_images
        self.skip_bad_images = skip_bad_images
        if combineall and split not in self.TRAIN_SPLITS:
            raise ValueError(f'{type(self).__name__}: combineall=True trains on train + query + gallery; it needs '
                             f'split=\'train\', got split={split!r}')
        self.combineall = combineall
        self.verbose = verbose
        self.allow_duplicates = allow_duplicates
        # what the build saw besides the samples (read by tools/dataset_stats.py): files of a listed folder that
        # the layout does not take, names matched only in part, groups of byte-identical images
        self.skipped_files, self.partial_names, self.identical_images = [], [], []
        # dataset_name/num_classes are set after parsing (a str value here would be read as a meta file name)
        kwargs.setdefault('test_mode', split not in self.TRAIN_SPLITS)
        super().__init__(data_root=data_root, pipeline=list(pipeline), metainfo=metainfo, **kwargs)

    def __getitem__(self, idx):
        """The sample at ``idx``; an index from the plugin's samplers carries the seed of its random draws
        (``KeyedIndex``), so its augmentation does not depend on the world size or on ``num_workers``."""
        draw_seed = getattr(idx, 'draw_seed', None)
        if draw_seed is None:
            return super().__getitem__(idx)
        with seeded_random_state(draw_seed):
            return super().__getitem__(int(idx))

    # ------------------------------------------------------------------ to implement per data set
    def parse_samples(self):
        """Parse the on-disk layout of ``self.split``.

        Returns:
            list[dict]: raw samples with ``pid`` (original person id, int) and the data_info keys
            ``img_path`` (absolute), ``camid`` (0-based, -1 if meaningless), ``modality``, ``split_role``
            and, for text-image sets, ``caption`` / ``weak_caption``.
        """
        raise NotImplementedError(f'{type(self).__name__} must implement parse_samples()')

    # ------------------------------------------------------------------ helpers for subclasses
    @property
    def is_train(self):
        """Whether the split is a training split (ids relabelled, ``num_classes`` set)."""
        return self.split in self.TRAIN_SPLITS

    def layout_error(self, path, what):
        """An error for a missing file/folder: names the path and prints the expected layout."""
        return FileNotFoundError(
            f'{type(self).__name__}: {what} not found: {path}\n'
            f'Expected layout under data_root={self.data_root!r}:\n{self.LAYOUT}')

    def require_dir(self, path, what='folder'):
        """Return ``path`` if it is a directory, else raise :meth:`layout_error`."""
        if not osp.isdir(path):
            raise self.layout_error(path, what)
        return path

    def require_file(self, path, what='file'):
        """Return ``path`` if it is a file, else raise :meth:`layout_error`."""
        if not osp.isfile(path):
            raise self.layout_error(path, what)
        return path

    def read_path_label_list(self, path):
        """``[(relative path, absolute image path, label)]`` of a list file of "relative/image/path label" lines
        (RegDB's and LLCM's ``idx/*.txt``); blank lines are skipped, every listed image must exist."""
        name, items = type(self).__name__, []
        with open(path) as f:
            for line_no, line in enumerate(f, 1):
                if not line.strip():
                    continue
                parts = line.split()
                if len(parts) != 2 or not parts[1].lstrip('-').isdigit():
                    raise ValueError(f'{name}: {path}:{line_no}: expected "relative/image/path label", got {line!r}')
                img_path = osp.join(self.data_root, parts[0])
                if not osp.isfile(img_path):
                    raise FileNotFoundError(f'{name}: image {img_path} listed in {path}:{line_no} does not exist')
                items.append((parts[0], img_path, int(parts[1])))
        return items

    def list_images(self, folder, extensions=IMG_EXTENSIONS):
        """Sorted absolute paths of the image files directly inside ``folder`` (which must exist)."""
        self.require_dir(folder)
        names = sorted(os.listdir(folder))
        self.skipped_files += [osp.join(folder, n) for n in names
                               if not n.lower().endswith(extensions) and osp.isfile(osp.join(folder, n))]
        return [osp.join(folder, n) for n in names if n.lower().endswith(extensions)]

    # ------------------------------------------------------------------ mmengine hook
    def load_data_list(self):
        """Parse, check, relabel and index the samples; log statistics (called by ``full_init``)."""
        self.require_dir(self.data_root, 'data root')
        samples = self.parse_samples()
        if self.combineall:
            samples = self._combine_all(samples)
        if self.check_image_headers:
            samples = self._check_image_headers(samples)
        if self.check_images:
            samples = self._drop_or_raise_bad_images(samples)
        self._check_duplicates(samples)
        if not samples:
            raise ValueError(f'{type(self).__name__}: split {self.split!r} yields zero samples under '
                             f'{self.data_root!r}; expected layout:\n{self.LAYOUT}')
        pids = sorted({s['pid'] for s in samples if s['pid'] >= 0})
        if not pids:
            raise ValueError(f'{type(self).__name__}: split {self.split!r} under {self.data_root!r} has no '
                             f'person ids (all samples are junk)')
        pid2label = {pid: label for label, pid in enumerate(pids)} if self.is_train else None
        data_list = [self._to_data_info(s, pid2label, idx) for idx, s in enumerate(samples)]
        if self.is_train:
            self._metainfo['num_classes'] = len(pids)
        self._metainfo['dataset_name'] = self.DATASET_NAME
        self._metainfo['split'] = self.split
        if self.verbose:
            logger = MMLogger.get_current_instance()
            logger.info(self.statistics_table(data_list))
            logger.info(verdict_line(self, data_list))  # official / demo counts, from what was read above
        return data_list

    def _combine_all(self, train_samples):
        """Training samples plus the query and gallery samples of the ``'test'`` split, as new ids (``combineall``).

        As torchreid's ``combine_all``: the test ids (sorted) are numbered after the largest training id, so that a
        test id equal to a training id is another person; junk ids are left out.
        """
        name = type(self).__name__
        if 'test' not in self.SPLITS:
            raise ValueError(f'{name}: combineall=True needs a \'test\' split; this data set has {self.SPLITS}')
        self.split = 'test'
        try:
            test_samples = self.parse_samples()
        finally:
            self.split = 'train'
        if any(s['modality'] == 'text' for s in test_samples):
            raise ValueError(f'{name}: combineall=True is defined for image and visible-infrared data sets '
                             "(torchreid's meaning); the test split of a text-image set queries with captions")
        kept = [s for s in test_samples if s['pid'] >= 0 and s['pid'] not in self.COMBINEALL_JUNK_PIDS]
        first_new = 1 + max((s['pid'] for s in train_samples), default=-1)
        new_id = {pid: first_new + k for k, pid in enumerate(sorted({s['pid'] for s in kept}))}
        return train_samples + [dict(s, pid=new_id[s['pid']], split_role='train') for s in kept]

    def _to_data_info(self, sample, pid2label, idx):
        unknown = set(sample) - set(SAMPLE_KEYS) - {'pid'}
        if unknown:
            raise KeyError(f'{type(self).__name__}: parser produced unknown keys {sorted(unknown)}')
        if sample['modality'] not in MODALITIES or sample['split_role'] not in SPLIT_ROLES:
            raise ValueError(f'{type(self).__name__}: bad modality/split_role in {sample}')
        info = {k: sample[k] for k in SAMPLE_KEYS if k in sample}
        info['gt_label'] = pid2label[sample['pid']] if pid2label is not None else int(sample['pid'])
        info.setdefault('camid', -1)
        info['sample_idx'] = idx
        return info

    def _check_image_headers(self, samples):
        """Raise (or drop, with ``skip_bad_images``) on unreadable image files; warn once about tiny images.

        Runs inside ``load_data_list``, i.e. once per process that builds the data set (mmengine calls it from
        ``full_init`` only): dataloader workers receive the parsed list (forked or unpickled), never re-check.
        """
        paths = sorted({s['img_path'] for s in samples if s.get('img_path')})
        sizes = read_image_sizes(paths)
        bad = [(p, size) for p, size in zip(paths, sizes) if isinstance(size, str)]
        tiny = [(p, f'{size[0]}x{size[1]} px') for p, size in zip(paths, sizes)
                if not isinstance(size, str) and min(size) < self.min_image_side]
        name, logger = type(self).__name__, MMLogger.get_current_instance()
        if bad and not self.skip_bad_images:
            raise OSError(f'{name}: {len(bad)} of the {len(paths)} images of split {self.split!r} cannot be read: '
                          f'{describe_files(bad, len(bad))}. Replace or delete them (training would stop when the '
                          f'sampler reaches one), or pass skip_bad_images=True to drop them with a warning.')
        if bad:
            logger.warning(f'{name}: skipped {len(bad)} unreadable image(s) of split {self.split!r}: '
                           f'{describe_files(bad, len(bad))}')
            unreadable = {p for p, _ in bad}
            samples = [s for s in samples if s.get('img_path') not in unreadable]
        if tiny:
            logger.warning(f'{name}: {len(tiny)} of the {len(paths)} images of split {self.split!r} are smaller '
                           f'than min_image_side={self.min_image_side} px on a side and get upscaled to the input '
                           f'size: {describe_files(tiny, len(tiny))}. Remove them, or set min_image_side=0 to '
                           f'keep them without this warning.')
        return samples

    def _check_duplicates(self, samples):
        """Raise (or warn, with ``allow_duplicates``) on partial name matches and byte-identical images."""
        self.identical_images = find_identical_files(s['img_path'] for s in samples if s.get('img_path'))
        if not self.partial_names and not self.identical_images:
            return
        roles = {s['img_path']: s['split_role'] for s in samples if s.get('img_path')}
        problems = []
        if self.partial_names:
            problems.append(f'{len(self.partial_names)} file name(s) the layout matches only in part (trailing '
                            f'text after the expected name, e.g. a copy): {describe_paths(self.partial_names)}')
        if self.identical_images:
            groups = '; '.join(' = '.join(g) for g in self.identical_images[:3])
            more = f' (+{len(self.identical_images) - 3} more groups)' if len(self.identical_images) > 3 else ''
            problems.append(f'{len(self.identical_images)} group(s) of byte-identical images: {groups}{more}')
            crossing = [g for g in self.identical_images if {roles[p] for p in g} >= {'query', 'gallery'}]
            if crossing:
                query = next(p for p in crossing[0] if roles[p] == 'query')
                gallery = next(p for p in crossing[0] if roles[p] == 'gallery')
                problems.append(f'{len(crossing)} query image(s) also in the gallery (each is found at rank 1 by '
                                f'itself), e.g. query image {query} is also in the gallery as {gallery}')
        message = f'{type(self).__name__}: split {self.split!r}: ' + '; '.join(problems)
        if not self.allow_duplicates:
            raise ValueError(f'{message}. Delete or rename the copies, or pass allow_duplicates=True to the data '
                             'set to keep them with a warning.')
        MMLogger.get_current_instance().warning(f'{message} (kept: allow_duplicates=True)')

    def _drop_or_raise_bad_images(self, samples):
        import cv2  # local: only needed when checking images
        kept, bad = [], []
        for s in samples:
            path = s.get('img_path')
            if path is not None and cv2.imread(path, cv2.IMREAD_UNCHANGED) is None:
                if not self.skip_bad_images:
                    raise OSError(f'{type(self).__name__}: unreadable or corrupt image: {path} '
                                  f'(pass skip_bad_images=True to drop such images with a warning)')
                bad.append(path)
                continue
            kept.append(s)
        if bad:
            MMLogger.get_current_instance().warning(
                f'{type(self).__name__}: skipped {len(bad)} unreadable image(s), e.g. {bad[0]}')
        return kept

    # ------------------------------------------------------------------ statistics
    def statistics_table(self, data_list=None):
        """torchreid-style table: one row per (split_role, modality) subset.

        Columns: ``# ids | # images | # cameras`` and ``# captions`` when the data set has captions.
        """
        if data_list is None:  # self.data_list is emptied when the data list is serialised
            data_list = [self.get_data_info(i) for i in range(len(self))]
        groups = OrderedDict()
        for info in data_list:
            key = info['split_role']
            if info['modality'] not in ('image', 'text'):
                key = f"{key} ({info['modality']})"
            elif info['modality'] == 'text' and info['split_role'] == 'query':
                key = 'query (text)'
            groups.setdefault(key, []).append(info)
        with_captions = any('caption' in i for i in data_list)
        with_cameras = any(i.get('camid', -1) >= 0 for i in data_list)
        header = (['subset', '# ids', '# images'] + (['# cameras'] if with_cameras else [])
                  + (['# captions'] if with_captions else []))
        rows = []
        for key, infos in groups.items():
            images = {i['img_path'] for i in infos if 'img_path' in i}
            row = [key, len({i['gt_label'] for i in infos}), len(images)]
            if with_cameras:
                row.append(len({i['camid'] for i in infos if i.get('camid', -1) >= 0}))
            if with_captions:
                row.append(sum('caption' in i for i in infos))
            rows.append(row)
        widths = [max(len(str(r[c])) for r in [header] + rows) for c in range(len(header))]
        fmt = lambda r: '  ' + ' | '.join(  # noqa: E731
            str(v).ljust(w) if c == 0 else str(v).rjust(w) for c, (v, w) in enumerate(zip(r, widths)))
        line = '  ' + '-' * (sum(widths) + 3 * (len(widths) - 1))
        body = [fmt(r) for r in rows]
        return '\n'.join([f'=> Loaded {type(self).__name__} (split={self.split!r}, root={self.data_root})',
                          line, fmt(header), line, *body, line])

    # ------------------------------------------------------------------ accessors for samplers / metrics
    def get_gt_labels(self):
        """Person ids of all samples, shape (N,)."""
        return np.array([self.get_data_info(i)['gt_label'] for i in range(len(self))], dtype=np.int64)

    def get_modalities(self):
        """Modality string of all samples, list of length N."""
        return [self.get_data_info(i)['modality'] for i in range(len(self))]


@contextlib.contextmanager
def seeded_random_state(seed):
    """Seed ``random``, ``numpy`` and ``torch`` (CPU) with ``seed`` inside the block; restore them after (the
    main process's draws, e.g. dropout with ``num_workers=0``, go on as if the block had not run)."""
    py_state, np_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)
