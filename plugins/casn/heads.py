"""The two baseline heads CASN is built on: IDE (one global classifier) and PCB (six stripe classifiers).

Both map the backbone's last feature map (B, C, h, w) to ``(embedding, logits)``: the embedding is the test
feature and the Siamese feature ``f``; ``logits`` is a list with one (B, num_classes) tensor per classifier.
Both read the map only through spatial averages, so an optional ``shift`` (B, C) added to the averages acts as
adding it to the map at every position: CASN's Grad-CAM probe (``grad_cam_from_probe``).

The dropout before the classifiers is :class:`~plugins.core.distributed.GlobalBatchDropout`: a sample's mask is
drawn in the global batch, so it is the same at any world size (``nn.Dropout`` with the same arguments
otherwise).
"""
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from plugins.core.distributed import GlobalBatchDropout
from plugins.core.models.layers import id_classifier


class IDEHead(nn.Module):
    """IDE: global average pool -> FC embedding + BN -> dropout -> identity classifier (BN and dropout over the
    global batch in a distributed run).

    The BN output (which can be negative) is the embedding, as in the IDE baseline of Zheng et al.; its
    positive elements form CASN's Siamese importance score.

    Args:
        in_channels (int): channels of the feature map.
        num_classes (int): training identities.
        embed_dim (int): embedding dimension. Defaults to 512.
        dropout (float): dropout before the classifier. Defaults to 0.5.
    """

    def __init__(self, in_channels: int, num_classes: int, embed_dim: int = 512, dropout: float = 0.5):
        super().__init__()
        self.embed = nn.Sequential(nn.Linear(in_channels, embed_dim), nn.BatchNorm1d(embed_dim))
        nn.init.kaiming_normal_(self.embed[0].weight, mode='fan_out')
        nn.init.zeros_(self.embed[0].bias)
        self.dropout = GlobalBatchDropout(dropout)  # masks per sample of the global batch
        self.classifier = id_classifier(embed_dim, num_classes, bias=True)
        self.embed_dim = embed_dim

    def forward(self, feat_map: torch.Tensor,
                shift: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        """
        Args:
            feat_map (Tensor): shape (B, C, h, w).
            shift (Tensor, optional): added to the pooled map, shape (B, C).

        Returns:
            tuple: embedding (B, embed_dim) and ``[logits (B, num_classes)]``.
        """
        pooled = F.adaptive_avg_pool2d(feat_map, 1).flatten(1)
        f = self.embed(pooled if shift is None else pooled + shift)
        return f, [self.classifier(self.dropout(f))]


class PCBHead(nn.Module):
    """PCB (Sun et al., 2018): ``num_stripes`` horizontal stripes, each pooled, reduced and classified.

    Stripe ``p``: average pool over its rows -> 1x1 conv (a Linear on the pooled vector) to ``stripe_dim`` +
    BN + ReLU -> dropout -> its own classifier. The embedding is the concatenation of the reduced stripes.

    Args:
        in_channels (int): channels of the feature map.
        num_classes (int): training identities.
        num_stripes (int): horizontal stripes. Defaults to 6.
        stripe_dim (int): reduced dimension per stripe. Defaults to 256.
        dropout (float): dropout before each classifier. Defaults to 0.5.
    """

    def __init__(self, in_channels: int, num_classes: int, num_stripes: int = 6, stripe_dim: int = 256,
                 dropout: float = 0.5):
        super().__init__()
        self.num_stripes = num_stripes
        self.reduce = nn.ModuleList(
            nn.Sequential(nn.Linear(in_channels, stripe_dim), nn.BatchNorm1d(stripe_dim), nn.ReLU(inplace=True))
            for _ in range(num_stripes))
        for block in self.reduce:
            nn.init.kaiming_normal_(block[0].weight, mode='fan_out')
            nn.init.zeros_(block[0].bias)
        self.dropout = GlobalBatchDropout(dropout)  # masks per sample of the global batch
        self.classifiers = nn.ModuleList(id_classifier(stripe_dim, num_classes, bias=True) for _ in range(num_stripes))
        self.embed_dim = num_stripes * stripe_dim

    def forward(self, feat_map: torch.Tensor,
                shift: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        """
        Args:
            feat_map (Tensor): shape (B, C, h, w) with h >= num_stripes.
            shift (Tensor, optional): added to every stripe's pooled vector, shape (B, C).

        Returns:
            tuple: embedding (B, num_stripes * stripe_dim) and ``num_stripes`` logits tensors (B, num_classes).
        """
        if feat_map.size(2) < self.num_stripes:
            raise ValueError(f'PCBHead: feature map height {feat_map.size(2)} < num_stripes={self.num_stripes}; '
                             f'use taller input images or a backbone with last stride 1 '
                             f'(backbone.strides=(1, 2, 2, 1)).')
        stripes = F.adaptive_avg_pool2d(feat_map, (self.num_stripes, 1)).flatten(2)  # (B, C, P)
        if shift is not None:
            stripes = stripes + shift[:, :, None]
        parts = [block(stripes[:, :, p]) for p, block in enumerate(self.reduce)]
        logits = [fc(self.dropout(g)) for fc, g in zip(self.classifiers, parts)]
        return torch.cat(parts, dim=1), logits


def build_head(kind: str, in_channels: int, num_classes: int, **kwargs) -> nn.Module:
    """``kind`` = ``'ide'`` or ``'pcb'`` (the ``model.head`` config field)."""
    heads = dict(ide=IDEHead, pcb=PCBHead)
    if kind not in heads:
        raise ValueError(f'CASN: model.head must be one of {sorted(heads)}, got "{kind}"')
    return heads[kind](in_channels, num_classes, **kwargs)
