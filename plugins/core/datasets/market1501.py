"""Market-1501 (Zheng et al., ICCV 2015)."""
from mmpretrain.registry import DATASETS

from .market_layout import MarketLayoutDataset


@DATASETS.register_module()
class Market1501(MarketLayoutDataset):
    """Market-1501: 1,501 ids, 6 cameras, ``PPPP_cCsS_FFFFFF_BB.jpg`` (pid -1 = junk, 0 = distractor).

    Args:
        data_root (str): the Market-1501 root (see :attr:`LAYOUT`).
        split (str): ``'train'`` (751 ids relabelled 0..750) or ``'test'`` (query + gallery).
        **kwargs: see :class:`~plugins.core.datasets.base.ReIDBaseDataset`.
    """

    DATASET_NAME = 'market1501'
    EXTENSION = '.jpg'
    NUM_CAMERAS = 6
    ARCHIVE_DIR = 'Market-1501-v15.09.15'
    COMBINEALL_JUNK_PIDS = (0,)  # the distractors (torchreid's Market1501._junk_pids)
    LAYOUT = """\
    data_root/                      (e.g. data/market1501)
    `-- Market-1501-v15.09.15/      (optional level: the folders below may also sit directly in data_root)
        |-- bounding_box_train/     0002_c1s1_000451_03.jpg ...
        |-- bounding_box_test/      0000_c1s1_000151_01.jpg (distractor), -1_c1s1_000401_03.jpg (junk) ...
        `-- query/                  0001_c1s1_001051_00.jpg ..."""
