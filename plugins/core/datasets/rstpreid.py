"""RSTPReid text-based person search (Zhu et al., ACM MM 2021), read like IRRA's ``datasets/rstpreid.py``."""
from mmpretrain.registry import DATASETS

from .text_image import TextImageDataset


@DATASETS.register_module()
class RSTPReid(TextImageDataset):
    """RSTPReid: 4,101 ids, 20,505 images (5 per id), 2 captions per image; splits train / val / test.

    Args:
        data_root (str): the RSTPReid root (see :attr:`LAYOUT`).
        split (str): ``'train'``, ``'val'`` or ``'test'``.
        **kwargs: see :class:`~plugins.core.datasets.base.ReIDBaseDataset`.
    """

    DATASET_NAME = 'rstpreid'
    SPLITS = ('train', 'val', 'test')
    ANN_FILES = ('data_captions.json',)
    PATH_KEY = 'img_path'
    LAYOUT = """\
    data_root/                      (e.g. data/rstpreid = RSTPReid)
    |-- data_captions.json          [{"id": 0, "img_path": "0000_c14_0031.jpg", "captions": [...],
    |                                 "split": "train"}, ...]
    `-- imgs/                       0000_c14_0031.jpg ..."""
