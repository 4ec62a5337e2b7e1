"""finish_distributed: the launchers end the process group themselves, after every rank's last collective.

A 2-process AXM-Net demo run aborted in CI after it had saved everything (exit code -6, ``terminate called without
an active exception``): a gloo worker thread released the tensors of mmengine's last metric broadcast while Python
finalised (pytorch/pytorch#190489). It failed 6 of 27 runs before ``tools/train.py`` called this, 0 of 16 after.
"""
import pytest
import torch.distributed as dist

from plugins.core.utils import finish_distributed
from tests.distributed_harness import run_on_ranks


def _broadcast_then_finish(rank, world_size):
    objects = [{'R1': 12.5}] if rank == 0 else [None]
    dist.broadcast_object_list(objects, src=0)  # what mmengine does with the metrics of rank 0
    finish_distributed()
    return objects[0], dist.is_initialized()


def test_the_process_group_ends_on_every_rank_after_the_last_collective():
    assert run_on_ranks(_broadcast_then_finish, 2) == [({'R1': 12.5}, False)] * 2


def test_without_a_process_group_it_does_nothing():
    assert not dist.is_initialized()
    finish_distributed()
    assert not dist.is_initialized()


@pytest.mark.parametrize('method', ['train', 'test'])
def test_the_runner_ends_the_group_at_exit_only_after_a_run_that_returned(monkeypatch, method):
    """``mim train`` / ``mim test`` (mmpretrain's tools) end at ``runner.train()`` / ``runner.test()``: the runner
    registers the same ending at exit; a run that raised registers nothing (a barrier no failed rank reaches)."""
    from mmengine.runner import Runner

    from plugins.core import runner as runner_module
    registered = []
    monkeypatch.setattr(runner_module, 'finish_distributed_at_exit', lambda: registered.append(method))
    runner = runner_module.ReIDRunner.__new__(runner_module.ReIDRunner)  # the loops are replaced below
    monkeypatch.setattr(Runner, method, lambda self: 'result')
    assert getattr(runner, method)() == 'result' and registered == [method]

    def fails(self):
        raise RuntimeError('rank 1 ran out of memory')

    monkeypatch.setattr(Runner, method, fails)
    with pytest.raises(RuntimeError, match='out of memory'):
        getattr(runner, method)()
    assert registered == [method]


def test_the_exit_hook_is_registered_once(monkeypatch):
    from plugins.core.utils import runtime
    calls = []
    monkeypatch.setattr(runtime, '_AT_EXIT', [])
    monkeypatch.setattr(runtime.atexit, 'register', calls.append)
    runtime.finish_distributed_at_exit()
    runtime.finish_distributed_at_exit()
    assert calls == [runtime.finish_distributed]
