"""A test hook that sends a signal to its own process after a chosen iteration (imported through custom_imports).

``SignalAtIterationHook(iteration=k, signal='SIGTERM', rank=r)``: after iteration ``k`` (0-based ``runner.iter``)
rank ``r`` signals itself, as Slurm would, at an exact point of the run (priority ``VERY_HIGH``: before the
``PreemptionHook`` of the same ``after_train_iter`` looks for signals), so the preemption tests do not depend
on timing. A resumed run is past iteration ``k`` and is not signalled again.

``again=True`` sends the signal a second time when the checkpoint save begins (Slurm's SIGTERM after its
SIGUSR1, a user's ``scancel`` on top, torchrun passing on a Ctrl-C the workers got already); ``group=True`` sends
it to the whole process group, DataLoader workers included, as Ctrl-C in a terminal does (the test starts the run
in a session of its own).
"""
import os
import signal

from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class SignalAtIterationHook(Hook):
    priority = 'VERY_HIGH'

    def __init__(self, iteration, signal='SIGTERM', rank=0, again=False, group=False):
        self.iteration, self.signal, self.rank = int(iteration), signal, int(rank)
        self.again, self.group = again, group

    def _send(self):
        signum = getattr(signal, self.signal)
        if self.group:
            os.killpg(os.getpgrp(), signum)
        else:
            os.kill(os.getpid(), signum)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter == self.iteration and runner.rank == self.rank:
            self._send()
            if self.again:
                save = runner.save_checkpoint

                def save_while_signalled(*args, **kwargs):
                    self._send()  # during the save
                    return save(*args, **kwargs)
                runner.save_checkpoint = save_while_signalled
