"""Pictures of attention maps: heat map and ``image | heat map | overlay`` panels (GradCAMHook,
tools/visualize_attention.py); the maps themselves come from :mod:`plugins.core.models.gradcam`."""
import cv2
import numpy as np
import torch


def heatmap(cam: np.ndarray) -> np.ndarray:
    """JET colour map of a [0, 1] map, shape (H, W) -> BGR uint8 (H, W, 3)."""
    return cv2.applyColorMap(np.uint8(np.clip(cam, 0, 1) * 255), cv2.COLORMAP_JET)


def overlay_panel(img_bgr: np.ndarray, cam: np.ndarray, alpha: float = 0.5, min_height: int = 256) -> np.ndarray:
    """``image | heat map | overlay`` side by side.

    Args:
        img_bgr (ndarray): the network's input image before normalisation, BGR uint8 (H, W, 3).
        cam (ndarray): attention map in [0, 1], shape (H, W).
        alpha (float): heat-map weight in the overlay.
        min_height (int): small ReID crops are enlarged (nearest) to at least this height for viewing.

    Returns:
        ndarray: BGR uint8, shape (H', 3 W', 3).
    """
    heat = heatmap(cam)
    over = cv2.addWeighted(img_bgr, 1 - alpha, heat, alpha, 0)
    panel = np.concatenate([img_bgr, heat, over], axis=1)
    if panel.shape[0] < min_height:
        scale = int(np.ceil(min_height / panel.shape[0]))
        panel = cv2.resize(panel, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    return panel


def raw_to_bgr(img: torch.Tensor) -> np.ndarray:
    """Packed uint8 image (3, H, W) (BGR, as mmcv loads it) -> contiguous HWC uint8."""
    return np.ascontiguousarray(img.permute(1, 2, 0).cpu().numpy().astype(np.uint8))
