"""The strong ReID baseline (BoT): CNN backbone -> GAP -> BNNeck -> ID classifier, with ID + triplet losses."""
from typing import List, Optional

import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS

from plugins.core import distributed
from plugins.core.models import BaseReIDModel
from plugins.core.models.layers import BNNeck, backbone_channels, id_classifier


@MODELS.register_module()
class ReIDBaseline(BaseReIDModel):
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
        data_preprocessor, init_cfg (dict, optional): as in :class:`~plugins.core.models.base.BaseReIDModel`
            (``init_cfg``: e.g. a pretrained backbone).
    """

    def __init__(self,
                 backbone: dict,
                 num_classes: int,
                 in_channels: Optional[int] = None,
                 loss_id: dict = dict(type='CrossEntropyLabelSmoothLoss', epsilon=0.1),
                 loss_triplet: Optional[dict] = dict(type='TripletLoss', margin=0.3),
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(num_classes, data_preprocessor, init_cfg)
        self.backbone = MODELS.build(backbone)
        in_channels = backbone_channels(self.backbone, in_channels, 'ReIDBaseline')
        self.neck = BNNeck(in_channels)
        self.classifier = id_classifier(in_channels, num_classes)
        self.loss_id = MODELS.build(loss_id)
        self.loss_triplet = MODELS.build(loss_triplet) if loss_triplet else None

    def extract_feat(self, img: torch.Tensor) -> torch.Tensor:
        """Pooled backbone feature, shape (B, C)."""
        feat_map = self.backbone(img)[-1]
        return F.adaptive_avg_pool2d(feat_map, 1).flatten(1)

    def embed_image(self, inputs: dict, data_samples: Optional[List] = None) -> torch.Tensor:
        """Test feature: the BNNeck feature, shape (N, C)."""
        return self.neck(self.extract_feat(inputs['img']))

    def loss(self, inputs: dict, data_samples: List) -> dict:
        pids = self.training_pids(data_samples, inputs['img'].device)
        feat = self.extract_feat(inputs['img'])
        logits = self.classifier(self.neck(feat))
        losses = dict(loss_id=self.loss_id(logits, pids))
        if self.loss_triplet is not None:
            losses['loss_triplet'] = self.loss_triplet(feat, pids)
        # over the global batch, as every logged number (each rank logs its own values)
        losses['acc_id'] = distributed.global_mean((logits.argmax(1) == pids).to(logits.dtype)).detach()
        return losses
