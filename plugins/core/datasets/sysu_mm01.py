"""SYSU-MM01 visible-infrared ReID (Wu et al., ICCV 2017), parsed like the official/AGW pre-processing."""
import os.path as osp

from mmpretrain.registry import DATASETS

from .base import ReIDBaseDataset
from .sysu_cameras import INFRARED_CAMERAS, VISIBLE_CAMERAS


@DATASETS.register_module()
class SYSUMM01(ReIDBaseDataset):
    """SYSU-MM01: ``cam{1..6}/{pid:04d}/{k:04d}.jpg``; cameras 1, 2, 4, 5 visible, 3 and 6 infrared.

    ``split='train'`` uses the ids of ``exp/train_id.txt`` and ``exp/val_id.txt`` (relabelled, as AGW/CAJ do),
    all six cameras. ``split='test'`` uses ``exp/test_id.txt``: every infrared image (``split_role='query'``)
    and every visible image (``split_role='gallery'``, the candidates from which ``ReIDMetric`` draws the
    single-/multi-shot gallery of each trial).

    Args:
        data_root (str): the SYSU-MM01 root (see :attr:`LAYOUT`).
        split (str): ``'train'`` or ``'test'``.
        **kwargs: see :class:`~plugins.core.datasets.base.ReIDBaseDataset`.
    """

    DATASET_NAME = 'sysu-mm01'
    SPLIT_FILES = dict(train=('train_id.txt', 'val_id.txt'), test=('test_id.txt',))
    LAYOUT = """\
    data_root/                      (e.g. data/sysu-mm01 = SYSU-MM01)
    |-- cam1/ ... cam6/             cam1,2,4,5 visible; cam3,6 infrared
    |   `-- 0001/ 0002/ ...         one folder per person id (only in the cameras that saw them)
    |       `-- 0001.jpg 0002.jpg ...
    `-- exp/
        |-- train_id.txt            one line of comma-separated ids, e.g. 1,2,4,5,7
        |-- val_id.txt
        `-- test_id.txt"""

    def read_ids(self, name):
        """Person ids of ``exp/<name>`` (one comma-separated line)."""
        path = self.require_file(osp.join(self.data_root, 'exp', name), 'split file')
        with open(path) as f:
            text = f.read().strip()
        try:
            ids = [int(tok) for tok in text.replace('\n', ',').split(',') if tok.strip()]
        except ValueError as err:
            raise ValueError(f'SYSUMM01: {path} must hold comma-separated integer ids ({err})') from None
        if not ids:
            raise ValueError(f'SYSUMM01: split file {path} lists no ids')
        return ids

    def parse_samples(self):
        for cam in VISIBLE_CAMERAS + INFRARED_CAMERAS:
            self.require_dir(osp.join(self.data_root, f'cam{cam}'), 'camera folder')
        ids = sorted({pid for name in self.SPLIT_FILES[self.split] for pid in self.read_ids(name)})
        samples = []
        for pid in ids:
            found = []
            for cam in sorted(VISIBLE_CAMERAS + INFRARED_CAMERAS):
                folder = osp.join(self.data_root, f'cam{cam}', f'{pid:04d}')
                if not osp.isdir(folder):  # not every person was seen by every camera
                    continue
                infrared = cam in INFRARED_CAMERAS
                role = 'train' if self.is_train else ('query' if infrared else 'gallery')
                found += [dict(pid=pid, img_path=path, camid=cam - 1, split_role=role,
                               modality='infrared' if infrared else 'visible') for path in self.list_images(folder)]
            if not found:
                raise ValueError(f'SYSUMM01: id {pid} listed in exp/{"/".join(self.SPLIT_FILES[self.split])} has '
                                 f'no images: cam1..cam6/{pid:04d}/ are missing or empty under {self.data_root}')
            samples += found
        return samples
