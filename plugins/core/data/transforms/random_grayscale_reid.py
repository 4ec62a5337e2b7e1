"""Random grayscale for visible-infrared ReID (the gray branch of CAJ's channel augmentation)."""
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmpretrain.registry import TRANSFORMS

#: ITU-R 601 luma weights of the R, G, B channels (CAJ uses 0.2989, 0.5870, 0.1140).
LUMA_RGB = (0.2989, 0.5870, 0.1140)


def to_gray(img, channel_order='bgr'):
    """Luma of a (H, W, 3) image, same dtype, shape (H, W).

    Args:
        img (np.ndarray): (H, W, 3) image, uint8 or float.
        channel_order (str): ``'bgr'`` (mmcv's loading order) or ``'rgb'``.
    """
    weights = LUMA_RGB[::-1] if channel_order == 'bgr' else LUMA_RGB
    gray = img.astype(np.float32) @ np.asarray(weights, dtype=np.float32)
    if np.issubdtype(img.dtype, np.integer):
        gray = np.clip(np.rint(gray), np.iinfo(img.dtype).min, np.iinfo(img.dtype).max)
    return gray.astype(img.dtype)


@TRANSFORMS.register_module()
class RandomGrayscaleReID(BaseTransform):
    """With probability ``prob``, replace an image by its grayscale copy on all 3 channels (shape kept).

    Makes visible images look more like single-channel infrared ones; infrared images (already gray) are
    left unchanged in effect.

    **Required/modified key:** ``img`` ((H, W, 3) uint8 or float).

    Args:
        prob (float): probability of converting. Default 0.5.
        channel_order (str): channel order of ``img``: ``'bgr'`` (mmcv loading, default) or ``'rgb'``.
    """

    def __init__(self, prob=0.5, channel_order='bgr'):
        if not 0 <= prob <= 1:
            raise ValueError(f'RandomGrayscaleReID: prob must be in [0, 1], got {prob}')
        if channel_order not in ('bgr', 'rgb'):
            raise ValueError(f"RandomGrayscaleReID: channel_order must be 'bgr' or 'rgb', got {channel_order!r}")
        self.prob = prob
        self.channel_order = channel_order

    @cache_randomness
    def _apply(self):
        return np.random.rand() < self.prob

    def transform(self, results):
        img = results['img']
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f'RandomGrayscaleReID expects a (H, W, 3) image, got shape {img.shape} '
                             f'({results.get("img_path")})')
        if self._apply():
            results['img'] = np.repeat(to_gray(img, self.channel_order)[..., None], 3, axis=2)
        return results

    def __repr__(self):
        return f'{self.__class__.__name__}(prob={self.prob}, channel_order={self.channel_order!r})'
