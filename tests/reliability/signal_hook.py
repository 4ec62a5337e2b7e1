"""A test hook that sends a signal to its own process after a chosen iteration (imported through custom_imports).

``SignalAtIterationHook(iteration=k, signal='SIGTERM', rank=r)``: after iteration ``k`` (0-based ``runner.iter``)
rank ``r`` signals itself, as Slurm would, at an exact point of the run (priority ``VERY_HIGH``: before the
``PreemptionHook`` of the same ``after_train_iter`` looks for signals), so the preemption tests do not depend
on timing. A resumed run is past iteration ``k`` and is not signalled again.
"""
import os
import signal

from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class SignalAtIterationHook(Hook):
    priority = 'VERY_HIGH'

    def __init__(self, iteration, signal='SIGTERM', rank=0):
        self.iteration, self.signal, self.rank = int(iteration), signal, int(rank)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter == self.iteration and runner.rank == self.rank:
            os.kill(os.getpid(), getattr(signal, self.signal))
