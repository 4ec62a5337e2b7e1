"""Part-based visual channel attention with parameters shared across the horizontal parts."""
import torch
import torch.nn as nn


class PartChannelAttention(nn.Module):
    """Split the visual map into K horizontal stripes and re-weight the channels of each stripe.

    The squeeze-excite attention ``a_k = sigmoid(W2 ReLU(W1 GAP(F_k)))`` has one set of weights for every
    part (AXM-Net shares them so that the parts learn a common notion of salient channels); each part is
    pooled after ``F_k * a_k``. The global feature (GAP of the whole map) is returned next to the parts.

    Args:
        channels (int): channels of the visual map.
        num_parts (int): number of horizontal stripes K. Defaults to 6.
        reduction (int): bottleneck ratio of the attention. Defaults to 16.
    """

    def __init__(self, channels: int, num_parts: int = 6, reduction: int = 16):
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.num_parts = num_parts
        self.attention = nn.Sequential(
            nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels), nn.Sigmoid())

    def forward(self, feat_map: torch.Tensor):
        """
        Args:
            feat_map (Tensor): visual map, shape (B, C, H, W) with H >= K.

        Returns:
            tuple: ``global_feat`` (B, C), ``part_feats`` (B, K, C), ``attention`` (B, K, C) in (0, 1).
        """
        b, c, h, _ = feat_map.shape
        if h < self.num_parts:
            raise ValueError(f'PartChannelAttention: the map has {h} rows, fewer than num_parts={self.num_parts}; '
                             f'use larger images or fewer parts')
        global_feat = feat_map.mean(dim=(2, 3))
        # adaptive pooling splits the rows into K nearly equal stripes (as PCB), also when K does not divide H
        stripes = nn.functional.adaptive_avg_pool2d(feat_map, (self.num_parts, 1)).view(b, c, self.num_parts)
        attention = self.attention(stripes.transpose(1, 2))  # (B, K, C)
        # GAP(F_k * a_k) = GAP(F_k) * a_k because a_k is constant over the stripe
        part_feats = stripes.transpose(1, 2) * attention
        return global_feat, part_feats, attention
