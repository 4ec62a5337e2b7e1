"""The IRRA configs: paper settings, per-data-set fields, and the schedule against the official formula."""
import math
import os.path as osp

import pytest
import torch
from mmengine import Config
from mmengine.registry import DefaultScope
from mmengine.optim import build_optim_wrapper
from mmengine.optim.scheduler import CosineAnnealingLR, LinearLR

import plugins  # noqa: F401

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))


def load(name):
    return Config.fromfile(osp.join(REPO, 'configs', name))


@pytest.mark.parametrize('name, dataset, root, num_classes', [
    ('irra_cuhkpedes.py', 'CUHKPEDES', 'data/cuhk-pedes', 11003),
    ('irra_icfgpedes.py', 'ICFGPEDES', 'data/icfg-pedes', 3102),
    ('irra_rstpreid.py', 'RSTPReid', 'data/rstpreid', 3701),
])
def test_real_configs_paper_setting(name, dataset, root, num_classes):
    cfg = load(name)
    assert cfg.model.type == 'IRRA' and cfg.model.num_classes == num_classes
    assert cfg.model.clip.pretrained == 'openai/clip-vit-base-patch16'
    assert cfg.model.loss_sdm.temperature == 0.02 and cfg.model.cross_depth == 4
    # the official ViT: 384x128 inputs, 16-pixel patches with stride 16 -> a 24x8 (+1) position table
    assert tuple(cfg.model.clip.image_size) == (384, 128) and cfg.model.clip.stride == 16
    # the released numbers come from SDM/ID on the masked captions (official in-place masking)
    assert cfg.model.id_sdm_on_masked_captions is True
    for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
        assert (loader.dataset.type, loader.dataset.data_root) == (dataset, root)
    assert cfg.train_dataloader.batch_size == 64
    steps = [t['type'] for t in cfg.train_dataloader.dataset.pipeline]
    assert steps.index('CLIPTokenize') < steps.index('MaskedLanguageModeling') < steps.index('PackReIDInputs')
    assert any(t['type'] == 'Resize' and tuple(t['scale']) == (128, 384) for t in cfg.train_dataloader.dataset.pipeline)
    assert cfg.val_evaluator.protocol == 'text_image'
    opt = cfg.optim_wrapper
    assert (opt.optimizer.type, opt.optimizer.lr, opt.optimizer.weight_decay) == ('Adam', 1e-5, 4e-5)
    assert (opt.paramwise_cfg.new_module_lr_mult, opt.paramwise_cfg.bias_lr_mult) == (5.0, 2.0)
    assert cfg.train_cfg.max_epochs == 60


def official_factor(epoch, warmup_epochs=5, total=60, warmup_factor=0.1):
    """solver/lr_scheduler.py of the official code (linear warm-up, cosine), evaluated per epoch."""
    if epoch < warmup_epochs:
        alpha = epoch / warmup_epochs
        return warmup_factor * (1 - alpha) + alpha
    return 0.5 * (1 + math.cos(math.pi * (epoch - warmup_epochs) / (total - warmup_epochs)))


def test_schedule_matches_official_at_epoch_starts():
    cfg = load('irra_cuhkpedes.py')
    # mmengine's iteration-based LinearLR reaches factor 1 one iteration before the warm-up ends, the official
    # scheduler at the end: a gap below 0.9 / (5 * iters_per_epoch) (< 0.0002 with CUHK-PEDES' 1,065 iterations)
    iters_per_epoch = 100
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    schedulers = []
    for sched in cfg.param_scheduler:
        kwargs = {k: v for k, v in sched.items() if k not in ('type', 'convert_to_iter_based', 'by_epoch')}
        cls = {'LinearLR': LinearLR, 'CosineAnnealingLR': CosineAnnealingLR}[sched['type']]
        schedulers.append(cls.build_iter_from_epoch(optimizer, epoch_length=iters_per_epoch, **kwargs))
    for it in range(60 * iters_per_epoch):
        if it % iters_per_epoch == 0:
            epoch = it // iters_per_epoch
            assert optimizer.param_groups[0]['lr'] == pytest.approx(official_factor(epoch), abs=2e-3), epoch
        optimizer.step()
        for s in schedulers:
            s.step()


def test_demo_config_builds_offline_model_and_optimizer():
    cfg = load('demo/irra_cuhkpedes_demo.py')
    assert cfg.model.clip.pretrained is None and cfg.model.clip.config.vision_config.hidden_size == 64
    assert cfg.train_dataloader.dataset.data_root == 'data/demo/cuhk-pedes'
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    assert len(model.cross_modal.blocks) == 1
    assert {g['lr'] for g in wrapper.optimizer.param_groups} == {1e-3, 2e-3, 5e-3}
