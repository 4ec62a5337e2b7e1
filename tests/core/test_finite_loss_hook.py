"""FiniteLossHook: a NaN/Inf loss stops training with a message naming the term, before a checkpoint is saved."""
import os
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import CheckpointHook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn

import plugins  # noqa: F401  (registers the hook)
from plugins.core.hooks import FiniteLossHook
from plugins.core.hooks import finite_loss_hook

from tests.helpers import demo_config


def fake_runner(epoch=0, it=0):
    return SimpleNamespace(epoch=epoch, iter=it)


def test_finite_losses_pass_and_are_remembered():
    hook = FiniteLossHook()
    hook.after_train_iter(fake_runner(0, 0), 0, outputs=dict(loss=torch.tensor(1.5), loss_id=torch.tensor(1.0)))
    assert hook.last_finite == {'loss': (1.5, 0), 'loss_id': (1.0, 0)}


def test_nan_term_is_named_with_epoch_iteration_and_last_finite_values():
    hook = FiniteLossHook()
    finite = dict(loss=torch.tensor(2.0), loss_id=torch.tensor(0.75), loss_triplet=torch.tensor(1.25))
    hook.after_train_iter(fake_runner(1, 40), 3, outputs=finite)
    outputs = dict(loss=torch.tensor(float('nan')), loss_id=torch.tensor(0.7),
                   loss_triplet=torch.tensor(float('inf')), acc_id=torch.tensor(float('nan')))
    with pytest.raises(FloatingPointError) as err:
        hook.after_train_iter(fake_runner(1, 41), 4, outputs=outputs)
    msg = str(err.value)
    assert 'loss_triplet=inf' in msg and 'loss=nan' in msg
    assert 'loss_id=0.7,' not in msg.split('Last finite')[0]  # a finite term is not reported as the fault
    assert 'acc_id' not in msg  # only loss terms are checked
    assert 'epoch 2, iteration 42 (iteration 5 of the epoch)' in msg
    assert 'loss_triplet=1.25 (iteration 41)' in msg and 'loss_id=0.75 (iteration 41)' in msg


def test_fault_on_another_rank_stops_this_one(monkeypatch):
    """The flag is all-reduced: a rank with finite losses stops too (DDP gave it the NaN gradients)."""
    def all_reduce_max(tensor, op):
        assert op == 'max'
        tensor.fill_(1)  # the other rank reported a fault
    monkeypatch.setattr(finite_loss_hook.dist, 'get_world_size', lambda: 2)
    monkeypatch.setattr(finite_loss_hook.dist, 'get_rank', lambda: 0)
    monkeypatch.setattr(finite_loss_hook.dist, 'all_reduce', all_reduce_max)
    with pytest.raises(FloatingPointError, match='on another rank'):
        FiniteLossHook().after_train_iter(fake_runner(), 0, outputs=dict(loss=torch.tensor(1.0)))


def test_enabled_for_every_config_and_runs_before_checkpoint_hook():
    cfg = Config.fromfile(demo_config())  # any config: the first demo of the model index
    assert cfg.default_hooks.finite_loss.type == 'FiniteLossHook'  # inherited from _base_/default_runtime.py
    assert FiniteLossHook.priority == 'ABOVE_NORMAL'
    from mmengine.runner.priority import get_priority
    assert get_priority(FiniteLossHook.priority) < get_priority(CheckpointHook.priority)


class ToyDataset(torch.utils.data.Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, idx):
        return dict(inputs=torch.full((2, ), float(idx)), target=torch.tensor(float(idx)))


class NaNAtIteration(BaseModel):
    """Linear regression whose auxiliary loss term becomes NaN from the ``nan_from``-th call (1-based) on."""

    def __init__(self, nan_from=3):
        super().__init__()
        self.fc = nn.Linear(2, 1)
        self.nan_from, self.calls = nan_from, 0

    def forward(self, inputs, target, mode='loss'):
        x, y = torch.stack(inputs), torch.stack(target)
        pred = self.fc(x).squeeze(1)
        if mode != 'loss':
            return pred
        self.calls += 1
        aux = pred.abs().mean() * (float('nan') if self.calls >= self.nan_from else 0.01)
        return dict(loss_mse=((pred - y) ** 2).mean(), loss_aux=aux)


def test_runner_stops_at_nan_iteration_before_its_checkpoint(tmp_path):
    runner = Runner(
        model=NaNAtIteration(nan_from=3), work_dir=str(tmp_path), default_scope='mmpretrain',
        train_dataloader=dict(dataset=ToyDataset(), batch_size=2, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=False)),
        train_cfg=dict(by_epoch=False, max_iters=6),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        # the same entry as configs/_base_/default_runtime.py; CheckpointHook saves after every iteration
        default_hooks=dict(finite_loss=dict(type='FiniteLossHook'),
                           checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=1)),
        log_level='WARNING')
    names = [type(h).__name__ for h in runner.hooks]
    assert names.index('FiniteLossHook') < names.index('CheckpointHook')
    with pytest.raises(FloatingPointError) as err:
        runner.train()
    assert 'loss_aux=nan' in str(err.value) and 'iteration 3 ' in str(err.value)
    assert 'loss_mse=' not in str(err.value).split('Last finite')[0]
    assert sorted(f for f in os.listdir(tmp_path) if f.endswith('.pth')) == ['iter_1.pth', 'iter_2.pth']
    # the weights did become NaN at iteration 3 (so saving them would have been wrong); iter_2 is clean
    assert torch.isnan(runner.model.fc.weight).any()
    state = torch.load(tmp_path / 'iter_2.pth', weights_only=False)['state_dict']
    assert all(torch.isfinite(v).all() for v in state.values())
