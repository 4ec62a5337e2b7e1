import os.path as osp

import pytest
from mmengine.config import Config
from mmpretrain.registry import MODELS

import plugins  # noqa: F401

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))


def _cfg(name):
    return Config.fromfile(osp.join(REPO, 'configs', name))


def test_sysu_config_is_the_published_setting():
    cfg = _cfg('cal_sysu.py')
    m = cfg.model
    assert m.type == 'CAL' and m.num_classes == 395 and m.num_parts == 6 and m.alpha == 1.0
    assert m.backbone.depth == 50 and tuple(m.backbone.strides) == (1, 2, 2, 1)
    assert m.backbone.init_cfg.type == 'Pretrained' and m.backbone.init_cfg.prefix == 'backbone'
    assert m.loss_pcl.margin == 0.3
    assert cfg.train_dataloader.sampler.type == 'CrossModalitySampler' and cfg.train_dataloader.batch_size == 64
    assert cfg.train_cfg.max_epochs == 100
    assert cfg.optim_wrapper.optimizer.lr == 0.1 and cfg.optim_wrapper.optimizer.weight_decay == 5e-4
    assert [s.milestones for s in cfg.param_scheduler if s.type == 'MultiStepLR'] == [[20, 50]]
    assert cfg.val_evaluator.protocol == 'sysu_mm01' and cfg.val_evaluator.search_mode == 'all'
    assert [h.type for h in cfg.custom_hooks] == ['TrainEpochHook', 'MatchDistillHook']


@pytest.mark.parametrize('name,protocol,key,value', [
    ('cal_sysu_indoor.py', 'sysu_mm01', 'search_mode', 'indoor'),
    ('cal_regdb.py', 'regdb', 'direction', 'v2t'),
    ('cal_regdb_t2v.py', 'regdb', 'direction', 't2v'),
])
def test_variants(name, protocol, key, value):
    cfg = _cfg(name)
    for evaluator in (cfg.val_evaluator, cfg.test_evaluator):
        assert evaluator.protocol == protocol and evaluator[key] == value
    if protocol == 'regdb':
        assert cfg.model.num_classes == 206
        for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
            assert loader.dataset.type == 'RegDB' and loader.dataset.trial == 1


def test_llcm_config_is_cal_sysu_on_llcm_with_the_benchmark_protocol():
    sysu, llcm = _cfg('cal_sysu.py'), _cfg('cal_llcm.py')
    assert llcm.model.num_classes == 713 and dict(llcm.model, num_classes=395) == sysu.model  # CAL's model
    for key in ('optim_wrapper', 'param_scheduler', 'train_cfg', 'custom_hooks', 'auto_scale_lr'):
        assert llcm[key] == sysu[key], key  # CAL's schedule and MatchDistill
    assert llcm.train_dataloader.sampler == sysu.train_dataloader.sampler
    demo = _cfg(osp.join('demo', 'cal_llcm_demo.py'))
    for cfg in (llcm, demo):  # the demo restates the data set and protocol lines of cal_llcm.py
        for loader, split in (('train_dataloader', 'train'), ('val_dataloader', 'test'), ('test_dataloader', 'test')):
            assert (cfg[loader].dataset.type, cfg[loader].dataset.split) == ('LLCM', split)
        for evaluator in (cfg.val_evaluator, cfg.test_evaluator):
            assert evaluator == dict(type='ReIDMetric', protocol='llcm', direction='ir2vis', trials=10)
    assert llcm.train_dataloader.dataset.pipeline == sysu.train_dataloader.dataset.pipeline


@pytest.mark.parametrize('name', ['cal_sysu_demo.py', 'cal_regdb_demo.py', 'cal_llcm_demo.py'])
def test_demo_configs_build_without_download(name):
    cfg = _cfg(osp.join('demo', name))
    assert cfg.model.backbone.init_cfg is None and cfg.train_cfg.max_epochs <= 20
    assert cfg.train_dataloader.dataset.data_root.startswith('data/demo/')
    model = MODELS.build(cfg.model)
    assert model.num_parts == 6 and model.backbone.resnet.feat_dim == 128
