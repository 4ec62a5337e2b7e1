"""``ToyReID``: a sixth method written the way a new method package is (docs/adding_a_method.md), but living in
tests/: registered into mmpretrain's MODELS when a config's ``custom_imports`` imports this module, derived
from ``BaseReIDModel`` and implementing only the contract (``embed_image`` and ``loss``)."""
from typing import List, Optional

import torch
import torch.nn as nn
from mmpretrain.registry import MODELS

from plugins.core.models import BaseReIDModel, id_classifier


@MODELS.register_module()
class ToyReID(BaseReIDModel):
    """Two stride-2 convolutions -> global average pooling -> BatchNorm embedding; one ID loss.

    Args:
        num_classes (int): training identities.
        embed_dim (int): embedding size. Defaults to 32.
        loss_id (dict): ID loss config.
        data_preprocessor (dict, optional): defaults to ``ReIDDataPreprocessor``.
        init_cfg (dict, optional): weight initialisation.
    """

    def __init__(self, num_classes: int, embed_dim: int = 32,
                 loss_id: dict = dict(type='CrossEntropyLabelSmoothLoss', epsilon=0.1),
                 data_preprocessor: Optional[dict] = None, init_cfg: Optional[dict] = None):
        super().__init__(num_classes, data_preprocessor, init_cfg)
        self.stem = nn.Sequential(
            nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
            nn.Conv2d(16, embed_dim, 3, stride=2, padding=1), nn.BatchNorm2d(embed_dim), nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(1))
        self.neck = nn.BatchNorm1d(embed_dim)
        self.classifier = id_classifier(embed_dim, num_classes)
        self.loss_id = MODELS.build(loss_id)

    def embed_image(self, inputs: dict, data_samples: Optional[List] = None) -> torch.Tensor:
        """Test feature: the BatchNorm embedding, shape (N, embed_dim)."""
        return self.neck(self.stem(inputs['img']))

    def loss(self, inputs: dict, data_samples: List) -> dict:
        pids = self.training_pids(data_samples, inputs['img'].device)
        logits = self.classifier(self.embed_image(inputs, data_samples))
        return dict(loss_id=self.loss_id(logits, pids), acc_id=(logits.argmax(1) == pids).float().mean().detach())
