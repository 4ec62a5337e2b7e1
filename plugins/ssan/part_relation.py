"""Part relation learning (PRL): SSAN's multi-view non-local network over the K part features."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .part_linear import PartwiseLinear


class PartRelationModule(nn.Module):
    """Multi-view non-local relation between body parts (shared by the image and the text branch).

    For part k with feature ``v^k`` (B, D)::

        S_ki  = cos(theta_k(v^k), phi_i(v^i))                         i != k
        a_ki  = softmax over i != k of S_ki
        v_in^k = W_gamma^k ( sum_{i != k} a_ki * phi_i(v^i) / |phi_i(v^i)| )
        v_n^k = W_n^k (v^k + v_in^k)

    As in the official code, theta/phi are bias-free 1x1 convs D -> D/reduction followed by LeakyReLU(0.25),
    the aggregated values are the L2-normalised phi features, W_gamma is 1x1 conv + BN + LeakyReLU back to D
    and W_n a bias-free 1x1 conv D -> ``out_channels``. Self-relation is excluded by a -1e6 logit on the
    diagonal (softmax weight exactly 0 in float32).

    Args:
        in_channels (int): D, the part feature dimension.
        num_parts (int): K. Defaults to 6.
        reduction (int): theta/phi dimension is ``in_channels // reduction``. Defaults to 2.
        out_channels (int): dimension of v_n^k. Defaults to 512.
    """

    def __init__(self, in_channels: int, num_parts: int = 6, reduction: int = 2, out_channels: int = 512):
        super().__init__()
        mid = in_channels // reduction
        self.num_parts = num_parts
        self.theta = PartwiseLinear(num_parts, in_channels, mid)
        self.phi = PartwiseLinear(num_parts, in_channels, mid)
        self.gamma = PartwiseLinear(num_parts, mid, in_channels)
        self.gamma_bn = nn.ModuleList(nn.BatchNorm1d(in_channels) for _ in range(num_parts))
        self.out = PartwiseLinear(num_parts, in_channels, out_channels)
        self.register_buffer('self_mask', torch.eye(num_parts, dtype=torch.bool), persistent=False)

    def _query_key(self, parts: torch.Tensor):
        """L2-normalised theta (queries) and phi (keys, also the aggregated values), each (B, K, D/r)."""
        query = F.normalize(F.leaky_relu(self.theta(parts), 0.25), dim=-1, eps=1e-8)
        key = F.normalize(F.leaky_relu(self.phi(parts), 0.25), dim=-1, eps=1e-8)
        return query, key

    def _weights(self, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        logits = query @ key.transpose(1, 2)  # (B, K, K): [k, i] = S_ki
        # i != k: a large negative logit (as the official code) gives exactly zero weight in float32
        logits = logits.masked_fill(self.self_mask, -1e6)
        return logits.softmax(dim=-1)

    def relation_weights(self, parts: torch.Tensor) -> torch.Tensor:
        """Attention a_ki of part k on part i, shape (B, K, K); rows sum to 1 and a_kk = 0.

        Args:
            parts (Tensor): part features, shape (B, K, D).
        """
        return self._weights(*self._query_key(parts))

    def forward(self, parts: torch.Tensor) -> torch.Tensor:
        """
        Args:
            parts (Tensor): part features v^k, shape (B, K, D).

        Returns:
            Tensor: relation-aware part features v_n^k, shape (B, K, out_channels).
        """
        query, key = self._query_key(parts)
        context = self._weights(query, key) @ key  # (B, K, D/r)
        context = self.gamma(context)
        context = torch.stack([bn(context[:, k]) for k, bn in enumerate(self.gamma_bn)], dim=1)
        context = F.leaky_relu(context, 0.25)
        return self.out(parts + context)
