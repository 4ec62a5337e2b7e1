"""IRRA: cross-modal implicit relation reasoning and aligning for text-to-image person retrieval
(Jiang & Ye, CVPR 2023) on transformers' ``CLIPModel``."""
from typing import List, Optional

import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from plugins.core import distributed
from plugins.core.models.base import BaseReIDModel, check_num_classes
from plugins.core.models.layers import id_classifier
from plugins.core.models.utils import gt_pids
from .clip_loading import build_reid_clip, load_clip_weights
from .export import IRRATextExtractor
from .irr import CrossModalTransformer, MLMHead

#: ``model.clip`` entries; a config gives only what differs (e.g. ``pretrained``)
CLIP_DEFAULTS = dict(pretrained=None, config='ViT-B/16', image_size=(384, 128), stride=None)


@MODELS.register_module()
class IRRA(BaseReIDModel):
    """CLIP image/text towers (fully fine-tuned) + IRR branch + SDM / MLM / ID losses.

    Global features are CLIP's: the projected CLS token of the image and the projected token at the EOT
    position of the caption (the largest id, 49407, as in CLIP). The IRR branch (training only) lets the
    tokens of the *masked* caption attend to the image tokens, runs ``cross_depth`` transformer blocks and
    predicts the masked ids.

    The CLIP towers are built from ``clip.config`` at construction (random); the pre-trained weights of
    ``clip.pretrained`` are loaded by :meth:`init_weights`, which mmengine's ``Runner.train`` calls and
    ``Runner.test`` does not: evaluating a checkpoint never needs (or downloads) the pre-trained CLIP.

    Inputs follow ``docs/data_contract.md``: training ``inputs['img']`` (B, 3, H, W), ``inputs['text']``
    (B, L) caption ids (SOT ... EOT, zero padded), ``inputs['mlm_text']`` / ``inputs['mlm_labels']`` (B, L) from
    ``MaskedLanguageModeling`` (label -100 = not masked). A test batch may mix image samples (``img`` +
    ``img_index``) and caption samples (``text`` + ``text_index``).

    Args:
        num_classes (int): training identities (11,003 on CUHK-PEDES) for the shared ID classifier.
        clip (dict): ``config``: the architecture (preset ``'ViT-B/16'`` or ``CLIPConfig`` kwargs);
            ``image_size``: (H, W) of every input, (384, 128); ``stride``: patch stride (None = patch size);
            ``pretrained``: hub name, transformers dir or OpenAI-layout file loaded by :meth:`init_weights`
            (None = keep the random init). Missing entries take :data:`CLIP_DEFAULTS`.
        cross_depth (int): transformer blocks of the IRR module. Defaults to 4.
        cross_heads (int, optional): heads of the IRR module; defaults to ``embed_dim // 64`` (8 for 512).
        loss_sdm (dict): SDM loss config. Defaults to ``SDMLoss(temperature=0.02)``.
        loss_mlm (dict, optional): MLM loss config; None disables the IRR branch (and its modules).
        loss_id (dict, optional): ID loss applied to image and text logits; the two terms are summed. The
            default weight 0.5 reproduces the official code, which averages them. None disables it.
        id_sdm_on_masked_captions (bool): True (the official code): SDM and ID read the *masked* caption
            ``mlm_text``, because the official MLM transform masks the caption ids in place, so the released
            numbers come from masked captions (one text forward then serves SDM, ID and IRR). False: SDM and
            ID read the clean ``text`` (the paper's description; the authors report lower accuracy).
        data_preprocessor, init_cfg (dict, optional): as in :class:`~plugins.core.models.base.BaseReIDModel` (the CLIP
            towers are initialised by ``clip``, not by ``init_cfg``).
    """

    #: ONNX export: example captions in CLIP's SOT ... EOT layout
    text_extractor = IRRATextExtractor

    def __init__(self,
                 num_classes: int,
                 clip: dict = dict(pretrained='openai/clip-vit-base-patch16'),
                 cross_depth: int = 4,
                 cross_heads: Optional[int] = None,
                 loss_sdm: dict = dict(type='SDMLoss', temperature=0.02),
                 loss_mlm: Optional[dict] = dict(type='MLMLoss', ignore_index=-100),
                 loss_id: Optional[dict] = dict(type='CrossEntropyLabelSmoothLoss', epsilon=0.0, loss_weight=0.5),
                 id_sdm_on_masked_captions: bool = True,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(num_classes, data_preprocessor, init_cfg)
        unknown = set(clip) - set(CLIP_DEFAULTS)
        if unknown:
            raise KeyError(f'IRRA: unknown model.clip entries {sorted(unknown)} (known: {sorted(CLIP_DEFAULTS)})')
        clip = {**CLIP_DEFAULTS, **clip}
        self.clip_pretrained = clip['pretrained']
        self.clip = build_reid_clip(clip['config'], clip['image_size'], clip['stride'])
        # transformers initialised the towers (init_weights loads the pre-trained ones); keep mmengine from
        # re-initialising them
        self.clip.is_init = True
        # CLIP's learned temperature is replaced by SDM's fixed one; frozen so DDP sees no unused parameter
        self.clip.logit_scale.requires_grad_(False)
        self.embed_dim = self.clip.config.projection_dim
        self.id_sdm_on_masked_captions = id_sdm_on_masked_captions

        self.loss_sdm = MODELS.build(loss_sdm)
        self.loss_id = MODELS.build(loss_id) if loss_id else None
        if self.loss_id is not None:
            self.classifier = id_classifier(self.embed_dim, num_classes, bias=True)
        self.loss_mlm = MODELS.build(loss_mlm) if loss_mlm else None
        if self.loss_mlm is not None:
            heads = cross_heads or max(1, self.embed_dim // 64)
            self.cross_modal = CrossModalTransformer(self.embed_dim, heads, cross_depth)
            self.mlm_head = MLMHead(self.embed_dim, self.clip.config.text_config.vocab_size, cross_depth)

    def init_weights(self):
        """Load the pre-trained CLIP of ``clip.pretrained`` (position table resized once to the input grid),
        then mmengine's own init (an ``init_cfg`` of type Pretrained, loaded last, overrides it)."""
        if not self.is_init and self.clip_pretrained is not None:
            load_clip_weights(self.clip, self.clip_pretrained)
        super().init_weights()

    # ----------------------------------------------------------------------------------------- encoders
    def encode_image_tokens(self, img: torch.Tensor) -> torch.Tensor:
        """Projected image tokens (CLS first), shape (B, 1 + N, embed_dim), N = 24 * 8 for 384x128 inputs."""
        vision = self.clip.vision_model
        hidden = vision(pixel_values=img).last_hidden_state
        return self.clip.visual_projection(vision.post_layernorm(hidden))

    def encode_text_tokens(self, text: torch.Tensor) -> torch.Tensor:
        """Projected caption tokens, shape (B, L, embed_dim) (causal attention only, as in CLIP)."""
        hidden = self.clip.text_model(input_ids=text).last_hidden_state
        return self.clip.text_projection(hidden)

    @staticmethod
    def eot_features(text_tokens: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """Token features at the EOT position (the largest id of each caption), shape (B, D)."""
        return text_tokens[torch.arange(text.size(0), device=text.device), text.argmax(dim=-1)]

    def extract_image_feat(self, img: torch.Tensor) -> torch.Tensor:
        """Global image feature (projected CLS), shape (B, embed_dim)."""
        return self.encode_image_tokens(img)[:, 0]

    def extract_text_feat(self, text: torch.Tensor) -> torch.Tensor:
        """Global caption feature (projected EOT token), shape (B, embed_dim)."""
        return self.eot_features(self.encode_text_tokens(text), text)

    # ----------------------------------------------------------------------------------------- modes
    def embed_image(self, inputs: dict, data_samples: Optional[List] = None) -> torch.Tensor:
        """Test feature of the images: the L2-normalised projected CLS token, shape (N, embed_dim) (so any
        metric ranks by cosine)."""
        return F.normalize(self.extract_image_feat(inputs['img']), dim=1)

    def embed_text(self, inputs: dict, data_samples: Optional[List] = None) -> torch.Tensor:
        """Test feature of the captions: the L2-normalised projected EOT token, shape (N, embed_dim)."""
        return F.normalize(self.extract_text_feat(inputs['text']), dim=1)

    def loss(self, inputs: dict, data_samples: List) -> dict:
        """SDM + ID (+ MLM) losses of a batch of paired images and captions; each is logged on its own.

        Every loss (and logged accuracy) is over the global batch: in a distributed run each rank gets the value
        of the 1-process run on the concatenated batch (SDM against the gathered features and ids, ID and
        accuracies global means, MLM the mean over the masked tokens of every rank). The rest of the model is
        per sample: LayerNorm only, and neither the CLIP towers (``attention_dropout`` 0, no other dropout) nor
        the IRR module (``nn.MultiheadAttention`` dropout 0) draw random numbers in training.
        """
        for key in ('img', 'text'):
            if key not in inputs:
                raise KeyError(f'IRRA.loss: training inputs need "{key}" (got {sorted(inputs)}); the train '
                               f'pipeline must load the image and run CLIPTokenize (+ MaskedLanguageModeling)')
        pids = gt_pids(data_samples, inputs['text'].device)
        image_tokens = self.encode_image_tokens(inputs['img'])
        image_feats = image_tokens[:, 0]
        caption = self._sdm_id_caption(inputs)
        caption_tokens = self.encode_text_tokens(caption)
        text_feats = self.eot_features(caption_tokens, caption)

        losses = dict(loss_sdm=self.loss_sdm(image_feats, text_feats, pids))
        if self.loss_id is not None:
            check_num_classes(pids, self.num_classes, type(self).__name__)
            image_logits = self.classifier(image_feats)
            text_logits = self.classifier(text_feats)
            losses['loss_id'] = self.loss_id(image_logits, pids) + self.loss_id(text_logits, pids)
            losses['acc_id_img'] = self._global_accuracy(image_logits, pids)
            losses['acc_id_text'] = self._global_accuracy(text_logits, pids)
        if self.loss_mlm is not None:
            # with masked captions for SDM/ID the IRR branch reads the same ids: one text forward serves both
            # (the official code runs two identical forwards; the gradients are the same)
            mlm_tokens = caption_tokens if self.id_sdm_on_masked_captions else None
            losses.update(self._mlm_losses(inputs, image_tokens, mlm_tokens))
        return losses

    @staticmethod
    def _global_accuracy(logits: torch.Tensor, pids: torch.Tensor) -> torch.Tensor:
        """Top-1 accuracy (logged, no gradient) of ``logits`` (B_r, C) over the global batch."""
        return distributed.global_mean((logits.argmax(1) == pids).float()).detach()

    def _sdm_id_caption(self, inputs: dict) -> torch.Tensor:
        """Caption ids (B, L) that SDM and ID train on: the masked ``mlm_text`` or the clean ``text``."""
        if not self.id_sdm_on_masked_captions:
            return inputs['text']
        if 'mlm_text' not in inputs:
            raise KeyError('IRRA.loss: model.id_sdm_on_masked_captions=True (the official behaviour) trains SDM '
                           'and ID on the masked captions "mlm_text"; add MaskedLanguageModeling after '
                           'CLIPTokenize in the train pipeline, or set model.id_sdm_on_masked_captions=False')
        return inputs['mlm_text']

    def _mlm_losses(self, inputs: dict, image_tokens: torch.Tensor,
                    mlm_tokens: Optional[torch.Tensor] = None) -> dict:
        if 'mlm_text' not in inputs or 'mlm_labels' not in inputs:
            raise KeyError('IRRA.loss: the MLM branch needs inputs "mlm_text" and "mlm_labels"; add '
                           'MaskedLanguageModeling after CLIPTokenize in the train pipeline, or set '
                           'model.loss_mlm=None')
        if mlm_tokens is None:
            mlm_tokens = self.encode_text_tokens(inputs['mlm_text'])
        fused = self.cross_modal(mlm_tokens, image_tokens)
        labels = inputs['mlm_labels']
        masked = labels != self.loss_mlm.ignore_index
        # the vocabulary projection only on masked positions: same loss, ~7x less memory than all 77 tokens. No
        # early return without masked tokens: the loss's global reduction must run on every rank, and the empty
        # selection keeps the head in the graph (zero gradients) so that DDP finds a gradient for every parameter
        scores = self.mlm_head(fused[masked])
        targets = labels[masked]
        correct = (scores.argmax(1) == targets).float()
        return dict(loss_mlm=self.loss_mlm(scores, targets),
                    acc_mlm=distributed.global_mean(correct).detach())
