"""The paper's numbers beside the measured ones: ``tools/test.py`` and ``tools/sweep.py`` print one table.

The published numbers of a config are those of its metafile entry (``Results`` of the ``Models:`` entry whose
``Config`` is that file, ``configs/<method>/metafile.yml`` read by :mod:`plugins.core.metafile`); nothing is
copied by hand from the README. A config that no entry names (a variant, a demo, a user's own config) gets its
own numbers only.

Metric keys: a single-set config logs ``R1``, ``mAP``, ...; a config with several test sets logs
``<set>/R1``, ... plus ``mean/...``. A result entry names its data set (``Dataset: Market-1501``); a set is
matched to the entry whose data set has the same letters and digits (``market1501`` <-> ``Market-1501``,
``sysumm01`` <-> ``SYSU-MM01 all-search``), and the table says which entry each row came from. A single-set
config takes the entry's only result (with several, the first whose data set matches the config's training
data). ``mean/...`` never gets a paper number: no paper reports the mean of another table's sets.
"""
import math
import os.path as osp
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from plugins.core.metafile import MODEL_INDEX, ModelEntry, load_model_index, published_models

#: the order of the columns; other metric keys follow in their own order
METRIC_ORDER = ('R1', 'R5', 'R10', 'R20', 'mAP', 'mINP')


def _letters(name: str) -> str:
    return re.sub(r'[^a-z0-9]', '', str(name).lower())


def find_repo_root(config_path: str) -> Optional[str]:
    """The nearest folder above ``config_path`` that holds ``model-index.yml`` (None: the config is outside a
    checkout of this repository)."""
    folder = osp.dirname(osp.abspath(config_path))
    while True:
        if osp.isfile(osp.join(folder, MODEL_INDEX)):
            return folder
        parent = osp.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def find_model_entry(config_path: str) -> Tuple[Optional[ModelEntry], str]:
    """The metafile entry whose ``Config`` is ``config_path``, and a note saying why there is none.

    Returns:
        tuple: ``(entry or None, note)``; the note names a demo's published config when the file is a demo.
    """
    root = find_repo_root(config_path)
    if root is None:
        return None, f'{config_path} is outside a checkout with {MODEL_INDEX}: no paper numbers'
    rel = osp.relpath(osp.abspath(config_path), root).replace(osp.sep, '/')
    for entry in published_models(load_model_index(root)):
        if entry.config == rel:
            return entry, f'{osp.relpath(entry.metafile, root)} ({entry.name})'
        if entry.demo is not None and entry.demo.config == rel:
            return None, (f'{rel} is the CPU demo of {entry.config} on generated data: the paper\'s numbers '
                          f'({entry.name} in {osp.relpath(entry.metafile, root)}) are not comparable, not shown')
    return None, f'{rel} is named by no metafile entry: no paper numbers'


def _set_and_metric(key: str) -> Tuple[Optional[str], str]:
    return tuple(key.split('/', 1)) if '/' in key else (None, key)


def _result_for(entry: ModelEntry, set_name: Optional[str]) -> Optional[dict]:
    """The entry's result of set ``set_name`` (by data set letters), or its result for a single-set config."""
    results = [r for r in entry.results if isinstance(r.get('Metrics'), dict)]
    if set_name is None:
        if len(results) <= 1:
            return results[0] if results else None
        training = _letters(entry.training_data)
        return next((r for r in results if _letters(r['Dataset']).startswith(training)), results[0])
    wanted = _letters(set_name)
    for result in results:
        name = _letters(result['Dataset'])
        if wanted and (name.startswith(wanted) or wanted.startswith(name)):
            return result
    return None


def _ordered(keys: Sequence[str]) -> List[str]:
    rank = {m: i for i, m in enumerate(METRIC_ORDER)}
    return sorted(dict.fromkeys(keys), key=lambda k: (rank.get(k, len(rank)), list(keys).index(k)))


@dataclass
class PaperComparison:
    """The measured metrics of one test run with the paper's numbers where a metafile entry has them.

    Attributes:
        measured (dict): every metric of the run (``R1`` or ``<set>/R1`` keys), as floats.
        paper (dict): the paper's number of the same keys (only the keys the paper reports).
        source (dict): ``<set or '-'>`` -> the result entry used (``"<metafile> (<model>): <Dataset>"``).
        note (str): where the numbers come from, or why there are none.
    """
    measured: Dict[str, float]
    paper: Dict[str, float] = field(default_factory=dict)
    source: Dict[str, str] = field(default_factory=dict)
    note: str = ''

    @property
    def difference(self) -> Dict[str, float]:
        """measured - paper, for every key with both."""
        return {k: self.measured[k] - v for k, v in self.paper.items() if k in self.measured}

    def as_json(self, model_selection: Optional[dict] = None) -> dict:
        """What ``--out`` writes: the measured metrics at the top level (as before), ``paper``,
        ``paper_difference`` and ``paper_source`` beside them when an entry has numbers, ``paper_note``, and
        ``model_selection`` (how the tested checkpoint was chosen, see
        :mod:`plugins.core.hooks.model_selection_hook`) when given."""
        out = dict(self.measured)
        if self.paper:
            out.update(paper=dict(self.paper), paper_difference=self.difference, paper_source=dict(self.source))
        out['paper_note'] = self.note
        if model_selection:
            out['model_selection'] = dict(model_selection)
        return out

    def table(self, digits: int = 2) -> str:
        """One Markdown table: a ``measured`` row per set, then its ``paper`` and ``difference`` rows."""
        return format_table(self.measured, self.paper, self.source, digits) + f'\npaper numbers: {self.note}'


def format_table(measured: Dict[str, float], paper: Dict[str, float], source: Dict[str, str],
                 digits: int = 2, measured_label: str = 'measured') -> str:
    """Markdown rows ``set | row | metric...`` of measured values, the paper's and their difference."""
    by_set: Dict[Optional[str], Dict[str, float]] = {}
    for key, value in measured.items():
        set_name, metric = _set_and_metric(key)
        by_set.setdefault(set_name, {})[metric] = value
    metrics = _ordered([m for values in by_set.values() for m in values])
    has_sets = any(s is not None for s in by_set)
    header = (['set'] if has_sets else []) + ['row'] + metrics
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]

    def cells(values):
        return [f'{values[m]:.{digits}f}' if m in values and not _nan(values[m]) else '-' for m in metrics]

    for set_name, values in by_set.items():
        lead = [set_name or '-'] if has_sets else []
        lines.append('| ' + ' | '.join(lead + [measured_label] + cells(values)) + ' |')
        prefix = f'{set_name}/' if set_name else ''
        theirs = {m: paper[prefix + m] for m in metrics if prefix + m in paper}
        if theirs:
            where = source.get(set_name or '-', '')
            dataset = where.rsplit(': ', 1)[-1] if where else ''
            diff = {m: values[m] - theirs[m] for m in theirs if m in values}
            lines.append('| ' + ' | '.join(lead + [f'paper ({dataset})' if dataset else 'paper'] + cells(theirs))
                         + ' |')
            lines.append('| ' + ' | '.join(lead + ['difference'] + [
                f'{diff[m]:+.{digits}f}' if m in diff else '-' for m in metrics]) + ' |')
    return '\n'.join(lines)


def _nan(value) -> bool:
    return isinstance(value, float) and math.isnan(value)


def compare_with_paper(config_path: str, metrics: Dict[str, float]) -> PaperComparison:
    """The measured ``metrics`` of ``config_path`` beside the paper's numbers of its metafile entry.

    Args:
        config_path (str): the config file the run used (a published config is named by a metafile entry).
        metrics (dict): ``{'R1': ..}`` (one test set) or ``{'<set>/R1': .., 'mean/R1': ..}`` (several).

    Returns:
        PaperComparison: ``paper`` is empty for a config without an entry (or an entry without ``Results``).
    """
    measured = {k: float(v) for k, v in metrics.items()}
    entry, note = find_model_entry(config_path)
    comparison = PaperComparison(measured=measured, note=note)
    if entry is None:
        return comparison
    metafile = osp.relpath(entry.metafile, find_repo_root(config_path))
    sets = dict.fromkeys(_set_and_metric(k)[0] for k in measured)
    unmatched = []
    for set_name in sets:
        if set_name == 'mean':
            continue
        result = _result_for(entry, set_name)
        if result is None:
            unmatched.append(set_name)
            continue
        prefix = f'{set_name}/' if set_name else ''
        for metric, value in result['Metrics'].items():
            if prefix + metric in measured:
                comparison.paper[prefix + metric] = float(value)
        comparison.source[set_name or '-'] = f'{metafile} ({entry.name}): {result["Dataset"]}'
    if not entry.results:
        comparison.note = f'{metafile} ({entry.name}) has no Results: no paper numbers'
    elif set(sets) - {None}:
        matched = ', '.join(f'{s} <- {comparison.source[s].rsplit(": ", 1)[-1]}'
                            for s in sets if s in comparison.source)
        comparison.note += f'; sets matched to result entries by data set name: {matched or "none"}'
        if unmatched:
            comparison.note += f'; no paper number for {", ".join(unmatched)}'
    return comparison
