"""The base of every ReID model: the ``mode`` dispatch, the default data preprocessor and the feature contract."""
import functools
from abc import abstractmethod
from typing import Dict, List, Optional, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmpretrain.registry import MODELS

from .utils import gt_pids, set_pred_features


def check_num_classes(pids: torch.Tensor, num_classes: int, owner: str):
    """Fail with a config hint when a training id is outside the classifier (num_classes too small)."""
    if pids.numel() and int(pids.max()) >= num_classes:
        raise ValueError(f'{owner}: training person id {int(pids.max())} >= model.num_classes={num_classes}; '
                         f'set `model.num_classes` in the config to the number of training ids of the data set '
                         f'(its statistics table is logged when the data set is built).')


def check_model_matches_data(num_classes: Optional[int], metainfo: dict, owner: str):
    """Refuse a model whose classifier size is not the number of training identities of its data.

    Args:
        num_classes (int | None): ``model.num_classes`` (None: the model has no identity classifier).
        metainfo (dict): the training set's metainfo: ``num_classes`` and, for a
            :class:`~plugins.core.datasets.CombinedReIDDataset`, ``source_classes`` (set name -> ids).
        owner (str): the model's class name, for the message.
    """
    expected = metainfo.get('num_classes')
    if num_classes is None or expected is None or int(num_classes) == int(expected):
        return
    sources = metainfo.get('source_classes')
    where = (' = ' + ' + '.join(f'{n} ({name})' for name, n in sources.items())) if sources else \
        f" ({metainfo.get('dataset_name', 'the training set')})"
    raise ValueError(f'{owner}: model.num_classes={num_classes}, but the training data has {expected} identities'
                     f'{where}; set `model.num_classes={expected}` in the config')


def rows_of(inputs: dict, key: str) -> List[int]:
    """Positions in the batch of the rows of ``inputs[key]`` (``inputs[key + '_index']``, else 0..N-1)."""
    index = inputs.get(f'{key}_index')
    return list(range(inputs[key].size(0))) if index is None else torch.as_tensor(index).tolist()


def flip_images(img: torch.Tensor) -> torch.Tensor:
    """Horizontal mirror of (N, C, H, W) images (the width axis reversed)."""
    return img.flip(-1)


def _accept_test_flip(init):
    """``__init__`` of a subclass, taking the keyword ``test_flip`` (set after the subclass's own __init__)."""
    @functools.wraps(init)
    def __init__(self, *args, test_flip: Optional[bool] = None, **kwargs):
        init(self, *args, **kwargs)
        if test_flip is not None:
            if not isinstance(test_flip, bool):
                raise TypeError(f'{type(self).__name__}: model.test_flip must be true or false, got {test_flip!r}')
            self.test_flip = test_flip
    __init__._takes_test_flip = True
    return __init__


def _flip_averaged(embed_image):
    """``embed_image`` of a subclass: in eval mode with ``test_flip``, the mean over the image and its mirror.

    Re-entrant calls (a subclass's ``embed_image`` calling its parent's) run unflipped: one flip per feature.
    """
    @functools.wraps(embed_image)
    def wrapper(self, inputs: dict, data_samples: Optional[List] = None) -> torch.Tensor:
        if not self.test_flip or self.training or self.__dict__.get('_flipping', False):
            return embed_image(self, inputs, data_samples)
        self.__dict__['_flipping'] = True
        try:
            feats = embed_image(self, inputs, data_samples)
            mirrored = embed_image(self, dict(inputs, img=flip_images(inputs['img'])), data_samples)
        finally:
            self.__dict__['_flipping'] = False
        return (feats + mirrored) / 2
    wrapper._flips = True
    return wrapper


class BaseReIDModel(BaseModel):
    """Base class of the plugin's ReID models.

    Every method implements one contract, which is all that inference (``predict``, ``ReIDInferencer``),
    ONNX export, search and the benchmark use:

    - :meth:`loss` ``(inputs, data_samples) -> dict`` of named losses (``mode='loss'``);
    - :meth:`embed_image` ``(inputs, data_samples=None) -> Tensor (N, D)``: the test feature of each image of
      ``inputs['img']`` (N, 3, H, W), exactly the ``pred_feature`` :meth:`predict` writes;
    - :meth:`embed_text` ``(inputs, data_samples=None) -> Tensor (N, D)`` for text-image methods: the test
      feature of each caption of ``inputs['text']`` (N, L) (optional ``inputs['text_mask']``).

    ``inputs`` is the data preprocessor's output (see ``docs/data_contract.md``); ``data_samples`` is the whole
    batch, the samples of the rows of ``inputs[key]`` are at ``inputs[key + '_index']`` (:meth:`samples_of`),
    e.g. for a model that embeds visible and infrared images differently.

    A method with data-dependent control flow in a tower may give an export-friendly wrapper as the class
    attribute ``image_extractor`` / ``text_extractor`` (a ``plugins.core.deploy`` feature extractor class);
    the default wrappers call :meth:`embed_image` / :meth:`embed_text`.

    Epoch-dependent training state (loss warm-ups, margins switched on at some epoch) reaches the model one way:
    ``TrainEpochHook`` calls :meth:`set_train_epoch` before every training epoch.

    ``mode='tensor'`` returns the test features in one format for every method: a tensor (N, D) for image-only
    models, ``{'img': (N, D), 'text': (N', D)}`` (the modalities present in ``inputs``) for text-image models.

    Test-time flip (``model = dict(..., test_flip=True)``, any method, also ``--cfg-options model.test_flip=True``
    at test time): in ``eval()`` mode :meth:`embed_image` returns the **mean** of the features of each image and
    of its horizontal mirror (two passes). The visible-infrared reference code (CAJ, DEEN ``test.py``) *adds*
    the two; the sum is twice the mean, and multiplying every query and gallery feature by 2 changes no ranking
    (Euclidean distances double, cosine ones do not move), so the metrics are the same; the mean keeps the
    feature on the scale of one pass. The base class wraps each subclass's ``embed_image`` (and accepts the
    ``test_flip`` keyword for every subclass's ``__init__``), so a method implements nothing for it;
    ``predict``, the inferencer, search, the benchmark and the ONNX export (which adds the mirrored pass to the
    graph) all see the flipped-and-averaged feature. Training never flips.

    Optional capabilities, read by the shared hooks (None: the model has none):

    - :attr:`cam_target_layer`: the dotted name of the module whose output Grad-CAM explains
      (``GradCAMHook``, ``tools/visualize_attention.py``);
    - :attr:`vocab_size`: the ids of a word embedding; ``WordVocabularyHook`` keeps at most this many words.

    Args:
        num_classes (int, optional): training identities; :meth:`training_pids` checks every training batch.
        data_preprocessor (dict | nn.Module, optional): the preprocessor; a dict without ``type`` (or None) is a
            ``ReIDDataPreprocessor``.
        init_cfg (dict, optional): weight initialisation.
        test_flip (bool, optional): keyword of every subclass (see above); default False.
    """

    #: export wrappers of the towers (``plugins.core.deploy`` extractor classes); None: the generic ones
    image_extractor = None
    text_extractor = None
    #: Grad-CAM's target module (dotted name), None: no attention maps
    cam_target_layer: Optional[str] = None
    #: size of the word embedding of a word-vocabulary text tower, None: no word vocabulary
    vocab_size: Optional[int] = None
    #: average the test features of each image and of its horizontal flip (see the class docstring)
    test_flip: bool = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if '__init__' in cls.__dict__ and not getattr(cls.__dict__['__init__'], '_takes_test_flip', False):
            cls.__init__ = _accept_test_flip(cls.__dict__['__init__'])
        if 'embed_image' in cls.__dict__ and not getattr(cls.__dict__['embed_image'], '_flips', False):
            cls.embed_image = _flip_averaged(cls.__dict__['embed_image'])

    def __init__(self, num_classes: Optional[int] = None, data_preprocessor: Union[dict, nn.Module, None] = None,
                 init_cfg: Optional[dict] = None):
        data_preprocessor = data_preprocessor or {}
        if isinstance(data_preprocessor, dict):
            data_preprocessor = dict(data_preprocessor)
            data_preprocessor.setdefault('type', 'ReIDDataPreprocessor')
            # mmpretrain's registry: mmengine's BaseModel would look the type up in its own
            data_preprocessor = MODELS.build(data_preprocessor)
        elif not isinstance(data_preprocessor, nn.Module):
            raise TypeError(f'{type(self).__name__}: data_preprocessor must be a dict or an nn.Module, got '
                            f'{type(data_preprocessor).__name__}')
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.num_classes = num_classes
        self.train_epoch = 0

    def set_vocab_size(self, vocab_size) -> None:
        """Declare the word embedding's ids (:attr:`vocab_size`); refuses what cannot be a vocabulary size."""
        if not isinstance(vocab_size, int) or isinstance(vocab_size, bool) or vocab_size < 2:
            raise ValueError(f'{type(self).__name__}: model.vocab_size must be the number of word ids (an int >= 2; '
                             f'the published configs use 5000), got {vocab_size!r}')
        self.vocab_size = vocab_size

    # ------------------------------------------------------------------ contract
    @abstractmethod
    def loss(self, inputs: dict, data_samples: List) -> Dict[str, torch.Tensor]:
        """Named losses of a training batch (each one logged on its own)."""

    @abstractmethod
    def embed_image(self, inputs: dict, data_samples: Optional[List] = None) -> torch.Tensor:
        """Test features of the images ``inputs['img']`` (N, 3, H, W), shape (N, D)."""

    def embed_text(self, inputs: dict, data_samples: Optional[List] = None) -> torch.Tensor:
        """Test features of the captions ``inputs['text']`` (N, L), shape (N, D) (text-image methods)."""
        raise TypeError(f'{type(self).__name__} has no text tower: it embeds images only (it does not implement '
                        f'embed_text)')

    @property
    def has_text_tower(self) -> bool:
        """Whether the model embeds captions (implements :meth:`embed_text`)."""
        return type(self).embed_text is not BaseReIDModel.embed_text

    # ------------------------------------------------------------------ modes
    def forward(self, inputs: dict, data_samples: Optional[List] = None, mode: str = 'tensor'):
        """``loss`` -> dict of losses, ``predict`` -> data samples with ``pred_feature``, ``tensor`` ->
        :meth:`_forward`."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self._forward(inputs, data_samples)
        raise RuntimeError(f'Invalid mode "{mode}"; expected loss, predict or tensor')

    def _forward(self, inputs: dict, data_samples: Optional[List] = None):
        """``mode='tensor'``: the test features, a tensor (image-only models) or ``{'img': ..., 'text': ...}``
        for the modalities present in ``inputs`` (text-image models)."""
        if not self.has_text_tower:
            return self.embed_image(inputs, data_samples)
        feats = {}
        if 'img' in inputs:
            feats['img'] = self.embed_image(inputs, data_samples)
        if 'text' in inputs:
            feats['text'] = self.embed_text(inputs, data_samples)
        return feats

    def predict(self, inputs: dict, data_samples: List) -> List:
        """Write each sample's test feature as ``pred_feature``: captions from :meth:`embed_text`, images from
        :meth:`embed_image` (a sample with both gets the image's). Queries and gallery items are embedded
        independently of each other, so a mixed batch gives the features of separate ones."""
        if 'text' in inputs and self.has_text_tower:
            set_pred_features(data_samples, rows_of(inputs, 'text'), self.embed_text(inputs, data_samples))
        if 'img' in inputs:
            set_pred_features(data_samples, rows_of(inputs, 'img'), self.embed_image(inputs, data_samples))
        return data_samples

    # ------------------------------------------------------------------ helpers of the methods
    @staticmethod
    def samples_of(inputs: dict, data_samples: Optional[List], key: str = 'img') -> Optional[List]:
        """The data samples of the rows of ``inputs[key]`` (None when there are none)."""
        if data_samples is None:
            return None
        return [data_samples[i] for i in rows_of(inputs, key)]

    def training_pids(self, data_samples: List, device=None) -> torch.Tensor:
        """Person ids of a training batch, shape (B,), checked against ``num_classes``."""
        pids = gt_pids(data_samples, device)
        if self.num_classes is not None:
            check_num_classes(pids, self.num_classes, type(self).__name__)
        return pids

    def set_train_epoch(self, epoch: int) -> None:
        """Record the 0-based training epoch and pass it to every sub-module that takes it (a loss with a
        warm-up, say, through its own ``set_train_epoch``). Called by ``TrainEpochHook``; a model never told
        an epoch is at epoch 0."""
        self.train_epoch = int(epoch)
        for module in self.modules():
            if module is not self and callable(getattr(module, 'set_train_epoch', None)):
                module.set_train_epoch(epoch)
