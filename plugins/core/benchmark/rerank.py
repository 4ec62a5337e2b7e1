"""Re-ranking section: the bounded-memory k-reciprocal re-ranking against torchreid's numpy ``re_ranking``.

Every measurement runs in a fresh child process (``python -m plugins.core.benchmark.rerank WHICH Q G D``), so
that its peak resident memory is its own (``VmHWM``, which the child reports; not ``ru_maxrss``, which keeps the
parent's resident size at the fork). The features are synthetic with an identity structure (identity centre +
gaussian noise, :func:`.evaluation.synthetic_reid`).

* parity: ``ReIDMetric(protocol='market', rerank=True)``'s computation (:func:`evaluate_re_ranked`) against
  torchreid's ``compute_distance_matrix`` + ``re_ranking`` + ``evaluate_rank`` (its python loop), R1 and mAP;
* speed at Market size: torchreid's ``re_ranking`` call alone against the plugin's whole evaluation
  (distances, re-ranking and ranking);
* MSMT17 size (11,659 x 82,161, 512-d and 2,048-d): seconds and peak memory of the plugin alone (torchreid's
  dense matrices need about 35 GiB each there).
"""
import os
import os.path as osp
import subprocess
import sys
import time
import warnings

from .evaluation import synthetic_reid
from .memory import peak_resident_kib
from .report import Section

#: Noise of the synthetic 512-d features (centre ~ N(0, 1) per dimension); scaled by (D / 512) ** 0.25 so that
#: every dimension gives a problem of similar difficulty (plain R1 about 75 %, mAP about 30 % at Market size).
NOISE_512 = 2.5


def measure_in_this_process(which, num_q, num_g, dim, num_ids):
    """Evaluate one synthetic problem with re-ranking; print ``RESULT seconds rerank_seconds R1 mAP rerank_cpu``.

    ``rerank_seconds`` / ``rerank_cpu``: wall and CPU (all threads) seconds of torchreid's ``re_ranking`` call
    alone, or of the plugin's whole evaluation.
    """
    noise = NOISE_512 * (dim / 512) ** 0.25
    qf, gf, q_pids, g_pids, q_cams, g_cams = synthetic_reid(num_q, num_g, num_ids, 15, dim, noise=noise)
    start, cpu_start = time.perf_counter(), time.process_time()
    if which == 'plugin':
        from plugins.core.evaluation.rerank import evaluate_re_ranked
        cmc, mAP, _ = evaluate_re_ranked(qf, gf, q_pids, g_pids, q_cams, g_cams)
        rerank_seconds, rerank_cpu = time.perf_counter() - start, time.process_time() - cpu_start
    else:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # torchreid warns that its Cython evaluation is not built
            from torchreid.reid.metrics import compute_distance_matrix, evaluate_rank
            from torchreid.reid.utils.rerank import re_ranking
            dists = [compute_distance_matrix(a, b).numpy() for a, b in ((qf, gf), (qf, qf), (gf, gf))]
            begin, cpu_begin = time.perf_counter(), time.process_time()
            distmat = re_ranking(*dists, k1=20, k2=6, lambda_value=0.3)
            rerank_seconds, rerank_cpu = time.perf_counter() - begin, time.process_time() - cpu_begin
            del dists
            cmc, mAP = evaluate_rank(distmat, q_pids, g_pids, q_cams, g_cams, max_rank=50, use_cython=False)
    print(f'RESULT {time.perf_counter() - start!r} {rerank_seconds!r} {float(cmc[0])!r} {float(mAP)!r} '
          f'{rerank_cpu!r}')
    print(f'PEAK_KIB {peak_resident_kib()}')


def run_child(which, num_q, num_g, dim, num_ids):
    """Run :func:`measure_in_this_process` in a child.

    Returns:
        tuple: seconds, re-ranking seconds, R1, mAP (fractions), peak resident GiB, CPU seconds of the child
        and of the re-ranking.
    """
    repo = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
    env = dict(os.environ, PYTHONPATH=repo + os.pathsep + os.environ.get('PYTHONPATH', ''))
    cmd = [sys.executable, '-m', __name__, which, str(num_q), str(num_g), str(dim), str(num_ids)]
    child = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0 or 'RESULT' not in out:
        raise RuntimeError(f'benchmark rerank: {" ".join(cmd)} failed with exit code {child.returncode}:\n{out}')
    seconds, rerank_seconds, r1, mAP, rerank_cpu = (float(x) for x in out.split('RESULT')[1].split()[:5])
    peak_kib = int(out.split('PEAK_KIB')[1].split()[0])
    peak = (peak_kib if peak_kib > 0 else usage.ru_maxrss) * 1024 / 2**30  # both in KiB on Linux
    cpu = usage.ru_utime + usage.ru_stime   # of the whole child (feature generation and imports included)
    print(f'rerank {which} {num_q} x {num_g}, {dim}-d: {seconds:.1f} s (re-ranking {rerank_seconds:.1f} s, CPU '
          f'{rerank_cpu:.1f} s), peak {peak:.2f} GiB, child CPU {cpu:.1f} s, R1 {r1 * 100:.4f}, mAP {mAP * 100:.4f}',
          flush=True)
    return seconds, rerank_seconds, r1, mAP, peak, cpu, rerank_cpu


def row(problem, evaluator, res):
    seconds, rerank_seconds, r1, mAP, peak, cpu, rerank_cpu = res
    return [problem, evaluator, f'{seconds:.1f}', f'{rerank_seconds:.1f}', f'{rerank_cpu:.1f}', f'{cpu:.1f}',
            f'{peak:.2f}', f'{r1 * 100:.4f}', f'{mAP * 100:.4f}']


def rerank_section(args, state):
    """Parity and speed against torchreid's ``re_ranking``; MSMT17-size runs in bounded memory."""
    if args.quick:
        parity = [(200, 1000, 256, 100), (600, 3000, 512, 300)]
        large = [(1000, 8000, 512, 500)]
    else:
        parity = [(1000, 5000, 256, 500), (3368, 15913, 512, 751)]
        large = [(11659, 82161, 512, 3060), (11659, 82161, 2048, 3060)]
    sec = Section('k-reciprocal re-ranking (k1=20, k2=6, lambda=0.3; synthetic features, Market rules)',
                  ['problem', 'evaluator', 'seconds (all)', 're-ranking seconds', 're-ranking CPU seconds',
                   'child CPU seconds',
                   'peak resident GiB', 'R1 %', 'mAP %'])
    # the MSMT17-sized runs first: the acceptance numbers come out even if the run is cut short
    large_results = [run_child('plugin', *case) for case in large]
    ratio = None
    for num_q, num_g, dim, num_ids in parity:
        name = f'{num_q:,} x {num_g:,}, {dim}-d'
        ref = run_child('torchreid', num_q, num_g, dim, num_ids)
        ours = run_child('plugin', num_q, num_g, dim, num_ids)
        for label, res in (("torchreid `re_ranking` + `evaluate_rank`", ref), ('plugin `evaluate_re_ranked`', ours)):
            sec.rows.append(row(name, label, res))
        sec.notes.append(f'{name}: |R1 difference| = {abs(ref[2] - ours[2]) * 100:.2e} points, '
                         f'|mAP difference| = {abs(ref[3] - ours[3]) * 100:.2e} points.')
        ratio = (name, ref[1] / ours[1], ref[6] / ours[6])
    for (num_q, num_g, dim, num_ids), res in zip(large, large_results):
        sec.rows.append(row(f'{num_q:,} x {num_g:,}, {dim}-d', 'plugin `evaluate_re_ranked`', res))
    sec.notes.append(f'{ratio[0]}: torchreid\'s `re_ranking` call alone takes **{ratio[1]:.1f}x** the wall time and '
                     f'**{ratio[2]:.1f}x** the CPU time of the plugin\'s whole evaluation (distances + re-ranking + '
                     'ranking).')
    sec.notes.append('Each row runs in its own process; peak = that process\'s `VmHWM` (its own high-water mark) and '
                     'CPU = its user + '
                     'system time (interpreter, torch, feature generation included). "re-ranking seconds" of the '
                     'plugin = its whole evaluation (the re-ranked distances are ranked as they are produced).')
    return sec


if __name__ == '__main__':
    measure_in_this_process(sys.argv[1], *(int(v) for v in sys.argv[2:6]))
