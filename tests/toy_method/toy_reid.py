"""``ToyReID``: a sixth method written the way a new method package is (docs/adding_a_method.md), but living in
tests/: registered into mmpretrain's MODELS when a config's ``custom_imports`` imports this module, derived
from ``BaseReIDModel`` and implementing only the contract (``embed_image`` and ``loss``)."""
import os.path as osp
from typing import List, Optional

import torch
import torch.nn as nn
from mmpretrain.registry import MODELS

from plugins.core import distributed
from plugins.core.models import BaseReIDModel, id_classifier

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

CONFIG = '''\
_base_ = [{base!r}]
custom_imports = dict(imports=['plugins.mmengine_patches', 'tests.toy_method.toy_reid'], allow_failed_imports=False)

data_root = {data_root!r}
model = dict(_delete_=True, type='ToyReID', num_classes=30, embed_dim=32)
train_dataloader = dict(dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=1, val_interval=1)
'''


def write_toy_config(path, market1501_root):
    """A config of ``ToyReID`` on the baseline demo's settings and the demo Market-1501 at ``market1501_root``."""
    base = osp.join(REPO, 'configs', 'demo', 'baseline_market1501_demo.py')
    with open(path, 'w') as f:
        f.write(CONFIG.format(base=base, data_root=str(market1501_root)))
    return path


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
        correct = (logits.argmax(1) == pids).to(logits.dtype)
        return dict(loss_id=self.loss_id(logits, pids), acc_id=distributed.global_mean(correct).detach())
