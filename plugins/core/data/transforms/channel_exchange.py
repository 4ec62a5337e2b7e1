"""CAJ's channel exchange: replace an image by one of its channels (or its grayscale) on all channels."""
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmpretrain.registry import TRANSFORMS

from .random_grayscale_reid import to_gray


@TRANSFORMS.register_module()
class ChannelExchange(BaseTransform):
    """Channel exchange of CAJ (Ye et al., ICCV 2021, "Channel Augmented Joint Learning").

    With probability ``prob``, pick uniformly one of the 3 colour channels (or, when ``with_gray``, also the
    grayscale image, each of the 4 choices with probability 1/4) and copy it to all three channels; the shape
    and dtype stay the same. CAJ's ``ChannelExchange(gray=2)`` (applied to every visible image) is
    ``ChannelExchange(prob=1.0, with_gray=False)``; ``gray=3`` is ``with_gray=True``.

    **Required/modified key:** ``img`` ((H, W, 3)).

    Args:
        prob (float): probability of exchanging. Default 1.0 (as CAJ).
        with_gray (bool): whether the grayscale image is a fourth choice. Default False.
        channel_order (str): channel order of ``img`` (for the grayscale weights): ``'bgr'`` (default) or ``'rgb'``.
    """

    def __init__(self, prob=1.0, with_gray=False, channel_order='bgr'):
        if not 0 <= prob <= 1:
            raise ValueError(f'ChannelExchange: prob must be in [0, 1], got {prob}')
        self.prob = prob
        self.with_gray = with_gray
        self.channel_order = channel_order

    @cache_randomness
    def _choose(self):
        """-1 (unchanged), 0..2 (that channel) or 3 (grayscale)."""
        if np.random.rand() >= self.prob:
            return -1
        return int(np.random.randint(4 if self.with_gray else 3))

    def transform(self, results):
        img = results['img']
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f'ChannelExchange expects a (H, W, 3) image, got shape {img.shape} '
                             f'({results.get("img_path")})')
        choice = self._choose()
        if choice >= 0:
            single = to_gray(img, self.channel_order) if choice == 3 else img[..., choice]
            results['img'] = np.repeat(single[..., None], 3, axis=2)
        return results

    def __repr__(self):
        return (f'{self.__class__.__name__}(prob={self.prob}, with_gray={self.with_gray}, '
                f'channel_order={self.channel_order!r})')
