"""A 100,000-image gallery is evaluated in bounded memory: the full (Q, G) distance matrix never exists.

Runs in a fresh process whose own peak resident memory (``VmHWM``) is measured. Its ``ru_maxrss`` would keep the
pytest worker's resident size at the fork: under a 1.5 GiB parent it read 1548 MiB before and after, a growth of 0
that no evaluation could fail.
"""
import json
import subprocess
import sys
import textwrap

from tests.helpers import REPO

CHILD = textwrap.dedent('''
    import json, sys
    import torch
    sys.path.insert(0, {repo!r})
    from plugins.core.benchmark.memory import peak_resident_kib
    from plugins.core.evaluation.rank import evaluate_features

    def peak_mib():
        return peak_resident_kib() / 1024

    torch.manual_seed(0)
    num_q, num_g, dim, num_ids = 400, 100000, 64, 5000
    g_pids = torch.arange(num_g) % num_ids
    q_pids = torch.randint(0, num_ids, (num_q,))
    centres = torch.randn(num_ids, dim)
    gf = centres[g_pids] + 2.0 * torch.randn(num_g, dim)
    qf = centres[q_pids] + 2.0 * torch.randn(num_q, dim)
    g_cams, q_cams = torch.randint(0, 6, (num_g,)), torch.randint(0, 6, (num_q,))
    # warm up the kernels on a small problem, so that the measured growth is the evaluation's own
    evaluate_features(qf[:8], gf[:1000], q_pids[:8], g_pids[:1000], q_cams[:8], g_cams[:1000], chunk_size=4)
    before = peak_mib()
    cmc, mAP, mINP = evaluate_features(qf, gf, q_pids, g_pids, q_cams, g_cams, metric='cosine', chunk_size=16)
    print(json.dumps(dict(before=before, after=peak_mib(), r1=float(cmc[0]), mAP=float(mAP))))
''')


def test_100k_gallery_peak_memory_stays_far_below_the_full_matrix():
    proc = subprocess.run([sys.executable, '-c', CHILD.format(repo=REPO)], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    full_float64_mib = 400 * 100000 * 8 / 2**20  # 305 MiB: what a one-shot float64 distance matrix would take
    grown = out['after'] - out['before']
    assert out['before'] > 0, out  # this system has /proc/self/status
    assert grown < full_float64_mib / 3, f'evaluation grew the process by {grown:.0f} MiB: {out}'
    chance_r1 = 20 / 100000  # 20 gallery images per identity
    assert out['r1'] > 100 * chance_r1 and 0 < out['mAP'] <= 1, out
