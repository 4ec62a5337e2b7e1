"""The data check: a parsed split against its official counts (or the counts the demo generator wrote).

Used twice, from what the data set build already read (no second pass over the images):

- every :class:`~plugins.core.datasets.base.ReIDBaseDataset` logs :func:`verdict_line` after its statistics
  table (one line: matches / differs / nothing to compare with);
- ``tools/dataset_stats.py CONFIG`` prints :func:`counts_table` and every difference of :func:`differences`,
  and exits non-zero on one.

References: :data:`~plugins.core.datasets.official_counts.OFFICIAL_COUNTS` for a known data set; for demo data the
``demo_counts.json`` that the generator wrote at the demo set's root (image files per folder, any layout), found
in ``data_root`` or one of its parents.
"""
import json
import os
import os.path as osp
from collections import OrderedDict

import numpy as np

from .official_counts import official_counts

#: file written by the demo generator at the root of each demo set
DEMO_COUNTS = 'demo_counts.json'
#: image extensions the folder counts look at (those of ``base.IMG_EXTENSIONS``)
_IMG_EXT = ('.jpg', '.jpeg', '.png', '.bmp')
#: folders above ``data_root`` searched for a demo counts file
_PARENT_LEVELS = 3
VALUE_NAMES = ('ids', 'images', 'cameras', 'captions')


def subset_key(info):
    """Row of the statistics table a sample belongs to (``'train'``, ``'query (infrared)'``, ...)."""
    key = info['split_role']
    if info['modality'] not in ('image', 'text'):
        key = f"{key} ({info['modality']})"
    elif info['modality'] == 'text' and info['split_role'] == 'query':
        key = 'query (text)'
    return key


def subset_counts(data_list):
    """Per subset: ``ids``, ``images`` (distinct paths), ``cameras``, ``captions``, ``per_id`` (min, median, max
    images per id) and ``camera_ids`` (sorted).

    Args:
        data_list (list[dict]): the data set's data_info dicts.
    """
    groups = OrderedDict()
    for info in data_list:
        groups.setdefault(subset_key(info), []).append(info)
    out = OrderedDict()
    for key, infos in groups.items():
        images_of = {}
        for i in infos:
            if 'img_path' in i:
                images_of.setdefault(i['gt_label'], set()).add(i['img_path'])
        per_id = [len(v) for v in images_of.values()]
        cameras = sorted({int(i['camid']) for i in infos if i.get('camid', -1) >= 0})
        out[key] = dict(ids=len({i['gt_label'] for i in infos}), images=sum(per_id), cameras=len(cameras),
                        captions=sum('caption' in i for i in infos), camera_ids=cameras,
                        per_id=(min(per_id), int(np.median(per_id)), max(per_id)) if per_id else None)
    return out


# ---------------------------------------------------------------------------------------------- demo counts
def count_images_per_folder(root):
    """``{folder relative to root: number of image files directly in it}`` for every folder holding images."""
    counts = {}
    for dirpath, dirnames, files in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith('.'))
        n = sum(f.lower().endswith(_IMG_EXT) for f in files)
        if n:
            counts[osp.relpath(dirpath, root).replace(os.sep, '/')] = n
    return counts


def write_demo_counts(root):
    """Record the image files per folder of a freshly written demo set (``root/demo_counts.json``)."""
    folders = count_images_per_folder(root)
    with open(osp.join(root, DEMO_COUNTS), 'w') as f:
        json.dump(dict(images=sum(folders.values()), folders=folders), f, indent=1, sort_keys=True)


def find_demo_counts(data_root):
    """``(demo set root, recorded counts)`` of the demo set holding ``data_root``, or ``(None, None)``."""
    folder = osp.abspath(data_root)
    for _ in range(_PARENT_LEVELS + 1):
        path = osp.join(folder, DEMO_COUNTS)
        if osp.isfile(path):
            with open(path) as f:
                return folder, json.load(f)
        folder = osp.dirname(folder)
    return None, None


def demo_differences(dataset, data_list):
    """Differences between the folders of a demo set now and what the generator wrote, naming the split."""
    root, recorded = find_demo_counts(dataset.data_root)
    if root is None:
        return None
    found = count_images_per_folder(root)
    roles = {}
    for info in data_list:
        if 'img_path' in info:
            folder = osp.relpath(osp.dirname(info['img_path']), root).replace(os.sep, '/')
            roles.setdefault(folder, set()).add(info['split_role'])
    out = []
    for folder in sorted(set(recorded['folders']) | set(found)):
        want, got = recorded['folders'].get(folder, 0), found.get(folder, 0)
        if want == got:
            continue
        where = (f"split {dataset.split!r} ({'/'.join(sorted(roles[folder]))})" if folder in roles
                 else 'a folder this split does not read' if got else 'folder missing')
        change = f'{want - got} image(s) fewer' if got < want else f'{got - want} image(s) more'
        out.append(f'{folder} [{where}]: {change} than the demo generator wrote ({got} of {want})')
    return out


# ---------------------------------------------------------------------------------------------- comparison
def reference_name(dataset):
    """What the data set is compared with: ``'official counts'``, ``'demo counts'`` or None."""
    if find_demo_counts(dataset.data_root)[0] is not None:
        return 'demo counts'
    return 'official counts' if official_counts(dataset)[0] is not None else None


def official_differences(dataset, counts):
    """Every difference between :func:`subset_counts` and the official counts of the split (None: no entry)."""
    expected, _ = official_counts(dataset)
    if expected is None:
        return None
    out = []
    for subset, values in expected.items():
        got = counts.get(subset)
        if got is None:
            out.append(f'split {dataset.split!r} {subset}: missing (official: '
                       + ', '.join(f'{values[k]:,} {k}' for k in VALUE_NAMES if k in values) + ')')
            continue
        for name in VALUE_NAMES:
            if name in values and got[name] != values[name]:
                diff = got[name] - values[name]
                extra = (f"; cameras found: {', '.join(str(c) for c in got['camera_ids']) or 'none'}"
                         if name == 'cameras' else '')
                out.append(f'split {dataset.split!r} {subset}: {got[name]:,} {name}, official {values[name]:,} '
                           f'({abs(diff):,} {"fewer" if diff < 0 else "more"}){extra}')
    out += [f'split {dataset.split!r} {subset}: not in the official counts' for subset in counts
            if subset not in expected]
    return out


def differences(dataset, data_list, counts=None):
    """Differences with the data set's reference (demo counts first, else official counts); None: no reference."""
    demo = demo_differences(dataset, data_list)
    if demo is not None:
        return demo
    return official_differences(dataset, counts if counts is not None else subset_counts(data_list))


def verdict_line(dataset, data_list):
    """One line for the training log: the split against its official (or demo) counts."""
    name, split = type(dataset).__name__, dataset.split
    if getattr(dataset, 'combineall', False):
        return (f'Data check: {name} split {split!r} with combineall=True (train + query + gallery): not compared '
                'with the counts of one split (tools/dataset_stats.py compares the split without it)')
    diffs = differences(dataset, data_list)
    if diffs is None:
        return (f'Data check: {name} split {split!r}: no official counts to compare with (see '
                'tools/dataset_stats.py for its table)')
    what = reference_name(dataset)
    if not diffs:
        return f'Data check: {name} split {split!r} matches the {what}'
    more = f' (+{len(diffs) - 2} more)' if len(diffs) > 2 else ''
    return (f'Data check: {name} split {split!r} DIFFERS from the {what}: ' + '; '.join(diffs[:2]) + more
            + ' -- a partial or wrong download? tools/dataset_stats.py CONFIG lists every difference')


def counts_table(dataset, data_list):
    """The per-subset table of ``tools/dataset_stats.py`` with the official values side by side (on demo data,
    those of the real data set, for reading only: the demo counts are the reference, listed below the table)."""
    counts = subset_counts(data_list)
    expected, _ = official_counts(dataset)
    expected = expected or {}
    demo_root, recorded = find_demo_counts(dataset.data_root)
    header = ['subset', '# ids', '# images', '# cameras', '# captions', 'images/id min/med/max',
              'official (real data set)' if demo_root else 'official']
    rows = []
    for subset, c in counts.items():
        ref = expected.get(subset, {})
        official = ' / '.join(f'{ref[k]:,} {k}' for k in VALUE_NAMES if k in ref) or '-'
        per_id = '/'.join(str(v) for v in c['per_id']) if c['per_id'] else '-'
        rows.append([subset, f"{c['ids']:,}", f"{c['images']:,}", str(c['cameras'] or '-'),
                     f"{c['captions']:,}" if c['captions'] else '-', per_id, official])
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    line = '  ' + '-' * (sum(widths) + 3 * (len(widths) - 1))

    def fmt(r):
        return '  ' + ' | '.join(v.ljust(w) if i in (0, 6) else v.rjust(w) for i, (v, w) in enumerate(zip(r, widths)))
    table = [line, fmt(header), line, *map(fmt, rows), line]
    if demo_root:
        found = count_images_per_folder(demo_root)
        table += [f'  demo counts ({osp.join(demo_root, DEMO_COUNTS)}): {recorded["images"]} images written'] + [
            f'    {folder}: {found.get(folder, 0)} images (written {n})' for folder, n in recorded['folders'].items()]
    return '\n'.join(table)
