"""Launcher config checks: typos in --cfg-options and the distributed backend choice."""
import os.path as osp

import pytest
from mmengine.config import Config

from plugins.core.utils import check_cfg_options, drop_disabled_default_hooks, resolve_dist_backend
from tests.helpers import REPO


def _cfg():
    return Config(dict(model=dict(num_classes=5, backbone=dict(depth=50)),
                       train_dataloader=dict(batch_size=8, dataset=dict(type='Market1501')),
                       env_cfg=dict(dist_cfg=dict(backend='auto'))))


def test_existing_and_new_optional_keys_pass():
    check_cfg_options(_cfg(), {'model.num_classes': 3, 'train_dataloader.dataset.trial': 2})


@pytest.mark.parametrize('key,fragment', [('model.num_clases', 'model.num_classes'),
                                          ('trian_dataloader.batch_size', 'top level')])
def test_typos_are_refused_with_a_hint(key, fragment):
    with pytest.raises(KeyError, match=fragment):
        check_cfg_options(_cfg(), {key: 1})


def test_auto_backend_resolves_to_gloo_without_cuda(monkeypatch):
    import torch
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    cfg = _cfg()
    assert resolve_dist_backend(cfg) == 'gloo'
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    cfg.env_cfg.dist_cfg.backend = 'nccl'
    assert resolve_dist_backend(cfg) is None


def test_plugin_default_hooks_can_be_switched_off_with_none():
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'demo', 'baseline_market1501_demo.py'))
    assert cfg.default_hooks.finite_loss is not None and cfg.default_hooks.epoch_seed is not None
    cfg.merge_from_dict({'default_hooks.finite_loss': None, 'default_hooks.checkpoint': None})
    assert drop_disabled_default_hooks(cfg) == ['finite_loss']
    # MMEngine's own default hooks keep None: the Runner itself removes them
    assert 'finite_loss' not in cfg.default_hooks and cfg.default_hooks.checkpoint is None
    assert cfg.default_hooks.epoch_seed.type == 'EpochSeedHook'
