"""The published SSAN configs train the official setting (zifyloo/SSAN, experiment/*/train.sh + options.py)."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS

import plugins  # noqa: F401

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
PUBLISHED = {'ssan_cuhkpedes.py': ('CUHKPEDES', 11003), 'ssan_icfgpedes.py': ('ICFGPEDES', 3102)}


def load(name):
    return Config.fromfile(osp.join(REPO, 'configs', name))


@pytest.mark.parametrize('name', sorted(PUBLISHED))
def test_backbone_keeps_torchvision_last_stride_as_the_official_code(name):
    """Official: ``resnet50.children()[:-2]``, last stride 2, a 12 x 4 map at 384 x 128 (2 rows per part)."""
    backbone = load(name).model.backbone
    assert tuple(backbone.strides) == (1, 2, 2, 2)
    cfg = dict(backbone, init_cfg=None)  # no download: the stride decides the map size, not the weights
    model = MODELS.build(cfg)
    model.eval()  # mmpretrain's ResNet.train() returns None: no chaining
    with torch.no_grad():
        feat_map = model(torch.zeros(1, 3, 384, 128))[-1]
    assert feat_map.shape == (1, 2048, 12, 4)


@pytest.mark.parametrize('name', sorted(PUBLISHED))
def test_published_config_matches_the_official_hyper_parameters(name):
    cfg = load(name)
    dataset_type, num_classes = PUBLISHED[name]
    m = cfg.model
    assert m.type == 'SSAN' and m.backbone.depth == 50 and m.backbone.init_cfg.type == 'Pretrained'
    assert m.num_classes == num_classes and cfg.train_dataloader.dataset.type == dataset_type
    assert (m.embed_dims, m.feat_dims, m.relation_dims, m.num_parts, m.text_dropout) == (512, 1024, 512, 6, 0.3)
    assert tuple(m.branch_weights) == (1.0, 0.5, 0.5)
    rank = m.loss_rank
    assert (rank.alpha, rank.beta, rank.negative_mining, rank.reduction) == (0.2, 0.1, 'semi_hard', 'sum')
    assert (rank.dynamic_margin_begin, rank.skip_margin_below) == (5, 0.16)
    assert m.loss_id.epsilon == 0.0
    # Adam 1e-3 (CNN x 0.1), no weight decay, x0.1 at epochs 20 and 40, 60 epochs, batch 64 without the last
    # incomplete batch
    optimizer = cfg.optim_wrapper.optimizer
    assert optimizer.type == 'Adam' and optimizer.lr == 1e-3 and tuple(optimizer.betas) == (0.9, 0.999)
    assert optimizer.get('weight_decay', 0) == 0
    assert cfg.optim_wrapper.paramwise_cfg.custom_keys == {'backbone': dict(lr_mult=0.1)}
    assert [(s.type, s.milestones, s.gamma) for s in cfg.param_scheduler] == [('MultiStepLR', [20, 40], 0.1)]
    assert cfg.train_cfg.max_epochs == 60
    assert cfg.train_dataloader.batch_size == 64 and cfg.train_dataloader.drop_last
    # bicubic resize to 384 x 128 and horizontal flip only; captions cut at 100 words; words seen >= 2 times
    steps = [t.type for t in cfg.train_dataloader.dataset.pipeline]
    assert steps == ['LoadReIDImage', 'Resize', 'RandomFlip', 'WordTokenize', 'PackReIDInputs']
    resize = cfg.train_dataloader.dataset.pipeline[1]
    assert tuple(resize.scale) == (128, 384) and resize.interpolation == 'bicubic' and not resize.keep_ratio
    assert cfg.train_dataloader.dataset.pipeline[3].max_length == 100
    vocab_hooks = [h for h in cfg.custom_hooks if h.type == 'WordVocabularyHook']
    assert len(vocab_hooks) == 1 and vocab_hooks[0].min_count == 2 and cfg.model.vocab_size == 5000


def test_demo_keeps_last_stride_1_for_its_small_images():
    """128 x 48 demo images give a 4 x 2 map with the official stride, fewer rows than K = 6 parts."""
    backbone = load(osp.join('demo', 'ssan_cuhkpedes_demo.py')).model.backbone
    assert tuple(backbone.strides) == (1, 2, 2, 1)
