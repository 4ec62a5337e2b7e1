"""CASN: Consistent Attentive Siamese Networks (Zheng, Karanam, Wu, Radke, CVPR 2019)."""
from contextlib import contextmanager
from typing import List, NamedTuple, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from plugins.core import distributed
from plugins.core.models.base import BaseReIDModel
from plugins.core.models.layers import backbone_channels
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
    - ``loss_sia``: BCE of the Siamese head on pairs drawn in the (global) P x K batch (half positive).
    - ``loss_sa``: :class:`SiameseAttentionLoss` on the positive pairs, with maps = Grad-CAM of the importance
      score ``s_i = sum of the positive elements of f_i``.

    Distributed training (W processes, each a contiguous slice of the global batch) takes the 1-process step:
    the Grad-CAM maps are computed per local image (exact: BatchNorm over the global batch, and its
    collectives are the identity for the per-image batched cotangents); ``loss_id``, ``loss_ia`` and
    ``acc_id`` are means over the global batch; the Siamese pairs are drawn on the gathered batch with a
    generator shared by every rank (a pair may join images of two ranks), and ``loss_sia`` / ``loss_sa`` are
    computed on the gathered embeddings / maps. Every rank holds the same loss values.

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
        data_preprocessor, init_cfg (dict, optional): as in :class:`~plugins.core.models.base.BaseReIDModel`
            (``init_cfg``: e.g. a pretrained backbone).
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
        in_channels = backbone_channels(self.backbone, in_channels, 'CASN')
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

    def check_distributed_batchnorm(self) -> None:
        """Refuse ``torch.nn.SyncBatchNorm`` in a distributed training step: its backward (raw collectives and
        fused kernels) is not exact under the batched, twice-differentiated per-image Grad-CAM gradients of
        the attention losses, while :class:`~plugins.core.distributed.GlobalBatchNorm` is."""
        if not self.training or not distributed.is_distributed():
            return
        if any(isinstance(m, nn.SyncBatchNorm) for m in self.modules()):
            raise RuntimeError("CASN: distributed training needs BatchNorm that is exact under its Grad-CAM "
                               "losses' batched double backward; set sync_bn = 'global' in the config "
                               "(GlobalBatchNorm) instead of 'torch' (torch.nn.SyncBatchNorm)")

    def loss(self, inputs: dict, data_samples: List) -> dict:
        self.check_distributed_batchnorm()
        img = inputs['img']
        pids = self.training_pids(data_samples, img.device)
        size = tuple(img.shape[-2:])
        feats = self.extract(img, probe=self.loss_ia is not None or self.loss_sa is not None)
        f, logits = feats.embedding, feats.logits
        losses = dict(loss_id=sum(self.loss_id(lg, pids) for lg in logits))
        correct = (torch.stack(logits).sum(0).argmax(1) == pids).float()
        losses['acc_id'] = distributed.global_mean(correct).detach()

        if self.loss_ia is not None:
            maps = self.identification_maps(feats, pids, size)
            losses['loss_ia'] = self.loss_ia(img, maps, pids, self.classify)

        if self.loss_sia_weight > 0 or self.loss_sa is not None:
            first, second, same = self.global_pairs(pids)
            if self.loss_sia_weight > 0:
                losses.update(self.siamese_loss(f, first, second, same))
            if self.loss_sa is not None:
                losses['loss_sa'] = self.siamese_attention_loss(self.siamese_maps(feats, size), first, second, same)
        return losses

    def global_pairs(self, pids: torch.Tensor):
        """Siamese pairs drawn on the global batch: the 1-process draw at any world size.

        Args:
            pids (Tensor): this rank's training ids, shape (B_r,).

        Returns:
            tuple[Tensor, Tensor, Tensor]: first / second indices into the gathered batch (rank order) and
            ``same`` (bool), each (num_pairs,), as :func:`sample_pairs`; ``num_pairs`` defaults to half the
            global batch.
        """
        # every rank draws the same pairs from the same gathered ids with the same stream
        return sample_pairs(distributed.all_gather_no_grad(pids), self.num_pairs,
                            generator=distributed.shared_generator('casn.pairs'))

    def siamese_loss(self, f: torch.Tensor, first: torch.Tensor, second: torch.Tensor, same: torch.Tensor) -> dict:
        """``loss_sia`` (BCE of the Siamese head, mean over the pairs) and ``acc_sia`` on the global batch.

        Args:
            f (Tensor): this rank's embeddings, shape (B_r, D).
            first, second, same (Tensor): pairs of the gathered batch (:meth:`global_pairs`), (num_pairs,).
        """
        f = distributed.all_gather_with_grad(f)  # exact gradient: the gather's backward sums over ranks
        pair_logits = self.siamese_head(f[first], f[second])
        bce = F.binary_cross_entropy_with_logits(pair_logits, same.to(pair_logits.dtype))
        return dict(loss_sia=self.loss_sia_weight * bce, acc_sia=((pair_logits > 0) == same).float().mean().detach())

    def siamese_attention_loss(self, maps: torch.Tensor, first: torch.Tensor, second: torch.Tensor,
                               same: torch.Tensor) -> torch.Tensor:
        """``loss_sa`` on the positive pairs of the global batch.

        Args:
            maps (Tensor): Grad-CAM maps of this rank's images (computed per local image, exact), (B_r, 1, H, W).
            first, second, same (Tensor): pairs of the gathered batch (:meth:`global_pairs`), (num_pairs,).
        """
        maps = distributed.all_gather_with_grad(maps)  # a positive pair may join images of two ranks
        return self.loss_sa(maps[first[same]], maps[second[same]])
