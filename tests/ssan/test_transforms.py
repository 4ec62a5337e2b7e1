"""ForImageSamples / ForCaptionSamples: a mixed text-image test set through one pipeline."""
import numpy as np
import pytest
from mmpretrain.registry import TRANSFORMS

import plugins  # noqa: F401


@TRANSFORMS.register_module(name='_SSANTestMarkImage', force=True)
class MarkImage:
    def __call__(self, results):
        results['img'] = np.zeros((4, 2, 3), np.uint8)
        return results


@TRANSFORMS.register_module(name='_SSANTestMarkCaption', force=True)
class MarkCaption:
    def __call__(self, results):
        results['text'] = np.array([len(results['caption'].split())])
        return results


@pytest.mark.parametrize('sample, has_img, has_text', [
    (dict(img_path='/x.jpg', gt_label=1), True, False),
    (dict(caption='a man in red', gt_label=1), False, True),
])
def test_each_sample_goes_through_its_own_branch(sample, has_img, has_text):
    pipeline = [TRANSFORMS.build(dict(type='ForImageSamples', transforms=[dict(type='_SSANTestMarkImage')])),
                TRANSFORMS.build(dict(type='ForCaptionSamples', transforms=[dict(type='_SSANTestMarkCaption')]))]
    results = dict(sample)
    for t in pipeline:
        results = t(results)
    assert ('img' in results) == has_img
    assert ('text' in results) == has_text
    if has_text:
        assert results['text'].tolist() == [4]
