"""Writing demo data sets atomically: a temporary folder renamed into place when complete."""
import json
import os.path as osp
import time

import cv2
import numpy as np

from ...utils.atomic_write import atomic_dir, remove_orphaned_tmp_files
from ..data_check import write_demo_counts
from .layouts import DATASETS, _write_json

GENERATOR_VERSION = 4  #: bump when the output changes, so stale demo sets are regenerated
MARKER = '.demo_complete'  #: written last inside a finished set


def _is_complete(path, seed):
    try:
        with open(osp.join(path, MARKER)) as f:
            marker = json.load(f)
    except (OSError, ValueError):
        return False
    return marker.get('seed') == seed and marker.get('version') == GENERATOR_VERSION


def make_dataset(root, name, seed=0, force=False):
    """Write ``root/name`` atomically (temporary folder, then rename). Returns the folder and whether written."""
    final = osp.join(root, name)
    if osp.isdir(final) and not force:
        if _is_complete(final, seed):
            return final, False
        if not osp.exists(osp.join(final, MARKER)):
            raise FileExistsError(f'{final} exists and is not a demo set written by this tool; '
                                  f'pass --force to replace it')
    # one stream per data set, so that choosing --datasets never changes the other sets
    rng = np.random.default_rng([seed, list(DATASETS).index(name)])
    with atomic_dir(final) as tmp:  # .<name>.<pid>.tmp, renamed into place (replacing an old set) when complete
        DATASETS[name](tmp, rng)
        write_demo_counts(tmp)  # what was written, per folder: the data check's reference on demo data (any layout)
        _write_json(osp.join(tmp, MARKER), dict(seed=seed, version=GENERATOR_VERSION, dataset=name))
    return final, True


def make_demo_data(root='data/demo', datasets=None, seed=0, force=False, verbose=True):
    """Write the chosen demo data sets (all by default) under ``root``; returns ``{name: folder}``."""
    datasets = list(DATASETS) if not datasets else list(datasets)
    unknown = [d for d in datasets if d not in DATASETS]
    if unknown:
        raise ValueError(f'unknown demo data set(s) {unknown}; choose from {list(DATASETS)}')
    for path in remove_orphaned_tmp_files(root):
        if verbose:
            print(f'removed {path} (left by a generator that was killed)')
    cv2.setNumThreads(1)
    folders = {}
    for name in datasets:
        start = time.time()
        folders[name], written = make_dataset(root, name, seed=seed, force=force)
        if verbose:
            state = f'written in {time.time() - start:.1f}s' if written else 'exists (same seed), reused'
            print(f'{name:14s} -> {folders[name]}  {state}')
    return folders
