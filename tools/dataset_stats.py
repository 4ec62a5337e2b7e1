#!/usr/bin/env python
"""Check the data sets of a config against their official counts (or the counts the demo generator wrote).

Usage::

    python tools/dataset_stats.py CONFIG [--split train|val|test|all] [--allow-partial] [--cfg-options k=v ...]

For every data set of the config's loaders (built without pipelines: nothing but the layout and the image headers
is read), per split a table of ids, images, cameras, captions and images per id (min / median / max), with the
official counts side by side (``plugins/core/datasets/official_counts.py``, each number with its source); for demo
data the reference is the ``demo_counts.json`` that ``tools/make_demo_data.py`` wrote. Then every difference
(which split, which folder or camera, how many images), the byte-identical images (a copied file; a query image
also in the gallery), the names the layout matches only in part (``... (copy).jpg``) and the files the layout's
parser skipped, with the first few paths.

Exit status: 0 when everything matches (or there is nothing to compare with: a custom data set), 1 on a difference,
a duplicate or a data set that cannot be built; ``--allow-partial`` accepts count differences (a partial download
on purpose) and still fails on duplicates and build errors.
"""
import argparse
import os.path as osp
import sys

from mmengine.config import DictAction

LOADERS = dict(train='train_dataloader', val='val_dataloader', test='test_dataloader')
SHOWN = 5  #: paths shown per list


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='config file')
    parser.add_argument('--split', choices=['train', 'val', 'test', 'all'], default='all',
                        help='which loader to check: train / val / test dataloader, or all (default)')
    parser.add_argument('--allow-partial', action='store_true',
                        help='exit 0 when counts differ from the official ones (still names every difference)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={}, metavar='KEY=VALUE',
                        help='override config settings, e.g. train_dataloader.dataset.data_root=data/x')
    return parser.parse_args(argv)


def first_paths(paths):
    paths = list(paths)
    more = f'\n      ... ({len(paths) - SHOWN} more)' if len(paths) > SHOWN else ''
    return ''.join(f'\n      {p}' for p in paths[:SHOWN]) + more


def leaf_datasets(dataset):
    """The ReID data sets inside a built data set (itself, or those of a wrapper's ``datasets`` / ``dataset``)."""
    from plugins.core.datasets import ReIDBaseDataset
    children = getattr(dataset, 'datasets', None)  # CombinedReIDDataset (a ReID data set itself) keeps its sources
    if children:
        return [leaf for child in children for leaf in leaf_datasets(child)]
    if isinstance(dataset, ReIDBaseDataset):
        return [dataset]
    children = [getattr(dataset, 'dataset', None)]
    return [leaf for child in children if child is not None for leaf in leaf_datasets(child)]


def build_quietly(dataset_cfg):
    """The data set of a loader config, without pipelines, keeping duplicates (they are listed here)."""
    from mmpretrain.registry import DATASETS

    from plugins.core.data.tokenizers.prepare_word_vocabulary import without_pipelines
    from plugins.core.datasets import ReIDBaseDataset
    from plugins.core.datasets.layout_check import _dataset_nodes
    cfg = without_pipelines(dataset_cfg)
    for node in _dataset_nodes(cfg):
        cls = DATASETS.get(node['type']) if isinstance(node.get('type'), str) else node.get('type')
        if isinstance(cls, type) and issubclass(cls, ReIDBaseDataset):
            node.update(verbose=False, min_image_side=0, allow_duplicates=True)
    return DATASETS.build(cfg)


def report(dataset):
    """Print the table and the findings of one built data set; returns (count differences, duplicate findings)."""
    from plugins.core.datasets.data_check import counts_table, differences, reference_name, subset_counts
    from plugins.core.datasets.official_counts import official_counts
    data_list = [dataset.get_data_info(i) for i in range(len(dataset))]
    reference = reference_name(dataset)
    print(f"{type(dataset).__name__} split {dataset.split!r} ({dataset.data_root}); reference: "
          f"{reference or 'none (no official counts for this data set)'}")
    print(counts_table(dataset, data_list))
    if reference == 'official counts':
        print(f'  official counts: {official_counts(dataset)[1]}')
    diffs = differences(dataset, data_list, subset_counts(data_list)) or []
    for diff in diffs:
        print(f'  DIFFERENCE: {diff}')
    findings = 0
    if dataset.identical_images:
        findings += len(dataset.identical_images)
        print(f'  BYTE-IDENTICAL: {len(dataset.identical_images)} group(s) of identical images:'
              + first_paths(' = '.join(g) for g in dataset.identical_images))
    if dataset.partial_names:
        findings += len(dataset.partial_names)
        print(f'  PARTIAL NAME: {len(dataset.partial_names)} file(s) whose name the layout matches only in part:'
              + first_paths(dataset.partial_names))
    if dataset.skipped_files:
        print(f'  skipped by the layout\'s parser: {len(dataset.skipped_files)} file(s):'
              + first_paths(dataset.skipped_files))
    if reference and not diffs:
        print(f'  matches the {reference}')
    return len(diffs), findings


def main(argv=None):
    args = parse_args(argv)
    sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..')))
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import plugins  # noqa: F401  (registers the data sets)
    cfg = Config.fromfile(args.config)
    cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    loaders = list(LOADERS.values()) if args.split == 'all' else [LOADERS[args.split]]
    seen, n_diffs, n_findings, n_errors = [], 0, 0, 0
    for key in loaders:
        loader = cfg.get(key)
        if not loader or loader.get('dataset') is None or loader['dataset'] in seen:
            continue  # absent, or the same data set as a loader already checked (test = val)
        seen.append(loader['dataset'])
        print(f'== {key}')
        try:
            built = build_quietly(loader['dataset'])
        except Exception as err:  # the layout's own error names the path and the expected layout
            n_errors += 1
            print(f'  CANNOT BUILD: {type(err).__name__}: {err}')
            continue
        for dataset in leaf_datasets(built):
            diffs, findings = report(dataset)
            n_diffs, n_findings = n_diffs + diffs, n_findings + findings
    failed = n_errors or n_findings or (n_diffs and not args.allow_partial)
    print(f'Data check: {n_diffs} count difference(s), {n_findings} duplicate/partial-name finding(s), '
          f'{n_errors} data set(s) that cannot be built'
          + (' (differences accepted: --allow-partial)' if n_diffs and args.allow_partial and not failed else ''))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
