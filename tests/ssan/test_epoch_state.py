"""SSAN's dynamic margin follows the training epoch that TrainEpochHook gives the model (not the MessageHub)."""
import os.path as osp
import types

import torch
from mmengine.config import Config

from plugins.core.hooks import TrainEpochHook
from tests.helpers import REPO
from .test_model import tiny_ssan, train_batch


def test_train_epoch_hook_switches_the_dynamic_margin_of_the_model_loss():
    model = tiny_ssan(loss_rank=dict(type='CompoundRankingLoss', negative_mining='hardest', dynamic_margin_begin=2))
    inputs, samples = train_batch()
    hook, runner = TrainEpochHook(), types.SimpleNamespace(model=model, epoch=1)

    def rank_losses():
        with torch.no_grad():
            losses = model(inputs, samples, mode='loss')
        return torch.stack([losses[f'loss_cr_{b}'] for b in ('global', 'local', 'relation')])

    hook.before_train_epoch(runner)
    assert model.loss_rank.train_epoch == 1
    before = rank_losses()
    runner.epoch = 2
    hook.before_train_epoch(runner)
    assert model.loss_rank.train_epoch == 2 and model.loss_rank.dynamic_margin_on(None)
    assert not torch.allclose(rank_losses(), before)  # the weak term's margin changed


def test_ssan_configs_give_the_model_its_epoch():
    for name in ('ssan_cuhkpedes.py', 'ssan_icfgpedes.py', osp.join('demo', 'ssan_cuhkpedes_demo.py')):
        cfg = Config.fromfile(osp.join(REPO, 'configs', name))
        assert 'TrainEpochHook' in [h.type for h in cfg.custom_hooks], name
