"""A pipeline wrapper for text-image test sets, whose samples are either an image or a caption."""
from mmcv.transforms import BaseTransform
from mmpretrain.registry import TRANSFORMS


@TRANSFORMS.register_module()
class ForImageSamples(BaseTransform):
    """Apply ``transforms`` to samples that carry an ``img_path``; pass caption-only samples through.

    A text-image validation set yields gallery images and caption queries in one data set
    (``docs/data_contract.md``): image loading and resizing must skip the captions, and the tokenizer
    (which refuses samples without a caption) the images, with :class:`ForCaptionSamples`.

    Args:
        transforms (list[dict]): the image transforms (e.g. ``LoadReIDImage``, ``Resize``).
    """

    def __init__(self, transforms):
        # built from mmpretrain's registry (whatever the default scope) so the plugin's transforms resolve
        self.transforms = [TRANSFORMS.build(t) if isinstance(t, dict) else t for t in transforms]

    def _apply(self, results):
        for t in self.transforms:
            results = t(results)
            if results is None:  # e.g. LoadReIDImage(skip_corrupt=True): let the dataset draw another sample
                return None
        return results

    def transform(self, results):
        if results.get('img_path') is None:
            return results
        return self._apply(results)

    def __repr__(self):
        return f'{self.__class__.__name__}(transforms={self.transforms})'


@TRANSFORMS.register_module()
class ForCaptionSamples(ForImageSamples):
    """Apply ``transforms`` (e.g. a tokenizer) only to samples that carry a ``caption``.

    Args:
        transforms (list[dict]): the text transforms.
    """

    def transform(self, results):
        if results.get('caption') is None:
            return results
        return self._apply(results)
