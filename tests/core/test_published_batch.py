"""The paper's total batch and lr at any number of processes, through ReIDRunner and mmengine's ``scale_lr``.

The rule (README, "Batch and learning rate on N GPUs"): every published config states the paper's total batch
as ``train_dataloader.batch_size`` and in ``auto_scale_lr = dict(base_batch_size=B, enable=True)``;
``ReIDRunner`` (``runner_type`` of every config) gives each of W processes B / W samples, so the total stays B
and mmengine's lr scaling is 1: W processes train the paper setting. ``batch_size_mode='per_process'`` is the
opt-in throughput mode (B on every process, lr x W). The demos use the same mechanism with their own lr.

Each config is resolved as ``Runner.train`` resolves it: a Runner is constructed with the world size patched
where the Runner reads it (``get_dist_info`` in ``setup_env``), the config's optim wrapper is built over a small
model whose parameter names meet every paramwise rule of the configs, then ``Runner.scale_lr`` and the param
schedulers run. The expected batch, lr and lr multipliers are the papers' values, read from the methods'
metafiles (``configs/<method>/metafile.yml``: ``Metadata`` and the collection's ``LR Multipliers``).
"""
import glob
import os.path as osp
from unittest import mock

import mmengine.runner.runner as mmengine_runner
import pytest
import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import PARAM_SCHEDULERS, RUNNERS

import plugins  # noqa: F401
from plugins.core.metafile import load_model_index, method_of, published_models

from tests.helpers import REPO, load_tool, published_config

PUBLISHED = sorted(osp.basename(p) for p in glob.glob(osp.join(REPO, 'configs', '*.py')))
DEMOS = sorted(osp.basename(p) for p in glob.glob(osp.join(REPO, 'configs', 'demo', '*.py')))
WORLD_SIZES = (1, 2, 4)
METHODS = load_model_index(REPO)
#: published config file name -> (its metafile entry, its method)
ENTRIES = {osp.basename(m.config): (m, method_of(METHODS, m)) for m in published_models(METHODS)}


def paper_setting(name):
    """(paper total batch, paper lr, lr multiplier of a parameter name) of a published config, from its metafile."""
    assert name in ENTRIES, f'{name}: no metafile entry names configs/{name}; add it to configs/<method>/metafile.yml'
    model, method = ENTRIES[name]
    return model.batch_size, model.learning_rate, method.lr_multiplier


class ParamNames(nn.Module):
    """A small model whose parameter names meet every paramwise rule of the configs (backbone / new modules,
    weights / biases, conv / BatchNorm / Linear)."""

    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4))
        self.neck = nn.BatchNorm1d(4)
        self.cross_modal = nn.Linear(4, 4)
        self.mlm_head = nn.Linear(4, 4)
        self.classifier = nn.Linear(4, 2, bias=False)


def _cfg(name, demo=False):
    return Config.fromfile(osp.join(REPO, 'configs', *(['demo'] if demo else []), name))


def _runner(cfg, world_size, work_dir):
    """The config's runner (``runner_type``) built as ``Runner.from_cfg`` builds it, at ``world_size``."""
    runner_cls = RUNNERS.get(cfg.get('runner_type', 'Runner'))
    with mock.patch.object(mmengine_runner, 'get_dist_info', return_value=(0, world_size)):
        runner = runner_cls(model=ParamNames(), work_dir=str(work_dir), train_dataloader=cfg.train_dataloader,
                            optim_wrapper=cfg.optim_wrapper, param_scheduler=cfg.param_scheduler,
                            train_cfg=cfg.train_cfg, auto_scale_lr=cfg.get('auto_scale_lr'),
                            default_scope=cfg.default_scope, cfg=cfg)
    assert runner.world_size == world_size
    return runner


def _resolve(cfg, world_size, work_dir):
    """(name -> lr of its param group, scheduler base lrs, per-process loader config) after scale_lr."""
    runner = _runner(cfg, world_size, work_dir)
    # the two steps of Runner.train(), in its order
    optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    runner.scale_lr(optim_wrapper, runner.auto_scale_lr)
    groups = optim_wrapper.optimizer.param_groups
    lr_of = {id(p): g['lr'] for g in groups for p in g['params']}
    lrs = {n: lr_of[id(p)] for n, p in runner.model.named_parameters()}
    # the schedulers start from the scaled lrs (by epoch here: converting to iterations would need the data)
    schedulers = [PARAM_SCHEDULERS.build(dict({k: v for k, v in s.items() if k != 'convert_to_iter_based'},
                                              optimizer=optim_wrapper)) for s in cfg.param_scheduler]
    base_lrs = [s.base_values[:len(groups)] for s in schedulers]
    return lrs, [g['initial_lr'] for g in groups], base_lrs, runner._train_dataloader


@pytest.mark.parametrize('name', PUBLISHED)
@pytest.mark.parametrize('mode', ['total', 'per_process'])
def test_published_config_trains_the_paper_batch_at_any_world_size(name, mode, tmp_path):
    cfg = _cfg(name)
    paper_batch, paper_lr, mult = paper_setting(name)
    assert cfg.runner_type == 'ReIDRunner' and cfg.batch_size_mode == 'total'
    assert cfg.train_dataloader.batch_size == paper_batch, f'{name}: train_dataloader.batch_size is the paper total'
    assert cfg.optim_wrapper.optimizer.lr == paper_lr
    assert cfg.auto_scale_lr == dict(base_batch_size=paper_batch, enable=True)
    cfg.batch_size_mode = mode

    for world_size in WORLD_SIZES:
        lrs, initial, base_lrs, loader = _resolve(cfg, world_size, tmp_path / str(world_size))
        per_process = paper_batch // world_size if mode == 'total' else paper_batch
        assert loader['batch_size'] == per_process, (name, world_size)
        if 'batch_size' in loader['sampler']:  # the samplers draw the per-process share themselves
            assert loader['sampler']['batch_size'] == per_process
        total = world_size * per_process
        expected = {n: paper_lr * mult(n) * total / paper_batch for n in lrs}
        assert lrs == pytest.approx(expected, rel=1e-12), (name, world_size)
        assert all(b == pytest.approx(initial, rel=1e-12) for b in base_lrs), (name, world_size)
        if mode == 'total':  # exactly the paper's lr at every world size
            assert {n: lr / mult(n) for n, lr in lrs.items()} == pytest.approx({n: paper_lr for n in lrs}, rel=1e-15)
    assert cfg.train_dataloader.batch_size == paper_batch  # the config itself is not changed


def test_a_total_of_64_gives_16_per_process_at_4(tmp_path):
    cfg = Config.fromfile(published_config(sampler='IdentitySampler'))  # a sampler that draws the share itself
    cfg.train_dataloader.batch_size = 64
    _, _, _, loader = _resolve(cfg, 4, tmp_path)
    assert loader['batch_size'] == 16 and loader['sampler']['batch_size'] == 16


@pytest.mark.parametrize('sampler,total,world_size,named', [
    ('IdentitySampler', 64, 3, True),          # 64 / 3
    ('IdentitySampler', 72, 4, True),          # 18 per process, not a multiple of K=4
    ('CrossModalitySampler', 64, 16, True),    # 4 per process, not a multiple of 2K=8
    ('GlobalRandomSampler', 64, 3, False),     # no unit of its own: only the equal split is asked for
])
def test_a_total_that_does_not_split_is_refused(sampler, total, world_size, named, tmp_path):
    """The first published config (model-index order) whose train sampler is ``sampler``; ``named``: the
    message names the sampler's unit."""
    cfg = Config.fromfile(published_config(sampler=sampler))
    cfg.train_dataloader.batch_size = total
    with pytest.raises(ValueError) as error:
        _runner(cfg, world_size, tmp_path)
    message = str(error.value)
    assert f'train_dataloader.batch_size={total}' in message and f'into {world_size} equal' in message
    assert 'Valid numbers of processes for this total' in message and 'batch_size_mode=per_process' in message
    if named:
        assert sampler in message


@pytest.mark.parametrize('name', DEMOS)
def test_demo_total_batch_and_lr_do_not_move_with_the_world_size(name, tmp_path):
    cfg = _cfg(name, demo=True)
    assert cfg.auto_scale_lr.enable is False
    reference, _, _, loader = _resolve(cfg, 1, tmp_path / 'one')
    assert reference['neck.weight'] == cfg.optim_wrapper.optimizer.lr
    assert loader['batch_size'] == cfg.train_dataloader.batch_size
    lrs, _, _, loader = _resolve(cfg, 2, tmp_path / '2')  # the demos' totals split over 2 processes
    assert lrs == reference and loader['batch_size'] * 2 == cfg.train_dataloader.batch_size, name


@pytest.mark.parametrize('name,demo', [(n, False) for n in PUBLISHED] + [(n, True) for n in DEMOS])
def test_train_tool_auto_scale_lr_flag(name, demo, monkeypatch):
    """``tools/train.py --auto-scale-lr`` still enables it (a no-op on published configs, on for a demo)."""
    train = load_tool('train')
    monkeypatch.setattr(train, 'setup_cpu_distributed', lambda cfg: None)  # the machine's set-up: not needed here
    path = osp.join(REPO, 'configs', *(['demo'] if demo else []), name)
    plain = train.merge_args(Config.fromfile(path), train.parse_args([path]))
    flagged = train.merge_args(Config.fromfile(path), train.parse_args([path, '--auto-scale-lr']))
    assert plain.auto_scale_lr.enable is (not demo) and flagged.auto_scale_lr.enable is True
    assert flagged.auto_scale_lr.base_batch_size == plain.auto_scale_lr.base_batch_size
    if demo:  # --auto-scale-lr on a demo scales by the number of processes
        assert plain.auto_scale_lr.base_batch_size == plain.train_dataloader.batch_size
