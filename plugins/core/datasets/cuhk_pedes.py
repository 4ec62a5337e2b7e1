"""CUHK-PEDES text-based person search (Li et al., CVPR 2017), read like IRRA's ``datasets/cuhkpedes.py``.

Two annotation files circulate, and a user receives one of them:

- ``reid_raw.json`` (the authors' README, Google Drive link): records with a ``split`` key (and
  ``processed_tokens``), what IRRA / SSAN / TextReID read;
- ``caption_all.json`` (the archive sent by the authors on request): the same ``id`` / ``file_path`` /
  ``captions`` records *without* ``split`` (ShuangLI59/Person-Search-with-Natural-Language-Description issue #5).
  Its split is the official one by person id, as reid_raw.json and the paper define it (train 11,003 persons,
  val and test the last 2 x 1,000; layumi/Image-Text-Embedding ``prepare_imdb.m``: "final 2000 id as val and
  test, as in the official split"): :data:`OFFICIAL_ID_SPLITS`.
"""
import os.path as osp

from mmengine.logging import MMLogger
from mmpretrain.registry import DATASETS

from .text_image import TextImageDataset

#: the official split by (1-based) person id: (split, first id, last id), both ends included. Published counts:
#: train 11,003 ids / 34,054 images / 68,126 captions; val 1,000 / 3,078 / 6,158; test 1,000 / 3,074 / 6,156.
OFFICIAL_ID_SPLITS = (('train', 1, 11003), ('val', 11004, 12003), ('test', 12004, 13003))
#: the annotation file without a split key
CAPTION_ALL = 'caption_all.json'


def official_split_of(pid):
    """The split of CUHK-PEDES person id ``pid`` (1-based) by :data:`OFFICIAL_ID_SPLITS`, or None outside them."""
    return next((split for split, first, last in OFFICIAL_ID_SPLITS if first <= pid <= last), None)


@DATASETS.register_module()
class CUHKPEDES(TextImageDataset):
    """CUHK-PEDES: 13,003 ids, 40,206 images, 2 captions per image; splits train / val / test.

    Reads ``reid_raw.json`` (its ``split`` key) or, when that file is absent, ``caption_all.json`` (split by
    person id, :data:`OFFICIAL_ID_SPLITS`); neither is an error naming both and the expected layout.

    Args:
        data_root (str): the CUHK-PEDES root (see :attr:`LAYOUT`).
        split (str): ``'train'``, ``'val'`` or ``'test'``.
        **kwargs: see :class:`~plugins.core.datasets.base.ReIDBaseDataset`.
    """

    DATASET_NAME = 'cuhk-pedes'
    SPLITS = ('train', 'val', 'test')
    ANN_FILES = ('reid_raw.json', CAPTION_ALL)
    PATH_KEY = 'file_path'
    LAYOUT = """\
    data_root/                      (e.g. data/cuhk-pedes = CUHK-PEDES)
    |-- reid_raw.json               [{"split": "train", "captions": [...], "file_path": "CUHK01/0363004.png",
    |                                 "processed_tokens": [...], "id": 1}, ...]   (id is 1-based)
    |   or caption_all.json         [{"id": 1, "file_path": "CUHK01/0363004.png", "captions": [...]}, ...]
    |                                 (no split key: ids 1-11003 train, 11004-12003 val, 12004-13003 test)
    `-- imgs/                       CUHK01/ CUHK03/ Market/ test_query/ train_query/"""

    split_by_id = False  #: set by :meth:`find_ann_file`: the file is caption_all.json

    def find_ann_file(self):
        path = super().find_ann_file()
        self.split_by_id = osp.basename(path) == CAPTION_ALL
        if self.split_by_id and self.verbose:
            MMLogger.get_current_instance().info(
                f'CUHKPEDES: {path} has no split key; split {self.split!r} = person ids '
                + ', '.join(f'{s} {a}-{b}' for s, a, b in OFFICIAL_ID_SPLITS) + ' (the official split)')
        return path

    @property
    def required_keys(self):
        keys = ('id', 'captions', self.PATH_KEY)
        return keys if self.split_by_id else ('id', 'split') + keys

    def record_split(self, ann_file, idx, record):
        if not self.split_by_id:
            return record['split']
        split = official_split_of(int(record['id']))
        if split is None:
            raise ValueError(f'CUHKPEDES: {ann_file} record {idx}: id {record["id"]} is outside the official ids '
                             f'{OFFICIAL_ID_SPLITS[0][1]}-{OFFICIAL_ID_SPLITS[-1][2]}, so its split is unknown '
                             '(caption_all.json has no split key)')
        return split
