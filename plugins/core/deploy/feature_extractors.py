"""Export-friendly feature extractors: one ``nn.Module`` per tower whose ``forward`` takes plain tensors.

A ReID model's ``predict`` takes a dict of inputs and data samples and writes ``pred_feature``; an exporter
(``torch.onnx.export``, ``torch.jit.trace``) needs a module mapping tensors to a tensor. The wrappers here call
the model's contract (``embed_image`` / ``embed_text`` of :class:`~plugins.core.models.BaseReIDModel`), so they
give the *same* feature as ``predict``, with the data preprocessor's image normalisation folded in, so a
deployed graph takes a raw image:

- image tower: ``image`` float (B, 3, H, W), 0-255, channels in the order the network was trained on (RGB for
  every config of the plugin: images are loaded BGR and the preprocessor flips them, ``to_rgb=True``); a
  method's own wrapper may add inputs (e.g. the modality of each image).
- text tower (models with ``embed_text``): ``text`` int64 (B, L), the token ids of the test text pipeline
  (``CLIPTokenize`` / ``WordTokenize``), 0 = padding; the attention mask is derived from the ids as the
  models themselves do (``ids != 0``).

A model whose tower has data-dependent Python control flow (per-modality routing, trimming a batch to its
longest caption), which a traced graph would freeze, names a branch-free subclass of these wrappers in its
class attributes ``image_extractor`` / ``text_extractor``, defined in its own package;
``tests/ecosystem/test_export_onnx.py`` checks every wrapper against the model's own ``predict``.
"""
import copy
from collections import OrderedDict
from typing import Sequence, Tuple

import torch
import torch.nn as nn


class ImageNormalize(nn.Module):
    """``(image - mean) / std`` with the statistics of a ``ReIDDataPreprocessor``.

    No channel flip: the exported graph takes the channels in the order the network sees them (the
    preprocessor's flip turns mmcv's BGR loading into RGB; a deployed reader gives RGB directly).

    Args:
        data_preprocessor (nn.Module): the model's preprocessor (``mean``/``std`` buffers of shape (3, 1, 1),
            0-255 scale); one without them (``mean=None``) leaves the image unchanged.
    """

    def __init__(self, data_preprocessor: nn.Module):
        super().__init__()
        mean = getattr(data_preprocessor, 'mean', None)
        std = getattr(data_preprocessor, 'std', None)
        self.enabled = mean is not None and std is not None
        if self.enabled:
            self.register_buffer('mean', mean.detach().float().view(1, -1, 1, 1).clone(), False)
            self.register_buffer('std', std.detach().float().view(1, -1, 1, 1).clone(), False)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) 0-255 -> normalised (B, 3, H, W)."""
        return (image - self.mean) / self.std if self.enabled else image


def inference_view(model: nn.Module, drop: Sequence[str] = ()) -> nn.Module:
    """A shallow copy of ``model`` (sharing its parameters) without the sub-modules named in ``drop``.

    Training-only heads are never called at inference; leaving them out of the exported module also avoids a
    ``torch.export`` failure on sub-module names that are Python keywords (e.g. ``classifiers['global']``).
    The model itself is left untouched.
    """
    if not drop:
        return model
    view = copy.copy(model)
    view._modules = OrderedDict((k, v) for k, v in model._modules.items() if k not in drop)
    return view


def channel_order(model: nn.Module) -> str:
    """Channel order of the exported image input: ``'RGB'`` when the preprocessor flips mmcv's BGR."""
    return 'RGB' if getattr(model.data_preprocessor, 'to_rgb', False) else 'BGR'


class ImageFeatureExtractor(nn.Module):
    """Image tower: normalise, then :meth:`features` (``model.embed_image``; a method's subclass may replace it).

    Args:
        model (nn.Module): the ReID model; put in ``eval()`` (BatchNorm running statistics, no dropout).
    """

    input_names: Tuple[str, ...] = ('image', )
    output_names: Tuple[str, ...] = ('feature', )

    #: sub-modules of the model that inference never uses, left out of the wrapper (see :func:`inference_view`)
    training_only: Tuple[str, ...] = ()

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = inference_view(model, self.training_only)
        self.normalize = ImageNormalize(model.data_preprocessor)
        # eval() on the wrapper itself: exporters restore the wrapper's mode afterwards, and a wrapper left in
        # train mode would put the model's BatchNorm layers back into batch statistics
        self.eval()

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) 0-255 image -> (B, D) feature, the ``pred_feature`` of ``model.predict``."""
        return self.features(self.normalize(image))

    def features(self, img: torch.Tensor) -> torch.Tensor:
        """Normalised (B, 3, H, W) image -> (B, D) test feature."""
        return self.model.embed_image(dict(img=img))

    def example_inputs(self, batch_size: int, height: int, width: int) -> Tuple[torch.Tensor, ...]:
        """Random inputs of the graph, e.g. for tracing and for ``--check``."""
        return (torch.rand(batch_size, 3, height, width) * 255, )


class TextFeatureExtractor(nn.Module):
    """Text tower: (B, L) int64 token ids (0 = padding) -> (B, D) feature (``model.embed_text``).

    Args:
        model (nn.Module): the ReID model; put in ``eval()``.
    """

    input_names: Tuple[str, ...] = ('text', )
    output_names: Tuple[str, ...] = ('feature', )

    training_only: Tuple[str, ...] = ()

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = inference_view(model, self.training_only)
        self.eval()

    def forward(self, text: torch.Tensor) -> torch.Tensor:
        """(B, L) int64 token ids -> (B, D) feature, the ``pred_feature`` of ``model.predict``."""
        return self.model.embed_text(dict(text=text, text_mask=text.ne(0)))

    def vocab_size(self) -> int:
        """Token ids of the example captions are drawn below this (the model's ``vocab_size`` attribute)."""
        size = getattr(self.model, 'vocab_size', None)
        if not isinstance(size, int):
            raise TypeError(f'{type(self).__name__}: {type(self.model).__name__} has no int `vocab_size`; give the '
                            f'model a `text_extractor` subclass with its own vocab_size()')
        return size

    def example_inputs(self, batch_size: int, length: int) -> Tuple[torch.Tensor, ...]:
        """Left-aligned random captions of different lengths (>= 1 word), zero padded, shape (B, L)."""
        gen = torch.Generator().manual_seed(batch_size * 1000 + length)
        ids = torch.randint(2, self.vocab_size(), (batch_size, length), generator=gen)
        lengths = torch.randint(1, length + 1, (batch_size, ), generator=gen)
        lengths[0] = length  # one full caption
        return (ids * (torch.arange(length) < lengths[:, None]), )


class FlipAveraged:
    """Mixin of an image extractor class: its feature is the mean over each image and its horizontal mirror, as
    ``embed_image`` of a model with ``test_flip=True`` (:class:`~plugins.core.models.BaseReIDModel`).

    The extractor's ``forward`` normalises the image and calls ``features(img, *other inputs)`` (the contract of
    :class:`ImageFeatureExtractor` and of the methods' subclasses); this mixin runs ``features`` on the image
    and on its mirror (``flip`` on the width axis, an ONNX Slice with step -1) and averages. The graph keeps the
    extractor's own inputs and signature (``torch.export`` maps them by name), takes the same raw image and gives
    the feature of ``tools/test.py``. The model it wraps is a view with ``test_flip`` off: one flip, not two.
    """

    #: the extractor class this one flips (its own name for the docs and the tests)
    unflipped_class = None

    def features(self, img, *rest):
        return (super().features(img, *rest) + super().features(img.flip(3), *rest)) / 2


def flip_averaged(extractor_cls):
    """The subclass of ``extractor_cls`` whose feature averages the image and its mirror (:class:`FlipAveraged`)."""
    return type(f'FlipAveraged{extractor_cls.__name__}', (FlipAveraged, extractor_cls),
                dict(unflipped_class=extractor_cls, __module__=__name__))


def _without_flip(model: nn.Module) -> nn.Module:
    """A shallow copy of ``model`` (same parameters) with ``test_flip`` off."""
    view = copy.copy(model)
    view.test_flip = False
    return view


def _check_reid_model(model: nn.Module) -> None:
    if not callable(getattr(model, 'embed_image', None)):
        raise TypeError(f'{type(model).__name__} is not a ReID model: export needs its `embed_image` (derive the '
                        f'model from plugins.core.models.BaseReIDModel)')


def has_text_tower(model: nn.Module) -> bool:
    """Whether the model embeds captions (implements ``embed_text``)."""
    _check_reid_model(model)
    return bool(getattr(model, 'has_text_tower', False))


def build_image_extractor(model: nn.Module) -> ImageFeatureExtractor:
    """The image tower of ``model`` as an export-ready module (``model`` is put in ``eval()``): the model's
    ``image_extractor`` class, else :class:`ImageFeatureExtractor`; its :func:`flip_averaged` subclass when the
    model has ``test_flip`` on."""
    _check_reid_model(model)
    extractor_cls = getattr(model, 'image_extractor', None) or ImageFeatureExtractor
    if getattr(model, 'test_flip', False):  # the mirrored pass in the graph, whatever the method's extractor
        return flip_averaged(extractor_cls)(_without_flip(model))
    return extractor_cls(model)


def build_text_extractor(model: nn.Module) -> TextFeatureExtractor:
    """The text tower of ``model``: its ``text_extractor`` class, else :class:`TextFeatureExtractor`.

    Raises:
        ValueError: the model is image-only (no ``embed_text``).
    """
    if not has_text_tower(model):
        raise ValueError(f'{type(model).__name__} has no text tower (it does not implement embed_text): it is an '
                         f'image-to-image ReID model')
    return (getattr(model, 'text_extractor', None) or TextFeatureExtractor)(model)
