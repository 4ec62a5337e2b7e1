"""Test-time flip (``model.test_flip``): the feature of an image is the mean of the features of the image and of
its horizontal mirror, for every method through BaseReIDModel, in predict and in the export wrapper."""
import os.path as osp

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import plugins  # noqa: F401
from plugins.core.deploy import build_image_extractor
from plugins.core.deploy.feature_extractors import FlipAveraged, ImageFeatureExtractor
from plugins.core.models import BaseReIDModel
from tests.helpers import REPO, published_configs


class LeftWeighted(BaseReIDModel):
    """A feature that sees left from right: a fixed linear map of the flattened image (not mirror-invariant)."""

    def __init__(self, width=4, **kwargs):
        super().__init__(**kwargs)
        self.proj = nn.Linear(3 * 2 * width, 5)

    def loss(self, inputs, data_samples):
        return dict(loss=self.embed_image(inputs).sum())

    def embed_image(self, inputs, data_samples=None):
        return self.proj(inputs['img'].flatten(1))


class Extended(LeftWeighted):
    """A subclass whose embed_image calls its parent's: still one flip per feature, not two."""

    def embed_image(self, inputs, data_samples=None):
        return super().embed_image(inputs, data_samples) * 3


def _images():
    return torch.randn(2, 3, 2, 4, generator=torch.Generator().manual_seed(0))


def test_flipped_feature_is_the_mean_of_the_two_passes():
    torch.manual_seed(0)
    model = LeftWeighted(test_flip=True).eval()
    img = _images()
    # the two passes written out independently: the linear map of the image and of its reversed columns
    direct = model.proj(img.flatten(1))
    mirror = model.proj(img[..., torch.arange(3, -1, -1)].flatten(1))
    assert not torch.allclose(direct, mirror)  # the feature is not mirror-invariant: the test can fail
    expected = (direct + mirror) / 2
    assert torch.allclose(model.embed_image(dict(img=img)), expected, atol=1e-6)
    # predict writes that feature too
    samples = model(dict(img=img), [DataSample(), DataSample()], mode='predict')
    assert torch.allclose(torch.stack([s.pred_feature for s in samples]), expected, atol=1e-6)
    # off by default, and never while training (the loss sees one pass)
    assert torch.allclose(LeftWeighted().eval().embed_image(dict(img=img)) * 0 + direct, direct)
    model.train()
    assert torch.allclose(model.embed_image(dict(img=img)), direct, atol=1e-6)


def test_subclass_calling_its_parent_flips_once():
    torch.manual_seed(0)
    model = Extended(test_flip=True).eval()
    img = _images()
    direct, mirror = model.proj(img.flatten(1)), model.proj(img.flip(-1).flatten(1))
    assert torch.allclose(model.embed_image(dict(img=img)), 3 * (direct + mirror) / 2, atol=1e-6)


def test_test_flip_must_be_a_bool():
    with pytest.raises(TypeError, match='model.test_flip must be true or false'):
        LeftWeighted(test_flip='yes')


def test_export_wrapper_adds_the_mirrored_pass():
    """The image extractor of a flipping model gives the model's flipped feature (generic wrapper)."""
    torch.manual_seed(0)
    model = LeftWeighted(test_flip=True, data_preprocessor=dict(mean=None, std=None)).eval()
    extractor = build_image_extractor(model)
    assert isinstance(extractor, FlipAveraged) and type(extractor).unflipped_class is ImageFeatureExtractor
    assert model.test_flip  # the model keeps its flag
    img = _images()
    assert torch.allclose(extractor(img), model.embed_image(dict(img=img)), atol=1e-6)
    assert not isinstance(build_image_extractor(LeftWeighted().eval()), FlipAveraged)


#: the methods whose reference test code flips (docs/reproduce.md "Test-time flip"): CAL follows the VI-ReID
#: family's test.py (CAJ, DEEN add the features of the image and of its mirror); the official test code of IRRA
#: (utils/metrics.py), SSAN (test_during_train.py) and BoT (engine/inference.py) embeds each image once, CASN and
#: AXM-Net have none published
FLIP_METHODS = ('CAL', )


@pytest.mark.parametrize('config', published_configs(), ids=osp.basename)
def test_flip_is_on_exactly_in_the_configs_whose_reference_test_code_flips(config):
    model = Config.fromfile(config).model
    assert bool(model.get('test_flip')) == (model.type in FLIP_METHODS), config


def _predict(model, rgb, samples):
    data = model.data_preprocessor(dict(inputs=[{'img': img.flip(0)} for img in rgb], data_samples=samples))
    with torch.no_grad():
        return torch.stack([s.pred_feature for s in model(data['inputs'], data['data_samples'], mode='predict')])


def test_method_extractor_with_flip_matches_the_model():
    """CAL brings its own extractor (a second input, no embed_image call): the wrapper still flips once."""
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(osp.join(REPO, 'configs/demo/cal_sysu_demo.py'))
    assert cfg.model.test_flip is True  # inherited from configs/cal_sysu.py
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).eval()
    rgb = torch.rand(2, 3, 64, 32, generator=torch.Generator().manual_seed(1)) * 255
    is_infrared = torch.tensor([False, True])
    samples = [DataSample(metainfo=dict(modality=m)) for m in ('visible', 'infrared')]
    flipped = _predict(model, rgb, samples)
    model.test_flip = False
    one_pass, mirror_pass = _predict(model, rgb, samples), _predict(model, rgb.flip(-1), samples)
    model.test_flip = True
    assert not torch.allclose(one_pass, mirror_pass, atol=1e-4)
    torch.testing.assert_close(flipped, (one_pass + mirror_pass) / 2, atol=1e-5, rtol=1e-4)
    with torch.no_grad():
        torch.testing.assert_close(build_image_extractor(model)(rgb, is_infrared), flipped, atol=1e-5, rtol=1e-4)
