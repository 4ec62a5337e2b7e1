"""Honest model selection (plugins/core/hooks/model_selection_hook.py): each config states which checkpoint is
tested and on which data it was chosen; the papers' best-on-test rule is an explicit option with a warning.

The end-to-end case (the CUHK-PEDES demo keeps its best checkpoint by the val split, in its log, checkpoint meta
and tools/test.py --out) runs on the IRRA demo's training fixture: tests/irra/test_demo.py.
"""
import os.path as osp
import types

import pytest
from mmengine.config import Config
from mmengine.logging import MessageHub, MMLogger
from mmpretrain.registry import DATASETS

import plugins  # noqa: F401
from plugins.core.hooks.model_selection_hook import (ModelSelectionHook, apply_model_selection,
                                                     check_model_selection)
from tests.helpers import REPO, published_configs

IRRA = osp.join(REPO, 'configs', 'irra_cuhkpedes.py')


def _levels(logs):
    return [level for level, _ in logs]


@pytest.mark.parametrize('config', published_configs(), ids=lambda p: osp.basename(p))
def test_published_configs_select_on_val_exactly_when_the_data_set_has_one(config):
    cfg = Config.fromfile(config)
    test_set = cfg.test_dataloader.dataset  # a CombinedReIDDataset has a val split when every source has one
    types = [source.type for source in test_set.get('datasets', [])] or [test_set.type]
    has_val = all('val' in getattr(DATASETS.get(t), 'SPLITS', ()) for t in types)
    assert cfg.model_selection == ('val' if has_val else 'last'), config
    if has_val:  # the validation loader reads the val split, the test loader the test split
        assert (cfg.val_dataloader.dataset.split, cfg.test_dataloader.dataset.split) == ('val', 'test')
        assert cfg.default_hooks.checkpoint.save_best == 'R1'
    else:  # no best checkpoint chosen on the test data
        assert not cfg.default_hooks.checkpoint.get('save_best')
    assert _levels(check_model_selection(cfg)) == ['info']


def test_papers_rule_validates_on_the_test_split_with_a_warning():
    cfg = Config.fromfile(IRRA)
    cfg.model_selection = 'test'
    assert apply_model_selection(cfg) == 'test'
    assert cfg.val_dataloader.dataset.split == 'test' and cfg.val_dataloader == cfg.test_dataloader
    assert cfg.default_hooks.checkpoint.save_best == 'R1'
    ((level, message), ) = check_model_selection(cfg)
    assert level == 'warning' and "best R1 on the TEST split (the papers' code rule)" in message
    assert "CUHKPEDES split 'test'" in message


def test_inconsistent_rules_are_errors_naming_the_fix():
    cfg = Config.fromfile(IRRA)
    cfg.val_dataloader.dataset.split = 'test'
    with pytest.raises(ValueError, match="model_selection='val', but val_dataloader reads the test data .CUHKPEDES "
                                         "split 'test'.; point val_dataloader.dataset.split"):
        check_model_selection(cfg)
    cfg = Config.fromfile(IRRA)
    cfg.default_hooks.checkpoint.save_best = None
    with pytest.raises(ValueError, match='needs default_hooks.checkpoint.save_best'):
        check_model_selection(cfg)
    cfg = Config.fromfile(IRRA)
    cfg.model_selection = 'test'  # not applied: another runner than ReIDRunner
    with pytest.raises(ValueError, match="model_selection='test' chooses on the test data, but val_dataloader reads "
                                         "CUHKPEDES split 'val'"):
        check_model_selection(cfg)
    cfg.model_selection = 'best'
    with pytest.raises(ValueError, match=r"model_selection='best': expected one of \('val', 'test', 'last'\)"):
        check_model_selection(cfg)


def test_last_rule_warns_about_a_best_checkpoint_chosen_on_test_and_no_validate_is_last():
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'baseline_market1501.py'))
    ((level, message), ) = check_model_selection(cfg)
    assert level == 'info' and 'the last checkpoint is the one to test' in message
    cfg.default_hooks.checkpoint.save_best = 'R1'
    assert _levels(check_model_selection(cfg)) == ['info', 'warning']
    cfg = Config.fromfile(IRRA)
    cfg.val_cfg = cfg.val_dataloader = None  # tools/train.py --no-validate
    cfg.default_hooks.checkpoint.pop('save_best')
    ((level, message), ) = check_model_selection(cfg)
    assert level == 'info' and 'no validation in this run' in message


def _runner(cfg, epoch):
    hub = MessageHub.get_instance('test_model_selection')
    logger = MMLogger.get_instance('test_model_selection')
    return types.SimpleNamespace(cfg=cfg, message_hub=hub, logger=logger, epoch=epoch)


def test_checkpoint_meta_records_the_best_and_the_epoch_checkpoints():
    runner = _runner(Config.fromfile(IRRA), epoch=4)
    hook = ModelSelectionHook()
    runner.message_hub.update_info('best_score', 31.25)
    hook.before_train_epoch(runner)
    epoch_ckpt = dict(meta=dict(epoch=4))
    hook.before_save_checkpoint(runner, epoch_ckpt)
    hook.after_val_epoch(runner, dict(R1=31.25))
    best_ckpt = dict(meta=dict(epoch=5))  # mmengine's meta epoch of a save after validation is one ahead
    hook.before_save_checkpoint(runner, best_ckpt)
    # then MMEngine saves the epoch checkpoint again (optimizer and schedulers included) to store the best score
    resaved = dict(meta=dict(epoch=4), optimizer={}, param_schedulers=[])
    hook.before_save_checkpoint(runner, resaved)
    assert resaved['meta']['model_selection']['checkpoint'] == 'epoch'
    common = dict(rule='val', metric='R1', chosen_on="CUHKPEDES split 'val'", test_data="CUHKPEDES split 'test'")
    assert epoch_ckpt['meta']['model_selection'] == dict(common, checkpoint='epoch', epoch=4)
    assert best_ckpt['meta']['model_selection'] == dict(common, checkpoint='best', epoch=4, score=31.25)
    # testing: the record of the loaded checkpoint reaches the message hub (tools/test.py --out), with the test data
    test_runner = _runner(Config.fromfile(IRRA), epoch=0)
    hook.after_load_checkpoint(test_runner, best_ckpt)
    assert test_runner.message_hub.get_info('model_selection') == dict(
        best_ckpt['meta']['model_selection'], tested_on="CUHKPEDES split 'test'")
    hook.after_load_checkpoint(test_runner, dict(meta={}))
    assert test_runner.message_hub.get_info('model_selection') == dict(rule='unknown',
                                                                       tested_on="CUHKPEDES split 'test'")
