"""Train and test every demo config on generated data and write the measured table (docs/demo_results.md).

Usage: python tools/demo_results.py [--configs configs/demo/a.py ...] [--out docs/demo_results.md]

Each demo runs as `tools/train.py` then `tools/test.py` on its last checkpoint, in a fresh work dir under
work_dirs/demo_results/; the table lists the metrics of the test run, the chance R1 of the demo's test set and
the wall time of both steps, with the machine it ran on, so README numbers are measured rather than typed: the
demo result column of README.md is rewritten from the table (one source; tests/ecosystem/test_demo_results_readme.py
holds them equal). The demos (default) and their chance R1 are the metafiles' (`Demo:` in
configs/<method>/metafile.yml).
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

import re  # noqa: E402

KEYS = ('R1', 'R5', 'R10', 'mAP', 'mINP')
#: a row of the README's "Published numbers" table: its demo config and its demo result cell
README_ROW = re.compile(r'^(\|.*\| `(?P<name>\w+)` \| )R1 (?P<r1>[\d.]+), mAP (?P<map>[\d.]+)(?P<rest> \(.*\) \|)$')


def demo_numbers(markdown):
    """``{demo config name: {'R1': .., 'mAP': ..}}`` of the table in docs/demo_results.md (strings, as written)."""
    lines = markdown.splitlines()
    header = next(line for line in lines if line.startswith('| demo config |'))
    columns = [c.strip() for c in header.strip('|').split('|')]
    numbers = {}
    for line in lines[lines.index(header) + 2:]:
        if not line.startswith('| `'):
            break
        cells = dict(zip(columns, (c.strip() for c in line.strip('|').split('|'))))
        name, _, test_set = cells['demo config'].partition(' ')  # a multi-set demo: a row per set, '`name` set'
        numbers[name.strip('`') + (f'/{test_set}' if test_set else '')] = {key: cells[key] for key in ('R1', 'mAP')}
    return numbers


def update_readme(readme, results):
    """``readme`` (text) with the demo result of each row of its table taken from ``results`` (the text of
    docs/demo_results.md): README's demo numbers have one source. Returns the new text."""
    numbers = demo_numbers(results)

    def row(match):
        got = numbers.get(match['name'])
        if got is None:
            return match.group(0)
        return f'{match.group(1)}R1 {got["R1"]}, mAP {got["mAP"]}{match["rest"]}'
    return '\n'.join(README_ROW.sub(row, line) for line in readme.split('\n'))


def metric_rows(metrics):
    """``[(row name, {key: value})]``: one row, or one per test set (and their mean) of a multi-set table."""
    rows = {}
    for key, value in metrics.items():  # --out also holds the paper's numbers and the model selection
        name, _, metric = key.rpartition('/')
        if metric in KEYS:
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


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--configs', nargs='+', default=None, help='demo configs (default: every metafile demo)')
    parser.add_argument('--out', default=osp.join(REPO, 'docs', 'demo_results.md'))
    parser.add_argument('--readme', default=osp.join(REPO, 'README.md'),
                        help='README whose demo results are rewritten from --out ("" leaves it)')
    parser.add_argument('--work-root', default=osp.join(REPO, 'work_dirs', 'demo_results'))
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from plugins.core.metafile import demo_models, load_model_index  # not for --help: it imports torch
    demos = {osp.join(REPO, m.demo.config): m.demo for m in demo_models(load_model_index(REPO))}
    args.configs = args.configs or sorted(demos)
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
    if args.readme:
        with open(args.readme) as f:
            readme = f.read()
        with open(args.out) as f:
            updated = update_readme(readme, f.read())
        with open(args.readme, 'w') as f:
            f.write(updated)
        print(f'wrote the demo results of {args.readme} from {args.out}')


if __name__ == '__main__':
    main()
