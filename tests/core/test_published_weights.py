"""Every published config loads its pretrained weights into every module that should get them (issue 17).

For each ``configs/*.py`` whose model has a ``type='Pretrained'`` init_cfg (anywhere in ``cfg.model``), the
referenced checkpoint is replaced by a local file holding seeded random tensors in the real key layout of that
checkpoint; the model is built as mmengine's Runner builds it (``MODELS.build(cfg.model)`` then
``model.init_weights()``) and every checkpoint tensor must arrive bit for bit, in the module that carries the
init_cfg. A model that copies pretrained weights on into modules of its own (a second modality stream) tests
those copies in its method's tests. The configs are discovered with glob, so a new config is covered (or
refused, when it loads weights by a mechanism no test covers) without editing this file.
"""
import copy
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmpretrain.models.backbones import ResNet
from mmpretrain.registry import MODELS

import plugins  # noqa: F401

from plugins.core.metafile import load_model_index
from tests.helpers import REPO, config_dicts

PUBLISHED = sorted(osp.basename(p) for p in glob.glob(osp.join(REPO, 'configs', '*.py')))

RESNET50_IN1K = ('https://download.openmmlab.com/mmclassification/v0/resnet/'
                 'resnet50_8xb32_in1k_20210831-ea4938fc.pth')


def _resnet50_imagenet_layout():
    """Key -> shape/dtype of mmpretrain's ImageNet ResNet-50 checkpoint (an ``ImageClassifier``: backbone +
    linear head), taken from mmpretrain's own ``ResNet(depth=50)``."""
    layout = {f'backbone.{k}': v for k, v in ResNet(depth=50).state_dict().items()}
    layout['head.fc.weight'] = torch.empty(1000, 2048)
    layout['head.fc.bias'] = torch.empty(1000)
    return layout


CHECKPOINT_LAYOUTS = {RESNET50_IN1K: _resnet50_imagenet_layout}


def _resnet_tensor_count(blocks):
    """Tensors (parameters and buffers, BatchNorm with 5) of a Bottleneck ResNet with ``blocks`` per stage.

    Stem conv + BN = 6; a Bottleneck = 3 convs + 3 BNs = 18; each stage's first block has a downsample conv + BN
    (+6). ResNet-50 = (3, 4, 6, 3) -> 6 + 16 * 18 + 4 * 6 = 318.
    """
    return 6 + sum(18 * b + 6 for b in blocks)


RESNET50_BLOCKS = (3, 4, 6, 3)


def _expected_arrivals(model_cfg):
    """How many checkpoint tensors must be found in the model after ``init_weights`` (counted by hand)."""
    stages = model_cfg.backbone.get('num_stages', 4)
    return _resnet_tensor_count(RESNET50_BLOCKS[:stages])


def _pretrained_cfgs(node):
    """Every ``type='Pretrained'`` dict inside a (nested) config."""
    return config_dicts(node, lambda d: d.get('type') == 'Pretrained')


def _write_checkpoint(path, layout, seed):
    """Seeded random tensors in ``layout``: floats N(0, 1) (variances positive), distinct integer counters."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for i, (key, ref) in enumerate(sorted(layout.items())):
        if ref.dtype.is_floating_point:
            t = torch.randn(ref.shape, generator=g)
            state[key] = t.abs() + 0.5 if key.endswith('running_var') else t
        else:
            state[key] = torch.full(ref.shape, 1000 + i, dtype=ref.dtype)
    torch.save(dict(meta=dict(note='random tensors in the real key layout'), state_dict=state), path)
    return state


@pytest.fixture(scope='module')
def local_checkpoints(tmp_path_factory):
    """URL -> (local file, its state dict), written once for the module."""
    root = tmp_path_factory.mktemp('pretrained')
    out = {}
    for i, (url, layout) in enumerate(CHECKPOINT_LAYOUTS.items()):
        path = str(root / osp.basename(url))
        out[url] = (path, _write_checkpoint(path, layout(), seed=1234 + i))
    return out


def _model_cfg(name):
    cfg = Config.fromfile(osp.join(REPO, 'configs', name)).model
    if 'vocab_size' in cfg and cfg.vocab_size is None:
        cfg.vocab_size = 50  # filled from the training captions by tools/train.py; any size builds the model
    return cfg


def _loading_tests():
    """Config file name -> the test of its weights' loading, for configs whose metafile entry says it is no
    ``Pretrained`` init_cfg (``Pretrained Loading Test``: e.g. IRRA loads CLIP itself, torchreid downloads OSNet)."""
    return {osp.basename(m.config): m.pretrained_test for method in load_model_index(REPO) for m in method.models
            if m.pretrained_test}


@pytest.mark.all_methods
def test_every_published_config_is_covered():
    """A published config loads weights through a Pretrained init_cfg (tested below), through a mechanism its
    metafile names with the test that covers it, or its metafile says it trains from scratch (``Pretrained:
    none``, and then it loads nothing)."""
    assert len(PUBLISHED) >= 16  # the glob found the configs (16 when this test was written)
    tests = _loading_tests()
    assert all(osp.isfile(osp.join(REPO, t)) for t in tests.values()), tests
    scratch = {osp.basename(m.config) for method in load_model_index(REPO) for m in method.models if m.from_scratch}
    assert not [n for n in scratch if _pretrained_cfgs(_model_cfg(n))], 'Pretrained: none, but the config loads'
    uncovered = [n for n in PUBLISHED if not _pretrained_cfgs(_model_cfg(n)) and n not in tests and n not in scratch]
    assert not uncovered, (f'configs with no pretrained weights and no test of their loading: {uncovered}; add '
                           f'`Pretrained Loading Test: tests/...` (or `Pretrained: none`) to their metafile entry')


def _checked_tensors(module_path, module, init_cfg, ckpt):
    """(model key, checkpoint key) of every checkpoint tensor the module carrying ``init_cfg`` must hold."""
    prefix = init_cfg.get('prefix')
    own = module.state_dict()
    pairs = []
    for key in ckpt:
        if prefix:
            if not key.startswith(prefix + '.'):
                continue
            sub = key[len(prefix) + 1:]
        else:
            sub = key
        if sub in own:
            pairs.append((f'{module_path}.{sub}' if module_path else sub, key))
    return pairs


@pytest.mark.parametrize('name', [n for n in PUBLISHED if _pretrained_cfgs(_model_cfg(n))])
def test_pretrained_weights_reach_the_model(name, local_checkpoints):
    model_cfg = _model_cfg(name)
    for init_cfg in _pretrained_cfgs(model_cfg):
        url = init_cfg.checkpoint
        assert url in local_checkpoints, (f'{name}: no key layout for checkpoint {url}; add it to '
                                          f'CHECKPOINT_LAYOUTS in {__file__}')
        init_cfg.checkpoint = local_checkpoints[url][0]
    torch.manual_seed(0)
    model = MODELS.build(copy.deepcopy(model_cfg))
    model.init_weights()
    state = model.state_dict()

    # 1. the module that carries each Pretrained init_cfg holds every checkpoint tensor it has a place for
    carriers = [(p, m) for p, m in model.named_modules()
                if isinstance(getattr(m, 'init_cfg', None), dict) and m.init_cfg.get('type') == 'Pretrained']
    assert carriers, f'{name}: no module of the built model carries the Pretrained init_cfg'
    for path, module in carriers:
        ckpt = next(s for p, s in local_checkpoints.values() if p == module.init_cfg['checkpoint'])
        pairs = _checked_tensors(path, module, module.init_cfg, ckpt)
        assert len(pairs) >= _resnet_tensor_count(RESNET50_BLOCKS[:1])
        wrong = [k for k, c in pairs if not torch.equal(state[k], ckpt[c])]
        assert not wrong, f'{name}: {len(wrong)} of {len(pairs)} pretrained tensors did not arrive, e.g. {wrong[:3]}'

    # 2. count every checkpoint tensor that some model tensor equals: nothing missed, nothing extra (a tensor
    # the model copies on into a second module of its own counts once)
    by_shape = {}
    for v in state.values():
        by_shape.setdefault((tuple(v.shape), v.dtype), []).append(v)
    ckpt_all = [t for _, s in local_checkpoints.values() for t in s.values()]
    arrived = sum(any(torch.equal(v, t) for v in by_shape.get((tuple(t.shape), t.dtype), ())) for t in ckpt_all)
    assert arrived == _expected_arrivals(model_cfg), f'{name}: {arrived} checkpoint tensors arrived'

    # 3. and no model tensor outside the top-level modules that hold a carrier equals a checkpoint tensor (a
    # backbone may copy its weights into a second stream of its own; no head or neck starts from them)
    ckpt_by_shape = {}
    for t in ckpt_all:
        ckpt_by_shape.setdefault((tuple(t.shape), t.dtype), []).append(t)
    tops = {p.split('.')[0] for p, _ in carriers}
    outside = [k for k, v in state.items() if '' not in tops and k.split('.')[0] not in tops
               and any(torch.equal(v, t) for t in ckpt_by_shape.get((tuple(v.shape), v.dtype), ()))]
    assert not outside, f'{name}: pretrained tensors outside the modules that load them: {outside[:3]}'
