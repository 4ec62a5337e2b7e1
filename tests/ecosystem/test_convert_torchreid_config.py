"""tools/convert_torchreid_config.py on torchreid's own example configs, a triplet recipe and bad inputs."""
import os
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS

import plugins  # noqa: F401
from plugins.core.utils import torchreid_config as keys
from tests.helpers import load_tool

tool = load_tool('convert_torchreid_config')

# deep-person-reid configs/im_osnet_x1_0_softmax_256x128_amsgrad_cosine.yaml, verbatim
OSNET_COSINE_YAML = """\
model:
  name: 'osnet_x1_0'
  pretrained: True

data:
  type: 'image'
  sources: ['market1501']
  targets: ['market1501']
  height: 256
  width: 128
  combineall: False
  transforms: ['random_flip']
  save_dir: 'log/osnet_x1_0_market1501_softmax_cosinelr'

loss:
  name: 'softmax'
  softmax:
    label_smooth: True

train:
  optim: 'amsgrad'
  lr: 0.0015
  max_epoch: 250
  batch_size: 64
  fixbase_epoch: 10
  open_layers: ['classifier']
  lr_scheduler: 'cosine'

test:
  batch_size: 300
  dist_metric: 'euclidean'
  normalize_feature: False
  evaluate: False
  eval_freq: -1
  rerank: False
  visactmap: False
"""

# deep-person-reid configs/im_r50_softmax_256x128_amsgrad.yaml, verbatim
R50_YAML = """\
model:
  name: 'resnet50_fc512'
  pretrained: True

data:
  type: 'image'
  sources: ['market1501']
  targets: ['market1501']
  height: 256
  width: 128
  combineall: False
  transforms: ['random_flip']
  save_dir: 'log/resnet50_market1501_softmax'

loss:
  name: 'softmax'
  softmax:
    label_smooth: True

train:
  optim: 'amsgrad'
  lr: 0.0003
  max_epoch: 60
  batch_size: 32
  fixbase_epoch: 5
  open_layers: ['classifier']
  lr_scheduler: 'single_step'
  stepsize: [20]

test:
  batch_size: 100
  dist_metric: 'euclidean'
  normalize_feature: False
  evaluate: False
  eval_freq: -1
  rerank: False
  visactmap: False"""

TRIPLET_YAML = """\
model:
  name: 'osnet_x0_25'
  load_weights: '/ckpt/osnet_x0_25_msmt17.pth'
data:
  sources: ['dukemtmcreid']
  targets: ['market1501']
  root: '/data/reid'
  height: 384
  width: 128
  transforms: ['random_flip', 'random_crop', 'color_jitter', 'random_erase']
sampler:
  train_sampler: 'RandomIdentitySampler'
  num_instances: 4
loss:
  name: 'triplet'
  softmax:
    label_smooth: False
  triplet:
    margin: 0.5
    weight_t: 1.0
    weight_x: 0.5
train:
  optim: 'sgd'
  lr: 0.065
  batch_size: 48
  max_epoch: 120
  lr_scheduler: 'multi_step'
  stepsize: [40, 80]
  staged_lr: True
  new_layers: ['classifier', 'fc']
  base_lr_mult: 0.1
test:
  dist_metric: 'cosine'
  rerank: True
  eval_freq: 10
"""


def convert(tmp_path, text, **kwargs):
    src = osp.join(tmp_path, 'torchreid.yaml')
    with open(src, 'w') as f:
        f.write(text)
    out = osp.join(tmp_path, 'converted', 'config.py')
    notes = tool.convert_file(src, out, **kwargs)
    return Config.fromfile(out), notes


def test_every_torchreid_default_key_is_classified():
    groups = [set(keys.MAPPED), set(keys.IGNORED), set(keys.APPROXIMATED), set(keys.UNSUPPORTED)]
    assert set().union(*groups) == set(tool.leaf_keys(keys.DEFAULTS))
    assert sum(len(g) for g in groups) == len(set().union(*groups))  # no key in two groups


def test_osnet_cosine_example(tmp_path):
    with pytest.warns(UserWarning, match='train.fixbase_epoch'):
        cfg, notes = convert(tmp_path, OSNET_COSINE_YAML)
    assert len(notes) == 1 and 'fixbase_epoch' in notes[0]
    assert cfg.model.type == 'ReIDBaseline'
    assert cfg.model.backbone == dict(type='TorchreidBackbone', name='osnet_x1_0', pretrained=True)
    assert cfg.model.num_classes == 751
    assert cfg.model.loss_id == dict(type='CrossEntropyLabelSmoothLoss', epsilon=0.1, loss_weight=1.0)
    assert cfg.model.loss_triplet is None  # softmax only, as in torchreid
    assert cfg.optim_wrapper == dict(optimizer=dict(type='Adam', lr=0.0015, weight_decay=5e-4,
                                                    betas=(0.9, 0.999), amsgrad=True))  # base paramwise_cfg gone
    assert cfg.param_scheduler == [dict(type='CosineAnnealingLR', by_epoch=True, T_max=250, begin=0, end=250)]
    assert cfg.train_cfg.max_epochs == 250 and cfg.train_cfg.val_interval == 250
    assert cfg.train_dataloader.batch_size == 64 and cfg.val_dataloader.batch_size == 300
    assert cfg.train_dataloader.sampler == dict(type='DefaultSampler', shuffle=True)
    assert [t.type for t in cfg.train_dataloader.dataset.pipeline] == [
        'LoadReIDImage', 'Resize', 'RandomFlip', 'PackReIDInputs']
    assert cfg.train_dataloader.dataset.pipeline[1].scale == (128, 256)  # (W, H)
    assert cfg.test_dataloader.dataset.pipeline[1].scale == (128, 256)
    for loader in (cfg.train_dataloader, cfg.test_dataloader):
        assert loader.dataset.type == 'TorchreidDataset' and loader.dataset.name == 'market1501'
        assert loader.dataset.root == 'reid-data'
    assert cfg.test_evaluator == dict(type='ReIDMetric', protocol='market', dist='euclidean', norm_feat=False,
                                      rerank=False)
    assert cfg.randomness.seed == 1 and cfg.default_scope == 'mmpretrain'  # runtime inherited


def test_r50_example_builds_with_the_feature_map_width(tmp_path):
    cfg, _ = convert(tmp_path, R50_YAML)
    assert cfg.model.backbone.name == 'resnet50_fc512'
    assert cfg.optim_wrapper.optimizer.lr == 0.0003 and cfg.optim_wrapper.optimizer.amsgrad
    assert cfg.param_scheduler == [dict(type='StepLR', by_epoch=True, step_size=20, gamma=0.1)]
    assert cfg.train_cfg.max_epochs == 60
    assert cfg.train_dataloader.batch_size == 32 and cfg.val_dataloader.batch_size == 100
    assert cfg.train_dataloader.dataset.pipeline[1].scale == (128, 256)

    cfg.model.backbone.pretrained = False  # offline test
    model = MODELS.build(cfg.model)
    # the fc512 layer follows torchreid's pooling: the head sees the 2048-channel map
    assert model.backbone.out_channels == 2048 and model.classifier.weight.shape == (751, 2048)


def test_triplet_recipe(tmp_path):
    cfg, notes = convert(tmp_path, TRIPLET_YAML)
    assert notes == []
    assert cfg.model.backbone == dict(type='TorchreidBackbone', name='osnet_x0_25', pretrained=False,
                                      init_cfg=dict(type='Pretrained', checkpoint='/ckpt/osnet_x0_25_msmt17.pth'))
    assert cfg.model.loss_id == dict(type='CrossEntropyLabelSmoothLoss', epsilon=0.0, loss_weight=0.5)
    assert cfg.model.loss_triplet == dict(type='TripletLoss', margin=0.5, loss_weight=1.0)
    assert cfg.model.num_classes == 702  # DukeMTMC-reID training identities
    assert cfg.train_dataloader.sampler == dict(type='IdentitySampler', num_instances=4, batch_size=48)
    assert cfg.train_dataloader.dataset.name == 'dukemtmcreid' and cfg.val_dataloader.dataset.name == 'market1501'
    assert cfg.val_dataloader.dataset.root == '/data/reid'
    assert cfg.optim_wrapper.optimizer == dict(type='SGD', lr=0.065, weight_decay=5e-4, momentum=0.9,
                                               dampening=0.0, nesterov=False)
    assert cfg.optim_wrapper.paramwise_cfg.custom_keys == {'backbone': dict(lr_mult=0.1),
                                                           'backbone.model.fc': dict(lr_mult=1.0)}
    assert cfg.param_scheduler == [dict(type='MultiStepLR', by_epoch=True, milestones=[40, 80], gamma=0.1)]
    assert cfg.train_cfg.val_interval == 10
    assert cfg.val_evaluator.dist == 'cosine' and cfg.val_evaluator.rerank is True

    # the augmentations build and keep the 384x128 size (RandomApply's crop branch or not)
    pipeline = cfg.train_dataloader.dataset.pipeline
    types = [t.type for t in pipeline[1:-1]]
    assert types == ['Resize', 'RandomFlip', 'RandomApply', 'ColorJitter', 'RandomErasing']
    assert pipeline[5].fill_color == (104, 116, 124)  # torchreid's mean, in the BGR order of the images
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        transforms = Compose(pipeline[1:-1])
    rng = np.random.default_rng(0)
    for _ in range(6):
        img = rng.integers(0, 256, (200, 90, 3), dtype=np.uint8)
        assert transforms(dict(img=img))['img'].shape == (384, 128, 3)


@pytest.mark.parametrize('text, error, key', [
    ('train:\n  lr_warmup: 5\n', KeyError, 'train.lr_warmup'),
    ('loss:\n  name: arcface\n', ValueError, 'loss.name'),
    ('train:\n  optim: lbfgs\n', ValueError, 'train.optim'),
    ('train:\n  lr_scheduler: poly\n', ValueError, 'train.lr_scheduler'),
    ("data:\n  transforms: ['random_flip', 'random_patch']\n", ValueError, 'data.transforms'),
    ('data:\n  type: video\n', ValueError, 'data.type'),
    ('data:\n  k_tfm: 2\n', ValueError, 'data.k_tfm'),
    ("data:\n  sources: ['market1501', 'market1501']\n", ValueError, 'data.sources'),  # named twice
    ("data:\n  targets: ['market2000']\n", ValueError, 'data.targets'),
    ("data:\n  sources: ['viper']\n", ValueError, 'data.sources'),  # ids unknown: --num-classes
    ('sampler:\n  train_sampler: RandomDomainSampler\n', ValueError, 'sampler.train_sampler'),
    ('train:\n  lr: fast\n', ValueError, 'train.lr'),  # yacs type check
])
def test_bad_keys_and_values_are_named(tmp_path, text, error, key):
    out = osp.join(tmp_path, 'converted', 'config.py')
    os.makedirs(osp.dirname(out))
    with open(out, 'w') as f:
        f.write('previous = 1\n')
    src = osp.join(tmp_path, 'bad.yaml')
    with open(src, 'w') as f:
        f.write(text)
    with pytest.raises(error, match=key.replace('.', r'\.')):
        tool.convert_file(src, out)
    with open(out) as f:  # nothing (not even half a file) replaced the previous output
        assert f.read() == 'previous = 1\n'
    assert os.listdir(osp.dirname(out)) == ['config.py']


def test_cli_with_num_classes_writes_a_loadable_config(tmp_path, capsys):
    src = osp.join(tmp_path, 'viper.yaml')
    with open(src, 'w') as f:
        f.write("data:\n  sources: ['viper']\n  targets: ['viper']\n  split_id: 3\n")
    out = osp.join(tmp_path, 'viper.py')
    tool.main([src, out, '--num-classes', '316'])
    assert 'wrote' in capsys.readouterr().out
    cfg = Config.fromfile(out)
    assert cfg.model.num_classes == 316
    assert cfg.model.backbone.name == 'resnet50'  # torchreid's default model
    assert cfg.train_dataloader.dataset.torchreid_kwargs == dict(split_id=3)
    assert cfg.param_scheduler[0].step_size == 20 and cfg.optim_wrapper.optimizer.amsgrad is False


# a cross-domain, multi-source torchreid recipe (deep-person-reid's README: sources/targets lists)
TWO_SOURCE_YAML = """\
data:
  type: 'image'
  root: '{root}'
  sources: ['market1501', 'dukemtmcreid']
  targets: ['market1501', 'dukemtmcreid', 'cuhk03']
  height: 256
  width: 128
  combineall: False
test:
  dist_metric: 'cosine'
  normalize_feature: True
"""


def test_two_sources_train_one_label_space_and_each_target_is_a_table_row(tmp_path):
    from tests.helpers import make_demo_data
    make_demo_data(tmp_path / 'data', 'market1501', 'dukemtmc-reid')
    src, out = osp.join(tmp_path, 'two.yaml'), osp.join(tmp_path, 'two.py')
    with open(src, 'w') as f:
        f.write(TWO_SOURCE_YAML.format(root=tmp_path / 'data'))
    tool.convert_file(src, out)
    cfg = Config.fromfile(out)
    assert cfg.model.num_classes == 751 + 702  # the real data sets' training ids, one label space
    train = cfg.train_dataloader.dataset
    assert train.type == 'CombinedReIDDataset' and train.split == 'train' and train.pipeline
    assert [(d.type, d.name, d.split) for d in train.datasets] == [
        ('TorchreidDataset', 'market1501', 'train'), ('TorchreidDataset', 'dukemtmcreid', 'train')]
    assert all('pipeline' not in d for d in train.datasets)
    test = cfg.test_dataloader.dataset
    assert [d.name for d in test.datasets] == ['market1501', 'dukemtmcreid', 'cuhk03']
    assert cfg.test_evaluator == dict(type='MultiSetReIDMetric', dist='cosine', norm_feat=True, rerank=False, sets={
        'market1501': dict(protocol='market'), 'dukemtmcreid': dict(protocol='market'),
        'cuhk03': dict(protocol='market')})
    assert 'save_best' not in cfg.default_hooks.checkpoint  # torchreid tests its last epoch (model_selection)
    # the converted training set builds on the demo layouts: 30 + 30 demo ids in one label space
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        from mmpretrain.registry import DATASETS
        dataset = DATASETS.build(dict(train.to_dict(), pipeline=[], verbose=False))
    assert dataset.metainfo['num_classes'] == 60
    assert sorted(set(dataset.get_gt_labels().tolist())) == list(range(60))
    assert dataset.metainfo['sources'] == ['market1501', 'dukemtmcreid']
