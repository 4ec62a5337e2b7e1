"""CUHK-PEDES text-based person search (Li et al., CVPR 2017), read like IRRA's ``datasets/cuhkpedes.py``."""
from mmpretrain.registry import DATASETS

from .text_image import TextImageDataset


@DATASETS.register_module()
class CUHKPEDES(TextImageDataset):
    """CUHK-PEDES: 13,003 ids, 40,206 images, 2 captions per image; splits train / val / test.

    Args:
        data_root (str): the CUHK-PEDES root (see :attr:`LAYOUT`).
        split (str): ``'train'``, ``'val'`` or ``'test'``.
        **kwargs: see :class:`~plugins.core.datasets.base.ReIDBaseDataset`.
    """

    DATASET_NAME = 'cuhk-pedes'
    SPLITS = ('train', 'val', 'test')
    ANN_FILES = ('reid_raw.json',)
    PATH_KEY = 'file_path'
    LAYOUT = """\
    data_root/                      (e.g. data/cuhk-pedes = CUHK-PEDES)
    |-- reid_raw.json               [{"split": "train", "captions": [...], "file_path": "CUHK01/0363004.png",
    |                                 "processed_tokens": [...], "id": 1}, ...]   (id is 1-based)
    `-- imgs/                       CUHK01/ CUHK03/ Market/ test_query/ train_query/"""
