"""LLCM low-light visible-infrared ReID (Zhang & Wang, "Diverse Embedding Expansion Network and Low-Light
Cross-Modality Benchmark", CVPR 2023), read as the authors' code reads it (github.com/ZYK100/LLCM, ``DEEN/``).

Training: ``LLCMData`` of ``DEEN/data_loader.py`` (``idx/train_vis.txt`` / ``idx/train_nir.txt``, "path label"
lines). Test: ``process_query_llcm`` / ``process_gallery_llcm`` of ``DEEN/data_manager.py`` (the ids of
``idx/test_id.txt``, the images of ``test_vis/cam<k>/<pid>/`` and ``test_nir/cam<k>/<pid>/``). The authors'
camera id of an image is the number ``k`` of its ``cam<k>`` folder in *both* modalities (one site, one RGB/IR
camera); the data contract stores it 0-based (``k - 1``), so the evaluation's camera rule (a query ignores the
gallery images of its own identity and camera number) compares the same numbers.
"""
import os.path as osp
import re

from mmpretrain.registry import DATASETS

from .base import ReIDBaseDataset

#: cameras of the authors' test lists (1-based, in their order): visible cam1..cam9, infrared without cam3
LLCM_VISIBLE_CAMERAS = (1, 2, 3, 4, 5, 6, 7, 8, 9)
LLCM_INFRARED_CAMERAS = (1, 2, 4, 5, 6, 7, 8, 9)
#: modality -> (test folder, file-list tag)
LLCM_FOLDERS = {'visible': ('test_vis', 'vis'), 'infrared': ('test_nir', 'nir')}
#: camera of a training file name, ``0001_c05_s185535_f7010_vis.jpg`` -> 5
CAMERA_PATTERN = re.compile(r'_c(\d+)_')


@DATASETS.register_module()
class LLCM(ReIDBaseDataset):
    """LLCM: 1,064 ids, 9 RGB/IR cameras; 713 training ids, 351 test ids (``idx/test_id.txt``).

    ``split='train'``: the images of ``idx/train_vis.txt`` (``modality='visible'``) and ``idx/train_nir.txt``
    (``'infrared'``), ids = the label column (as ``LLCMData``), camera from the file name (``_c05_`` -> 4).
    ``split='test'``: every image of ``test_vis/cam1..9/<pid>/`` and ``test_nir/cam1..9/<pid>/`` of the test
    ids, infrared ``split_role='query'``, visible ``'gallery'`` candidates; ``ReIDMetric(protocol='llcm')``
    chooses the cameras, the direction and the gallery draws of the authors' evaluation.

    Args:
        data_root (str): the LLCM root (see :attr:`LAYOUT`).
        split (str): ``'train'`` or ``'test'``.
        **kwargs: see :class:`~plugins.core.datasets.base.ReIDBaseDataset`.
    """

    DATASET_NAME = 'llcm'
    LAYOUT = """\
    data_root/                      (e.g. data/llcm = LLCM)
    |-- idx/
    |   |-- train_vis.txt           lines "vis/0001/0001_c01_s185535_f7010_vis.jpg 0"  (path, label)
    |   |-- train_nir.txt           lines "nir/0001/0001_c01_s185535_f7010_nir.jpg 0"
    |   `-- test_id.txt             one line of comma-separated test ids
    |-- vis/{pid:04d}/  nir/{pid:04d}/          training images (the paths of the lists)
    |-- test_vis/cam{1..9}/{pid:04d}/*.jpg      test images, visible
    `-- test_nir/cam{1,2,4..9}/{pid:04d}/*.jpg  test images, infrared"""

    def read_train_list(self, name, modality):
        """Samples of ``idx/<name>`` ("relative/path label" lines); every listed image must exist."""
        path = self.require_file(osp.join(self.data_root, 'idx', name), 'training list')
        samples = []
        for rel_path, img_path, label in self.read_path_label_list(path):
            cam = CAMERA_PATTERN.search(osp.basename(rel_path))
            samples.append(dict(pid=label, img_path=img_path, camid=int(cam.group(1)) - 1 if cam else -1,
                                modality=modality, split_role='train'))
        return samples

    def read_test_ids(self):
        """Ids of ``idx/test_id.txt``: the comma-separated first line (``process_query_llcm``)."""
        path = self.require_file(osp.join(self.data_root, 'idx', 'test_id.txt'), 'test id file')
        with open(path) as f:
            first = f.read().splitlines()[:1]
        try:
            ids = [int(tok) for tok in (first[0] if first else '').split(',') if tok.strip()]
        except ValueError as err:
            raise ValueError(f'LLCM: {path} must hold comma-separated integer ids on its first line ({err})') from None
        if not ids:
            raise ValueError(f'LLCM: {path} lists no ids')
        return sorted(set(ids))

    def test_samples(self):
        for folder, _ in LLCM_FOLDERS.values():
            self.require_dir(osp.join(self.data_root, folder), 'test image folder')
        samples = []
        for pid in self.read_test_ids():
            found = []
            for modality, (folder, _) in LLCM_FOLDERS.items():
                role = 'query' if modality == 'infrared' else 'gallery'
                for cam in LLCM_VISIBLE_CAMERAS:  # every cam<k> folder; the protocol picks the authors' cameras
                    person = osp.join(self.data_root, folder, f'cam{cam}', f'{pid:04d}')
                    if osp.isdir(person):  # not every person was seen by every camera
                        found += [dict(pid=pid, img_path=p, camid=cam - 1, modality=modality, split_role=role)
                                  for p in self.list_images(person)]
            if not found:
                raise ValueError(f'LLCM: test id {pid} of idx/test_id.txt has no images: test_vis/cam*/{pid:04d}/ '
                                 f'and test_nir/cam*/{pid:04d}/ are missing or empty under {self.data_root}')
            samples += found
        return samples

    def parse_samples(self):
        if not self.is_train:
            return self.test_samples()
        return self.read_train_list('train_vis.txt', 'visible') + self.read_train_list('train_nir.txt', 'infrared')
