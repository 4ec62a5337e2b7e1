"""CAL: concordant attention learning for visible-infrared ReID (Wu et al., ICCV 2023), with MatchDistill."""
import math
from typing import List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from plugins.core import distributed
from plugins.core.models.base import BaseReIDModel
from plugins.core.models.layers import BNNeck, id_classifier
from .drm import DRM
from .export import CALImageExtractor
from .global_batch import all_rows_local, cross_modal_layout, draw_global_partners, modality_groups, take_global_rows
from .matching import attention_overlap, batch_edge_weights, inverse_matching, max_weight_matching
from .tsaa import TSAA
from .two_stream import TwoStreamResNet

INFRARED_NAMES = ('infrared', 'thermal')


def modality_mask(data_samples, batch_size: int, device) -> torch.Tensor:
    """Bool (B,): True for infrared/thermal samples (``metainfo['modality']``); visible when unknown."""
    if data_samples is None:
        return torch.zeros(batch_size, dtype=torch.bool, device=device)
    flags = [s.metainfo.get('modality', 'visible') in INFRARED_NAMES for s in data_samples]
    return torch.tensor(flags, dtype=torch.bool, device=device)


def find_partners(pids: torch.Tensor, is_infrared: torch.Tensor, generator=None):
    """Draw, for every sample, a random same-identity sample of the other modality in the batch.

    The partner is found through the pids (not through positions in the batch), so any batch layout works.
    Training calls it on the 1-process batch with a shared generator (:func:`draw_global_partners`).

    Args:
        pids (Tensor): shape (B,).
        is_infrared (Tensor): bool, shape (B,).
        generator (torch.Generator, optional): a CPU generator for the draw (default: the global RNG).

    Returns:
        tuple: partner index (B,) long (a sample without partner points to itself) and ``valid`` (B,) bool.
    """
    candidates = (pids.view(-1, 1) == pids.view(1, -1)) & (is_infrared.view(-1, 1) != is_infrared.view(1, -1))
    # drawn on the CPU (where a shared generator lives), so the draw does not depend on the device either
    noise = torch.rand(candidates.shape, generator=generator).to(pids.device)
    partner = noise.masked_fill(~candidates, -1.0).argmax(1)
    valid = candidates.any(1)
    partner = torch.where(valid, partner, torch.arange(pids.numel(), device=pids.device))
    return partner, valid


@MODELS.register_module()
class CAL(BaseReIDModel):
    """Concordant attention learning with modality-specific DRMs, a shared TSAA and MatchDistill.

    Training (``loss``): ResNet with modality-specific stem -> feature map ``X``; global branch (pool -> BNNeck ->
    ID classifier); per-modality DRM -> part queries ``P``; TSAA self refinement ``A(T_i; P_i)`` and cross
    refinement ``A(T_j; P_i)`` with a random same-identity partner ``j`` of the other modality; losses
    ``L_id + L_pcl + l1 L_kd1 + l2 L_kd2 + l3 L_dis + l4 L_div`` (the lambdas are the ``loss_weight`` of the
    loss configs). The infrared->visible part matching of the batch is solved by ``part_matcher`` (Hungarian
    by default) and exposed as ``last_matching`` for ``MatchDistillHook``, which counts it and eventually fixes
    the most frequent one in the ``part_matching`` buffer.

    The KD losses are switched on from training epoch ``kd_begin_epoch`` (warm-up; the epoch is set by
    ``TrainEpochHook``).

    Distributed training takes the 1-process step: the partners are drawn on the global batch in its 1-process
    order (``plugins.cal.global_batch``), the matching is solved on the global batch-mean overlaps (the same on
    every rank), the PCL centres are those of the gathered embeddings and every per-sample mean is a mean over
    the global batch.

    Inference (:meth:`embed_image`): global feature + the N_p self-refined part features, visible parts reordered by
    ``part_matching`` (infrared part u <-> visible part ``part_matching[u]``), each block BN'ed (and
    L2-normalised), concatenated. No query-gallery interaction.

    Args:
        backbone (dict): mmpretrain ``ResNet`` config (``strides=(1, 2, 2, 1)`` for last stride 1).
        num_classes (int): training identities.
        num_parts (int): ``N_p``. Defaults to 6.
        alpha (float): token selection ratio of the DRM. Defaults to 1.0.
        pool_sizes (tuple[int]): max-pool kernels of the DRM part scorer.
        drm_reduce_channels (int, optional): per-branch 1x1 reduction in the part scorer.
        tsaa (dict): ``TSAA`` kwargs besides ``in_channels`` (``embed_dim``, ``hidden_dim``, ``channel_reduction``).
        num_specific_stages (int): residual stages that are modality-specific on top of the stem (AGW: 0).
        global_pool (str): ``'gem'`` or ``'avg'``.
        loss_id (dict): ID loss of the global feature and of the self-refined part features (``L_id``).
        loss_pcl, loss_kd1, loss_kd2, loss_dis, loss_div (dict): loss configs; ``loss_weight`` is the lambda.
        loss_triplet (dict, optional): extra batch-hard triplet on the global feature (not in the paper).
        kd_begin_epoch (int): first training epoch (0-based) with the KD losses ``L_kd1``, ``L_kd2``; needs
            ``TrainEpochHook`` in ``custom_hooks`` when > 0. Defaults to 0.
        normalize_test_feats (bool): L2-normalise every block of the test feature (global, parts) and scale by
            ``1/sqrt(N_p + 1)`` so each block weighs the same. Defaults to True.
        data_preprocessor, init_cfg (dict, optional): as in :class:`~plugins.core.models.base.BaseReIDModel`.
    """

    #: ONNX export: both stems and DRMs on the whole batch, the modality as a second graph input
    image_extractor = CALImageExtractor

    def __init__(self,
                 backbone: dict,
                 num_classes: int,
                 num_parts: int = 6,
                 alpha: float = 1.0,
                 pool_sizes=(1, 3, 5),
                 drm_reduce_channels: Optional[int] = None,
                 tsaa: dict = dict(embed_dim=256),
                 num_specific_stages: int = 0,
                 global_pool: str = 'gem',
                 loss_id: dict = dict(type='CrossEntropyLabelSmoothLoss', epsilon=0.1),
                 loss_pcl: dict = dict(type='PartAlignedCenterLoss', margin=0.3),
                 loss_kd1: dict = dict(type='MatchDistillFeatureLoss', loss_weight=0.1),
                 loss_kd2: dict = dict(type='MatchDistillScoreLoss', loss_weight=1.0),
                 loss_dis: dict = dict(type='DistinctionLoss', loss_weight=0.1),
                 loss_div: dict = dict(type='DiversityLoss', loss_weight=0.1),
                 loss_triplet: Optional[dict] = None,
                 kd_begin_epoch: int = 0,
                 normalize_test_feats: bool = True,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(num_classes, data_preprocessor, init_cfg)
        self.backbone = TwoStreamResNet(MODELS.build(backbone), num_specific_stages)
        channels = self.backbone.resnet.feat_dim
        self.num_parts = num_parts
        if global_pool == 'gem':
            self.pool = MODELS.build(dict(type='GeneralizedMeanPooling'))
        elif global_pool == 'avg':
            self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1))
        else:
            raise ValueError(f"CAL: global_pool must be 'gem' or 'avg', got {global_pool!r}")
        self.neck = BNNeck(channels)
        self.classifier = id_classifier(channels, num_classes)
        drm_kwargs = dict(in_channels=channels, num_parts=num_parts, num_classes=num_classes, alpha=alpha,
                          pool_sizes=tuple(pool_sizes), reduce_channels=drm_reduce_channels)
        self.drm_visible = DRM(**drm_kwargs)
        self.drm_infrared = DRM(**drm_kwargs)
        self.tsaa = TSAA(channels, **tsaa)
        # Refined part embeddings share one BNNeck + classifier (their posteriors are compared by L_kd2).
        self.part_neck = BNNeck(channels)
        self.part_classifier = id_classifier(channels, num_classes)
        self.loss_id = MODELS.build(loss_id)
        self.loss_pcl = MODELS.build(loss_pcl)
        self.loss_kd1 = MODELS.build(loss_kd1)
        self.loss_kd2 = MODELS.build(loss_kd2)
        self.loss_dis = MODELS.build(loss_dis)
        self.loss_div = MODELS.build(loss_div)
        self.loss_triplet = MODELS.build(loss_triplet) if loss_triplet else None
        self.kd_begin_epoch = kd_begin_epoch
        self.normalize_test_feats = normalize_test_feats
        # M-hat: infrared part u <-> visible part part_matching[u]; saved with the weights.
        self.register_buffer('part_matching', torch.arange(num_parts))
        self.register_buffer('matching_fixed', torch.tensor(False))
        # The matching solver of every step (Hungarian); MatchDistillHook reads last_matching.
        self.part_matcher = max_weight_matching
        self.last_matching = None

    @property
    def kd_active(self) -> bool:
        """Whether the KD losses are on: from training epoch ``kd_begin_epoch`` on."""
        return self.train_epoch >= self.kd_begin_epoch

    # ------------------------------------------------------------------ features
    def _parts(self, feat_map: torch.Tensor, is_infrared: torch.Tensor):
        """Run each sample through its modality's DRM. Returns P (B,N_p,C), S_hat (B,HW,N_p), T (B,HW,C),
        DRM part logits (B,N_p,num_classes)."""
        b, c, h, w = feat_map.shape
        parts = feat_map.new_zeros(b, self.num_parts, c)
        selected = feat_map.new_zeros(b, h * w, self.num_parts)
        logits = feat_map.new_zeros(b, self.num_parts, self.num_classes)
        for flag, idx in modality_groups(is_infrared):
            drm = self.drm_infrared if flag else self.drm_visible
            p, s, _ = drm(feat_map[idx])
            parts = parts.index_copy(0, idx, p)
            selected = selected.index_copy(0, idx, s)
            if self.training:
                logits = logits.index_copy(0, idx, drm.classify(p))
        tokens = feat_map.flatten(2).transpose(1, 2)
        return parts, selected, tokens, logits

    def _part_logits(self, feats: torch.Tensor) -> torch.Tensor:
        """Shared part BNNeck + classifier: (B, N_p, C) -> (B, N_p, num_classes)."""
        b, n, c = feats.shape
        return self.part_classifier(self.part_neck(feats.reshape(b * n, c))).view(b, n, -1)

    def extract_feat(self, img: torch.Tensor, is_infrared: torch.Tensor) -> torch.Tensor:
        """Test feature: [global | part_1 .. part_Np], parts in the M-hat order. Shape (B, (N_p + 1) C)."""
        feat_map = self.backbone(img, is_infrared)
        global_feat = self.neck(self.pool(feat_map))
        parts, _, tokens, _ = self._parts(feat_map, is_infrared)
        return self.assemble_test_feature(global_feat, tokens, parts, is_infrared)

    def assemble_test_feature(self, global_feat: torch.Tensor, tokens: torch.Tensor, parts: torch.Tensor,
                              is_infrared: torch.Tensor) -> torch.Tensor:
        """TSAA refinement, part BNNeck, M-hat reordering and normalisation of the test feature.

        Args:
            global_feat (Tensor): (B, C) after the global BNNeck.
            tokens (Tensor): (B, HW, C) flattened feature map.
            parts (Tensor): (B, N_p, C) part features of the modality's DRM.
            is_infrared (Tensor): bool (B,).

        Returns:
            Tensor: (B, (N_p + 1) C).
        """
        refined, _ = self.tsaa(tokens, parts)
        b, n, c = refined.shape
        refined = self.part_neck(refined.reshape(b * n, c)).view(b, n, c)
        # Visible images list their parts as part_matching[0], part_matching[1], ... so that block k of a
        # visible feature and block k of an infrared feature describe the same region.
        order = torch.where(is_infrared.view(-1, 1), torch.arange(n, device=refined.device).view(1, -1),
                            self.part_matching.view(1, -1))
        refined = refined.gather(1, order.unsqueeze(-1).expand(-1, -1, c))
        blocks = torch.cat([global_feat.unsqueeze(1), refined], dim=1)
        if self.normalize_test_feats:
            blocks = F.normalize(blocks, dim=-1) / math.sqrt(n + 1)
        return blocks.flatten(1)

    # ------------------------------------------------------------------ modes
    def embed_image(self, inputs: dict, data_samples: Optional[List] = None) -> torch.Tensor:
        """Test features, shape (N, (N_p + 1) C); each image's ``metainfo['modality']`` picks its stem and DRM
        (visible when there are no data samples)."""
        img = inputs['img']
        samples = self.samples_of(inputs, data_samples)
        return self.extract_feat(img, modality_mask(samples, img.size(0), img.device))

    def current_matching(self, edge_weights: torch.Tensor) -> torch.Tensor:
        """The matching the losses use: M-hat once fixed, else the batch's maximum-weight matching."""
        if bool(self.matching_fixed):
            return self.part_matching.clone()
        return self.part_matcher(edge_weights).to(edge_weights.device)

    def global_partners(self, pids: torch.Tensor, is_infrared: torch.Tensor):
        """Each sample's random same-identity partner of the other modality, drawn on the global batch.

        The draw is the 1-process draw (the 1-process batch order, ``shared_generator('cal.partners')``), so it
        does not depend on the world size nor on the per-rank global RNG.

        Args:
            pids (Tensor): long (B,) of this rank.
            is_infrared (Tensor): bool (B,) of this rank.

        Returns:
            tuple: a ``take(x)`` function giving the partners' rows of a per-sample tensor ``x`` (B, ...) of this
            rank (gathered from the other ranks only where a partner lives there), and ``valid`` (B,) bool.
        """
        layout = cross_modal_layout(pids, is_infrared)
        partner, valid = draw_global_partners(layout, find_partners)
        partner, valid = partner.to(pids.device), valid.to(pids.device)
        local = all_rows_local(partner, layout)  # the sampler's layout: every partner on its own rank
        return (lambda x: take_global_rows(x, partner, layout, local)), valid[layout.local]

    def loss(self, inputs: dict, data_samples: List) -> dict:
        """CAL's training losses. Batch-level terms are over the global batch (see ``plugins.core.distributed``):
        partners drawn on the 1-process batch, one matching of the global batch-mean overlaps, PCL centres of
        the gathered embeddings, global means elsewhere; every rank gets the 1-process value."""
        img = inputs['img']
        pids = self.training_pids(data_samples, img.device)
        is_infrared = modality_mask(data_samples, img.size(0), img.device)

        feat_map = self.backbone(img, is_infrared)
        global_feat = self.pool(feat_map)
        logits = self.classifier(self.neck(global_feat))
        parts, selected, tokens, drm_logits = self._parts(feat_map, is_infrared)

        of_partner, valid = self.global_partners(pids, is_infrared)
        self_feats, self_attn = self.tsaa(tokens, parts)
        cross_feats, cross_attn = self.tsaa(of_partner(tokens), parts)  # A(T_partner(i); P_i)
        refined_logits = self._part_logits(torch.cat([self_feats, cross_feats]))
        self_logits, cross_logits = refined_logits.split(img.size(0))

        # MatchDistill: teacher = sample i's queries on the partner's map; student = the partner's own queries.
        student_attn, student_logits = of_partner(self_attn), of_partner(self_logits)
        edge_weights = batch_edge_weights(attention_overlap(cross_attn, student_attn), is_infrared, valid)
        matching = self.current_matching(edge_weights)  # infrared part u <-> visible part matching[u]
        self.last_matching = matching.detach().cpu()
        per_sample = torch.where(is_infrared.view(-1, 1), matching.view(1, -1),
                                 inverse_matching(matching).view(1, -1))
        kd_scale = 1.0 if self.kd_active else 0.0

        losses = dict(
            loss_id=self.loss_id(logits, pids),
            loss_id_part=self.loss_id(self_logits.flatten(0, 1), pids.repeat_interleave(self.num_parts)),
            loss_pcl=self.loss_pcl(cross_feats, self_feats, pids, is_infrared, valid),
            loss_kd1=kd_scale * self.loss_kd1(cross_attn, student_attn, per_sample, valid),
            loss_kd2=kd_scale * self.loss_kd2(cross_logits, student_logits, per_sample, valid),
            loss_dis=self.loss_dis(drm_logits, pids),
            loss_div=self.loss_div(selected),
        )
        if self.loss_triplet is not None:
            losses['loss_triplet'] = self.loss_triplet(global_feat, pids)  # mines the gathered batch itself
        losses['acc_id'] = distributed.global_mean((logits.argmax(1) == pids).to(logits.dtype)).detach()
        return losses
