"""Distributed runs on a machine without CUDA (this repository's launchers and ``ReIDRunner.from_cfg``)."""
import atexit

import torch
import torch.distributed as torch_dist


def setup_cpu_distributed(cfg):
    """Make ``--launcher pytorch`` work on a machine without CUDA (gloo).

    The configs keep mmengine's backend (``env_cfg.dist_cfg.backend='nccl'``), which is what a GPU run needs with
    any launcher. MMEngine 0.10.7 cannot run distributed without CUDA whatever the backend: ``init_dist`` calls
    ``torch.cuda.set_device`` before ``init_process_group``, and the model is wrapped in DDP with
    ``device_ids=[LOCAL_RANK]``, which DDP refuses for CPU modules. On such a machine this repository's
    ``tools/train.py`` / ``tools/test.py`` (``tools/dist_train.sh``) start a gloo process group themselves (the
    Runner skips its own initialisation when one exists) and give the wrapper ``device_ids=None``.

    Args:
        cfg (mmengine.Config): the merged config (``launcher`` set), changed in place.

    Returns:
        bool: whether the CPU set-up was applied.
    """
    if cfg.get('launcher', 'none') != 'pytorch' or torch.cuda.is_available():
        return False
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(backend='gloo')
    if cfg.get('model_wrapper_cfg') is None:
        cfg.model_wrapper_cfg = dict(type='MMDistributedDataParallel', device_ids=None,
                                     find_unused_parameters=cfg.get('find_unused_parameters', False))
    return True


def finish_distributed():
    """End a distributed run that finished on every rank: a barrier, then ``destroy_process_group()``.

    Called by ``tools/train.py`` and ``tools/test.py`` after the Runner returns (every rank gets there; an error
    exits without it). Without it a gloo worker thread may still be releasing the tensors of the last collective
    (the metrics mmengine broadcasts from rank 0) while Python finalises: taking the GIL then ends that thread
    with a forced unwind through a noexcept destructor, and a run that had saved everything exits with code -6
    (``terminate called without an active exception``; pytorch/pytorch#190489). The barrier completes only after
    every earlier collective of every rank; the main thread waits in it without the GIL, so the workers release
    those tensors while the interpreter is whole.
    """
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.barrier()
        torch_dist.destroy_process_group()


_AT_EXIT = []


def finish_distributed_at_exit():
    """Run :func:`finish_distributed` when the interpreter exits, before it finalises (registered once).

    For launchers that end at ``runner.train()`` / ``runner.test()`` without calling it (mmpretrain's
    ``tools/train.py`` and ``tools/test.py``, i.e. ``mim train`` / ``mim test``): :class:`~plugins.core.runner.
    ReIDRunner` registers it after a run that returned. A run that raised registers nothing, so no rank waits at
    exit in a barrier that a failed rank will never reach.
    """
    if not _AT_EXIT:
        atexit.register(finish_distributed)
        _AT_EXIT.append(finish_distributed)
