"""TorchreidBackbone: feature-map shapes, gradients, weight loading, errors; the published configs on a torchreid
backbone and data set build and forward."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS

from plugins.core.models import TorchreidBackbone
from tests.helpers import config_dicts, published_configs


@pytest.fixture(scope='module')
def osnet_x0_25():
    torch.manual_seed(0)
    return TorchreidBackbone('osnet_x0_25')


def test_osnet_x0_25_feature_map_and_gradients(osnet_x0_25):
    backbone = osnet_x0_25.train()
    assert backbone.out_channels == backbone.feat_dim == 128  # x0.25 width: 512 / 4
    x = torch.randn(2, 3, 64, 32, requires_grad=True)
    maps = backbone(x)
    assert isinstance(maps, tuple) and len(maps) == 1
    assert maps[0].shape == (2, 128, 4, 2)  # OSNet's stride is 16
    maps[0].pow(2).mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    trainable = {n: p for n, p in backbone.named_parameters() if p.requires_grad}
    assert trainable and all(p.grad is not None for p in trainable.values())
    assert backbone.model.conv1.conv.weight.grad.abs().sum() > 0
    # the layers after torchreid's pooling cannot receive a gradient: frozen (DDP would fail on them)
    frozen = sorted(n for n, p in backbone.named_parameters() if not p.requires_grad)
    assert frozen == ['model.classifier.bias', 'model.classifier.weight', 'model.fc.0.bias', 'model.fc.0.weight',
                      'model.fc.1.bias', 'model.fc.1.weight']


def test_init_cfg_loads_a_torchreid_checkpoint(osnet_x0_25, tmp_path):
    # torchreid's engine saves {'state_dict': ...} of a DataParallel model, keys without the wrapper's `model.`
    state = {'state_dict': {f'module.{k}': v for k, v in osnet_x0_25.model.state_dict().items()}, 'epoch': 3}
    checkpoint = osp.join(tmp_path, 'osnet.pth')
    torch.save(state, checkpoint)
    torch.manual_seed(1)
    fresh = MODELS.build(dict(type='TorchreidBackbone', name='osnet_x0_25',
                              init_cfg=dict(type='Pretrained', checkpoint=checkpoint)))
    weight = osnet_x0_25.model.conv1.conv.weight
    assert not torch.equal(fresh.model.conv1.conv.weight, weight)
    fresh.init_weights()
    assert torch.equal(fresh.model.conv1.conv.weight, weight)
    assert torch.equal(fresh.model.conv5.bn.running_var, osnet_x0_25.model.conv5.bn.running_var)


def test_unknown_and_featureless_models_are_named():
    with pytest.raises(KeyError, match="'osnet_x9'.*osnet_x0_25"):
        TorchreidBackbone('osnet_x9')
    with pytest.raises(TypeError, match="'squeezenet1_1'.*featuremaps"):
        TorchreidBackbone('squeezenet1_1')


def test_failed_pretrained_download_explains_how_to_give_weights(monkeypatch):
    import torchreid.reid.models as tr_models

    def offline_build_model(name, num_classes, pretrained=True, **kwargs):
        if pretrained:
            raise ConnectionError("Failed to resolve 'drive.google.com'")
        raise AssertionError('not reached')

    monkeypatch.setattr(tr_models, 'build_model', offline_build_model)
    with pytest.raises(RuntimeError, match=r"'osnet_x1_0'.*ConnectionError.*init_cfg=dict\(type='Pretrained'"):
        TorchreidBackbone('osnet_x1_0', pretrained=True)


def _on_torchreid(cfg):
    return bool(config_dicts(cfg.model, lambda d: d.get('type') == 'TorchreidBackbone'))


#: the training identities of torchreid's data sets (their papers' train splits)
TORCHREID_TRAIN_IDS = {'msmt17': 1041, 'market1501': 751, 'dukemtmcreid': 702}
TORCHREID_CONFIGS = published_configs(where=_on_torchreid)


def test_a_published_config_uses_a_torchreid_backbone():
    assert TORCHREID_CONFIGS  # the selection found the converted torchreid setting (tools/convert_torchreid_config)


@pytest.mark.parametrize('path', TORCHREID_CONFIGS, ids=osp.basename)
def test_torchreid_config_builds_and_forwards(path):
    cfg = Config.fromfile(path)
    assert cfg.model.backbone == dict(type='TorchreidBackbone', name='osnet_x1_0', pretrained=True)
    names = set()
    for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
        if loader.dataset.type == 'TorchreidDataset':  # torchreid's parser by name, under its `root`
            assert 'data_root' not in loader.dataset
            names.add(loader.dataset.name)
        else:  # the plugin's parser of the same data set (MSMT17)
            names.add(loader.dataset.type.lower())
    assert len(names) == 1 and cfg.model.num_classes == TORCHREID_TRAIN_IDS[names.pop()]
    assert cfg.train_dataloader.dataset.split == 'train' and cfg.val_dataloader.dataset.split == 'test'

    cfg.model.backbone.pretrained = False  # offline test
    model = MODELS.build(cfg.model).eval()
    assert model.backbone.out_channels == 512 and model.classifier.in_features == 512
    maps = []
    model.backbone.register_forward_hook(lambda module, args, output: maps.extend(output))
    with torch.no_grad():
        feats = model(dict(img=torch.randn(2, 3, 256, 128)), mode='tensor')
    assert len(maps) == 1 and maps[0].shape == (2, 512, 16, 8)  # OSNet's stride is 16
    assert feats.shape == (2, 512)
