"""CUHK03 with the new protocol (CUHK03-NP, Zhong et al., CVPR 2017), labeled or detected boxes."""
import os.path as osp

from mmpretrain.registry import DATASETS

from .market_layout import MarketLayoutDataset


@DATASETS.register_module()
class CUHK03NP(MarketLayoutDataset):
    """CUHK03-NP: 767 training ids / 700 test ids, 2 cameras per id, Market-style folders of ``.png`` images.

    Args:
        data_root (str): folder holding ``cuhk03-np/`` (or the ``cuhk03-np`` folder itself), see :attr:`LAYOUT`.
        split (str): ``'train'`` or ``'test'`` (query + gallery).
        variant (str): ``'labeled'`` (hand-drawn boxes) or ``'detected'`` (DPM boxes).
        **kwargs: see :class:`~plugins.core.datasets.base.ReIDBaseDataset`.
    """

    DATASET_NAME = 'cuhk03-np'
    EXTENSION = '.png'
    NUM_CAMERAS = 2
    ARCHIVE_DIR = 'cuhk03-np'
    VARIANTS = ('labeled', 'detected')
    LAYOUT = """\
    data_root/                      (e.g. data/cuhk03)
    `-- cuhk03-np/                  (optional level: labeled/ and detected/ may also sit directly in data_root)
        |-- labeled/
        |   |-- bounding_box_train/ 0001_c1_1.png ...
        |   |-- bounding_box_test/
        |   `-- query/
        `-- detected/               (same three folders)"""

    def __init__(self, data_root, split='train', variant='labeled', **kwargs):
        if variant not in self.VARIANTS:
            raise ValueError(f'CUHK03NP: variant must be one of {self.VARIANTS}, got {variant!r}')
        self.variant = variant
        super().__init__(data_root, split=split, **kwargs)

    def layout_root(self):
        return osp.join(super().layout_root(), self.variant)
