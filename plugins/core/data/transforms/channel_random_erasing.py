"""CAJ's channel random erasing on uint8 (H, W, C) images, before normalisation."""
import math

import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmpretrain.registry import TRANSFORMS

# CAJ erases *normalised* tensors with the values (0.4914, 0.4822, 0.4465) (RGB); in pixel space, before the
# ImageNet normalisation of the data preprocessor, that is value * std + mean (x 255):
_CAJ_FILL_RGB = tuple((v * s + m) * 255 for v, s, m in zip(
    (0.4914, 0.4822, 0.4465), (0.229, 0.224, 0.225), (0.485, 0.456, 0.406)))
#: CAJ's erasing value expressed in BGR pixel values (mmcv's loading order): about (129.1, 143.8, 152.4).
CAJ_FILL_BGR = _CAJ_FILL_RGB[::-1]


@TRANSFORMS.register_module()
class ChannelRandomErasing(BaseTransform):
    """Random erasing as in CAJ's ``ChannelRandomErasing`` (Zhong et al. random erasing, per-channel fill).

    With probability ``prob``: up to 100 attempts draw an area ratio uniformly in ``[min_area, max_area]``
    and an aspect ratio (h/w) uniformly in ``[min_aspect, 1/min_aspect]``; the first rectangle strictly
    smaller than the image is filled with ``fill[c]`` on channel ``c`` (a single-channel image gets
    ``fill[0]``, as CAJ). Everything outside the rectangle is unchanged.

    **Required/modified key:** ``img`` ((H, W, C) or (H, W), uint8 or float).

    Args:
        prob (float): probability of erasing. Default 0.5.
        min_area (float): minimum erased area / image area. Default 0.02.
        max_area (float): maximum erased area / image area. Default 0.4.
        min_aspect (float): minimum aspect ratio r1 (range ``[r1, 1/r1]``). Default 0.3.
        fill (Sequence[float]): per-channel fill value in the image's channel order. Default
            :data:`CAJ_FILL_BGR`, CAJ's value mapped to pixel space for a BGR image.
    """

    def __init__(self, prob=0.5, min_area=0.02, max_area=0.4, min_aspect=0.3, fill=CAJ_FILL_BGR):
        if not 0 <= prob <= 1 or not 0 < min_area <= max_area <= 1 or not 0 < min_aspect <= 1:
            raise ValueError(f'ChannelRandomErasing: need 0<=prob<=1, 0<min_area<=max_area<=1, 0<min_aspect<=1; '
                             f'got prob={prob}, min_area={min_area}, max_area={max_area}, min_aspect={min_aspect}')
        self.prob = prob
        self.min_area = min_area
        self.max_area = max_area
        self.min_aspect = min_aspect
        self.fill = tuple(float(v) for v in fill)

    @cache_randomness
    def _rectangle(self, img_h, img_w):
        """(top, left, h, w) of the rectangle to erase, or None (not applied / no rectangle fits)."""
        if np.random.rand() >= self.prob:
            return None
        for _ in range(100):
            area = np.random.uniform(self.min_area, self.max_area) * img_h * img_w
            aspect = np.random.uniform(self.min_aspect, 1 / self.min_aspect)
            h = int(round(math.sqrt(area * aspect)))
            w = int(round(math.sqrt(area / aspect)))
            if 0 < h < img_h and 0 < w < img_w:
                return np.random.randint(0, img_h - h + 1), np.random.randint(0, img_w - w + 1), h, w
        return None

    def transform(self, results):
        img = results['img']
        rect = self._rectangle(*img.shape[:2])
        if rect is None:
            return results
        top, left, h, w = rect
        img = img.copy()
        channels = 1 if img.ndim == 2 else img.shape[2]
        fill = np.asarray(self.fill[:channels] if channels > 1 else self.fill[:1], dtype=np.float64)
        if np.issubdtype(img.dtype, np.integer):
            fill = np.rint(fill)
        img[top:top + h, left:left + w] = fill.astype(img.dtype) if img.ndim == 3 else fill[0]
        results['img'] = img
        return results

    def __repr__(self):
        return (f'{self.__class__.__name__}(prob={self.prob}, min_area={self.min_area}, max_area={self.max_area}, '
                f'min_aspect={self.min_aspect}, fill={self.fill})')
