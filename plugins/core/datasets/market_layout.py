"""Parser shared by the data sets stored in the Market-1501 folder layout (Market-1501, DukeMTMC-reID, CUHK03-NP)."""
import os.path as osp
import re

from .base import ReIDBaseDataset

#: ``PPPP_cC...``: person id (``-1`` = junk) and 1-based camera, as torchreid's parsers read it.
NAME_PATTERN = re.compile(r'([-\d]+)_c(\d+)')
#: A whole file name (without extension) of these layouts: nothing but letters, digits and ``_`` after the camera
#: (``0002_c1s1_000451_03``, ``0005_c2_f0046985``, ``0001_c1_1``); ``0002_c1s1_000451_03 (copy)`` matches
#: :data:`NAME_PATTERN` only in part.
FULL_NAME = re.compile(r'[-\d]+_c\d+\w*')


class MarketLayoutDataset(ReIDBaseDataset):
    """``bounding_box_train/``, ``query/``, ``bounding_box_test/`` folders of ``PPPP_cC*.ext`` images.

    Parsing follows torchreid: junk images (pid ``-1``) are dropped, distractors (pid ``0``) are kept in the
    gallery, cameras become 0-based. ``split='test'`` yields the query images (``split_role='query'``) followed
    by the gallery images (``split_role='gallery'``).

    Subclasses set :attr:`EXTENSION`, :attr:`NUM_CAMERAS` and may override :meth:`layout_root`.
    """

    EXTENSION = '.jpg'
    NUM_CAMERAS = 6
    FOLDERS = dict(train=(('bounding_box_train', 'train'),),
                   test=(('query', 'query'), ('bounding_box_test', 'gallery')))

    #: Sub-folder that the official archive extracts to; used when present (``data_root`` itself otherwise).
    ARCHIVE_DIR = None

    def layout_root(self):
        """Folder holding ``bounding_box_train/`` etc.: ``data_root/ARCHIVE_DIR`` if it exists, else ``data_root``."""
        if self.ARCHIVE_DIR and osp.isdir(osp.join(self.data_root, self.ARCHIVE_DIR)):
            return osp.join(self.data_root, self.ARCHIVE_DIR)
        return self.data_root

    def parse_samples(self):
        root = self.layout_root()
        samples = []
        for folder, role in self.FOLDERS[self.split]:
            samples += self._parse_folder(osp.join(root, folder), role)
        return samples

    def _parse_folder(self, folder, role):
        samples = []
        for path in self.list_images(folder, extensions=(self.EXTENSION,)):
            match = NAME_PATTERN.search(osp.basename(path))
            if match is None:
                raise ValueError(f'{type(self).__name__}: file name {path} does not match '
                                 f'"PPPP_cC..{self.EXTENSION}" (person id, camera)')
            if not FULL_NAME.fullmatch(osp.splitext(osp.basename(path))[0]):
                self.partial_names.append(path)  # refused (or kept with a warning) by the base class
            pid, cam = map(int, match.groups())
            if pid == -1:  # junk images are ignored (torchreid)
                continue
            if not 1 <= cam <= self.NUM_CAMERAS:
                raise ValueError(f'{type(self).__name__}: camera c{cam} of {path} outside 1..{self.NUM_CAMERAS}')
            samples.append(dict(pid=pid, img_path=path, camid=cam - 1, modality='image', split_role=role))
        return samples
