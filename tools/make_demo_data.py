#!/usr/bin/env python
"""Write small demo versions of the eight ReID data sets in their exact real on-disk layouts (and a custom folder
set without camera ids, `--datasets custom`).

Usage::

    python tools/make_demo_data.py [ROOT] [--datasets market1501 sysu-mm01 ...] [--seed 0] [--force]

Writes ``ROOT/<name>/`` for each data set (the generator is :mod:`plugins.core.datasets.demo`). Each set is
written into a temporary folder and renamed into place when complete, so a crash never leaves a half-written set;
an existing complete set written with the same seed is reused unless ``--force``.
"""
import argparse
import os.path as osp
import sys

# `python tools/make_demo_data.py` from a source checkout works without installing the package.
sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..')))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('root', nargs='?', default='data/demo', help='output root (default: data/demo)')
    parser.add_argument('--datasets', nargs='+', default=None, metavar='NAME',
                        help='which data sets to write (default: all; names as the folders of data/demo, e.g. '
                             'market1501 sysu-mm01)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--force', action='store_true', help='rewrite sets that already exist')
    args = parser.parse_args(argv)
    if args.datasets:  # the names come from the generator (imported here, not for --help)
        from plugins.core.datasets.demo import DATASETS
        unknown = [name for name in args.datasets if name not in DATASETS]
        if unknown:
            parser.error(f'argument --datasets: invalid choice: {", ".join(unknown)} (choose from '
                         f'{", ".join(DATASETS)})')
    return args


def main(argv=None):
    args = parse_args(argv)
    from plugins.core.datasets.demo import make_demo_data
    make_demo_data(args.root, args.datasets, seed=args.seed, force=args.force)


if __name__ == '__main__':
    sys.exit(main())
