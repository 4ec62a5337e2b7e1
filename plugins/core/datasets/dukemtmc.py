"""DukeMTMC-reID (Ristani et al., ECCVW 2016; Zheng et al., ICCV 2017)."""
from mmpretrain.registry import DATASETS

from .market_layout import MarketLayoutDataset


@DATASETS.register_module()
class DukeMTMCReID(MarketLayoutDataset):
    """DukeMTMC-reID: 1,404 ids + 408 gallery distractor ids, 8 cameras, names ``0005_c2_f0046985.jpg``.

    Args:
        data_root (str): the DukeMTMC-reID root (see :attr:`LAYOUT`).
        split (str): ``'train'`` (702 ids relabelled) or ``'test'`` (query + gallery).
        **kwargs: see :class:`~plugins.core.datasets.base.ReIDBaseDataset`.
    """

    DATASET_NAME = 'dukemtmc-reid'
    EXTENSION = '.jpg'
    NUM_CAMERAS = 8
    ARCHIVE_DIR = 'DukeMTMC-reID'
    LAYOUT = """\
    data_root/                      (e.g. data/dukemtmc-reid)
    `-- DukeMTMC-reID/              (optional level: the folders below may also sit directly in data_root)
        |-- bounding_box_train/     0001_c2_f0046182.jpg ...
        |-- bounding_box_test/      0002_c1_f0044158.jpg ...
        `-- query/                  0005_c2_f0046985.jpg ..."""
