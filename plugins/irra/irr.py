"""Implicit relation reasoning (IRR): text tokens attend to image tokens, then a small transformer and an MLM
head recover the masked words (Jiang & Ye, CVPR 2023, Sec. 3.2)."""
from collections import OrderedDict

import torch
import torch.nn as nn


class QuickGELU(nn.Module):
    """CLIP's GELU approximation ``x * sigmoid(1.702 x)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    """Pre-norm transformer block as in CLIP (self-attention + 4x MLP with QuickGELU).

    Args:
        width (int): token dimension.
        num_heads (int): attention heads.
    """

    def __init__(self, width: int, num_heads: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, num_heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict([('c_fc', nn.Linear(width, 4 * width)), ('gelu', QuickGELU()),
                                              ('c_proj', nn.Linear(4 * width, width))]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, L, width) -> (B, L, width)."""
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class CrossModalTransformer(nn.Module):
    """Cross-attention (text queries over image tokens) followed by ``depth`` self-attention blocks.

    Randomly initialised with CLIP's scheme (std ``width^-0.5`` for attention inputs,
    ``width^-0.5 (2 depth)^-0.5`` for output projections, ``(2 width)^-0.5`` for the MLP input).

    Args:
        width (int): token dimension (CLIP's joint embedding size, 512 for ViT-B/16).
        num_heads (int): attention heads (8 for width 512).
        depth (int): self-attention blocks after the cross-attention (4 in the paper).
    """

    def __init__(self, width: int = 512, num_heads: int = 8, depth: int = 4):
        super().__init__()
        self.width, self.depth = width, depth
        self.ln_pre_text = nn.LayerNorm(width)
        self.ln_pre_image = nn.LayerNorm(width)
        self.cross_attn = nn.MultiheadAttention(width, num_heads, batch_first=True)
        self.blocks = nn.ModuleList(ResidualAttentionBlock(width, num_heads) for _ in range(depth))
        self.ln_post = nn.LayerNorm(width)
        self._init_weights()

    def _init_weights(self):
        attn_std = self.width ** -0.5
        proj_std = attn_std * (2 * self.depth) ** -0.5
        fc_std = (2 * self.width) ** -0.5
        for block in self.blocks:
            nn.init.normal_(block.attn.in_proj_weight, std=attn_std)
            nn.init.normal_(block.attn.out_proj.weight, std=proj_std)
            nn.init.normal_(block.mlp.c_fc.weight, std=fc_std)
            nn.init.normal_(block.mlp.c_proj.weight, std=proj_std)
        nn.init.normal_(self.cross_attn.in_proj_weight, std=attn_std)
        nn.init.normal_(self.cross_attn.out_proj.weight, std=proj_std)

    def forward(self, text_tokens: torch.Tensor, image_tokens: torch.Tensor) -> torch.Tensor:
        """
        Args:
            text_tokens (Tensor): projected caption tokens (queries), shape (B, L, width).
            image_tokens (Tensor): projected image tokens incl. CLS (keys/values), shape (B, 1 + N, width).

        Returns:
            Tensor: fused text tokens, shape (B, L, width).
        """
        image = self.ln_pre_image(image_tokens)
        x = self.cross_attn(self.ln_pre_text(text_tokens), image, image, need_weights=False)[0]
        for block in self.blocks:
            x = block(x)
        return self.ln_post(x)


class MLMHead(nn.Module):
    """dense -> QuickGELU -> LayerNorm -> linear to the vocabulary (BERT-style prediction head).

    Args:
        width (int): token dimension.
        vocab_size (int): output vocabulary (49,408 for CLIP's BPE).
        depth (int): depth of the cross-modal transformer (sets the output init std).
    """

    def __init__(self, width: int, vocab_size: int, depth: int = 4):
        super().__init__()
        self.dense = nn.Linear(width, width)
        self.gelu = QuickGELU()
        self.ln = nn.LayerNorm(width)
        self.fc = nn.Linear(width, vocab_size)
        nn.init.normal_(self.dense.weight, std=(2 * width) ** -0.5)
        nn.init.normal_(self.fc.weight, std=width ** -0.5 * (2 * depth) ** -0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (..., width) -> logits (..., vocab_size)."""
        return self.fc(self.ln(self.gelu(self.dense(x))))
