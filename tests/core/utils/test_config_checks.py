"""Launcher config checks: typos in --cfg-options; the plugin hooks are switched off the mmpretrain way."""

import pytest
from mmengine.config import Config

import torch
from mmpretrain.registry import HOOKS

from plugins.core.utils import check_cfg_options, merge_cfg_options
from tests.helpers import demo_config


def _cfg():
    return Config(dict(model=dict(num_classes=5, backbone=dict(depth=50)),
                       train_dataloader=dict(batch_size=8, dataset=dict(type='Market1501')),
                       env_cfg=dict(dist_cfg=dict(backend='nccl'))))


def test_existing_and_new_optional_keys_pass():
    # an argument of the built class that the config leaves at its default, a key under an untyped dict
    check_cfg_options(_cfg(), {'model.num_classes': 3, 'train_dataloader.dataset.check_images': True,
                               'model.backbone.norm_eval': True})


def test_a_key_the_built_class_does_not_take_is_refused_naming_what_it_takes():
    # issue 33: `trial` is RegDB's argument; Market1501 would fail with a TypeError after the work dir was written
    with pytest.raises(KeyError, match=r'no `trial` under `train_dataloader.dataset`.*builds Market1501, which '
                                       r'takes: .*data_root'):
        check_cfg_options(_cfg(), {'train_dataloader.dataset.trial': 2})


@pytest.mark.parametrize('key,fragment', [('model.num_clases', 'model.num_classes'),
                                          ('trian_dataloader.batch_size', 'top level')])
def test_typos_are_refused_with_a_hint(key, fragment):
    with pytest.raises(KeyError, match=fragment):
        check_cfg_options(_cfg(), {key: 1})


def test_plugin_default_hooks_are_switched_off_with_enable_false():
    cfg = Config.fromfile(demo_config())  # any config: the first demo of the model index
    finite_loss, epoch_seed = HOOKS.build(cfg.default_hooks.finite_loss), HOOKS.build(cfg.default_hooks.epoch_seed)
    runner = type('Runner', (), dict(seed=0, epoch=3, iter=7))()
    with pytest.raises(FloatingPointError, match='loss=nan'):
        finite_loss.after_train_iter(runner, 0, outputs=dict(loss=torch.tensor(float('nan'))))
    cfg.merge_from_dict({'default_hooks.finite_loss.enable': False, 'default_hooks.epoch_seed.enable': False})
    finite_loss, epoch_seed = HOOKS.build(cfg.default_hooks.finite_loss), HOOKS.build(cfg.default_hooks.epoch_seed)
    finite_loss.after_train_iter(runner, 0, outputs=dict(loss=torch.tensor(float('nan'))))  # no error
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    epoch_seed.before_train_epoch(runner)  # switched off: the RNG keeps its state
    assert torch.equal(torch.rand(3), expected)


def test_none_for_a_plugin_default_hook_is_refused_with_the_setting_to_use():
    cfg = Config.fromfile(demo_config())  # any config: the first demo of the model index
    with pytest.raises(KeyError, match=r'default_hooks.finite_loss.enable=False'):
        merge_cfg_options(cfg, {'default_hooks.finite_loss': None})
    merge_cfg_options(cfg, {'default_hooks.checkpoint': None})  # mmengine's own hook: its Runner removes it
    assert cfg.default_hooks.checkpoint is None
