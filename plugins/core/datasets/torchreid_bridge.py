"""Any image data set torchreid knows (``torchreid.reid.data.datasets``), as a data set of this plugin."""
import os.path as osp

from mmpretrain.registry import DATASETS

from .base import ReIDBaseDataset


def torchreid_image_datasets():
    """torchreid's registry of image data sets: ``{name: class}`` (market1501, msmt17, viper, ...)."""
    from torchreid.reid.data import datasets as tr_datasets  # local: torchreid is slow to import
    return dict(vars(tr_datasets)['__image_datasets'])


@DATASETS.register_module()
class TorchreidDataset(ReIDBaseDataset):
    """Wrap a torchreid image data set into the data_info dicts of this plugin.

    torchreid parses the layout (its own folder conventions under ``root``, e.g. ``root/market1501/``,
    ``root/msmt17/``); this class turns its ``train`` / ``query`` + ``gallery`` lists into samples with
    ``modality='image'`` and logs the usual statistics. Nothing is downloaded: a missing data set folder is an
    error (torchreid would otherwise try to fetch it).

    Args:
        name (str): torchreid data set name, e.g. ``'market1501'``, ``'dukemtmcreid'``, ``'msmt17'``, ``'viper'``.
        root (str): torchreid's data root (the folder that holds ``<dataset_dir>/``).
        split (str): ``'train'`` or ``'test'`` (query + gallery).
        torchreid_kwargs (dict): extra arguments of the torchreid class (e.g. ``split_id=0`` for VIPeR,
            ``cuhk03_labeled=True`` for CUHK03).
        **kwargs: see :class:`~plugins.core.datasets.base.ReIDBaseDataset`.
    """

    def __init__(self, name='market1501', root='data', split='train', torchreid_kwargs=None, **kwargs):
        registry = torchreid_image_datasets()
        if name not in registry:
            raise KeyError(f'TorchreidDataset: unknown torchreid image data set {name!r}; '
                           f'available: {sorted(registry)}')
        self.name = name
        self.torchreid_cls = registry[name]
        self.torchreid_kwargs = dict(torchreid_kwargs or {})
        self.DATASET_NAME = name
        self.LAYOUT = (f'    root/\n    `-- {self.torchreid_cls.dataset_dir}/    laid out as torchreid\'s '
                       f'{self.torchreid_cls.__module__}.{self.torchreid_cls.__name__} expects')
        super().__init__(root, split=split, **kwargs)

    def parse_samples(self):
        self.require_dir(osp.join(self.data_root, self.torchreid_cls.dataset_dir), 'torchreid data set folder')
        dataset = self.torchreid_cls(root=self.data_root, verbose=False, **self.torchreid_kwargs)
        subsets = (('train', dataset.train),) if self.is_train else (('query', dataset.query),
                                                                     ('gallery', dataset.gallery))
        return [dict(pid=int(item[1]), img_path=osp.abspath(item[0]), camid=int(item[2]), modality='image',
                     split_role=role) for role, items in subsets for item in items]
