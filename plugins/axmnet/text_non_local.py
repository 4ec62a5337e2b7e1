"""Non-local attention over word positions (Wang et al., 2018) with padding left out of the keys."""
from typing import Optional

import torch
import torch.nn as nn


class TextNonLocal(nn.Module):
    """Embedded-Gaussian non-local block on a text map ``(B, C, 1, L)``.

    ``y_i = sum_j softmax_j(theta(x_i) . phi(x_j)) g(x_j)`` over the real words j, ``z = x + BN(W y)``; W's BN
    starts at zero so the block starts as the identity (as in the non-local paper).

    Args:
        channels (int): channels of the text map.
        inter_channels (int, optional): channels of theta/phi/g. Defaults to ``channels // 2``.
    """

    def __init__(self, channels: int, inter_channels: Optional[int] = None):
        super().__init__()
        inter = inter_channels or max(channels // 2, 1)
        self.theta = nn.Conv1d(channels, inter, 1)
        self.phi = nn.Conv1d(channels, inter, 1)
        self.g = nn.Conv1d(channels, inter, 1)
        self.out = nn.Sequential(nn.Conv1d(inter, channels, 1, bias=False), nn.BatchNorm1d(channels))
        nn.init.zeros_(self.out[1].weight)

    def attention(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Pairwise word affinities, shape (B, L, L), rows sum to 1 over the real words.

        Args:
            x (Tensor): (B, C, L).
            mask (Tensor | None): (B, L) bool, True for real words.
        """
        logits = torch.einsum('bci,bcj->bij', self.theta(x), self.phi(x))
        if mask is not None:
            logits = logits.masked_fill(~mask[:, None, :], float('-inf'))
        return logits.softmax(dim=-1)

    def forward(self, t: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """
        Args:
            t (Tensor): text map, shape (B, C, 1, L).
            mask (Tensor | None): (B, L) bool, True for real words; every caption needs at least one.

        Returns:
            Tensor: same shape as ``t``.
        """
        x = t.squeeze(2)
        y = torch.einsum('bij,bcj->bci', self.attention(x, mask), self.g(x))
        z = x + self.out(y)
        if mask is not None:
            z = z * mask[:, None, :].to(z.dtype)
        return z.unsqueeze(2)
