"""Grad-CAM (Selvaraju et al., ICCV 2017) for any module of any model, optionally differentiable.

For a target layer with activations ``A`` of shape (B, C, h, w) and one scalar score ``s_n`` per image:

    a_{n,c} = mean_{h,w} ds_n / dA_{n,c}        (channel weights)
    M_n     = ReLU(sum_c a_{n,c} A_{n,c})        (coarse map, h x w)
    M_n     <- upsample(M_n, image size)         (bilinear)
    M_n     <- (M_n - min M_n) / (max M_n - min M_n)   (per image, in [0, 1])

Used by the CASN losses (where the map must stay differentiable w.r.t. the network: ``create_graph=True``),
by :class:`~plugins.core.hooks.GradCAMHook` and by ``tools/visualize_attention.py``.

Entry points:

- :func:`grad_cam` computes the maps from activations the caller already holds (a model that owns its
  forward, like CASN, passes its last feature map).
- :class:`GradCAM` captures the activations of a *named* module with a forward hook, so it works for any
  registered backbone/model without changing its code (``GradCAM(model, 'backbone.layer4')``).
- :func:`grad_cam_from_probe` gives the maps of :func:`grad_cam` from a zero shift added to pooled features
  (CASN's training losses: exact per image at the cost of a few matrix products).
- :func:`compute_feature_cams` runs :class:`GradCAM` on raw images through the model's data preprocessor with
  a class-free score of the test feature (:func:`feature_score`): what the hook and the tool draw.

Gradients are taken with ``torch.autograd.grad`` w.r.t. the captured activations (what a backward hook on the
layer output would receive), so parameter ``.grad`` buffers are never touched -- the tool can run in the
middle of a training step or of a validation loop.

Per image, exactly: map n uses ``ds_n / dA_n`` alone. The gradient of ``sum_m s_m`` is not that when the images
interact: with BatchNorm normalising with batch statistics (training mode) after the layer, its slice n is
``sum_m ds_m / dA_n``, and measured on CASN's small ResNet the maps it gives have a cosine of only 0.55-0.88 to
the per-image ones (single maps down to 0.37). So the default (``per_image=True``) computes all B per-score
gradients in one vectorised backward (``autograd.grad(..., is_grads_batched=True)`` with the identity as
``grad_outputs``) and keeps slice n of gradient n; ``create_graph`` works through it. Its cost is B backward
passes from the scores to ``A`` (tensors of B x B x C x h x w, processed in chunks): cheap when ``A`` is near
the scores, which is where Grad-CAM is used. The gradient of the sum (one backward) is exact when no image's
score depends on another image's activations -- in eval mode with running BatchNorm statistics, the only
cross-image operation of these models -- and :class:`GradCAM` takes it then (``per_image=None``: by
:func:`uses_batch_statistics`). A model that owns its head can make the per-image path as cheap as a few
matrix products with a *shift probe* (:func:`grad_cam_from_probe`, used by CASN).
"""
from typing import Callable, Optional, Sequence, Tuple, Union

import numpy as np
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


def uses_batch_statistics(model: nn.Module) -> bool:
    """Whether a BatchNorm of ``model`` normalises with the statistics of the batch (training mode, or no
    running statistics): then an image's output depends on the other images of the batch."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) and (m.training or m.running_mean is None)
               for m in model.modules())


def per_image_gradient(scores: torch.Tensor,
                       inputs: torch.Tensor,
                       create_graph: bool = False,
                       retain_graph: Optional[bool] = None,
                       max_elements: int = 2**26) -> torch.Tensor:
    """``d scores[n] / d inputs[n]`` for every n, exact also when the images interact (BatchNorm in training).

    One vectorised backward per chunk of scores (``is_grads_batched`` with rows of the identity as
    ``grad_outputs``); gradient n is computed for the whole batch and its slice n kept.

    Args:
        scores (Tensor): one score per image, shape (B,).
        inputs (Tensor): a tensor ``scores`` was computed from, shape (B, ...).
        create_graph (bool): keep the graph of the gradients (for a loss on them). Implies ``retain_graph``.
        retain_graph (bool, optional): keep the forward graph after the last chunk. Defaults to ``create_graph``.
        max_elements (int): bound on the elements of one chunk's gradients (chunk x B x inputs[0].numel()).

    Returns:
        Tensor: shape of ``inputs``; row n is the gradient of ``scores[n]`` w.r.t. ``inputs[n]``.
    """
    num = scores.numel()
    if scores.dim() != 1 or inputs.size(0) != num:
        raise ValueError(f'per_image_gradient: need scores (B,) and inputs (B, ...), got {tuple(scores.shape)} '
                         f'and {tuple(inputs.shape)}')
    retain_graph = create_graph if retain_graph is None else retain_graph
    chunk = max(1, min(num, max_elements // max(1, num * inputs[0].numel())))
    identity = torch.eye(num, dtype=scores.dtype, device=scores.device)
    rows = []
    for start in range(0, num, chunk):
        stop = min(num, start + chunk)
        grads, = torch.autograd.grad(scores, inputs, grad_outputs=identity[start:stop], is_grads_batched=True,
                                     create_graph=create_graph, retain_graph=retain_graph or stop < num)
        index = torch.arange(stop - start, device=grads.device)
        rows.append(grads[index, index + start])  # gradient k of the chunk, image start + k
    return torch.cat(rows) if len(rows) > 1 else rows[0]


def weighted_maps(activations: torch.Tensor,
                  weights: torch.Tensor,
                  output_size: Optional[Tuple[int, int]] = None,
                  normalize: bool = True) -> torch.Tensor:
    """``ReLU(sum_c weights_{n,c} A_{n,c})``, upsampled (bilinear) and min-max normalised per image.

    Args:
        activations (Tensor): A, shape (B, C, h, w).
        weights (Tensor): channel weights, shape (B, C).
        output_size (tuple[int, int], optional): (H, W) to upsample to; None keeps (h, w).
        normalize (bool): min-max normalise each map to [0, 1].

    Returns:
        Tensor: maps, shape (B, 1, H, W) (or (B, 1, h, w)).
    """
    maps = F.relu((weights[:, :, None, None] * activations).sum(dim=1, keepdim=True))  # (B, 1, h, w)
    if output_size is not None and tuple(maps.shape[-2:]) != tuple(output_size):
        maps = F.interpolate(maps, size=tuple(output_size), mode='bilinear', align_corners=False)
    return normalize_maps(maps) if normalize else maps


def _check(activations: torch.Tensor, scores: torch.Tensor):
    if activations.dim() != 4:
        raise ValueError(f'grad_cam: activations must be (B, C, h, w), got shape {tuple(activations.shape)}')
    if scores.shape != activations.shape[:1]:
        raise ValueError(f'grad_cam: need one score per image, shape ({activations.size(0)},), '
                         f'got {tuple(scores.shape)}')


def grad_cam(activations: torch.Tensor,
             scores: torch.Tensor,
             output_size: Optional[Tuple[int, int]] = None,
             create_graph: bool = False,
             normalize: bool = True,
             retain_graph: Optional[bool] = None,
             per_image: bool = True) -> torch.Tensor:
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
        per_image (bool): map n from ``d s_n / d A_n`` alone (:func:`per_image_gradient`, B backward passes
            to A in one vectorised call). False: one backward of ``sum_n s_n`` -- the same maps only when no
            score depends on another image's activations (eval mode; see :func:`uses_batch_statistics`).

    Returns:
        Tensor: maps, shape (B, 1, H, W) (or (B, 1, h, w)).
    """
    _check(activations, scores)
    if retain_graph is None:
        retain_graph = create_graph
    if per_image:
        grads = per_image_gradient(scores, activations, create_graph=create_graph, retain_graph=retain_graph)
    else:
        grads, = torch.autograd.grad(scores.sum(), activations, create_graph=create_graph,
                                     retain_graph=retain_graph)
    acts = activations if create_graph else activations.detach()
    return weighted_maps(acts, grads.mean(dim=(2, 3)), output_size, normalize)


def grad_cam_from_probe(activations: torch.Tensor,
                        scores: torch.Tensor,
                        probe: torch.Tensor,
                        output_size: Optional[Tuple[int, int]] = None,
                        create_graph: bool = False,
                        normalize: bool = True,
                        retain_graph: Optional[bool] = None) -> torch.Tensor:
    """Per-image Grad-CAM maps whose channel weights come from a *shift probe* instead of ``A`` itself.

    The probe is a zero tensor (B, C) that requires grad and that the scores were computed with such that
    adding ``t`` to ``probe[n, c]`` changes them as adding ``t`` to ``A[n, c]`` at every position would -- e.g.
    added to spatial averages of A (an average of ``A + t`` is the average of A plus ``t``). Then
    ``d s_n / d probe_{n,c} = sum_{h,w} d s_n / d A_{n,c,h,w}``, so the Grad-CAM weights are exactly that over
    ``h w``. The per-image backward (:func:`per_image_gradient`) then stops at the probe: B x B x C elements
    instead of B x B x C x h x w, and it never runs the pooling's backward.

    Args:
        activations (Tensor): A, shape (B, C, h, w).
        scores (Tensor): one score per image, shape (B,).
        probe (Tensor): the zero shift the scores were computed with, shape (B, C).
        output_size, create_graph, normalize, retain_graph: as in :func:`grad_cam`.

    Returns:
        Tensor: maps, shape (B, 1, H, W) (or (B, 1, h, w)), equal to ``grad_cam(activations, scores, ...)``.
    """
    _check(activations, scores)
    if probe.shape != activations.shape[:2]:
        raise ValueError(f'grad_cam_from_probe: probe must be (B, C) = {tuple(activations.shape[:2])}, '
                         f'got {tuple(probe.shape)}')
    grads = per_image_gradient(scores, probe, create_graph=create_graph, retain_graph=retain_graph)
    acts = activations if create_graph else activations.detach()
    return weighted_maps(acts, grads / (acts.size(2) * acts.size(3)), output_size, normalize)


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
        per_image (bool, optional): see :func:`grad_cam`. None (default): per image exactly when the model
            normalises with batch statistics at call time (:func:`uses_batch_statistics`), else the gradient
            of the sum -- the same maps in one backward (give True for a model with another cross-image op).
    """

    def __init__(self, model: nn.Module, target_layer: Union[str, nn.Module], output_index: int = -1,
                 per_image: Optional[bool] = None):
        self.model = model
        self.per_image = per_image
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
                per_image = uses_batch_statistics(self.model) if self.per_image is None else self.per_image
                return grad_cam(activations, scores, output_size=tuple(output_size or img.shape[-2:]),
                                create_graph=create_graph, normalize=normalize, per_image=per_image)
        finally:
            handle.remove()
            self._activations = None


def feature_score(features, score: str = 'positive_sum') -> torch.Tensor:
    """Class-free score of a retrieval feature, one per image (query ids are not training classes).

    Args:
        features (Tensor | tuple): the model's ``mode='tensor'`` output, shape (B, D) or (B, ...); of a tuple
            the last element is used.
        score (str): ``'positive_sum'`` (sum of the positive elements: CASN's Siamese importance score) or
            ``'norm'`` (L2 norm).

    Returns:
        Tensor: shape (B,).
    """
    if isinstance(features, (tuple, list)):
        features = features[-1]
    if isinstance(features, dict):
        raise TypeError('GradCAMHook: mode="tensor" returned a dict; give the hook a `score_fn` instead')
    features = features.flatten(1)
    if score == 'positive_sum':
        return features.clamp(min=0).sum(dim=1)
    if score == 'norm':
        return features.norm(dim=1)
    raise ValueError(f'GradCAMHook: score must be "positive_sum" or "norm", got "{score}"')


def compute_feature_cams(model, images: Sequence[torch.Tensor], target_layer: Optional[str] = None,
                         output_index: int = -1, score: str = 'positive_sum') -> np.ndarray:
    """Grad-CAM of ``feature_score(model(img, mode='tensor'))`` for raw images.

    Args:
        model (BaseModel): a model following the data contract (with a data preprocessor).
        images (Sequence[Tensor]): raw uint8 images, each (3, H, W), as packed by the pipeline.
        target_layer (str, optional): dotted module name; defaults to ``model.cam_target_layer``.
        output_index (int): element of a tuple-valued layer output (e.g. a backbone's stages).
        score (str): see :func:`feature_score`.

    Returns:
        ndarray: maps in [0, 1], shape (N, H, W).
    """
    target_layer = target_layer or getattr(model, 'cam_target_layer', None)
    if target_layer is None:
        raise ValueError(f'GradCAM: {type(model).__name__} has no `cam_target_layer`; set `target_layer` '
                         f'(e.g. "backbone.layer4") in the GradCAMHook config / --target-layer')
    was_training = model.training
    model.eval()
    try:
        data = model.data_preprocessor(dict(inputs=[dict(img=img) for img in images], data_samples=None), False)
        img = data['inputs']['img']
        index = data['inputs']['img_index']
        cam = GradCAM(model, target_layer, output_index=output_index)
        maps = cam(img, lambda x: feature_score(model(dict(img=x, img_index=index), None, mode='tensor'), score))
    finally:
        model.train(was_training)
    return maps[:, 0].cpu().numpy()
