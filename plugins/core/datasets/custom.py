"""A user's own data: folders of identity sub-folders or annotation files, cameras optional.

Two registered data sets, in the spirit of mmpretrain's ``CustomDataset``:

- :class:`CustomReIDDataset` (image or visible-infrared): ``data_root/{train,query,gallery}/<person id>/<image>``
  or one annotation file per split part (``train.txt`` / ``train.csv`` ...) with a path, a person id and
  optionally a camera id and a modality;
- :class:`CustomTextImageDataset` (text-image person search): ``train`` / ``test`` annotation files with a path,
  a person id and a caption per row (or a JSON list of records), several captions per image.

Without camera ids the ``'market'`` protocol removes only the query image itself from its gallery
(:class:`~plugins.core.evaluation.protocols.MarketProtocol`), see ``docs/custom_data.md``.
"""
import csv
import os
import os.path as osp
import re
from collections import OrderedDict

from mmpretrain.registry import DATASETS

from .base import IMG_EXTENSIONS, ReIDBaseDataset
from .duplicates import describe_paths
from .text_image import TextImageDataset

#: Spellings accepted in a ``modality`` column, mapped to the data contract's names.
MODALITY_NAMES = {'visible': 'visible', 'rgb': 'visible', 'vis': 'visible', 'infrared': 'infrared',
                  'ir': 'infrared', 'thermal': 'infrared', 'image': 'image'}
#: Accepted column names of a CSV header (first name = the key used here).
COLUMNS = {'path': ('path', 'img_path', 'file_path', 'image', 'filename'), 'pid': ('pid', 'id', 'person_id', 'label'),
           'camid': ('camid', 'cam', 'camera'), 'modality': ('modality',), 'caption': ('caption', 'captions', 'text')}


def read_table(path, columns, owner):
    """Rows of an annotation file as dicts keyed by :data:`COLUMNS` names, with ``line`` (1-based).

    ``.csv``: a header row names the columns (any order; names of :data:`COLUMNS`). ``.txt`` (or any other):
    whitespace-separated ``columns`` in that order; the last column takes the rest of the line (captions hold
    spaces), and trailing optional columns may be absent.
    """
    rows = []
    with open(path, newline='') as f:
        if path.lower().endswith('.csv'):
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                raise ValueError(f'{owner}: {path} is empty (expected a header row naming the columns)')
            names = {}
            for j, name in enumerate(h.strip().lower() for h in header):
                key = next((k for k, aliases in COLUMNS.items() if name in aliases), None)
                if key is not None:
                    names[j] = key
            missing = [c for c in ('path', 'pid') if c not in names.values()]
            if missing:
                raise ValueError(f'{owner}: {path}: the header {header} has no {missing} column (accepted names: '
                                 f'{ {c: COLUMNS[c] for c in missing} })')
            for line_no, values in enumerate(reader, 2):
                if not any(v.strip() for v in values):
                    continue
                row = {key: values[j].strip() for j, key in names.items() if j < len(values) and values[j].strip()}
                rows.append(dict(row, line=line_no))
            return rows
        for line_no, line in enumerate(f, 1):
            if not line.strip() or line.lstrip().startswith('#'):
                continue
            values = line.strip().split(None, len(columns) - 1)
            rows.append(dict(zip(columns, values), line=line_no))
    return rows


def parse_pid(value, where):
    """An integer person id, or ValueError naming ``where``."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f'{where}: person id {value!r} is not an integer') from None


def relative_image_path(data_root, value, where):
    """Absolute path of an annotation's image (relative to ``data_root`` unless absolute); it must exist."""
    path = value if osp.isabs(value) else osp.join(data_root, value)
    if not osp.isfile(path):
        raise FileNotFoundError(f'{where}: image {path} does not exist')
    return path


@DATASETS.register_module()
class CustomReIDDataset(ReIDBaseDataset):
    """A folder of one's own person crops (or annotation files), camera ids optional.

    Each split part (``train``; ``query`` and ``gallery`` for ``split='test'``) is read from the first that exists:

    1. ``ann_files[part]`` (a path relative to ``data_root`` or absolute), else ``data_root/<part>.csv``, else
       ``data_root/<part>.txt``: an annotation file. ``.txt``: lines ``relative/path pid [camid [modality]]``;
       ``.csv``: a header naming ``path``, ``pid`` and optionally ``camid``, ``modality`` (any order).
    2. ``data_root/<part>/<person id>/<image>``: one sub-folder per person (any image extension of
       ``IMG_EXTENSIONS``, any file names, nested folders below the person folder included).

    Person ids: integer folder names / column values are used as they are; when some folder name is not an
    integer, the names of the split are numbered in sorted order (the same name in query and gallery gets the
    same id). Camera ids: the ``camid`` column, else ``camera_regex`` (its first group, an integer, searched in
    the file name), else none (``camid=-1``). Some samples with and some without a camera is an error naming the
    first offenders: the protocol needs one rule for all of them. Modality: the ``modality`` column (``visible``
    / ``infrared``, also ``rgb`` / ``ir`` / ``thermal``) or ``modality`` for every sample.

    Args:
        data_root (str): root of the data (see :attr:`LAYOUT`).
        split (str): ``'train'`` or ``'test'`` (query + gallery).
        ann_files (dict, optional): ``{part: annotation file}`` overriding the file look-up above.
        camera_regex (str, optional): regex whose first group is the camera id in a file name, e.g. ``r'_c(\\d+)'``.
        modality (str): modality of samples without a ``modality`` column: ``'image'`` (default), ``'visible'``
            or ``'infrared'``.
        **kwargs: see :class:`~plugins.core.datasets.base.ReIDBaseDataset`.
    """

    DATASET_NAME = 'custom'
    PARTS = dict(train=('train',), test=('query', 'gallery'))
    ANN_COLUMNS = ('path', 'pid', 'camid', 'modality')
    LAYOUT = """\
    data_root/                      (e.g. data/my_crops)
    |-- train/<person id>/*.jpg     one folder per person: 0001/a.jpg, alice/xyz.png, ... (any names)
    |-- query/<person id>/*.jpg     the test ids; the same person folder name in query/ and gallery/
    `-- gallery/<person id>/*.jpg
    or annotation files instead of a folder:
    |-- train.txt                   lines "relative/path.jpg pid [camid [visible|infrared]]"
    |-- query.csv                   or CSV with a header: path,pid[,camid][,modality]
    `-- gallery.csv"""

    def __init__(self, data_root, split='train', ann_files=None, camera_regex=None, modality='image', **kwargs):
        self.ann_files = dict(ann_files or {})
        self.camera_regex = re.compile(camera_regex) if camera_regex else None
        if self.camera_regex is not None and self.camera_regex.groups < 1:
            raise ValueError(f'CustomReIDDataset: camera_regex {camera_regex!r} needs a group, e.g. r"_c(\\d+)"')
        if MODALITY_NAMES.get(modality) != modality:
            raise ValueError(f"CustomReIDDataset: modality must be 'image', 'visible' or 'infrared', got {modality!r}")
        self.default_modality = modality
        super().__init__(data_root, split=split, **kwargs)

    # ------------------------------------------------------------------ parsing
    def parse_samples(self):
        parts = [(part, self.read_part(part)) for part in self.PARTS[self.split]]
        names = sorted({name for _, rows in parts for name, _ in rows})
        numeric = all(re.fullmatch(r'-?\d+', n) for n in names)
        pid_of = {n: int(n) if numeric else i for i, n in enumerate(names)}
        samples = []
        for part, rows in parts:
            role = 'train' if self.is_train else part
            for name, row in rows:
                samples.append(dict(pid=pid_of[name], img_path=row['path'], camid=self._camera(row),
                                    modality=row.get('modality', self.default_modality), split_role=role))
        self._check_cameras(samples)
        return samples

    def read_part(self, part):
        """``[(person name, row)]`` of one split part; rows hold ``path`` (absolute) and optional ``camid`` /
        ``modality``."""
        ann = self.ann_files.get(part)
        if ann is None:
            ann = next((osp.join(self.data_root, f'{part}{ext}') for ext in ('.csv', '.txt')
                        if osp.isfile(osp.join(self.data_root, f'{part}{ext}'))), None)
        elif not osp.isabs(ann):
            ann = osp.join(self.data_root, ann)
        if ann is not None:
            return self._read_annotations(self.require_file(ann, f'annotation file of {part!r}'))
        folder = osp.join(self.data_root, part)
        if not osp.isdir(folder):
            raise self.layout_error(folder, f'{part!r} folder (or {part}.txt / {part}.csv annotation file)')
        return self._read_folder(folder)

    def _read_folder(self, folder):
        rows = []
        for name in sorted(os.listdir(folder)):
            person = osp.join(folder, name)
            if name.startswith('.') or not osp.isdir(person):  # .ipynb_checkpoints, notes.txt: not a person
                if osp.isfile(person):
                    self.skipped_files.append(person)
                continue
            for dirpath, dirnames, files in os.walk(person):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith('.'))
                for f in sorted(files):
                    path = osp.join(dirpath, f)
                    if f.lower().endswith(IMG_EXTENSIONS) and not f.startswith('.'):
                        rows.append((name, dict(path=path)))
                    else:  # listed by tools/dataset_stats.py
                        self.skipped_files.append(path)
        if not rows:
            raise ValueError(f'CustomReIDDataset: no images in person folders under {folder}; expected layout:\n'
                             f'{self.LAYOUT}')
        return rows

    def _read_annotations(self, path):
        rows = []
        for row in read_table(path, self.ANN_COLUMNS, 'CustomReIDDataset'):
            where = f"CustomReIDDataset: {path}:{row['line']}"
            if 'path' not in row or 'pid' not in row:
                raise ValueError(f'{where}: expected "relative/path pid [camid [modality]]"')
            row['path'] = relative_image_path(self.data_root, row['path'], where)
            name = str(parse_pid(row.pop('pid'), where))
            if 'camid' in row:
                row['camid'] = parse_pid(row['camid'], where.replace('person id', 'camera id'))
            if 'modality' in row:
                if row['modality'].lower() not in MODALITY_NAMES:
                    raise ValueError(f"{where}: modality {row['modality']!r} is not one of {sorted(MODALITY_NAMES)}")
                row['modality'] = MODALITY_NAMES[row['modality'].lower()]
            rows.append((name, row))
        if not rows:
            raise ValueError(f'CustomReIDDataset: annotation file {path} lists no images')
        return rows

    def _camera(self, row):
        if 'camid' in row:
            return int(row['camid'])
        if self.camera_regex is not None:
            match = self.camera_regex.search(osp.basename(row['path']))
            if match is not None:
                return int(match.group(1))
        return -1

    def _check_cameras(self, samples):
        without = [s['img_path'] for s in samples if s['camid'] < 0]
        if without and len(without) < len(samples):
            source = (f'camera_regex {self.camera_regex.pattern!r} does not match' if self.camera_regex
                      else 'no camid value for')
            raise ValueError(f'CustomReIDDataset: {len(samples) - len(without)} samples of split {self.split!r} '
                             f'have a camera id and {len(without)} have none ({source}: '
                             f'{describe_paths(without)}). Give every sample a camera (the same-camera rule of '
                             'the test protocol needs it) or none.')


@DATASETS.register_module()
class CustomTextImageDataset(TextImageDataset):
    """One's own captioned person crops: an annotation file per split, several captions per image.

    ``data_root/<split>.json`` (a JSON list of ``{"path", "pid", "captions": [...]}`` records; ``file_path`` /
    ``img_path``, ``id`` and a single ``caption`` string are accepted too), else ``<split>.csv`` (header
    ``path,pid,caption``), else ``<split>.txt`` (lines ``relative/path pid caption text ...``). Several rows of
    the same image are several captions of it. Samples as :class:`~.text_image.TextImageDataset` yields them
    (training: one per (image, caption); test: images as gallery, captions as queries).

    Args:
        data_root (str): root of the data (see :attr:`LAYOUT`).
        split (str): ``'train'``, ``'val'`` or ``'test'``.
        ann_files (dict, optional): ``{split: annotation file}`` overriding the look-up.
        **kwargs: see :class:`~.text_image.TextImageDataset`.
    """

    DATASET_NAME = 'custom-text'
    SPLITS = ('train', 'val', 'test')
    ANN_COLUMNS = ('path', 'pid', 'caption')
    LAYOUT = """\
    data_root/                      (e.g. data/my_captioned_crops)
    |-- train.json                  [{"path": "imgs/0001/a.jpg", "pid": 1, "captions": ["A man in ...", ...]}, ...]
    |-- test.json                   (or train.csv with a header path,pid,caption / train.txt lines
    |                                "imgs/0001/a.jpg 1 A man in a red coat ..."; one row per caption)
    `-- imgs/ ...                   images anywhere under data_root (paths relative to it)"""

    def __init__(self, data_root, split='train', ann_files=None, **kwargs):
        self.ann_files = dict(ann_files or {})
        super().__init__(data_root, split=split, **kwargs)

    def find_ann_file(self):
        if self.split in self.ann_files:
            path = self.ann_files[self.split]
            return self.require_file(path if osp.isabs(path) else osp.join(self.data_root, path), 'annotation file')
        for ext in ('.json', '.csv', '.txt'):
            path = osp.join(self.data_root, self.split + ext)
            if osp.isfile(path):
                return path
        raise self.layout_error(osp.join(self.data_root, f'{self.split}.json'),
                                f'annotation file of split {self.split!r} ({self.split}.json, .csv or .txt)')

    def load_records(self):
        """``[(record index, pid, absolute image path, captions)]``, captions of one image merged in order."""
        path = self.find_ann_file()
        rows = self._json_rows(path) if path.lower().endswith('.json') else self._table_rows(path)
        merged = OrderedDict()
        for where, pid, img, captions in rows:
            img = relative_image_path(self.data_root, img, where)
            captions = [c.strip() for c in captions]
            if not captions or not all(captions):
                raise ValueError(f'{where}: empty caption')
            if img in merged and merged[img][0] != pid:
                raise ValueError(f'{where}: image {img} has person id {pid} here and {merged[img][0]} before')
            merged.setdefault(img, (pid, []))[1].extend(captions)
        if not merged:
            raise ValueError(f'CustomTextImageDataset: annotation file {path} lists no images')
        return [(i, pid, img, caps) for i, (img, (pid, caps)) in enumerate(merged.items())]

    def _table_rows(self, path):
        rows = []
        for row in read_table(path, self.ANN_COLUMNS, 'CustomTextImageDataset'):
            where = f"CustomTextImageDataset: {path}:{row['line']}"
            if not all(k in row for k in ('path', 'pid', 'caption')):
                raise ValueError(f'{where}: expected "relative/path pid caption text"')
            rows.append((where, parse_pid(row['pid'], where), row['path'], [row['caption']]))
        return rows

    def _json_rows(self, path):
        records = self.read_json_list(path)
        rows = []
        for idx, rec in enumerate(records):
            where = f'CustomTextImageDataset: {path} record {idx}'
            if not isinstance(rec, dict):
                raise ValueError(f'{where} is not a JSON object')
            img = next((rec[k] for k in COLUMNS['path'] if k in rec), None)
            pid = next((rec[k] for k in COLUMNS['pid'] if k in rec), None)
            captions = next((rec[k] for k in COLUMNS['caption'] if k in rec), None)
            if img is None or pid is None or captions is None:
                raise KeyError(f'{where} needs an image path ("path"), a person id ("pid") and "captions" '
                               f'(keys found: {sorted(rec)})')
            captions = [captions] if isinstance(captions, str) else captions
            if not isinstance(captions, list) or not all(isinstance(c, str) for c in captions):
                raise ValueError(f'{where}: "captions" must be a string or a list of strings')
            rows.append((where, parse_pid(pid, where), img, captions))
        return rows
