"""The strong ReID baseline: CNN backbone -> GAP -> BNNeck -> ID classifier, with ID + triplet losses."""
from typing import List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmpretrain.registry import MODELS

from .utils import build_data_preprocessor, gt_pids, set_pred_features


def check_num_classes(pids: torch.Tensor, num_classes: int, owner: str):
    """Fail with a config hint when a training id is outside the classifier (num_classes too small)."""
    if pids.numel() and int(pids.max()) >= num_classes:
        raise ValueError(f'{owner}: training person id {int(pids.max())} >= model.num_classes={num_classes}; '
                         f'set `model.num_classes` in the config to the number of training ids of the data set '
                         f'(its statistics table is logged when the data set is built).')


class BNNeck(nn.Module):
    """BatchNorm without a learnable shift before the classifier (Luo et al., BoT, 2019).

    Args:
        dim (int): feature dimension.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.bn = nn.BatchNorm1d(dim)
        self.bn.bias.requires_grad_(False)
        nn.init.constant_(self.bn.weight, 1.0)
        nn.init.constant_(self.bn.bias, 0.0)

    def forward(self, x):
        return self.bn(x)


@MODELS.register_module()
class ReIDBaseline(BaseModel):
    """Image ReID baseline (BoT-style).

    The triplet loss sees the pooled feature, the ID classifier the BNNeck feature; inference returns the
    BNNeck feature (one vector per image).

    Args:
        backbone (dict): backbone config, e.g. ``dict(type='ResNet', depth=50, strides=(1, 2, 2, 1))``; must
            return a tuple of feature maps, the last one is used.
        num_classes (int): number of training identities.
        in_channels (int, optional): channels of the last feature map; read from ``backbone.feat_dim`` when
            omitted.
        loss_id (dict): ID loss config. Defaults to label-smoothed cross-entropy.
        loss_triplet (dict, optional): metric loss config. Defaults to batch-hard triplet, margin 0.3.
        data_preprocessor (dict, optional): defaults to ``ReIDDataPreprocessor``.
        init_cfg (dict, optional): weight initialisation (e.g. pretrained backbone).
    """

    def __init__(self,
                 backbone: dict,
                 num_classes: int,
                 in_channels: Optional[int] = None,
                 loss_id: dict = dict(type='CrossEntropyLabelSmoothLoss', epsilon=0.1),
                 loss_triplet: Optional[dict] = dict(type='TripletLoss', margin=0.3),
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(data_preprocessor=build_data_preprocessor(data_preprocessor), init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        in_channels = in_channels or getattr(self.backbone, 'feat_dim', None)
        if in_channels is None:
            raise ValueError('ReIDBaseline: give `in_channels` (the backbone has no `feat_dim` attribute)')
        self.num_classes = num_classes
        self.neck = BNNeck(in_channels)
        self.classifier = nn.Linear(in_channels, num_classes, bias=False)
        nn.init.normal_(self.classifier.weight, std=0.001)
        self.loss_id = MODELS.build(loss_id)
        self.loss_triplet = MODELS.build(loss_triplet) if loss_triplet else None

    def extract_feat(self, img: torch.Tensor) -> torch.Tensor:
        """Pooled backbone feature, shape (B, C)."""
        feat_map = self.backbone(img)[-1]
        return F.adaptive_avg_pool2d(feat_map, 1).flatten(1)

    def forward(self, inputs: dict, data_samples: Optional[List] = None, mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.neck(self.extract_feat(inputs['img']))
        raise RuntimeError(f'Invalid mode "{mode}"; expected loss, predict or tensor')

    def loss(self, inputs: dict, data_samples: List) -> dict:
        pids = gt_pids(data_samples, inputs['img'].device)
        check_num_classes(pids, self.num_classes, type(self).__name__)
        feat = self.extract_feat(inputs['img'])
        logits = self.classifier(self.neck(feat))
        losses = dict(loss_id=self.loss_id(logits, pids))
        if self.loss_triplet is not None:
            losses['loss_triplet'] = self.loss_triplet(feat, pids)
        losses['acc_id'] = (logits.argmax(1) == pids).float().mean().detach()
        return losses

    def predict(self, inputs: dict, data_samples: List) -> List:
        feats = self.neck(self.extract_feat(inputs['img']))
        return set_pred_features(data_samples, inputs['img_index'], feats)
