"""Export-friendly feature extractors: one ``nn.Module`` per tower whose ``forward`` takes plain tensors.

A ReID model's ``predict`` takes a dict of inputs and data samples and writes ``pred_feature``; an exporter
(``torch.onnx.export``, ``torch.jit.trace``) needs a module mapping tensors to a tensor. The wrappers here give
the *same* feature as ``predict`` (same normalisation), with the data preprocessor's image normalisation
folded in, so a deployed graph takes a raw image:

- image tower: ``image`` float (B, 3, H, W), 0-255, channels in the order the network was trained on (RGB for
  every config of the plugin: images are loaded BGR and the preprocessor flips them, ``to_rgb=True``);
  CAL also takes ``is_infrared`` bool (B,).
- text tower (IRRA, SSAN, AXM-Net): ``text`` int64 (B, L), the token ids of the test text pipeline
  (``CLIPTokenize`` / ``WordTokenize``), 0 = padding; the attention mask is derived from the ids as the
  models themselves do (``ids != 0``; CLIP's text tower is causal and reads the EOT position = the largest id).

Data-dependent Python control flow (CAL's per-modality routing, SSAN's trimming to the longest caption) is
replaced by branch-free equivalents so that one graph serves every batch;
``tests/ecosystem/test_export_onnx.py`` checks each wrapper against the model's own feature.

This module dispatches on the model's class name and only calls its methods and sub-modules, so
``plugins.core`` still never imports a method package.
"""
import copy
from collections import OrderedDict
from typing import Dict, Optional, Sequence, Tuple, Type

import torch
import torch.nn as nn
import torch.nn.functional as F


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
    ``torch.export`` failure on sub-module names that are Python keywords (SSAN's ``classifiers['global']``).
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
    """Base of the image towers: normalise, then :meth:`features` (the method-specific part).

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
        raise NotImplementedError

    def example_inputs(self, batch_size: int, height: int, width: int) -> Tuple[torch.Tensor, ...]:
        """Random inputs of the graph, e.g. for tracing and for ``--check``."""
        return (torch.rand(batch_size, 3, height, width) * 255, )


class TextFeatureExtractor(nn.Module):
    """Base of the text towers: (B, L) int64 token ids (0 = padding) -> (B, D) feature.

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
        raise NotImplementedError

    def vocab_size(self) -> int:
        raise NotImplementedError

    def example_inputs(self, batch_size: int, length: int) -> Tuple[torch.Tensor, ...]:
        """Left-aligned random captions of different lengths (>= 1 word), zero padded, shape (B, L)."""
        gen = torch.Generator().manual_seed(batch_size * 1000 + length)
        ids = torch.randint(2, self.vocab_size(), (batch_size, length), generator=gen)
        lengths = torch.randint(1, length + 1, (batch_size, ), generator=gen)
        lengths[0] = length  # one full caption
        return (ids * (torch.arange(length) < lengths[:, None]), )


# ---------------------------------------------------------------------------------------------------- image
class BaselineImageExtractor(ImageFeatureExtractor):
    """ReIDBaseline: the BNNeck feature of the pooled backbone map."""

    def features(self, img):
        return self.model.neck(self.model.extract_feat(img))


class CASNImageExtractor(ImageFeatureExtractor):
    """CASN: the head's embedding ``f`` (IDE: BN output; PCB: the stripes concatenated)."""

    def features(self, img):
        return self.model.extract(img)[1]


class CALImageExtractor(ImageFeatureExtractor):
    """CAL: ``[global | parts]`` of ``CAL.extract_feat`` with the modality of each image as a second input.

    ``CAL`` routes each image through its modality's stem and DRM with ``nonzero``/``index_copy`` and Python
    branches on whether a modality is present, which a traced graph would freeze. Here both stems and both
    DRMs run on the whole batch and ``torch.where`` keeps each sample's own: the same result, one graph for
    any mix of modalities (the stems and DRMs are a small part of the cost).
    """

    input_names = ('image', 'is_infrared')

    def forward(self, image: torch.Tensor, is_infrared: torch.Tensor) -> torch.Tensor:
        """
        Args:
            image (Tensor): (B, 3, H, W), 0-255.
            is_infrared (Tensor): bool (B,), True for infrared / thermal images.

        Returns:
            Tensor: (B, (N_p + 1) C).
        """
        return self.features(self.normalize(image), is_infrared.bool())

    def features(self, img, is_infrared):
        model, backbone = self.model, self.model.backbone
        x = torch.where(is_infrared.view(-1, 1, 1, 1), backbone._specific(img, infrared=True),
                        backbone._specific(img, infrared=False))
        for name in backbone.resnet.res_layers[backbone.num_specific_stages:]:
            x = getattr(backbone.resnet, name)(x)
        parts = torch.where(is_infrared.view(-1, 1, 1), model.drm_infrared(x)[0], model.drm_visible(x)[0])
        return self._blocks(x, parts, is_infrared)

    def _blocks(self, feat_map, parts, is_infrared):
        """The tail of ``CAL.extract_feat`` with the export-friendly global pooling below."""
        global_feat = self.model.neck(self._global_pool(feat_map))
        tokens = feat_map.flatten(2).transpose(1, 2)
        return self.model.assemble_test_feature(global_feat, tokens, parts, is_infrared)

    def _global_pool(self, feat_map):
        """``model.pool``; GeM written with a mean over the map, because mmpretrain's ``gem`` takes the
        ``avg_pool2d`` kernel from the traced map size, which the TorchScript exporter cannot convert."""
        pool = self.model.pool
        if type(pool).__name__ != 'GeneralizedMeanPooling':
            return pool(feat_map)
        x = feat_map.clamp(min=pool.eps) if pool.clamp else feat_map
        return x.pow(pool.p).mean(dim=(2, 3)).pow(1. / pool.p)

    def example_inputs(self, batch_size, height, width):
        # both modalities, so that a check exercises the per-sample selection
        is_infrared = torch.arange(batch_size) % 2 == 1
        return super().example_inputs(batch_size, height, width) + (is_infrared, )


class IRRAImageExtractor(ImageFeatureExtractor):
    """IRRA: L2-normalised projected CLS token of CLIP's vision tower."""

    def features(self, img):
        return F.normalize(self.model.extract_image_feat(img), dim=1)


class SSANImageExtractor(ImageFeatureExtractor):
    """SSAN: ``[v_g, v_l, v_n]``, each branch L2-normalised (``SSAN.retrieval_feature``)."""

    training_only = ('classifiers', )

    def features(self, img):
        return self.model.retrieval_feature(self.model.image_features(img))


class AXMNetImageExtractor(ImageFeatureExtractor):
    """AXM-Net: L2-normalised joint-space image embedding (each sample uses its own AXM context)."""

    def features(self, img):
        return F.normalize(self.model.extract_feat(img=img)[0], dim=1)


# ---------------------------------------------------------------------------------------------------- text
class IRRATextExtractor(TextFeatureExtractor):
    """IRRA: L2-normalised projected token at the EOT position (the largest id) of CLIP's text tower.

    ``L`` may not exceed the text tower's ``max_position_embeddings`` (the ``context_length`` of the config).
    """

    def forward(self, text):
        return F.normalize(self.model.extract_text_feat(text), dim=1)

    def vocab_size(self):
        return self.model.clip.config.text_config.vocab_size

    def example_inputs(self, batch_size, length):
        # CLIPTokenize layout: SOT, words, EOT (the largest id, read by the tower), zero padding
        (ids, ) = super().example_inputs(batch_size, length)
        sot, eot = self.vocab_size() - 2, self.vocab_size() - 1
        ids = ids.clamp(max=sot - 1)
        lengths = (ids != 0).sum(1).clamp(min=2)
        positions = torch.arange(length)
        ids = torch.where(positions == 0, torch.full_like(ids, sot), ids)
        ids = torch.where(positions[None] == lengths[:, None] - 1, torch.full_like(ids, eot), ids)
        return (ids * (positions[None] < lengths[:, None]), )


class SSANTextExtractor(TextFeatureExtractor):
    """SSAN: ``[t_g, t_l, t_n]`` as ``SSAN.text_features`` + ``retrieval_feature``.

    The model trims a batch to its longest caption, which an exported graph cannot do for every batch; the
    word features do not depend on the padding (``BiLSTMTextEncoder.encode_words``), so the graph runs on the
    whole padded batch.
    """

    training_only = ('classifiers', )

    def forward(self, text):
        model = self.model
        encoder = model.text_encoder
        mask = text.ne(0)
        # as caption_mask: an empty caption keeps its first position so that the poolings are defined
        mask = torch.cat([mask[:, :1] | ~mask.any(dim=1, keepdim=True), mask[:, 1:]], dim=1)
        words_global = encoder.encode_words(encoder.embed_global, text, mask)
        words_part = encoder.encode_words(encoder.embed_part, text, mask)
        pooled_global = words_global.masked_fill(~mask.unsqueeze(-1), float('-inf')).amax(dim=1)
        pooled_parts, _ = model.word_attention(words_part, mask)
        return model.retrieval_feature(model._branches(pooled_global, pooled_parts))

    def vocab_size(self):
        return self.model.text_encoder.vocab_size


class AXMNetTextExtractor(TextFeatureExtractor):
    """AXM-Net: L2-normalised joint-space caption embedding."""

    def forward(self, text):
        model = self.model
        t, mask = self._text_stem(text)
        for block in model.axm_blocks:
            _, t = block(None, t, mask)
        return F.normalize(model._text_embedding(t, mask), dim=1)

    def _text_stem(self, text):
        """``WordConvTextStem.forward`` with the empty-caption fix written out of place (the TorchScript
        exporter has no in-place ``|=``)."""
        stem = self.model.text_stem
        mask = text.ne(0)
        mask = torch.cat([mask[:, :1] | ~mask.any(dim=1, keepdim=True), mask[:, 1:]], dim=1)
        x = stem.blocks(stem.project(stem.embedding(text).transpose(1, 2).unsqueeze(2)))
        return x * mask[:, None, None, :].to(x.dtype), mask

    def vocab_size(self):
        return self.model.text_stem.embedding.num_embeddings


#: model class name -> (image extractor, text extractor or None)
EXTRACTORS: Dict[str, Tuple[Type[ImageFeatureExtractor], Optional[Type[TextFeatureExtractor]]]] = {
    'ReIDBaseline': (BaselineImageExtractor, None),
    'CASN': (CASNImageExtractor, None),
    'CAL': (CALImageExtractor, None),
    'IRRA': (IRRAImageExtractor, IRRATextExtractor),
    'SSAN': (SSANImageExtractor, SSANTextExtractor),
    'AXMNet': (AXMNetImageExtractor, AXMNetTextExtractor),
}


def _lookup(model: nn.Module):
    """The ``EXTRACTORS`` entry of the model's class or of its closest registered base class."""
    for cls in type(model).__mro__:
        if cls.__name__ in EXTRACTORS:
            return cls.__name__, EXTRACTORS[cls.__name__]
    raise TypeError(f'no feature extractor for {type(model).__name__}; supported models: '
                    f'{", ".join(EXTRACTORS)} (add an entry to plugins.core.deploy.EXTRACTORS)')


def has_text_tower(model: nn.Module) -> bool:
    """Whether the model embeds captions (text-to-image methods)."""
    return _lookup(model)[1][1] is not None


def build_image_extractor(model: nn.Module) -> ImageFeatureExtractor:
    """The image tower of ``model`` as an export-ready module (``model`` is put in ``eval()``)."""
    return _lookup(model)[1][0](model)


def build_text_extractor(model: nn.Module) -> TextFeatureExtractor:
    """The text tower of ``model``.

    Raises:
        ValueError: the model is image-only (baseline, CASN, CAL).
    """
    name, (_, text_cls) = _lookup(model)
    if text_cls is None:
        with_text = [k for k, (_, t) in EXTRACTORS.items() if t is not None]
        raise ValueError(f'{name} has no text tower (it is an image-to-image ReID model); text towers exist for '
                         f'{", ".join(with_text)}')
    return text_cls(model)
