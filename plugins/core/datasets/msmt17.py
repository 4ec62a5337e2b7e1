"""MSMT17 (Wei et al., "Person Transfer GAN", CVPR 2018) read from its list files, V1 and V2 archives.

The reference is torchreid's parser (``torchreid/reid/data/datasets/image/msmt17.py``): ``list_*.txt`` lines
``<pid folder>/<file name> <pid>``, the camera is the third ``_`` field of the file name (1-based), ids are the
list's (no relabelling of query / gallery). As there, ``list_val.txt`` is not trained on (torchreid adds it only
with ``combineall``; published MSMT17 results train on ``list_train.txt``).
"""
import os.path as osp

from mmpretrain.registry import DATASETS

from .base import ReIDBaseDataset

#: archive folder -> (training image folder, test image folder), in torchreid's search order (V1 first)
VERSIONS = {'MSMT17_V1': ('train', 'test'), 'MSMT17_V2': ('mask_train_v2', 'mask_test_v2')}
#: split -> (list file, image folder index in VERSIONS' pair, split_role)
LISTS = dict(train=(('list_train.txt', 0, 'train'), ),
             test=(('list_query.txt', 1, 'query'), ('list_gallery.txt', 1, 'gallery')))
NUM_CAMERAS = 15
#: missing images named in an error before "... and N more"
SHOW_MISSING = 5


@DATASETS.register_module()
class MSMT17(ReIDBaseDataset):
    """MSMT17: 4,101 ids, 15 cameras; ``list_train.txt`` (1,041 ids) / ``list_query.txt`` + ``list_gallery.txt``.

    ``data_root`` holds ``MSMT17_V1/`` or ``MSMT17_V2/`` (torchreid's ``<root>/msmt17`` folder; V1 is taken
    when both are there, as torchreid does), or is that archive folder itself.

    Args:
        data_root (str): the MSMT17 folder (see :attr:`LAYOUT`).
        split (str): ``'train'`` (ids relabelled 0..N-1) or ``'test'`` (query + gallery, original ids).
        version (str, optional): ``'MSMT17_V1'`` or ``'MSMT17_V2'``; None finds the one present.
        **kwargs: see :class:`~plugins.core.datasets.base.ReIDBaseDataset`.
    """

    DATASET_NAME = 'msmt17'
    LAYOUT = """\
    data_root/                      (e.g. data/msmt17, torchreid's <root>/msmt17)
    `-- MSMT17_V1/                  (or MSMT17_V2/, faces blurred; data_root may also be this folder)
        |-- train/0000/0000_000_01_0303morning_0015_0.jpg ...     (V2: mask_train_v2/)
        |-- test/0000/0000_000_01_0303morning_0008_0.jpg ...      (V2: mask_test_v2/)
        |-- list_train.txt          lines "0000/0000_000_01_0303morning_0015_0.jpg 0"  (path under train/, pid)
        |-- list_val.txt            (not used, as in torchreid without combineall)
        |-- list_query.txt          lines "<path under test/> <pid>"
        `-- list_gallery.txt"""

    def __init__(self, data_root, split='train', version=None, **kwargs):
        if version is not None and version not in VERSIONS:
            raise ValueError(f'MSMT17: version must be one of {tuple(VERSIONS)} or None, got {version!r}')
        self.version = version
        super().__init__(data_root, split=split, **kwargs)

    def archive_dir(self):
        """``(folder holding the list files, its version name)``: ``data_root/MSMT17_V*`` or ``data_root``."""
        names = [self.version] if self.version else list(VERSIONS)
        for name in names:
            if osp.isdir(osp.join(self.data_root, name)):
                return osp.join(self.data_root, name), name
        for name in names:  # data_root is the archive folder itself: recognised by its image folders
            if osp.basename(self.data_root) == name or osp.isdir(osp.join(self.data_root, VERSIONS[name][0])):
                return self.data_root, name
        raise self.layout_error(osp.join(self.data_root, ' or '.join(names)), 'MSMT17 archive folder')

    def read_list(self, list_path, image_dir, role):
        """Samples of one list file (torchreid's ``process_dir``); every listed image must exist."""
        samples, missing = [], []
        with open(list_path) as f:
            for line_no, line in enumerate(f, 1):
                if not line.strip():
                    continue
                parts = line.split()
                fields = osp.basename(parts[0]).split('_')
                if len(parts) != 2 or not parts[1].isdigit() or len(fields) < 3 or not fields[2].isdigit():
                    raise ValueError(f'MSMT17: {list_path}:{line_no}: expected "<pid>/<pid>_<n>_<camera>_... '
                                     f'<pid>", got {line.rstrip()!r}')
                cam = int(fields[2])
                if not 1 <= cam <= NUM_CAMERAS:
                    raise ValueError(f'MSMT17: {list_path}:{line_no}: camera {cam} outside 1..{NUM_CAMERAS}')
                img_path = osp.join(image_dir, parts[0])
                if not osp.isfile(img_path):
                    missing.append(img_path)
                samples.append(dict(pid=int(parts[1]), img_path=img_path, camid=cam - 1, modality='image',
                                    split_role=role))
        if missing:
            raise FileNotFoundError(f'MSMT17: {len(missing)} of the {len(samples)} images listed in {list_path} '
                                    f'do not exist (a partial download?): {missing[:SHOW_MISSING]}'
                                    + (f' and {len(missing) - SHOW_MISSING} more' if len(missing) > SHOW_MISSING
                                       else ''))
        return samples

    def parse_samples(self):
        root, version = self.archive_dir()
        samples = []
        for list_name, folder_index, role in LISTS[self.split]:
            image_dir = self.require_dir(osp.join(root, VERSIONS[version][folder_index]), f'{version} image folder')
            list_path = self.require_file(osp.join(root, list_name), 'list file')
            samples += self.read_list(list_path, image_dir, role)
        return samples
