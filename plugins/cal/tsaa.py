"""TSAA: target-aware style-agnostic adapter ``A(T; P)`` (CAL, ICCV 2023)."""
import math
from typing import Tuple

import torch
import torch.nn as nn


def instance_norm_tokens(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Instance normalisation over the token axis: per sample and channel, ``(x - mu) / sigma``.

    For the feature map ``T`` this is the usual instance norm over the HW positions; for the part queries ``P``
    the statistics are those of the flattened ``P`` itself (``T_P`` in the paper), i.e. over its N_p parts.

    Args:
        x (Tensor): tokens, shape (B, N, C).
    """
    mean = x.mean(dim=1, keepdim=True)
    var = x.var(dim=1, keepdim=True, unbiased=False)
    return (x - mean) / (var + eps).sqrt()


def _mlp(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out_dim))


class TSAA(nn.Module):
    """``A(T; P) = (S(T, P) T) * M(P; theta_3)``, ``S = softmax_HW(P_hat T_hat^T / sqrt(d))``.

    ``T_hat = M(IN(T); theta_1)``, ``P_hat = M(IN(P); theta_2)``; ``M(P; theta_3)`` ends in a sigmoid and gives
    one channel weight vector per part query (query-guided channel attention).

    Args:
        in_channels (int): ``C``.
        embed_dim (int): ``d``, width of the similarity space.
        hidden_dim (int, optional): hidden width of the MLPs; defaults to ``embed_dim``.
        channel_reduction (int): hidden width of the channel-attention MLP is ``C // channel_reduction``.
    """

    def __init__(self, in_channels: int, embed_dim: int = 256, hidden_dim: int = None, channel_reduction: int = 4):
        super().__init__()
        hidden_dim = hidden_dim or embed_dim
        self.embed_dim = embed_dim
        self.token_mlp = _mlp(in_channels, hidden_dim, embed_dim)
        self.query_mlp = _mlp(in_channels, hidden_dim, embed_dim)
        self.channel_mlp = nn.Sequential(_mlp(in_channels, max(1, in_channels // channel_reduction), in_channels),
                                         nn.Sigmoid())

    def spatial_attention(self, tokens: torch.Tensor, parts: torch.Tensor) -> torch.Tensor:
        """``S(T, P)``: (B, HW, C), (B, N_p, C) -> (B, N_p, HW), rows sum to 1."""
        t_hat = self.token_mlp(instance_norm_tokens(tokens))
        p_hat = self.query_mlp(instance_norm_tokens(parts))
        logits = p_hat @ t_hat.transpose(1, 2) / math.sqrt(self.embed_dim)
        return logits.softmax(dim=-1)

    def forward(self, tokens: torch.Tensor, parts: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """
        Args:
            tokens (Tensor): ``T`` of the image being refined, shape (B, HW, C).
            parts (Tensor): part queries ``P`` (possibly from another image), shape (B, N_p, C).

        Returns:
            tuple: refined part embeddings (B, N_p, C) and the spatial attention ``S`` (B, N_p, HW).
        """
        attn = self.spatial_attention(tokens, parts)
        return (attn @ tokens) * self.channel_mlp(parts), attn
