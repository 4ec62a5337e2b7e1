"""GPU section: each case's step and reference pass in float32 and with AMP, evaluation on the GPU."""
import copy
import tempfile

import numpy as np
import torch

from plugins.core.evaluation.rank import evaluate_features
from .distributed import sync_batchnorm_rows
from .evaluation import synthetic_reid
from .report import Section, best_time, fmt
from .train import case_label, time_case


def gpu_section(args, state):
    """On a CUDA device: each method's step and reference pass in float32 and with AMP; evaluation on the GPU."""
    if not torch.cuda.is_available():
        sec = Section('GPU: training step in float32 and with AMP, evaluation on the GPU', ['status'])
        sec.rows.append(['not run: no CUDA device on this machine (`python tools/benchmark.py --sections gpu` '
                         'on a GPU machine fills this table, and with 2 devices the SyncBatchNorm entry)'])
        return sec
    batch_size, repeats = (16, 2) if args.quick else (64, 3)
    sec = Section(f'GPU ({torch.cuda.get_device_name(0)}): training step, batch {batch_size}, published input size',
                  ['method', 'reference s (fp32)', 'step s (fp32)', 'step / reference (fp32)', 'reference s (AMP)',
                   'step s (AMP)', 'step / reference (AMP)', 'AMP speed-up of the step'])
    published_size = copy.copy(args)
    published_size.quick = False  # the published input size on a GPU
    for case in args.train_cases:
        runs = {}
        for amp in (False, True):
            with tempfile.TemporaryDirectory() as work_dir:
                runs[amp] = time_case(published_size, case, batch_size, repeats, work_dir, device='cuda', amp=amp)
            torch.cuda.empty_cache()
        fp32, half = runs[False], runs[True]
        sec.rows.append([case_label(case), fmt(fp32['reference']), fmt(fp32['step']),
                         f'{fp32["step"] / fp32["reference"]:.2f}', fmt(half['reference']), fmt(half['step']),
                         f'**{half["step"] / half["reference"]:.2f}**', f'{fp32["step"] / half["step"]:.2f} x'])
    qf, gf, q_pids, g_pids, q_cams, g_cams = synthetic_reid(3368, 15913, 751, 6, 512, seed=args.seed)
    t_cpu, on_cpu = best_time(lambda: evaluate_features(qf, gf, q_pids, g_pids, q_cams, g_cams), 2)
    qf_gpu, gf_gpu = qf.cuda(), gf.cuda()

    def on_gpu():
        out = evaluate_features(qf_gpu, gf_gpu, q_pids, g_pids, q_cams, g_cams)
        torch.cuda.synchronize()
        return out
    on_gpu()
    t_gpu, gpu_result = best_time(on_gpu, 3)
    sec.notes += [
        f'Market-sized evaluation (3368 x 15913, fused distance + ranking): GPU {fmt(t_gpu)} s, CPU {fmt(t_cpu)} s '
        f'({t_cpu / t_gpu:.1f} x); max |dCMC| = {float(np.abs(on_cpu[0] - gpu_result[0]).max()):.1e}, '
        f'|dmAP| = {abs(on_cpu[1] - gpu_result[1]):.1e}.',
        'AMP = mmengine AmpOptimWrapper (float16 autocast, dynamic loss scaling); the reference pass runs under '
        'the same autocast.',
    ]
    sync_batchnorm_rows(args, sec)
    return sec
