"""Stacks and normalises a ReID batch (images and token ids) and moves it to the model's device."""
from typing import Optional, Sequence

import torch
from mmengine.model import BaseDataPreprocessor
from mmpretrain.registry import MODELS

from plugins.core.data.collate import is_stacked, stack_inputs, unstack_inputs


@MODELS.register_module()
class ReIDDataPreprocessor(BaseDataPreprocessor):
    """Turn per-sample input dicts into stacked tensors.

    For every input key present in at least one sample, ``inputs[key]`` is the stack over the samples that
    have it (batch order) and ``inputs[key + '_index']`` their positions in the batch, so a test batch that
    mixes images and captions is handled by one code path (see ``docs/data_contract.md``).

    Args:
        mean (Sequence[float], optional): per-channel mean subtracted from images (0-255 scale).
        std (Sequence[float], optional): per-channel std images are divided by.
        to_rgb (bool): flip BGR (as loaded by mmcv) to RGB. Defaults to True.
        non_blocking (bool): non-blocking host-to-device copies.
    """

    def __init__(self,
                 mean: Optional[Sequence[float]] = (123.675, 116.28, 103.53),
                 std: Optional[Sequence[float]] = (58.395, 57.12, 57.375),
                 to_rgb: bool = True,
                 non_blocking: bool = False):
        super().__init__(non_blocking)
        self.to_rgb = to_rgb
        self._normalize = mean is not None
        if self._normalize:
            self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1), False)
            self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(-1, 1, 1), False)

    def _images(self, imgs: torch.Tensor) -> torch.Tensor:
        batch = imgs.to(self.device, non_blocking=self._non_blocking).float()
        if self.to_rgb and batch.size(1) == 3:
            batch = batch.flip(1)
        if self._normalize:
            batch = (batch - self.mean) / self.std
        return batch

    def forward(self, data: dict, training: bool = False) -> dict:
        """Accepts the stacked inputs of ``reid_collate``, a list of per-sample dicts, ``pseudo_collate``'s dict
        of lists or a tensor of images."""
        inputs = data['inputs']
        stacked = inputs if is_stacked(inputs) else stack_inputs(unstack_inputs(inputs))
        inputs = {key: self._images(value) if key == 'img'
                  else value.to(self.device, non_blocking=self._non_blocking)
                  for key, value in stacked.items()}
        data_samples = data.get('data_samples')
        if data_samples is not None:
            data_samples = self.cast_data(data_samples)
        return dict(inputs=inputs, data_samples=data_samples)
