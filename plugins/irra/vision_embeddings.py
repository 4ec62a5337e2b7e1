"""Patch and position embedding of IRRA's image tower for a fixed, non-square input (384x128 -> 24x8 patches).

As in the official code (``VisionTransformer`` / ``resize_pos_embed`` of anosorae/IRRA ``model/clip_model.py``),
the position table has one row per patch of the training input plus the class token, ``1 + 24 * 8`` rows for
ViT-B/16 at 384x128. It is made **once**, when the pre-trained CLIP is loaded, by bilinear interpolation of
CLIP's 14x14 grid, and is a free parameter afterwards: fine-tuning can set all 192 positions independently (a
14x14 grid resized on every forward reaches only tables of rank <= 14 rows x 8 columns = 112 of them, because
the 14 -> 8 column resize is a rank-8 map).
"""
from typing import Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F


def patch_grid(image_size: Sequence[int], patch_size: int, stride: int) -> Tuple[int, int]:
    """Rows and columns of patches of an (H, W) input: ``(H - patch) // stride + 1`` (the official ViT's rule)."""
    height, width = image_size
    if min(height, width) < patch_size:
        raise ValueError(f'IRRA: image size {height}x{width} is smaller than the patch size {patch_size}')
    return (height - patch_size) // stride + 1, (width - patch_size) // stride + 1


def resize_position_embedding(table: torch.Tensor, grid: Tuple[int, int]) -> torch.Tensor:
    """Resize a square ViT position table to another patch grid, as the official ``resize_pos_embed``.

    The class row is kept; the ``g x g`` grid rows (row-major: y, then x) are resized with
    ``F.interpolate(mode='bilinear', align_corners=False)`` to ``grid`` = (rows, cols) and flattened row-major
    again, the order of the conv patches. Computed in float32 (the official code interpolates the stored
    dtype, fp16 for OpenAI's file; float32 only removes rounding) and returned in float32.

    Args:
        table (Tensor): (1 + g * g, D) pre-trained table (class row first).
        grid (tuple[int, int]): target (rows, cols), e.g. (24, 8).

    Returns:
        Tensor: (1 + rows * cols, D).
    """
    cls_row, square = table[:1].float(), table[1:].float()
    side = int(round(square.shape[0] ** 0.5))
    if side * side != square.shape[0]:
        raise ValueError(f'IRRA: the pre-trained position table has {table.shape[0]} rows; expected 1 + g*g '
                         f'(a square grid, e.g. 197 = 1 + 14x14 for ViT-B/16)')
    square = square.reshape(1, side, side, -1).permute(0, 3, 1, 2)
    resized = F.interpolate(square, size=tuple(grid), mode='bilinear', align_corners=False)
    return torch.cat([cls_row, resized.permute(0, 2, 3, 1).reshape(grid[0] * grid[1], -1)], dim=0)


class ReIDVisionEmbeddings(nn.Module):
    """CLIP's class token + patch embedding + a position table for one fixed input size.

    Replaces transformers' ``CLIPVisionEmbeddings`` in ``CLIPModel.vision_model``, under the same parameter
    names (``class_embedding``, ``patch_embedding.weight``, ``position_embedding.weight``), so OpenAI / official
    IRRA weights convert key by key.

    Args:
        width (int): token width (768 for ViT-B/16).
        patch_size (int): patch side (16).
        image_size (tuple[int, int]): (H, W) of every input, e.g. (384, 128).
        stride (int, optional): patch stride; defaults to ``patch_size`` (the official ``stride_size``, 16).
        num_channels (int): input channels. Defaults to 3.
        init_std (float): std of the random patch / position init (transformers' ``initializer_range *
            initializer_factor``, 0.02, as the module this one replaces); the class token gets
            ``width ** -0.5 * init_factor``. The pre-trained weights overwrite all three.
        init_factor (float): transformers' ``initializer_factor``. Defaults to 1.0.
    """

    def __init__(self, width: int, patch_size: int, image_size: Sequence[int], stride: int = None,
                 num_channels: int = 3, init_std: float = 0.02, init_factor: float = 1.0):
        super().__init__()
        self.image_size = tuple(int(s) for s in image_size)
        self.patch_size = patch_size
        self.stride = stride or patch_size
        self.grid = patch_grid(self.image_size, patch_size, self.stride)
        self.class_embedding = nn.Parameter(torch.randn(width) * width ** -0.5 * init_factor)
        self.patch_embedding = nn.Conv2d(num_channels, width, kernel_size=patch_size, stride=self.stride,
                                         bias=False)
        self.position_embedding = nn.Embedding(1 + self.grid[0] * self.grid[1], width)
        nn.init.normal_(self.patch_embedding.weight, std=init_std)
        nn.init.normal_(self.position_embedding.weight, std=init_std)

    def forward(self, pixel_values: torch.Tensor, interpolate_pos_encoding: bool = False) -> torch.Tensor:
        """(B, C, H, W) -> (B, 1 + rows * cols, width). ``interpolate_pos_encoding`` (transformers' signature)
        is ignored: the table already has the input's grid, and no other size is accepted."""
        height, width = pixel_values.shape[-2:]
        if (height, width) != self.image_size:
            raise ValueError(f'IRRA: the image tower was built for {self.image_size[0]}x{self.image_size[1]} '
                             f'inputs ({self.grid[0]}x{self.grid[1]} patches, model.clip.image_size); got '
                             f'{height}x{width}. Resize the images to that size in the pipeline.')
        weight = self.patch_embedding.weight
        patches = self.patch_embedding(pixel_values.to(weight.dtype)).flatten(2).transpose(1, 2)
        cls_token = self.class_embedding.to(patches.dtype).expand(patches.shape[0], 1, -1)
        return torch.cat([cls_token, patches], dim=1) + self.position_embedding.weight.to(patches.dtype)

    def extra_repr(self) -> str:
        return f'image_size={self.image_size}, grid={self.grid}, stride={self.stride}'
