"""Benchmarks of the plugin (the sections live in ``plugins/core/benchmark``), printed as Markdown tables.

Usage::

    python tools/benchmark.py                      # full sizes (Market-1501: 3,368 x 15,913, 751 ids, 512-d)
    python tools/benchmark.py --quick              # smaller sizes, torchreid's python loop on a query subsample
    python tools/benchmark.py --sections market sysu
    python tools/benchmark.py --quick --out docs/benchmark_quick.md     # also write the report to a file
    python tools/benchmark.py --sections train --train-configs configs/my_method.py:1.5

Sections: ``market`` / ``sysu`` / ``large`` (evaluation), ``rerank`` (k-reciprocal re-ranking against torchreid's,
up to MSMT17's size), ``train`` (each config's training step against the
forward + backward of its test features, ``embed_image`` / ``embed_text``), ``loader`` (images per second of
each training pipeline on 2 workers; the demo data sets are generated when missing), ``distributed`` (each
config's step at 2 gloo processes with the global-batch computations against the per-rank ones) and ``gpu``.
"""
import argparse
import os
import os.path as osp
import sys
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)


def published_train_configs():
    """``CONFIG:TARGET`` of each method's benchmark model (``Benchmark:`` in configs/<method>/metafile.yml):
    the published configs the train / loader / gpu sections time, with the bound on step / reference."""
    from plugins.core.metafile import benchmark_models, load_model_index
    return [f'{model.config}:{model.benchmark.target}' for model in benchmark_models(load_model_index(REPO))]


def train_case(spec: str):
    """``CONFIG[:TARGET]`` (relative paths from the repository root) -> :class:`TrainCase`."""
    from plugins.core.benchmark import TrainCase
    config, _, target = spec.partition(':')
    path = config if osp.isabs(config) else osp.join(REPO, config)
    if not osp.isfile(path):
        raise argparse.ArgumentTypeError(f'--train-configs: no config file {path}')
    return TrainCase(path, float(target) if target else 1.3)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Benchmarks of the ReID plugin (Markdown report).')
    parser.add_argument('--quick', action='store_true', help='smaller sizes; ends in a few minutes on 2 cores')
    parser.add_argument('--sections', nargs='+', default=None, metavar='SECTION',
                        help='sections to run: market sysu large train loader distributed gpu (default: all)')
    parser.add_argument('--out', default=None, help='also write the Markdown report to this file')
    parser.add_argument('--train-configs', nargs='+', dest='train_cases', default=None, metavar='CONFIG[:TARGET]',
                        help='configs of the train / loader / gpu sections (default: the benchmark model of each '
                             'metafile, model-index.yml)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--rank-cy', default=None,
                        help="torchreid's rank_cy.pyx to build with Cython and time (deep-person-reid checkout)")
    parser.add_argument('--demo-root', default=osp.join(REPO, 'data', 'demo'),
                        help='demo data sets for the train / loader sections (generated when missing)')
    parser.add_argument('--note', default='', help='free text written under the machine line')
    args = parser.parse_args(argv)
    from plugins.core.benchmark import SECTION_NAMES  # not for --help: it imports torch
    args.sections = list(SECTION_NAMES) if args.sections is None else args.sections
    unknown = [name for name in args.sections if name not in SECTION_NAMES]
    if unknown:
        parser.error(f'argument --sections: invalid choice: {", ".join(unknown)} (choose from '
                     f'{", ".join(SECTION_NAMES)})')
    try:
        args.train_cases = [train_case(spec) for spec in (args.train_cases or published_train_configs())]
    except argparse.ArgumentTypeError as e:
        parser.error(str(e))
    return args


if __name__ == '__main__':
    parse_args()  # --help and usage errors answer here, before torch and the plugin are imported

from plugins.core.benchmark import render_report, run_sections  # noqa: E402
from plugins.core.benchmark.report import load_average  # noqa: E402
from plugins.core.utils import atomic_write  # noqa: E402


def main(argv=None):
    args = parse_args(argv)
    from mmengine.logging import MMLogger
    MMLogger.get_instance('mmengine').setLevel('WARNING')  # no per-parameter init report for every built model
    load_before, start = load_average(), time.perf_counter()
    tables = run_sections(args, args.sections)
    command = 'python tools/benchmark.py' + (' --quick' if args.quick else '')
    report = render_report(command, tables, time.perf_counter() - start, load_before, load_average(), args.note)
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with atomic_write(args.out, 'w') as f:
            f.write(report)
        print(f'written to {args.out}')
    return report


if __name__ == '__main__':
    main()
