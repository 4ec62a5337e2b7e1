"""ICFG-PEDES text-based person search (Ding et al., 2021), read like IRRA's ``datasets/icfgpedes.py``."""
from mmpretrain.registry import DATASETS

from .text_image import TextImageDataset


@DATASETS.register_module()
class ICFGPEDES(TextImageDataset):
    """ICFG-PEDES: 4,102 ids, 54,522 images, 1 caption per image; splits train / test.

    Args:
        data_root (str): the ICFG-PEDES root (see :attr:`LAYOUT`).
        split (str): ``'train'`` or ``'test'``.
        **kwargs: see :class:`~plugins.core.datasets.base.ReIDBaseDataset`.
    """

    DATASET_NAME = 'icfg-pedes'
    SPLITS = ('train', 'test')
    ANN_FILES = ('ICFG-PEDES.json', 'ICFG_PEDES.json')
    PATH_KEY = 'file_path'
    LAYOUT = """\
    data_root/                      (e.g. data/icfg-pedes = ICFG-PEDES)
    |-- ICFG-PEDES.json             (or ICFG_PEDES.json) [{"id": 1, "file_path": "train/0001/....jpg",
    |                                 "captions": [...], "split": "train"}, ...]
    `-- imgs/                       train/ test/"""
