"""Large-gallery section: the fused chunked evaluation on a gallery far larger than Market's, and its peak memory."""
import os
import os.path as osp
import subprocess
import sys
import threading
import time

from plugins.core.evaluation.rank import evaluate_features
from .evaluation import synthetic_reid
from .memory import resident_bytes
from .report import Section, fmt


def measure_in_this_process(num_q, num_g, dim):
    """Evaluate a synthetic gallery while a sampling thread records the resident memory; print the result line.

    Run in a fresh process (``python -m plugins.core.benchmark.large_gallery Q G D``), so that the peak is the
    evaluation's, not what an earlier section left allocated.
    """
    qf, gf, q_pids, g_pids, q_cams, g_cams = synthetic_reid(num_q, num_g, 5000, 8, dim)
    base = peak = resident_bytes()
    done = threading.Event()

    def sample():
        nonlocal peak
        while not done.is_set():
            peak = max(peak, resident_bytes())
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    cmc, mAP, _ = evaluate_features(qf, gf, q_pids, g_pids, q_cams, g_cams)
    elapsed = time.perf_counter() - start
    done.set()
    sampler.join()
    peak = max(peak, resident_bytes())
    print(f'RESULT {elapsed:.3f} {peak / 2**30:.3f} {base / 2**30:.3f} {cmc[0]:.4f} {mAP:.4f}')


def large_gallery_section(args, state):
    """A gallery far larger than Market's, evaluated with the fused chunked path; peak memory of the process."""
    num_q, num_g, dim = (300, 20000, 512) if args.quick else (3000, 100000, 512)
    repo = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
    env = dict(os.environ, PYTHONPATH=repo + os.pathsep + os.environ.get('PYTHONPATH', ''))
    out = subprocess.run([sys.executable, '-m', __name__, str(num_q), str(num_g), str(dim)], env=env,
                         capture_output=True, text=True, check=True).stdout
    elapsed, peak, base, r1, mAP = (float(x) for x in out.split('RESULT')[1].split())
    sec = Section(f'Large gallery ({num_q} queries x {num_g} gallery, 512-d, fused distance + ranking)',
                  ['measure', 'value'])
    sec.rows += [['evaluation seconds', fmt(elapsed)],
                 ['peak resident memory while evaluating (GiB, sampled every 2 ms)', f'{peak:.2f}'],
                 ['resident before evaluating: interpreter, torch, features (GiB)', f'{base:.2f}'],
                 ['**added by the evaluation (GiB)**', f'{peak - base:.2f}']]
    sec.notes.append(f'R1 = {r1 * 100:.2f}%, mAP = {mAP * 100:.2f}% (synthetic, 5000 ids).')
    return sec


if __name__ == '__main__':
    measure_in_this_process(*(int(v) for v in sys.argv[1:4]))
