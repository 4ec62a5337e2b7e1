"""TwoStreamResNet.init_weights: both streams get the backbone's weights; a whole-CAL checkpoint is kept as is."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmpretrain.models.backbones import ResNet
from mmpretrain.registry import MODELS

from plugins.core.metafile import load_model_index
from tests.cal._tiny import tiny_cal
from tests.helpers import REPO


def _stream(model, infrared):
    two = model.backbone
    modules = two.infrared if infrared else {n: getattr(two.resnet, n) for n in two.specific_names}
    return {f'{n}.{k}': v for n in two.specific_names for k, v in modules[n].state_dict().items()}


def test_default_init_reaches_the_resnet_and_both_streams():
    model = tiny_cal()  # calls init_weights(); backbone init_cfg = mmpretrain's default (Kaiming, BN = 1)
    visible, infrared = _stream(model, False), _stream(model, True)
    assert sorted(visible) == sorted(infrared) and len(visible) == 6  # conv1 + bn1 (5 tensors)
    assert all(torch.equal(visible[k], infrared[k]) for k in visible)
    # mmpretrain's ResNet.init_weights ran: zero_init_residual zeroes the last BN of every residual block
    blocks = [b for n in model.backbone.resnet.res_layers for b in getattr(model.backbone.resnet, n)]
    assert len(blocks) == 8 and all(float(b.norm2.weight.abs().sum()) == 0.0 for b in blocks)


def test_whole_model_checkpoint_keeps_its_own_infrared_stream(tmp_path):
    """A model-level Pretrained init_cfg (a trained CAL) is loaded last; the streams are not re-synced after it."""
    source = tiny_cal()
    with torch.no_grad():
        for p in source.backbone.infrared.parameters():
            p.add_(1.0)  # a trained infrared stem differs from the visible one
    path = tmp_path / 'cal.pth'
    torch.save(dict(state_dict=source.state_dict()), path)

    model = tiny_cal(init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    loaded = model.state_dict()
    assert len(loaded) == len(source.state_dict())
    assert all(torch.equal(v, loaded[k]) for k, v in source.state_dict().items())
    assert not torch.equal(model.backbone.infrared.conv1.weight, model.backbone.resnet.conv1.weight)


def _cal_configs():
    (cal, ) = [method for method in load_model_index(REPO) if method.name == 'CAL']
    return [model.config for model in cal.models]


@pytest.mark.parametrize('config', _cal_configs())
def test_published_config_starts_both_streams_from_the_pretrained_stem(config, tmp_path):
    """The published configs' ImageNet ResNet-50 (a local file of seeded random tensors in its key layout) reaches
    the visible stream through the backbone's Pretrained init_cfg, and the infrared stream's own stem (+ its
    ``num_specific_stages``) is a copy of it after ``init_weights``, as mmengine's Runner calls it."""
    g = torch.Generator().manual_seed(0)
    ckpt = {f'backbone.{k}': (torch.randn(v.shape, generator=g).abs() + 0.5 if k.endswith('running_var') else
                              torch.randn(v.shape, generator=g)) if v.is_floating_point() else v + 1000 + i
            for i, (k, v) in enumerate(ResNet(depth=50).state_dict().items())}
    torch.save(dict(state_dict=ckpt), tmp_path / 'resnet50.pth')
    cfg = Config.fromfile(osp.join(REPO, config)).model
    assert cfg.backbone.init_cfg.type == 'Pretrained' and cfg.backbone.init_cfg.prefix == 'backbone'
    cfg.backbone.init_cfg.checkpoint = str(tmp_path / 'resnet50.pth')
    model = MODELS.build(cfg)
    model.init_weights()
    infrared = {k[len('backbone.infrared.'):]: v for k, v in model.state_dict().items()
                if k.startswith('backbone.infrared.')}
    specific = cfg.get('num_specific_stages', 0)
    # stem conv + BN (6 tensors), then 18 per Bottleneck + 6 for each stage's downsample
    assert len(infrared) == 6 + sum(18 * b + 6 for b in (3, 4, 6, 3)[:specific]), sorted(infrared)[:8]
    assert all(torch.equal(v, ckpt[f'backbone.{k}']) for k, v in infrared.items())
