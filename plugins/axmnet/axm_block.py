"""AXM-block: multi-receptive-field streams per modality re-scaled by a cross-modal context-sharing gate.

Farooq et al., "AXM-Net: Implicit Cross-Modal Feature Alignment for Person Re-identification" (AAAI 2022),
section "Adaptive cross-modal context sharing semantic alignment":
``X = (V_r, T_r)``, ``x = GAP(X) = (v_r, t_r)``, ``x~ = C(x_r)``, ``(V~, T~) = sum_r (V_r * v~_r, T_r * t~_r)``.

How the context is shared (the paper gives no code; this is the choice of this implementation):
the mini-network ``C`` has one set of weights for both modalities and every stream. Its hidden code of an image
stream and of the paired caption's stream are averaged, so the scale vector applied to the image depends on
the caption and vice versa (both get the same re-calibration: *shared semantics*). Test-time retrieval must
not mix a query with a gallery sample, so in ``eval()`` every sample uses its own context only. To keep this
test-time regime in the training distribution, training pairs share their context with probability
``share_prob`` and use their own context otherwise (``share_prob=1`` always shares during training).
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from plugins.core import distributed


class ContextSharingGate(nn.Module):
    """Context and semantic learning mini-network ``C`` shared by both modalities and all streams.

    ``h = ReLU(fc1(x))``; shared context ``c = (h_v + h_t) / 2`` for the pairs that share, else ``c = h_self``;
    scale ``x~ = sigmoid(fc2(c))`` in (0, 1).

    Args:
        channels (int): channels of a stream (length of the pooled vectors).
        reduction (int): bottleneck ratio of the mini-network. Defaults to 16.
        share_prob (float): probability that a training pair shares its context. Defaults to 0.5.
    """

    def __init__(self, channels: int, reduction: int = 16, share_prob: float = 0.5):
        super().__init__()
        if not 0.0 <= share_prob <= 1.0:
            raise ValueError(f'ContextSharingGate: share_prob must be in [0, 1], got {share_prob}')
        hidden = max(channels // reduction, 4)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)
        self.share_prob = share_prob

    def share_mask(self, batch: torch.Tensor) -> Optional[torch.Tensor]:
        """Which pairs of this rank's batch share their context in this forward pass.

        One draw per pair of the **global batch** (``distributed.global_rows_rand``, stream ``'axmnet.share'``;
        every block's call gets its own stream), so a pair's gate is the same at any world size and does not
        touch the global RNG.

        Args:
            batch (Tensor): this rank's pairs (B, ...); only its length, dtype and device are read.

        Returns:
            Tensor | None: (B, 1) mask of ``batch``'s dtype, 1 where the pair shares; None: no sharing.
        """
        if not self.training or self.share_prob == 0.0:
            return None
        if self.share_prob == 1.0:
            return batch.new_ones(batch.size(0), 1)
        # drawn in float64 whatever the activations' dtype, so that AMP runs take the same decisions
        rows = batch.new_empty(batch.size(0), dtype=torch.float64)
        return (distributed.global_rows_rand(rows, 1, name='axmnet.share') < self.share_prob).to(batch.dtype)

    def forward(self, v: Optional[torch.Tensor], t: Optional[torch.Tensor],
                mask: Optional[torch.Tensor] = None) -> Tuple[Optional[torch.Tensor], Optional[torch.Tensor]]:
        """
        Args:
            v (Tensor | None): pooled visual stream, shape (B, C).
            t (Tensor | None): pooled text stream, shape (B, C); row i is the caption of image i when both
                are given and ``mask`` is set.
            mask (Tensor | None): (B, 1), 1 where the pair shares its context; None: no sharing.

        Returns:
            tuple: scale vectors ``(v~, t~)``, each (B, C) in (0, 1), or None for a missing modality.
        """
        h_v = torch.relu(self.fc1(v)) if v is not None else None
        h_t = torch.relu(self.fc1(t)) if t is not None else None
        if mask is not None and h_v is not None and h_t is not None:
            shared = (h_v + h_t) / 2
            h_v = mask * shared + (1 - mask) * h_v
            h_t = mask * shared + (1 - mask) * h_t
        scale_v = torch.sigmoid(self.fc2(h_v)) if h_v is not None else None
        scale_t = torch.sigmoid(self.fc2(h_t)) if h_t is not None else None
        return scale_v, scale_t


def conv_bn_relu(in_channels: int, out_channels: int, kernel, stride=1, padding=0, relu=True) -> nn.Sequential:
    layers = [nn.Conv2d(in_channels, out_channels, kernel, stride, padding, bias=False),
              nn.BatchNorm2d(out_channels)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class ModalityStreams(nn.Module):
    """Residual bottleneck of one modality: 1x1 reduce -> R parallel streams -> (gated sum) -> 1x1 expand.

    Visual streams are ``k x k`` convolutions, text streams ``1 x k`` convolutions over word positions (the
    caption is a ``1 x n`` feature map), one stream per kernel size in ``kernel_sizes``.

    Args:
        in_channels (int): input channels.
        out_channels (int): output channels.
        mid_channels (int): channels of the streams.
        kernel_sizes (Sequence[int]): receptive field of each stream (odd sizes).
        text (bool): ``1 x k`` kernels (text) instead of ``k x k`` (image).
        stride (int): spatial stride of the block (images only).
    """

    def __init__(self, in_channels: int, out_channels: int, mid_channels: int, kernel_sizes: Sequence[int],
                 text: bool, stride: int = 1):
        super().__init__()
        if text and stride != 1:
            raise ValueError('ModalityStreams: the text branch keeps its length (stride 1)')
        self.reduce = conv_bn_relu(in_channels, mid_channels, 1, stride=stride)
        self.streams = nn.ModuleList()
        for k in kernel_sizes:
            if k % 2 == 0:
                raise ValueError(f'AXMBlock: kernel_sizes must be odd, got {tuple(kernel_sizes)}')
            kernel, padding = ((1, k), (0, k // 2)) if text else (k, k // 2)
            self.streams.append(conv_bn_relu(mid_channels, mid_channels, kernel, padding=padding))
        self.expand = conv_bn_relu(mid_channels, out_channels, 1, relu=False)
        nn.init.zeros_(self.expand[1].weight)  # start as identity mapping (zero-init residual, as ResNet)
        self.shortcut = None
        if stride != 1 or in_channels != out_channels:
            self.shortcut = conv_bn_relu(in_channels, out_channels, 1, stride=stride, relu=False)

    def stream_maps(self, x: torch.Tensor) -> List[torch.Tensor]:
        mid = self.reduce(x)
        return [stream(mid) for stream in self.streams]

    def merge(self, x: torch.Tensor, maps: List[torch.Tensor], scales: List[torch.Tensor]) -> torch.Tensor:
        fused = sum(m * s[:, :, None, None] for m, s in zip(maps, scales))
        identity = x if self.shortcut is None else self.shortcut(x)
        return torch.relu(self.expand(fused) + identity)


class AXMBlock(nn.Module):
    """One AXM-block: R receptive-field streams per modality and the shared context gate.

    Args:
        in_channels (int): input channels of both modalities.
        out_channels (int): output channels of both modalities.
        mid_channels (int, optional): stream channels. Defaults to ``out_channels // 4``.
        kernel_sizes (Sequence[int]): receptive fields of the R streams. Defaults to (1, 3, 5).
        reduction (int): bottleneck ratio of the context mini-network. Defaults to 16.
        share_prob (float): probability that a training pair shares its context (see module docstring).
        visual_stride (int): stride of the visual branch. Defaults to 1.
    """

    def __init__(self, in_channels: int, out_channels: int, mid_channels: Optional[int] = None,
                 kernel_sizes: Sequence[int] = (1, 3, 5), reduction: int = 16, share_prob: float = 0.5,
                 visual_stride: int = 1):
        super().__init__()
        mid_channels = mid_channels or max(out_channels // 4, 8)
        self.visual = ModalityStreams(in_channels, out_channels, mid_channels, kernel_sizes, False, visual_stride)
        self.text = ModalityStreams(in_channels, out_channels, mid_channels, kernel_sizes, True)
        self.gate = ContextSharingGate(mid_channels, reduction, share_prob)

    @staticmethod
    def _pool_text(t: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
        """Average over the real words only (padding excluded), t: (B, C, 1, L), mask: (B, L) bool."""
        if mask is None:
            return t.mean(dim=(2, 3))
        weight = mask[:, None, None, :].to(t.dtype)
        return (t * weight).sum(dim=(2, 3)) / weight.sum(dim=(2, 3)).clamp(min=1.0)

    def forward(self, v: Optional[torch.Tensor] = None, t: Optional[torch.Tensor] = None,
                text_mask: Optional[torch.Tensor] = None, return_scales: bool = False):
        """
        Args:
            v (Tensor | None): visual map, shape (B, C_in, H, W).
            t (Tensor | None): text map, shape (B', C_in, 1, L). Contexts are shared in training only when
                both are given and B == B' (row i of each is one image-caption pair).
            text_mask (Tensor | None): (B', L) bool, True for real words (padding is left out of the GAP).
            return_scales (bool): also return the scale vectors (for inspection and tests).

        Returns:
            tuple: ``(v_out (B, C_out, H', W') | None, t_out (B', C_out, 1, L) | None)``, and with
            ``return_scales`` a third item ``(scales_v, scales_t)``: lists of R tensors (B, mid) or None.
        """
        v_maps = self.visual.stream_maps(v) if v is not None else None
        t_maps = self.text.stream_maps(t) if t is not None else None
        paired = v is not None and t is not None and v.size(0) == t.size(0)
        mask = self.gate.share_mask(v) if paired else None
        scales_v, scales_t = [], []
        for r in range(len(self.visual.streams)):
            pooled_v = v_maps[r].mean(dim=(2, 3)) if v_maps is not None else None
            pooled_t = self._pool_text(t_maps[r], text_mask) if t_maps is not None else None
            s_v, s_t = self.gate(pooled_v, pooled_t, mask)
            scales_v.append(s_v)
            scales_t.append(s_t)
        v_out = self.visual.merge(v, v_maps, scales_v) if v is not None else None
        t_out = self.text.merge(t, t_maps, scales_t) if t is not None else None
        if t_out is not None and text_mask is not None:
            t_out = t_out * text_mask[:, None, None, :].to(t_out.dtype)  # keep padding positions at zero
        if return_scales:
            return v_out, t_out, (scales_v if v is not None else None, scales_t if t is not None else None)
        return v_out, t_out
