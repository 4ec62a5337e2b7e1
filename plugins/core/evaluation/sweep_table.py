"""The table of a seed / trial sweep (``tools/sweep.py``): every run, mean ± sample std with n, the paper's number.

A failed run is a row of its own (``failed`` and its error) and never enters the mean: the summary counts the
finished runs (``n``) and names the failed ones. The standard deviation is the sample one (``ddof=1``, the
spread a reader can expect from one more run); with one finished run it is not defined and shown as ``-``.
"""
import math
from typing import Dict, List, Sequence

from .paper_table import METRIC_ORDER, PaperComparison, _set_and_metric, compare_with_paper

#: run status of a finished run (test metrics written), of a failed one, of one stopped by a signal
DONE, FAILED, PREEMPTED = 'done', 'failed', 'preempted'


def summarize(runs: Sequence[dict]) -> Dict[str, dict]:
    """``{metric: {'mean', 'std', 'n'}}`` over the finished runs (``status == 'done'``) that report the metric.

    Args:
        runs (list[dict]): run records with ``status`` and ``metrics`` (a dict of floats).
    """
    values: Dict[str, List[float]] = {}
    for run in runs:
        if run.get('status') != DONE:
            continue
        for key, value in (run.get('metrics') or {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                values.setdefault(key, []).append(float(value))
    summary = {}
    for key, xs in values.items():
        mean = sum(xs) / len(xs)
        std = math.sqrt(sum((x - mean) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else None
        summary[key] = dict(mean=mean, std=std, n=len(xs))
    return summary


def _metric_keys(runs: Sequence[dict], summary: Dict[str, dict]) -> List[str]:
    """The summarised keys, grouped by set (first seen first), metrics in :data:`METRIC_ORDER` within a set."""
    keys = list(dict.fromkeys(k for run in runs for k in (run.get('metrics') or {}) if k in summary))
    sets = list(dict.fromkeys(_set_and_metric(k)[0] for k in keys))
    rank = {m: i for i, m in enumerate(METRIC_ORDER)}
    return sorted(keys, key=lambda k: (sets.index(_set_and_metric(k)[0]),
                                       rank.get(_set_and_metric(k)[1], len(rank)), keys.index(k)))


def sweep_table(config: str, runs: Sequence[dict], digits: int = 2) -> Dict[str, object]:
    """The sweep's result: the Markdown table and the JSON document (``sweep.md`` / ``sweep.json``).

    Args:
        config (str): the config of every run (its metafile entry gives the paper's numbers).
        runs (list[dict]): one record per run: ``name``, ``status``, ``metrics`` (done runs), ``error``
            (failed ones), plus whatever the caller keeps (seed, trial, work dir, checkpoint).

    Returns:
        dict: ``markdown`` (str), ``json`` (dict with ``runs``, ``summary``, ``paper``, ``paper_note``,
        ``failed``).
    """
    summary = summarize(runs)
    keys = _metric_keys(runs, summary)
    means = {k: summary[k]['mean'] for k in keys}
    comparison: PaperComparison = compare_with_paper(config, means)
    failed = [r['name'] for r in runs if r.get('status') != DONE]
    header = ['run', 'status'] + keys
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for run in runs:
        metrics = run.get('metrics') or {}
        cells = [f'{metrics[k]:.{digits}f}' if k in metrics else '-' for k in keys]
        status = run.get('status', '?')
        if status != DONE:
            status += f": {str(run.get('error', ''))[:80]}".rstrip(': ')
        lines.append('| ' + ' | '.join([str(run['name']), status] + cells) + ' |')
    lines.append('| ' + ' | '.join(['mean ± std', f'n={min((summary[k]["n"] for k in keys), default=0)}'] + [
        _mean_std(summary[k], digits) for k in keys]) + ' |')
    if comparison.paper:
        lines.append('| ' + ' | '.join(['paper', '-'] + [
            f'{comparison.paper[k]:.{digits}f}' if k in comparison.paper else '-' for k in keys]) + ' |')
        diff = comparison.difference
        lines.append('| ' + ' | '.join(['mean - paper', '-'] + [
            f'{diff[k]:+.{digits}f}' if k in diff else '-' for k in keys]) + ' |')
    notes = [f'mean ± sample std (ddof=1) over the {len(runs) - len(failed)} finished run(s)']
    if failed:
        notes.append(f'not averaged: {", ".join(failed)} ({len(failed)} run(s) not finished, see their rows)')
    notes.append(f'paper numbers: {comparison.note}')
    markdown = '\n'.join(lines) + '\n\n' + '\n'.join(f'- {n}' for n in notes) + '\n'
    document = dict(config=config, runs=list(runs), summary={k: summary[k] for k in keys},
                    paper=comparison.paper, paper_difference=comparison.difference,
                    paper_source=comparison.source, paper_note=comparison.note, failed=failed)
    return dict(markdown=markdown, json=document)


def _mean_std(stats: dict, digits: int) -> str:
    std = '-' if stats['std'] is None else f'{stats["std"]:.{digits}f}'
    return f'{stats["mean"]:.{digits}f} ± {std}'
