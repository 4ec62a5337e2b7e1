"""Train and test every demo config on generated data and write the measured table (docs/demo_results.md).

Usage: python tools/demo_results.py [--configs configs/demo/a.py ...] [--out docs/demo_results.md]

Each demo runs as `tools/train.py` then `tools/test.py` on its last checkpoint, in a fresh work dir under
work_dirs/demo_results/; the table lists the metrics of the test run, the chance R1 of the demo's test set and
the wall time of both steps, with the machine it ran on, so README numbers are measured rather than typed. The
demos (default) and their chance R1 are the metafiles' (`Demo:` in configs/<method>/metafile.yml).
"""
import argparse
import json
import os
import os.path as osp
import platform
import subprocess
import sys
import time

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..'))
sys.path.insert(0, REPO)

from plugins.core.metafile import demo_models, load_model_index  # noqa: E402

KEYS = ('R1', 'R5', 'R10', 'mAP', 'mINP')


def metric_rows(metrics):
    """``[(row name, {key: value})]``: one row, or one per test set (and their mean) of a multi-set table."""
    if not any('/' in k for k in metrics):
        return [('', metrics)]
    rows = {}
    for key, value in metrics.items():
        name, _, metric = key.rpartition('/')
        rows.setdefault(name, {})[metric] = value
    return list(rows.items())


def run(cmd):
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f'{" ".join(cmd)} failed:\n{proc.stderr[-3000:]}')


def measure(config, root):
    name = osp.splitext(osp.basename(config))[0]
    work_dir = osp.join(root, name)
    start = time.time()
    run([sys.executable, 'tools/train.py', config, '--work-dir', work_dir])
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        ckpt = f.read().strip()
    out = osp.join(work_dir, 'test_metrics.json')
    run([sys.executable, 'tools/test.py', config, ckpt, '--work-dir', osp.join(work_dir, 'test'), '--out', out])
    with open(out) as f:
        metrics = json.load(f)
    return name, metrics, time.time() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    demos = {osp.join(REPO, m.demo.config): m.demo for m in demo_models(load_model_index(REPO))}
    parser.add_argument('--configs', nargs='+', default=sorted(demos))
    parser.add_argument('--out', default=osp.join(REPO, 'docs', 'demo_results.md'))
    parser.add_argument('--work-root', default=osp.join(REPO, 'work_dirs', 'demo_results'))
    args = parser.parse_args()
    run([sys.executable, 'tools/make_demo_data.py', 'data/demo'])
    rows = []
    for config in args.configs:
        name, metrics, seconds = measure(osp.relpath(config, REPO), args.work_root)
        demo = demos.get(osp.abspath(config))
        for test_set, row in metric_rows(metrics):
            cells = ([f'`{name}`' + (f' {test_set}' if test_set else '')]
                     + [f'{row[k]:.1f}' if k in row else '-' for k in KEYS]
                     + [f'{demo.chance_r1:g}' if demo else '-', f'{seconds:.0f}'])
            rows.append('| ' + ' | '.join(cells) + ' |')
            print(rows[-1], flush=True)
    header = ('# Demo results\n\nMeasured by `python tools/demo_results.py` on generated demo data '
              f'(`tools/make_demo_data.py`, seed 0), {platform.machine()} CPU, {os.cpu_count()} cores, '
              f'torch threads default; train + test wall time in seconds. Demo data are tiny and synthetic: these '
              'numbers show that each pipeline learns, they are not comparable with the published ones.\n\n'
              '| demo config | ' + ' | '.join(KEYS) + ' | chance R1 | seconds |\n|' + '---|' * (len(KEYS) + 3) + '\n')
    with open(args.out, 'w') as f:
        f.write(header + '\n'.join(rows) + '\n')
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
