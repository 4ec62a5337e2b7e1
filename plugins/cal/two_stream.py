"""ResNet with modality-specific shallow layers (visible / infrared) and shared deep layers, as in AGW."""
import copy
from typing import List

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from .global_batch import modality_groups


def _stem_names(resnet: nn.Module) -> List[str]:
    """Names of the parameterised stem modules of an mmpretrain ``ResNet``."""
    return ['stem'] if getattr(resnet, 'deep_stem', False) else ['conv1', resnet.norm1_name]


class TwoStreamResNet(BaseModule):
    """Run the stem (and the first ``num_specific_stages`` residual stages) separately per modality.

    The visible stream uses the modules of ``resnet`` itself, so ImageNet weights given to the backbone with
    ``init_cfg=dict(type='Pretrained', prefix='backbone')`` land there; the infrared stream holds deep copies.
    ``init_weights()`` (called by mmengine's Runner through the model's) first initialises ``resnet`` (its own
    ``init_cfg``: pretrained or mmpretrain's default init) and then copies the visible specific weights into
    the infrared stream, so both streams start from the same weights.

    Args:
        resnet (nn.Module): an mmpretrain ``ResNet`` (``out_indices`` must contain the last stage).
        num_specific_stages (int): residual stages that are modality-specific on top of the stem; 0 (AGW's
            choice) shares ``layer1``-``layer4``.
    """

    def __init__(self, resnet: nn.Module, num_specific_stages: int = 0):
        super().__init__()
        if not 0 <= num_specific_stages < len(resnet.res_layers):
            raise ValueError(f'num_specific_stages must be in [0, {len(resnet.res_layers)}), '
                             f'got {num_specific_stages}')
        self.resnet = resnet
        self.specific_names = _stem_names(resnet) + list(resnet.res_layers[:num_specific_stages])
        self.infrared = nn.ModuleDict({n: copy.deepcopy(getattr(resnet, n)) for n in self.specific_names})
        self.num_specific_stages = num_specific_stages

    def init_weights(self):
        # A BaseModule only reaches the init_weights() of children that have one: as a plain nn.Module this
        # wrapper hid the ResNet (and its Pretrained init_cfg) from the Runner's model.init_weights().
        super().init_weights()
        self.sync_infrared_from_visible()

    @torch.no_grad()
    def sync_infrared_from_visible(self):
        """Copy the visible stream's specific weights (e.g. ImageNet-pretrained) into the infrared stream."""
        for name in self.specific_names:
            self.infrared[name].load_state_dict(getattr(self.resnet, name).state_dict())

    def modality_stem(self, x: torch.Tensor, infrared: bool) -> torch.Tensor:
        """The modality-specific stages of one modality's images (B, 3, H, W) -> the shared stages' input."""
        get = (lambda n: self.infrared[n]) if infrared else (lambda n: getattr(self.resnet, n))
        r = self.resnet
        if r.deep_stem:
            x = get('stem')(x)
        else:
            x = r.relu(get(r.norm1_name)(get('conv1')(x)))
        x = r.maxpool(x)
        for name in r.res_layers[:self.num_specific_stages]:
            x = get(name)(x)
        return x

    def forward(self, img: torch.Tensor, is_infrared: torch.Tensor) -> torch.Tensor:
        """
        Args:
            img (Tensor): images, shape (B, 3, H, W).
            is_infrared (Tensor): bool, shape (B,); which stream each image goes through.

        Returns:
            Tensor: last feature map, shape (B, C, h, w).
        """
        parts, order = [], []
        for flag, idx in modality_groups(is_infrared):
            parts.append(self.modality_stem(img[idx], infrared=flag))
            order.append(idx)
        x = torch.cat(parts)
        order = torch.cat(order)
        # Back to batch order so every per-sample tensor downstream lines up with the data samples.
        x = x[torch.argsort(order)]
        for name in self.resnet.res_layers[self.num_specific_stages:]:
            x = getattr(self.resnet, name)(x)
        return x
