"""Grad-CAM (Selvaraju et al., ICCV 2017) for any module of any model, optionally differentiable.

For a target layer with activations ``A`` of shape (B, C, h, w) and one scalar score ``s_n`` per image:

    a_{n,c} = mean_{h,w} ds_n / dA_{n,c}        (channel weights)
    M_n     = ReLU(sum_c a_{n,c} A_{n,c})        (coarse map, h x w)
    M_n     <- upsample(M_n, image size)         (bilinear)
    M_n     <- (M_n - min M_n) / (max M_n - min M_n)   (per image, in [0, 1])

Used by the CASN losses (where the map must stay differentiable w.r.t. the network: ``create_graph=True``),
by :class:`~plugins.core.hooks.GradCAMHook` and by ``tools/visualize_attention.py``.

Two entry points:

- :func:`grad_cam` computes the maps from activations the caller already holds (a model that owns its
  forward, like CASN, passes its last feature map).
- :class:`GradCAM` captures the activations of a *named* module with a forward hook, so it works for any
  registered backbone/model without changing its code (``GradCAM(model, 'backbone.layer4')``).

Gradients are taken with ``torch.autograd.grad`` w.r.t. the captured activations (what a backward hook on the
layer output would receive), so parameter ``.grad`` buffers are never touched -- the tool can run in the
middle of a training step or of a validation loop.

Note: the gradient of ``sum_n s_n`` is used for the whole batch. This equals the per-image gradient whenever
images do not interact, i.e. in eval mode; with BatchNorm in training mode the batch statistics add small
cross-image terms (the same happens in every batched Grad-CAM implementation, GAIN included).
"""
from typing import Callable, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

EPS = 1e-12


def normalize_maps(maps: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """Min-max normalise each map to [0, 1].

    Args:
        maps (Tensor): maps, shape (B, ...) -- any trailing shape, normalised per leading index.
        eps (float): guard for constant maps (they become all zeros).

    Returns:
        Tensor: same shape as ``maps``, values in [0, 1]; differentiable.
    """
    flat = maps.flatten(1)
    low = flat.min(dim=1, keepdim=True).values
    high = flat.max(dim=1, keepdim=True).values
    # clamp rather than add eps: Grad-CAM maps can be tiny (1e-6) and must still reach exactly 1
    return ((flat - low) / (high - low).clamp_min(eps)).view_as(maps)


def grad_cam(activations: torch.Tensor,
             scores: torch.Tensor,
             output_size: Optional[Tuple[int, int]] = None,
             create_graph: bool = False,
             normalize: bool = True,
             retain_graph: Optional[bool] = None) -> torch.Tensor:
    """Grad-CAM maps of ``scores`` w.r.t. ``activations``.

    Args:
        activations (Tensor): target-layer output that ``scores`` was computed from, shape (B, C, h, w).
        scores (Tensor): one score per image, shape (B,).
        output_size (tuple[int, int], optional): (H, W) to upsample to (bilinear); None keeps (h, w).
        create_graph (bool): keep the graph of the gradient so that a loss on the maps back-propagates into
            the network (through the activations *and* the channel weights). Implies ``retain_graph``.
        normalize (bool): min-max normalise each map to [0, 1].
        retain_graph (bool, optional): keep the forward graph after the gradient (for a later backward of
            another loss). Defaults to ``create_graph``.

    Returns:
        Tensor: maps, shape (B, 1, H, W) (or (B, 1, h, w)).
    """
    if activations.dim() != 4:
        raise ValueError(f'grad_cam: activations must be (B, C, h, w), got shape {tuple(activations.shape)}')
    if scores.shape != activations.shape[:1]:
        raise ValueError(f'grad_cam: need one score per image, shape ({activations.size(0)},), '
                         f'got {tuple(scores.shape)}')
    if retain_graph is None:
        retain_graph = create_graph
    grads, = torch.autograd.grad(scores.sum(), activations, create_graph=create_graph,
                                 retain_graph=retain_graph)
    weights = grads.mean(dim=(2, 3), keepdim=True)  # (B, C, 1, 1)
    maps = F.relu((weights * activations).sum(dim=1, keepdim=True))  # (B, 1, h, w)
    if not create_graph:
        maps = maps.detach()
    if output_size is not None and tuple(maps.shape[-2:]) != tuple(output_size):
        maps = F.interpolate(maps, size=tuple(output_size), mode='bilinear', align_corners=False)
    return normalize_maps(maps) if normalize else maps


def resolve_module(model: nn.Module, target_layer: Union[str, nn.Module]) -> nn.Module:
    """The submodule named ``target_layer`` (dotted path, e.g. ``'backbone.layer4'``)."""
    if isinstance(target_layer, nn.Module):
        return target_layer
    try:
        return model.get_submodule(target_layer)
    except AttributeError:
        names = [n for n, _ in model.named_modules() if n and n.count('.') <= 1]
        raise ValueError(f'Grad-CAM target_layer "{target_layer}" is not a module of '
                         f'{type(model).__name__}; top-level candidates: {names[:30]}') from None


class GradCAM:
    """Grad-CAM on a named module of any model, through a forward hook.

    Example::

        cam = GradCAM(model, 'backbone.layer4')
        maps = cam(img, lambda x: model(dict(img=x), mode='tensor').relu().sum(1))  # (B, 1, H, W)

    The forward hook stores the module output of the *last* call inside ``score_fn``; a module called several
    times (weight sharing) therefore gives the map of its last call.

    Args:
        model (nn.Module): the network (only used to find the module).
        target_layer (str | nn.Module): dotted module name or the module itself. Its output must be a
            (B, C, h, w) tensor, or a tuple/list of them (``output_index`` picks one; default the last).
        output_index (int): which element of a tuple output to use. Defaults to -1.
    """

    def __init__(self, model: nn.Module, target_layer: Union[str, nn.Module], output_index: int = -1):
        self.module = resolve_module(model, target_layer)
        self.target_layer = target_layer if isinstance(target_layer, str) else type(target_layer).__name__
        self.output_index = output_index
        self._activations = None

    def _save(self, module, args, output):
        if isinstance(output, (tuple, list)):
            output = output[self.output_index]
        self._activations = output

    def __call__(self,
                 img: torch.Tensor,
                 score_fn: Callable[[torch.Tensor], torch.Tensor],
                 create_graph: bool = False,
                 output_size: Optional[Sequence[int]] = None,
                 normalize: bool = True) -> torch.Tensor:
        """Maps of ``score_fn(img)`` (one score per image, shape (B,)), upsampled to the image size.

        Args:
            img (Tensor): network input, shape (B, 3, H, W).
            score_fn (callable): runs the network on ``img`` and returns scores, shape (B,).
            create_graph (bool): differentiable maps (for losses).
            output_size (tuple, optional): defaults to (H, W) of ``img``.
            normalize (bool): min-max normalise each map.

        Returns:
            Tensor: maps, shape (B, 1, H, W), in [0, 1] when normalised.
        """
        handle = self.module.register_forward_hook(self._save)
        try:
            # Validation/test loops run under no_grad; the map needs a graph from the layer to the score.
            with torch.enable_grad():
                scores = score_fn(img)
                activations = self._activations
                if activations is None:
                    raise RuntimeError(f'Grad-CAM: target layer "{self.target_layer}" was not called by score_fn')
                if not activations.requires_grad:
                    raise RuntimeError(f'Grad-CAM: output of "{self.target_layer}" does not require grad; is the '
                                       f'layer before every trainable parameter, or are its params frozen? '
                                       f'Use a later layer.')
                return grad_cam(activations, scores, output_size=tuple(output_size or img.shape[-2:]),
                                create_graph=create_graph, normalize=normalize)
        finally:
            handle.remove()
            self._activations = None
