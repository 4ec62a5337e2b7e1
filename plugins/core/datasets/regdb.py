"""RegDB visible-thermal ReID (Nguyen et al., Sensors 2017) with the 10 standard train/test trials."""
import os.path as osp

from mmpretrain.registry import DATASETS

from .base import ReIDBaseDataset


@DATASETS.register_module()
class RegDB(ReIDBaseDataset):
    """RegDB: 412 ids x (10 visible + 10 thermal) ``.bmp`` images; 206/206 id split per trial from ``idx/``.

    Samples come from ``idx/{split}_{visible,thermal}_{trial}.txt`` ("relative/path label" lines, as the
    DDAG/AGW/CAJ loaders read them); ids are the label column. The test split yields the visible images with
    ``split_role='query'`` and the thermal images with ``split_role='gallery'`` (visible->thermal, the default
    direction); ``ReIDMetric(protocol='regdb')`` swaps them for thermal->visible. Cameras: visible 0, thermal 1.

    Args:
        data_root (str): the RegDB root (see :attr:`LAYOUT`).
        split (str): ``'train'`` or ``'test'``.
        trial (int): which of the 10 splits (1..10).
        **kwargs: see :class:`~plugins.core.datasets.base.ReIDBaseDataset`.
    """

    DATASET_NAME = 'regdb'
    MODALITIES = (('visible', 'visible', 0, 'query'), ('thermal', 'infrared', 1, 'gallery'))
    LAYOUT = """\
    data_root/                      (e.g. data/regdb = RegDB)
    |-- Visible/{pid}/*.bmp         e.g. Visible/1/female_back_v_06412_1.bmp
    |-- Thermal/{pid}/*.bmp
    `-- idx/
        |-- train_visible_{1..10}.txt   lines "Visible/1/female_back_v_06412_1.bmp 0"
        |-- train_thermal_{1..10}.txt
        |-- test_visible_{1..10}.txt
        `-- test_thermal_{1..10}.txt"""

    def __init__(self, data_root, split='train', trial=1, **kwargs):
        if int(trial) not in range(1, 11):
            raise ValueError(f'RegDB: trial must be in 1..10, got {trial!r}')
        self.trial = int(trial)
        super().__init__(data_root, split=split, **kwargs)

    def read_list(self, name):
        """``[(absolute image path, label)]`` of ``idx/<name>``; every listed image must exist."""
        path = self.require_file(osp.join(self.data_root, 'idx', name), 'split file')
        return [(img_path, label) for _, img_path, label in self.read_path_label_list(path)]

    def parse_samples(self):
        samples = []
        for file_tag, modality, camid, test_role in self.MODALITIES:
            role = 'train' if self.is_train else test_role
            for img_path, label in self.read_list(f'{self.split}_{file_tag}_{self.trial}.txt'):
                samples.append(dict(pid=label, img_path=img_path, camid=camid, modality=modality, split_role=role))
        return samples
