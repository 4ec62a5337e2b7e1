"""A test hook that records a run's first training step and ends the run (imported through custom_imports).

The first step this run takes (iteration 0, or the first after ``--resume``): rank 0 saves the parameters before
and after it; every rank saves the loss values it logged. Then
every process ends at once: the test compares the step of ``tools/train.py`` with that of
``tools/dist_train.sh CFG 2``.

With ``FIRST_STEP_DTYPE=float64`` in the environment the run trains in float64 (default dtype, model and
preprocessed inputs), so that the comparison sees the computation itself and not float32 summation order.
"""
import json
import os
import os.path as osp

import torch
import torch.distributed as dist
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from mmpretrain.registry import HOOKS


def _train_in_float64():
    """New tensors in float64, and every built model converted (its preprocessor's mean/std too, so the
    preprocessed images are float64)."""
    torch.set_default_dtype(torch.float64)
    build_model = Runner.build_model

    def build_model_in_float64(self, model):
        return build_model(self, model).double()
    Runner.build_model = build_model_in_float64


if os.environ.get('FIRST_STEP_DTYPE') == 'float64':
    _train_in_float64()


def _params(runner):
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    return {n: p.detach().clone() for n, p in model.named_parameters()}


@HOOKS.register_module()
class FirstStepRecorderHook(Hook):
    priority = 'VERY_LOW'

    def __init__(self):
        self.started = False

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if not self.started and runner.rank == 0:
            torch.save(_params(runner), osp.join(runner.work_dir, 'before.pth'))

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.started = True
        losses = {k: float(v) for k, v in (outputs or {}).items()}
        with open(osp.join(runner.work_dir, f'losses_rank{runner.rank}.json'), 'w') as f:
            json.dump(losses, f)
        if runner.rank == 0:
            torch.save(_params(runner), osp.join(runner.work_dir, 'after.pth'))
        if dist.is_initialized():
            dist.barrier()
        os._exit(0)  # the first step is all the test needs
