"""AXM-Net (Farooq et al., AAAI 2022): text-to-image person ReID with cross-modal context-sharing blocks."""
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from plugins.core import distributed
from plugins.core.models.base import BaseReIDModel
from plugins.core.models.layers import id_classifier
from .axm_block import AXMBlock
from .export import AXMNetTextExtractor
from .part_attention import PartChannelAttention
from .text_encoder import WordConvTextStem
from .text_non_local import TextNonLocal


@MODELS.register_module()
class AXMNet(BaseReIDModel):
    """AXM-Net.

    Visual branch: CNN trunk (ResNet stages) -> visual map (B, C, H, W). Text branch: word embeddings as a
    ``1 x n`` map -> ``1 x 1`` projection to C channels -> residual ``1 x 3`` blocks. Both maps go through
    ``num_axm_blocks`` AXM-blocks (R receptive-field streams per modality, context gate shared across the
    modalities). Then the visual map gets part-based channel attention (K stripes, shared weights) and its
    global + part features are concatenated and projected to ``embed_dim``; the text map gets non-local
    attention over word positions, masked max pooling and a projection to ``embed_dim``.

    Losses: ``L = L_id + L_triplet + L_aff``: ID loss of a classifier shared by the two modalities (image and
    caption terms summed), cross-modal batch-hard triplet in both directions (image anchors against captions
    plus caption anchors against images) and ``CrossModalAffinityLoss`` over all image-caption pairs. Every
    loss is over the global batch (a distributed run computes the 1-process losses on every rank: ID loss a
    global mean, triplet mined and affinity paired on the gathered rows); the context gate draws one share
    decision per pair of the global batch.

    Inference: every sample is embedded on its own (the context gate uses the sample's own context in
    ``eval()``, see ``axm_block.py``), L2-normalised, so the metric ranks captions against images by cosine.

    Args:
        backbone (dict): visual trunk config returning a tuple of maps (the last is used), e.g. mmpretrain
            ``dict(type='ResNet', depth=50, num_stages=3, out_indices=(2,), strides=(1, 2, 2))``.
        in_channels (int): channels of the visual trunk's map (1024 for ResNet-50 stage 3).
        vocab_size (int): ids of the word embedding (ids from ``WordTokenize``, 0 = padding);
            ``WordVocabularyHook`` keeps at most this many words of the training captions.
        num_classes (int): number of training identities.
        word_embed_dim (int): word embedding size. Defaults to 300.
        num_text_blocks (int): residual ``1 x 3`` blocks of the text stem. Defaults to 2.
        num_axm_blocks (int): stacked AXM-blocks. Defaults to 2.
        axm_channels (int, optional): output channels of the AXM-blocks. Defaults to ``in_channels``.
        kernel_sizes (Sequence[int]): receptive fields of the R streams. Defaults to (1, 3, 5).
        gate_reduction (int): bottleneck ratio of the context mini-network. Defaults to 16.
        share_prob (float): probability that a training pair shares its AXM context. Defaults to 0.5.
        num_parts (int): horizontal parts K of the visual attention. Defaults to 6.
        embed_dim (int): joint embedding size. Defaults to 1024.
        loss_id (dict): ID loss config. Defaults to label-smoothed cross-entropy.
        loss_triplet (dict, optional): cross-modal triplet config (``TripletLoss``).
        loss_affinity (dict, optional): ``CrossModalAffinityLoss`` config.
        data_preprocessor, init_cfg (dict, optional): as in :class:`~plugins.core.models.base.BaseReIDModel`.
    """

    #: ONNX export: the text tower alone (stem, the AXM blocks' text path, the joint-space embedding)
    text_extractor = AXMNetTextExtractor

    def __init__(self,
                 backbone: dict,
                 in_channels: int,
                 vocab_size: int,
                 num_classes: int,
                 word_embed_dim: int = 300,
                 num_text_blocks: int = 2,
                 num_axm_blocks: int = 2,
                 axm_channels: Optional[int] = None,
                 kernel_sizes: Sequence[int] = (1, 3, 5),
                 gate_reduction: int = 16,
                 share_prob: float = 0.5,
                 num_parts: int = 6,
                 embed_dim: int = 1024,
                 loss_id: dict = dict(type='CrossEntropyLabelSmoothLoss', epsilon=0.1),
                 loss_triplet: Optional[dict] = dict(type='TripletLoss', margin=0.3, norm_feat=True),
                 loss_affinity: Optional[dict] = dict(type='CrossModalAffinityLoss', form='paper'),
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(num_classes, data_preprocessor, init_cfg)
        self.set_vocab_size(vocab_size)  # WordVocabularyHook keeps at most this many ids
        axm_channels = axm_channels or in_channels
        self.backbone = MODELS.build(backbone)
        self.text_stem = WordConvTextStem(vocab_size, word_embed_dim, in_channels, num_text_blocks)
        self.axm_blocks = nn.ModuleList(
            AXMBlock(in_channels if i == 0 else axm_channels, axm_channels, kernel_sizes=kernel_sizes,
                     reduction=gate_reduction, share_prob=share_prob) for i in range(num_axm_blocks))
        self.part_attention = PartChannelAttention(axm_channels, num_parts)
        self.text_non_local = TextNonLocal(axm_channels)
        self.visual_proj = nn.Sequential(nn.Linear((1 + num_parts) * axm_channels, embed_dim),
                                         nn.BatchNorm1d(embed_dim))
        self.text_proj = nn.Sequential(nn.Linear(axm_channels, embed_dim), nn.BatchNorm1d(embed_dim))
        self.classifier = id_classifier(embed_dim, num_classes)  # shared by the two modalities
        self.loss_id = MODELS.build(loss_id)
        self.loss_triplet = MODELS.build(loss_triplet) if loss_triplet else None
        self.loss_affinity = MODELS.build(loss_affinity) if loss_affinity else None

    # ------------------------------------------------------------------ features
    def _axm(self, img: Optional[torch.Tensor], text: Optional[torch.Tensor]):
        """Visual/text maps after the AXM-blocks; either input may be None (then it is not computed)."""
        v = self.backbone(img)[-1] if img is not None else None
        t, mask = self.text_stem(text) if text is not None else (None, None)
        for block in self.axm_blocks:
            v, t = block(v, t, mask)
        return v, t, mask

    def _visual_embedding(self, v_map: torch.Tensor) -> torch.Tensor:
        global_feat, part_feats, _ = self.part_attention(v_map)
        return self.visual_proj(torch.cat([global_feat, part_feats.flatten(1)], dim=1))

    def text_embedding(self, t_map: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Joint-space caption embedding of the last AXM block's text map (B, C, 1, L) and its word mask (B, L),
        before L2 normalisation, shape (B, D)."""
        t = self.text_non_local(t_map, mask).squeeze(2)  # (B, C, L)
        pooled = t.masked_fill(~mask[:, None, :], float('-inf')).max(dim=2).values
        return self.text_proj(pooled)

    def extract_feat(self, img: Optional[torch.Tensor] = None, text: Optional[torch.Tensor] = None):
        """Joint-space embeddings (before normalisation).

        Args:
            img (Tensor | None): images, (B, 3, H, W).
            text (Tensor | None): word ids, (B', L), 0 = padding. With both given in training and B == B',
                row i of each is one pair (their AXM contexts may be shared).

        Returns:
            tuple: ``(img_feats (B, D) | None, text_feats (B', D) | None)``.
        """
        v_map, t_map, mask = self._axm(img, text)
        img_feats = self._visual_embedding(v_map) if v_map is not None else None
        text_feats = self.text_embedding(t_map, mask) if t_map is not None else None
        return img_feats, text_feats

    # ------------------------------------------------------------------ modes
    def embed_image(self, inputs: dict, data_samples: Optional[List] = None) -> torch.Tensor:
        """Test feature of the images: the L2-normalised joint-space embedding, shape (N, embed_dim)."""
        return F.normalize(self.extract_feat(img=inputs['img'])[0], dim=1)

    def embed_text(self, inputs: dict, data_samples: Optional[List] = None) -> torch.Tensor:
        """Test feature of the captions (word ids (N, L), 0 = padding), L2-normalised, shape (N, embed_dim)."""
        return F.normalize(self.extract_feat(text=inputs['text'])[1], dim=1)

    def cross_modal_triplet(self, img_feats: torch.Tensor, text_feats: torch.Tensor,
                            pids: torch.Tensor) -> torch.Tensor:
        """Batch-hard triplet in both directions over the global batch: image anchors against the captions plus
        caption anchors against the images.

        ``TripletLoss`` gathers the rows of every rank itself (once per call), so each direction mines over
        every anchor and every candidate of the global batch; the local rows are passed here.

        Args:
            img_feats (Tensor): this rank's image embeddings, (B, D).
            text_feats (Tensor): this rank's caption embeddings, (B, D); row i is the caption of image i.
            pids (Tensor): their person ids, (B,).
        """
        return (self.loss_triplet(img_feats, pids, text_feats, pids)
                + self.loss_triplet(text_feats, pids, img_feats, pids))

    def loss(self, inputs: dict, data_samples: List) -> dict:
        if 'img' not in inputs or 'text' not in inputs:
            raise KeyError(f'AXMNet.loss: a training batch needs both inputs["img"] and inputs["text"] (an image '
                           f'and its caption per sample, tokenised by WordTokenize); got keys {sorted(inputs)}')
        if not torch.equal(inputs['img_index'], inputs['text_index']):
            raise ValueError('AXMNet.loss: every training sample must carry an image and a caption')
        pids = self.training_pids(data_samples, inputs['img'].device)
        img_feats, text_feats = self.extract_feat(inputs['img'], inputs['text'])
        img_logits, text_logits = self.classifier(img_feats), self.classifier(text_feats)
        losses = dict(loss_id=self.loss_id(img_logits, pids) + self.loss_id(text_logits, pids))
        if self.loss_triplet is not None:
            losses['loss_triplet'] = self.cross_modal_triplet(img_feats, text_feats, pids)
        if self.loss_affinity is not None:
            losses['loss_affinity'] = self.loss_affinity(img_feats, text_feats, pids)
        # over the global batch, as every logged number (each rank logs its own values)
        losses['acc_id_img'] = distributed.global_mean((img_logits.argmax(1) == pids).to(img_logits.dtype)).detach()
        losses['acc_id_text'] = distributed.global_mean((text_logits.argmax(1) == pids).to(text_logits.dtype)).detach()
        return losses
