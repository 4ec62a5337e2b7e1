"""Writing demo data sets atomically: a temporary folder renamed into place when complete."""
import json
import os
import os.path as osp
import re
import shutil
import time

import cv2
import numpy as np

from ...utils.atomic_backend import pid_alive
from .layouts import DATASETS, _write_json

GENERATOR_VERSION = 3  #: bump when the output changes, so stale demo sets are regenerated
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
    os.makedirs(root, exist_ok=True)
    tmp = osp.join(root, f'.tmp-{name}-{os.getpid()}')
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        # one stream per data set, so that choosing --datasets never changes the other sets
        rng = np.random.default_rng([seed, list(DATASETS).index(name)])
        DATASETS[name](tmp, rng)
        _write_json(osp.join(tmp, MARKER), dict(seed=seed, version=GENERATOR_VERSION, dataset=name))
        if osp.isdir(final):
            trash = osp.join(root, f'.old-{name}-{os.getpid()}')
            os.rename(final, trash)
            shutil.rmtree(trash)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final, True


def remove_orphaned_work_dirs(root):
    """Remove the ``.tmp-<set>-<PID>`` / ``.old-<set>-<PID>`` folders of generators that were killed.

    A generator removes its own folders when it fails; ``kill -9`` leaves them. Folders of a live PID (a
    generator running in parallel) stay. Returns the removed paths.
    """
    removed = []
    for name in sorted(os.listdir(root)) if osp.isdir(root) else []:
        match = re.fullmatch(r'\.(?:tmp|old)-.+-(\d+)', name)
        if match and int(match[1]) != os.getpid() and not pid_alive(int(match[1])):
            shutil.rmtree(osp.join(root, name), ignore_errors=True)
            removed.append(osp.join(root, name))
    return removed


def make_demo_data(root='data/demo', datasets=None, seed=0, force=False, verbose=True):
    """Write the chosen demo data sets (all by default) under ``root``; returns ``{name: folder}``."""
    datasets = list(DATASETS) if not datasets else list(datasets)
    unknown = [d for d in datasets if d not in DATASETS]
    if unknown:
        raise ValueError(f'unknown demo data set(s) {unknown}; choose from {list(DATASETS)}')
    for path in remove_orphaned_work_dirs(root):
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
