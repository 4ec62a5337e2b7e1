"""Distributed section: what the global-batch computations (gathers, global sums, GlobalBatchNorm) cost per step.

Two gloo processes on the CPU (one thread each) train each case with half of the total batch each, the way
``tools/dist_train.sh CFG 2`` does. Each step is timed twice on the same ranks, model and batch:

* **global**: the plugin's computation (:mod:`plugins.core.distributed`): the batch-level losses over the
  gathered batch, BatchNorm over the global batch (:class:`~plugins.core.distributed.GlobalBatchNorm`);
* **local**: the same step inside :func:`~plugins.core.distributed.local_computation` with plain BatchNorm, i.e.
  every rank computes its losses and statistics on its own share (the computation before exact distributed
  training; DDP's gradient all-reduce runs in both).

``global / local`` is the price of training the 1-process run; the 1-process step on the whole batch (2 threads,
the same cores) is shown beside it.
"""
import gc
import os
import tempfile

import torch
import torch.multiprocessing as mp

from ..utils.ports import free_local_port
from .report import Section, best_time, fmt
from .train import case_label, case_run, train_sizes

#: the bound on global / local the report shows (issue 23's goal)
GLOBAL_COST_TARGET = 1.05
WORLD_SIZE = 2


def _best_step(step, repeats):
    """Best wall time of ``repeats`` steps after one warm-up step."""
    step()
    return best_time(step, repeats)[0]


def _time_on_rank(args, case, total, repeats, work_dir, device='cpu', amp=False):
    """Seconds of the global and the local step of ``case`` on this rank (the slowest rank is the step).

    global: ``sync_bn='torch'`` (GlobalBatchNorm on the CPU, torch.nn.SyncBatchNorm on CUDA, as the published
    configs train); local: plain BatchNorm and :func:`~plugins.core.distributed.local_computation`.
    """
    from mmengine.optim import build_optim_wrapper
    from plugins.core import distributed
    times = {}
    for variant in ('global', 'local'):
        run = case_run(args, case, total, work_dir, amp, launcher='pytorch',
                       sync_bn='torch' if variant == 'global' else None)
        optim_wrapper = build_optim_wrapper(run.model, run.cfg.optim_wrapper)

        def step():
            if variant == 'global':
                out = run.model.train_step(run.batch, optim_wrapper)
            else:
                with distributed.local_computation():
                    out = run.model.train_step(run.batch, optim_wrapper)
            if device == 'cuda':
                torch.cuda.synchronize()
            return out
        seconds = torch.tensor([_best_step(run.wrap(step), repeats)], device=device)
        torch.distributed.all_reduce(seconds, op=torch.distributed.ReduceOp.MAX)
        times[variant] = float(seconds)
        run = optim_wrapper = None
        gc.collect()  # the next variant builds its own model: free this one first (full-size CASN is 4 GB)
    return times


def _worker(rank, port, args, cases, total, repeats, device, amp, queue):
    from mmengine.logging import MMLogger
    MMLogger.get_instance('mmengine').setLevel('WARNING')  # as tools/benchmark.py: no init report per model
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(WORLD_SIZE), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    if device == 'cuda':
        torch.cuda.set_device(rank)
    torch.distributed.init_process_group('nccl' if device == 'cuda' else 'gloo', rank=rank, world_size=WORLD_SIZE)
    try:
        for case in cases:
            with tempfile.TemporaryDirectory() as work_dir:
                times = _time_on_rank(args, case, total, repeats, work_dir, device, amp)
            if rank == 0:
                queue.put((case.config, times))
    finally:
        torch.distributed.destroy_process_group()


def time_world_size_two(args, cases, total, repeats, device='cpu', amp=False):
    """``{config: {'global': s, 'local': s}}`` from one pair of processes that times every case."""
    context = mp.get_context('spawn')  # a fresh interpreter: no inherited autograd or thread state
    queue = context.SimpleQueue()
    mp.start_processes(_worker, args=(free_local_port(), args, list(cases), total, repeats, device, amp, queue),
                       nprocs=WORLD_SIZE, join=True, start_method='spawn')
    results = {}
    while not queue.empty():
        config, times = queue.get()
        results[config] = times
    return results


def time_one_process(args, case, total, repeats):
    """The 1-process step on the whole batch, on as many threads as the 2 processes use together."""
    from mmengine.optim import build_optim_wrapper
    threads = torch.get_num_threads()
    torch.set_num_threads(WORLD_SIZE)
    try:
        with tempfile.TemporaryDirectory() as work_dir:
            run = case_run(args, case, total, work_dir)
            optim_wrapper = build_optim_wrapper(run.model, run.cfg.optim_wrapper)
            return _best_step(run.wrap(lambda: run.model.train_step(run.batch, optim_wrapper)), repeats)
    finally:
        torch.set_num_threads(threads)


def distributed_section(args, state) -> Section:
    """Each case's step at W = 2 (gloo, CPU) with the global-batch computations against the local ones."""
    batch_size, repeats = train_sizes(args)
    total = 2 * batch_size  # each of the 2 processes gets the train section's batch
    sec = Section(f'Global-batch computations at W = {WORLD_SIZE} (gloo, CPU, 1 thread per process, total batch '
                  f'{total})', ['method', '1 process s (2 threads)', 'W = 2 local s', 'W = 2 global s',
                                'global / local', 'target'])
    two = time_world_size_two(args, args.train_cases, total, repeats)
    for case in args.train_cases:
        times = two[case.config]
        one = time_one_process(args, case, total, repeats)
        sec.rows.append([case_label(case), fmt(one), fmt(times['local']), fmt(times['global']),
                         f'**{times["global"] / times["local"]:.3f}**', f'<= {GLOBAL_COST_TARGET}'])
    sec.notes += [
        'global = the plugin: batch-level losses over the gathered batch, GlobalBatchNorm (what W processes need '
        'to take the 1-process step); local = the same ranks, model and batch with every loss and BatchNorm on '
        "the rank's own share (`plugins.core.distributed.local_computation`, plain BatchNorm). DDP's gradient "
        'all-reduce runs in both; each time is the slower rank\'s best of '
        f'{repeats} step(s) after a warm-up, hooks included.',
        'On CUDA the published configs use torch.nn.SyncBatchNorm (`sync_bn=\'torch\'`) instead of GlobalBatchNorm; '
        'its cost (with AMP) is in the GPU section when 2 devices are present.',
    ]
    return sec


def sync_batchnorm_rows(args, sec):
    """The GPU section's entry: each case's step at 2 GPUs (nccl) with SyncBatchNorm against local BatchNorm, in
    float32 and with AMP; a 'not run' note on a machine with fewer than 2 devices."""
    if torch.cuda.device_count() < WORLD_SIZE:
        sec.notes.append(f'SyncBatchNorm at {WORLD_SIZE} GPUs (global / local step, float32 and AMP): not run, this '
                         f'machine has {torch.cuda.device_count()} CUDA device(s).')
        return
    batch_size, repeats = (16, 2) if args.quick else (64, 3)
    runs = {amp: time_world_size_two(args, args.train_cases, WORLD_SIZE * batch_size, repeats, 'cuda', amp)
            for amp in (False, True)}
    for case in args.train_cases:
        fp32, half = runs[False][case.config], runs[True][case.config]
        sec.notes.append(f'{case_label(case)} at {WORLD_SIZE} GPUs, {batch_size} per GPU: SyncBatchNorm + global '
                         f'losses / local step = {fp32["global"] / fp32["local"]:.3f} (float32), '
                         f'{half["global"] / half["local"]:.3f} (AMP); global step {fmt(fp32["global"])} s / '
                         f'{fmt(half["global"])} s.')
