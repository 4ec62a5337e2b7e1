"""finish_distributed: the launchers end the process group themselves, after every rank's last collective.

A 2-process AXM-Net demo run aborted in CI after it had saved everything (exit code -6, ``terminate called without
an active exception``): a gloo worker thread released the tensors of mmengine's last metric broadcast while Python
finalised (pytorch/pytorch#190489). It failed about 1 run in 6 before ``tools/train.py`` called this, 0 in 16 after.
"""
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
