"""CASN: Consistent Attentive Siamese Networks (Zheng, Karanam, Wu, Radke, CVPR 2019)."""
from contextlib import contextmanager
from typing import List, NamedTuple, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from plugins.core.models.base import BaseReIDModel
from plugins.core.models.gradcam import grad_cam, grad_cam_from_probe
from .heads import build_head
from .pair_sampling import sample_pairs
from .siamese_head import SiameseHead


@contextmanager
def frozen_bn_statistics(module: nn.Module):
    """BatchNorm layers normalise with the batch's statistics but leave their running averages unchanged.

    Used for the masked images of L_ia: their statistics (attended region erased) differ from those of real
    images, and folding them into the running averages would skew the test-time normalisation.
    """
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.momentum = 0.0  # running = (1 - 0) * running + 0 * batch
    try:
        yield
    finally:
        for m, momentum in zip(norms, saved):
            m.momentum = momentum


class CASNFeatures(NamedTuple):
    """What one forward of CASN's network gives."""
    feat_map: torch.Tensor  #: last backbone feature map A, the Grad-CAM layer, (B, C, h, w)
    embedding: torch.Tensor  #: f, the test feature and the Siamese feature, (B, D)
    logits: List[torch.Tensor]  #: one (B, num_classes) tensor per classifier
    probe: Optional[torch.Tensor] = None  #: zero (B, C) shift of A's pooled features (Grad-CAM weights)


@MODELS.register_module()
class CASN(BaseReIDModel):
    """IDE or PCB baseline + identification attention + Siamese module with attention consistency.

    One shared backbone; Grad-CAM is taken on its last feature map (``cam_target_layer = 'backbone'``, the
    last element of its output tuple -- the same activations :class:`~plugins.core.hooks.GradCAMHook` and
    ``tools/visualize_attention.py`` use). The training maps are per image exactly (map n from ``d s_n / d A_n``
    alone, although the heads' BatchNorm couples the images in training), with their channel weights taken
    from a zero shift probe on the pooled features (:func:`~plugins.core.models.gradcam.grad_cam_from_probe`).
    Training loss (each term logged)::

        L = L_id + lambda_ia L_ia + lambda_sia L_sia + lambda_sa L_sa

    - ``loss_id``: cross-entropy per classifier (summed over the PCB stripes).
    - ``loss_ia``: :class:`IdentificationAttentionLoss` on the Grad-CAM of the true-class logit (summed over
      stripes); the masked image goes through the same network.
    - ``loss_sia``: BCE of the Siamese head on pairs drawn in the P x K batch (half positive).
    - ``loss_sa``: :class:`SiameseAttentionLoss` on the positive pairs, with maps = Grad-CAM of the importance
      score ``s_i = sum of the positive elements of f_i``.

    Inference: the embedding ``f`` (IDE: 512-d BN output; PCB: 6 x 256 stripes concatenated).

    Args:
        backbone (dict): backbone config returning a tuple of feature maps (the last is used), e.g.
            ``dict(type='ResNet', depth=50, strides=(1, 2, 2, 1))`` (PCB needs last stride 1).
        num_classes (int): training identities.
        head (str): ``'ide'`` or ``'pcb'``. Defaults to ``'pcb'``.
        head_cfg (dict, optional): extra head arguments (IDE: ``embed_dim``, ``dropout``; PCB:
            ``num_stripes``, ``stripe_dim``, ``dropout``).
        in_channels (int, optional): channels of the last feature map; defaults to ``backbone.feat_dim``.
        loss_id (dict): ID loss per classifier. Defaults to plain cross-entropy.
        loss_ia (dict, optional): identification attention loss; None disables it.
        loss_sia_weight (float): lambda_sia of the Siamese BCE; 0 disables it. Defaults to 1.0.
        loss_sa (dict, optional): Siamese attention loss; None disables it.
        num_pairs (int, optional): Siamese pairs per batch. Defaults to batch size // 2.
        data_preprocessor (dict, optional): defaults to ``ReIDDataPreprocessor``.
        init_cfg (dict, optional): weight initialisation (e.g. pretrained backbone).
    """

    cam_target_layer = 'backbone'

    def __init__(self,
                 backbone: dict,
                 num_classes: int,
                 head: str = 'pcb',
                 head_cfg: Optional[dict] = None,
                 in_channels: Optional[int] = None,
                 loss_id: dict = dict(type='CrossEntropyLabelSmoothLoss', epsilon=0.0),
                 loss_ia: Optional[dict] = dict(type='IdentificationAttentionLoss', alpha=10.0, beta=0.5),
                 loss_sia_weight: float = 1.0,
                 loss_sa: Optional[dict] = dict(type='SiameseAttentionLoss', threshold=0.5),
                 num_pairs: Optional[int] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(num_classes, data_preprocessor, init_cfg)
        self.backbone = MODELS.build(backbone)
        in_channels = in_channels or getattr(self.backbone, 'feat_dim', None)
        if in_channels is None:
            raise ValueError('CASN: give `model.in_channels` (the backbone has no `feat_dim` attribute)')
        self.head_type = head
        self.head = build_head(head, in_channels, num_classes, **(head_cfg or {}))
        self.siamese_head = SiameseHead(self.head.embed_dim)
        self.loss_id = MODELS.build(loss_id)
        self.loss_ia = MODELS.build(loss_ia) if loss_ia else None
        self.loss_sa = MODELS.build(loss_sa) if loss_sa else None
        self.loss_sia_weight = loss_sia_weight
        self.num_pairs = num_pairs

    # ------------------------------------------------------------------------------------------ features
    def extract(self, img: torch.Tensor, probe: bool = False) -> CASNFeatures:
        """Feature map (B, C, h, w), embedding f (B, D), the list of logits (B, num_classes) and, with
        ``probe``, the Grad-CAM probe: a zero (B, C) tensor that requires grad, added to the head's pooled
        features (the same as adding it to the feature map at every position)."""
        feat_map = self.backbone(img)[-1]
        shift = feat_map.new_zeros(feat_map.shape[:2], requires_grad=True) if probe else None
        f, logits = self.head(feat_map, shift)
        return CASNFeatures(feat_map, f, logits, shift)

    def classify(self, img: torch.Tensor) -> List[torch.Tensor]:
        """Logits of every classifier for ``img`` (the path the masked images take; BN running statistics
        are left to the real images)."""
        with frozen_bn_statistics(self):
            return self.extract(img)[2]

    @staticmethod
    def importance_score(f: torch.Tensor) -> torch.Tensor:
        """Siamese importance score s_i = sum of the elements of f_i that are > 0, shape (B,)."""
        return f.clamp(min=0).sum(dim=1)

    @staticmethod
    def attention_maps(feats: CASNFeatures, scores: torch.Tensor, size, create_graph: bool = True) -> torch.Tensor:
        """Per-image Grad-CAM of ``scores`` (B,) on ``feats.feat_map``, shape (B, 1, H, W); through the probe
        when ``feats`` has one (a few matrix products), else by per-image backward passes to the map."""
        if feats.probe is None:
            return grad_cam(feats.feat_map, scores, output_size=size, create_graph=create_graph, retain_graph=True)
        return grad_cam_from_probe(feats.feat_map, scores, feats.probe, output_size=size,
                                   create_graph=create_graph, retain_graph=True)

    def identification_maps(self, feats: CASNFeatures, pids, size, create_graph=True):
        """Grad-CAM of the true-class logit (summed over classifiers), shape (B, 1, H, W)."""
        score = torch.stack([lg.gather(1, pids.view(-1, 1)).squeeze(1) for lg in feats.logits]).sum(0)
        return self.attention_maps(feats, score, size, create_graph)

    def siamese_maps(self, feats: CASNFeatures, size, create_graph=True):
        """Grad-CAM of the importance score s_i, shape (B, 1, H, W)."""
        return self.attention_maps(feats, self.importance_score(feats.embedding), size, create_graph)

    # ------------------------------------------------------------------------------------------ modes
    def embed_image(self, inputs: dict, data_samples: Optional[List] = None) -> torch.Tensor:
        """Test feature: the embedding ``f``, shape (N, D)."""
        return self.extract(inputs['img'])[1]

    def loss(self, inputs: dict, data_samples: List) -> dict:
        img = inputs['img']
        pids = self.training_pids(data_samples, img.device)
        size = tuple(img.shape[-2:])
        feats = self.extract(img, probe=self.loss_ia is not None or self.loss_sa is not None)
        f, logits = feats.embedding, feats.logits
        losses = dict(loss_id=sum(self.loss_id(lg, pids) for lg in logits))
        losses['acc_id'] = (torch.stack(logits).sum(0).argmax(1) == pids).float().mean().detach()

        if self.loss_ia is not None:
            maps = self.identification_maps(feats, pids, size)
            losses['loss_ia'] = self.loss_ia(img, maps, pids, self.classify)

        if self.loss_sia_weight > 0 or self.loss_sa is not None:
            first, second, same = sample_pairs(pids, self.num_pairs)
            if self.loss_sia_weight > 0:
                pair_logits = self.siamese_head(f[first], f[second])
                losses['loss_sia'] = self.loss_sia_weight * F.binary_cross_entropy_with_logits(
                    pair_logits, same.float())
                losses['acc_sia'] = ((pair_logits > 0) == same).float().mean().detach()
            if self.loss_sa is not None:
                maps = self.siamese_maps(feats, size)
                losses['loss_sa'] = self.loss_sa(maps[first[same]], maps[second[same]])
        return losses
