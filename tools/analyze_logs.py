"""Plot training curves and compute the iteration time from mmengine's scalar logs.

    python tools/analyze_logs.py plot_curve WORK_DIR_OR_SCALARS_JSON [...] --keys loss loss_id R1 --out curves.png
    python tools/analyze_logs.py cal_train_time WORK_DIR_OR_SCALARS_JSON [...]

The input is ``<work_dir>/<timestamp>/vis_data/scalars.json`` (written by mmengine's ``LocalVisBackend``: one
JSON record per logged step), the folder holding it, or a work dir (its latest run is used). Training records
carry ``epoch``/``iter``/``step`` and the smoothed losses, ``lr``, ``time``; validation records carry the
metrics (``R1``, ``mAP``, ...) with ``step`` = epoch (iteration for iteration-based loops). The command line
follows mmpretrain's ``tools/analysis_tools/analyze_logs.py``.
"""
import argparse
import glob
import io
import json
import os.path as osp
import sys
from collections import OrderedDict

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..')))

#: bookkeeping fields of a record, never plotted
INDEX_KEYS = ('step', 'epoch', 'iter')


def find_scalars(path):
    """The ``scalars.json`` of ``path``: the file itself, a ``vis_data`` folder, a run folder or a work dir
    (the run with the latest timestamp)."""
    if osp.isfile(path):
        return path
    for pattern in ('scalars.json', 'vis_data/scalars.json', '*/vis_data/scalars.json'):
        found = sorted(glob.glob(osp.join(path, pattern)))
        if found:
            return found[-1]  # run folders are timestamps: the last is the latest
    raise FileNotFoundError(f'no vis_data/scalars.json under {path} (is it a work dir of tools/train.py?)')


def load_scalars(path):
    """Records of a ``scalars.json`` (one dict per logged step, file order)."""
    with open(find_scalars(path)) as f:
        return [json.loads(line) for line in f if line.strip()]


def is_train_record(record):
    """Training records have an ``iter``; validation (metric) records do not."""
    return 'iter' in record


def available_keys(records):
    """Plottable keys of the records, in first-seen order."""
    keys = OrderedDict()
    for record in records:
        keys.update((k, None) for k in record if k not in INDEX_KEYS)
    return list(keys)


def check_keys(records, keys, source):
    """Raise a KeyError naming the keys missing from ``records`` and listing the available ones."""
    available = available_keys(records)
    missing = [k for k in keys if k not in available]
    if missing:
        raise KeyError(f'{source}: no {", ".join(missing)} in the log; available keys: {", ".join(available)}')


def curve(records, key):
    """``(xs, ys, x_label)`` of ``key``: training keys against the iteration, metrics against the epoch
    (the ``step`` of validation records)."""
    rows = [r for r in records if key in r]
    train = all(is_train_record(r) for r in rows)
    by_epoch = any('epoch' in r for r in records if is_train_record(r))
    label = 'iteration' if train or not by_epoch else 'epoch'
    return [r['step'] for r in rows], [r[key] for r in rows], label


def plot_curve(logs, keys, out, legends=None, title=None, width=8.0, height_per_key=3.0, dpi=100):
    """One subplot per key, one line per log; saved to ``out`` (written atomically).

    Args:
        logs (list[str]): work dirs or ``scalars.json`` files.
        keys (list[str]): scalar names, e.g. ``['loss', 'loss_id', 'R1']``.
        out (str): image file (its suffix picks the format, e.g. ``.png``).
        legends (list[str], optional): one label per log; the paths by default.
        width (float): figure width in inches; the height is ``height_per_key`` per key. With ``dpi`` this
            fixes the image size (e.g. 800 x 900 pixels for three keys).

    Returns:
        str: ``out``.
    """
    import matplotlib
    matplotlib.use('Agg')  # files only: works without a display
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    legends = legends or logs
    if len(legends) != len(logs):
        raise ValueError(f'{len(legends)} legends for {len(logs)} logs')
    all_records = [load_scalars(log) for log in logs]
    for log, records in zip(logs, all_records):
        check_keys(records, keys, log)
    fig, axes = plt.subplots(len(keys), 1, figsize=(width, height_per_key * len(keys)), squeeze=False)
    for ax, key in zip(axes[:, 0], keys):
        for legend, records in zip(legends, all_records):
            xs, ys, x_label = curve(records, key)
            ax.plot(xs, ys, marker='o' if len(xs) < 30 else None, label=legend)
        ax.set_xlabel(x_label)
        if x_label == 'epoch':
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        if len(logs) > 1:
            ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    _save_figure(fig, out, dpi)
    plt.close(fig)
    return out


def _save_figure(fig, out, dpi):
    """Render to memory, then temporary file + rename: a killed process never leaves a truncated PNG."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format=(osp.splitext(out)[1][1:] or 'png'), dpi=dpi)
    from plugins.core.utils.atomic_write import atomic_write  # only for plots: the package imports torch
    with atomic_write(out, 'wb') as f:
        f.write(buffer.getvalue())


def train_time(records, include_outliers=False):
    """Iteration time statistics of the training records (their ``time``: seconds per iteration, averaged
    by mmengine over the logging window).

    Args:
        records (list[dict]): records of one ``scalars.json``.
        include_outliers (bool): keep the first record of each epoch, which includes the data loader's start
            (mmpretrain drops it by default).

    Returns:
        dict: ``average`` (s/iter over the kept records), ``epochs`` {epoch: mean s/iter}, ``slowest`` and
        ``fastest`` (epoch, mean) and ``std`` (over the epoch means).
    """
    per_epoch = OrderedDict()
    for record in records:
        if is_train_record(record) and 'time' in record:
            per_epoch.setdefault(record.get('epoch', 0), []).append(record['time'])
    if not per_epoch:
        raise KeyError('no training record with a `time` key (is IterTimerHook enabled?)')
    if not include_outliers:
        per_epoch = OrderedDict((e, t[1:] if len(t) > 1 else t) for e, t in per_epoch.items())
    means = OrderedDict((e, sum(t) / len(t)) for e, t in per_epoch.items())
    all_times = [t for times in per_epoch.values() for t in times]
    mean_of_means = sum(means.values()) / len(means)
    std = (sum((m - mean_of_means) ** 2 for m in means.values()) / len(means)) ** 0.5
    return dict(average=sum(all_times) / len(all_times), epochs=dict(means),
                slowest=max(means.items(), key=lambda kv: kv[1]), fastest=min(means.items(), key=lambda kv: kv[1]),
                std=std)


def cal_train_time(logs, include_outliers=False):
    """Print the iteration time statistics of each log (as mmpretrain's ``cal_train_time``)."""
    results = []
    for log in logs:
        stats = train_time(load_scalars(log), include_outliers)
        print(f'{"-" * 5}Analyze train time of {find_scalars(log)}{"-" * 5}')
        print(f'slowest epoch {stats["slowest"][0]}, average time is {stats["slowest"][1]:.4f} s/iter')
        print(f'fastest epoch {stats["fastest"][0]}, average time is {stats["fastest"][1]:.4f} s/iter')
        print(f'time std over epochs is {stats["std"]:.4f}')
        print(f'average iter time: {stats["average"]:.4f} s/iter')
        results.append(stats)
    return results


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Analyze the scalar logs of ReID training runs')
    sub = parser.add_subparsers(dest='task', required=True)
    plot = sub.add_parser('plot_curve', help='plot scalars against iteration / epoch')
    plot.add_argument('logs', nargs='+', help='work dirs or vis_data/scalars.json files')
    plot.add_argument('--keys', nargs='+', default=['loss'], help='scalars to plot (default: loss)')
    plot.add_argument('--legend', nargs='+', help='one label per log')
    plot.add_argument('--title', help='figure title')
    plot.add_argument('--out', default='curves.png', help='output image (default: curves.png)')
    plot.add_argument('--width', type=float, default=8.0, help='figure width in inches')
    plot.add_argument('--height-per-key', type=float, default=3.0, help='subplot height in inches')
    plot.add_argument('--dpi', type=int, default=100)
    timing = sub.add_parser('cal_train_time', help='average training iteration time')
    timing.add_argument('logs', nargs='+', help='work dirs or vis_data/scalars.json files')
    timing.add_argument('--include-outliers', action='store_true',
                        help='keep the first record of each epoch in the statistics')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        if args.task == 'plot_curve':
            out = plot_curve(args.logs, args.keys, args.out, args.legend, args.title, args.width,
                             args.height_per_key, args.dpi)
            print(f'saved {out}')
            return out
        return cal_train_time(args.logs, args.include_outliers)
    except (KeyError, FileNotFoundError) as error:  # a message, not a traceback, for a wrong key or path
        raise SystemExit(f'analyze_logs.py {args.task}: {error.args[0]}')


if __name__ == '__main__':
    main()
