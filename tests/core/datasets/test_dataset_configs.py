"""Every configs/_base_/datasets/*.py builds its data sets, samplers and metric on the demo data."""
import glob
import os.path as osp

import pytest
import torch
from mmengine import Config
from mmengine.registry import init_default_scope
from mmpretrain.registry import DATA_SAMPLERS, DATASETS, METRICS

import plugins  # noqa: F401
from dataset_test_utils import REPO

#: config -> (demo folder, real data_root, (H, W) of the packed image, modalities of the training samples)
CONFIGS = {
    'market1501': ('market1501', 'data/market1501', (256, 128)),
    'dukemtmc_reid': ('dukemtmc-reid', 'data/dukemtmc-reid', (256, 128)),
    'cuhk03_np': ('cuhk03', 'data/cuhk03', (256, 128)),
    'cuhk03_np_detected': ('cuhk03', 'data/cuhk03', (256, 128)),
    'sysu_mm01': ('sysu-mm01', 'data/sysu-mm01', (288, 144)),
    'regdb': ('regdb', 'data/regdb', (288, 144)),
    'cuhk_pedes': ('cuhk-pedes', 'data/cuhk-pedes', (384, 128)),
    'icfg_pedes': ('icfg-pedes', 'data/icfg-pedes', (384, 128)),
    'rstpreid': ('rstpreid', 'data/rstpreid', (384, 128)),
    'msmt17': ('msmt17', 'data/msmt17', (256, 128)),
    'llcm': ('llcm', 'data/llcm', (288, 144)),
}


def test_every_dataset_config_is_covered():
    found = {osp.basename(p)[:-3] for p in glob.glob(osp.join(REPO, 'configs', '_base_', 'datasets', '*.py'))}
    assert found == set(CONFIGS)


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_config_builds_on_demo_data(demo_root, name):
    folder, real_root, hw = CONFIGS[name]
    cfg = Config.fromfile(osp.join(REPO, 'configs', '_base_', 'datasets', f'{name}.py'))
    init_default_scope('mmpretrain')
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg[key]
        assert loader['collate_fn'] == dict(type='reid_collate')
        assert loader['dataset']['data_root'] == real_root
        dataset = DATASETS.build(dict(loader['dataset'], data_root=osp.join(demo_root, folder), verbose=False))
        sample = dataset[0]
        assert tuple(sample['inputs']['img'].shape) == (3, *hw)
        assert sample['inputs']['img'].dtype == torch.uint8
        if key == 'train_dataloader':
            assert dataset.metainfo['num_classes'] > 0
            if 'caption' in dataset.get_data_info(0):
                assert {'text', 'weak_text'} <= set(sample['inputs'])
            sampler = DATA_SAMPLERS.build(loader['sampler'], default_args=dict(dataset=dataset, seed=0))
            indices = list(iter(sampler))
            assert indices and all(0 <= i < len(dataset) for i in indices)
        else:
            assert loader['sampler'] == dict(type='DefaultSampler', shuffle=False)
            last = dataset[len(dataset) - 1]  # text test sets end with captions: tokenised, no image
            if dataset.get_data_info(len(dataset) - 1)['modality'] == 'text':
                assert 'img' not in last['inputs'] and last['inputs']['text'].dtype == torch.long
    METRICS.build(cfg.val_evaluator)
    METRICS.build(cfg.test_evaluator)
