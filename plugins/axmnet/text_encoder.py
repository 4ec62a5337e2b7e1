"""Word-embedding text stem: the caption as a 1 x n feature map processed by 1 x k convolutions."""
import torch
import torch.nn as nn

from plugins.core.models.utils import caption_mask
from .axm_block import conv_bn_relu


class TextResBlock(nn.Module):
    """Residual bottleneck with a ``1 x 3`` convolution over word positions (ResNet-style, for the 1 x n map).

    Args:
        channels (int): input and output channels.
        mid_channels (int): bottleneck channels.
    """

    def __init__(self, channels: int, mid_channels: int):
        super().__init__()
        self.body = nn.Sequential(
            conv_bn_relu(channels, mid_channels, 1),
            conv_bn_relu(mid_channels, mid_channels, (1, 3), padding=(0, 1)),
            conv_bn_relu(mid_channels, channels, 1, relu=False))
        nn.init.zeros_(self.body[2][1].weight)

    def forward(self, x):
        return torch.relu(x + self.body(x))


class WordConvTextStem(nn.Module):
    """Word ids -> embeddings -> ``1 x 1`` projection -> residual ``1 x 3`` blocks: a (B, C, 1, L) text map.

    Args:
        vocab_size (int): size of the word vocabulary (id 0 is padding, as written by ``WordTokenize``).
        embed_dim (int): word embedding size. Defaults to 300.
        channels (int): channels of the text map (equal to the visual map entering the AXM-blocks).
        num_blocks (int): residual blocks. Defaults to 2.
    """

    def __init__(self, vocab_size: int, embed_dim: int = 300, channels: int = 1024, num_blocks: int = 2):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.project = conv_bn_relu(embed_dim, channels, 1)
        self.blocks = nn.Sequential(*[TextResBlock(channels, max(channels // 4, 8)) for _ in range(num_blocks)])

    def forward(self, ids: torch.Tensor):
        """
        Args:
            ids (Tensor): word ids, shape (B, L), 0 = padding.

        Returns:
            tuple: text map (B, C, 1, L) with padding positions zeroed, and the mask (B, L) of real words.
        """
        mask = caption_mask(ids)  # an empty caption keeps one (padding) position so attention stays finite
        x = self.embedding(ids).transpose(1, 2).unsqueeze(2)  # (B, E, 1, L)
        x = self.blocks(self.project(x))
        return x * mask[:, None, None, :].to(x.dtype), mask
