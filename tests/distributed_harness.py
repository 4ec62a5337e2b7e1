"""Run a function in W gloo processes on CPU (the tests of the exact-distributed computations).

``run_on_ranks(fn, W, *args)`` starts W processes from a fork server (torch refuses a plain fork of a process that
has run autograd, as pytest-xdist workers have; ``fn`` must be a module-level function), initialises a gloo group
in each, calls ``fn(rank, W, *args)`` and returns the W results in rank order (any picklable values). An
exception on a rank fails the caller with that rank's traceback; a hang is cut after ``timeout`` seconds.
"""
import multiprocessing as mp
import os
import pickle
import traceback

import torch
import torch.distributed as dist

from plugins.core.utils.ports import free_local_port


def _worker(rank, world_size, port, fn, args, queue):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world_size))
    torch.set_num_threads(1)
    try:
        dist.init_process_group('gloo', rank=rank, world_size=world_size)
        # plain pickle bytes: torch's queue reductions share memory that dies with this process
        queue.put((rank, True, pickle.dumps(fn(rank, world_size, *args))))
    except BaseException:  # noqa: B036 - reported to the parent
        queue.put((rank, False, traceback.format_exc()))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def run_on_ranks(fn, world_size, *args, timeout=300):
    ctx = mp.get_context('forkserver')
    ctx.set_forkserver_preload(['torch', 'plugins'])  # imported once by the server, not by every rank
    queue = ctx.Queue()
    port = free_local_port()
    procs = [ctx.Process(target=_worker, args=(r, world_size, port, fn, args, queue)) for r in range(world_size)]
    for p in procs:
        p.start()
    results = {}
    try:
        for _ in procs:
            rank, ok, value = queue.get(timeout=timeout)
            if not ok:
                raise AssertionError(f'rank {rank} failed:\n{value}')
            results[rank] = pickle.loads(value)
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
    return [results[r] for r in range(world_size)]


def fresh_step():
    """Forget the shared-generator calls of the parent process: each run of a rank function starts a step."""
    from plugins.core import distributed
    distributed._SHARED['step'] = None


def rows_of(sizes, rank, total):
    """The slice of rank ``rank``'s rows in a global batch of ``total`` rows split as ``sizes`` (None: all)."""
    if sizes is None:
        return slice(0, total)
    start = sum(sizes[:rank])
    return slice(start, start + sizes[rank])


def flat_grads(module):
    """Every parameter gradient of ``module`` as one vector (zeros where a parameter got none)."""
    return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten() for p in module.parameters()])


def ddp_gradient_error(reference, rank_grads):
    """Relative error of DDP's gradient (the mean over ranks) against the 1-process ``reference``."""
    grad = torch.stack(list(rank_grads)).mean(0)
    return ((grad - reference).norm() / reference.norm()).item()


def assert_one_process_step(ref_losses, ref_grad, results, loss_rtol=1e-10, grad_rtol=1e-8):
    """Every rank's loss values equal the 1-process ones and DDP's gradient the 1-process gradient.

    Args:
        ref_losses (dict[str, float]), ref_grad (Tensor): the 1-process step.
        results (list[tuple[dict, Tensor]]): (loss values, flat gradient) of every rank.
    """
    for losses, _ in results:
        for name, want in ref_losses.items():
            assert abs(losses[name] - want) <= loss_rtol * max(1.0, abs(want)), (name, losses[name], want)
    err = ddp_gradient_error(ref_grad, [g for _, g in results])
    assert err < grad_rtol, f'DDP gradient error {err:.2e}'
