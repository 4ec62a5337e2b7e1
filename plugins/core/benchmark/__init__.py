"""Benchmarks of the plugin, one module per section (``tools/benchmark.py`` is the command line).

Sections: ``market`` / ``sysu`` (:mod:`.evaluation`) and ``large`` (:mod:`.large_gallery`) time the evaluation,
``rerank`` (:mod:`.rerank`) the bounded-memory re-ranking against torchreid's,
``train`` (:mod:`.train`) each config's training step against the forward + backward of its test features,
``loader`` (:mod:`.loader`) the training pipelines on 2 workers, ``distributed`` (:mod:`.distributed`) the cost
of the global-batch computations at 2 processes, ``gpu`` (:mod:`.gpu`) steps with AMP and the
evaluation on a CUDA device. Each is a function ``section(args, state) -> Section``; what one section measures
for another (the step rates the loader compares with) travels in the run's :class:`RunState`, created by
:func:`run_sections`.

Not imported by ``plugins``: only ``tools/benchmark.py`` and its tests use it.
"""
from dataclasses import dataclass, field
from typing import List, Sequence

from .distributed import distributed_section
from .evaluation import market_section, sysu_section
from .gpu import gpu_section
from .large_gallery import large_gallery_section
from .loader import loader_section
from .report import Section, render_report
from .rerank import rerank_section
from .train import StepThroughput, TrainCase, train_section

#: section name -> function, in report order
SECTIONS = (('market', market_section), ('sysu', sysu_section), ('large', large_gallery_section),
            ('rerank', rerank_section), ('train', train_section), ('loader', loader_section),
            ('distributed', distributed_section), ('gpu', gpu_section))
SECTION_NAMES = tuple(name for name, _ in SECTIONS)


@dataclass
class RunState:
    """What the sections of one run share: the training step rates (train section -> loader section)."""
    step_throughput: StepThroughput = field(default_factory=StepThroughput)


def run_sections(args, names: Sequence[str]) -> List[str]:
    """Run the named sections in report order; print and return their Markdown tables.

    Args:
        args (argparse.Namespace): ``quick``, ``seed``, ``rank_cy``, ``demo_root``, ``train_cases``.
        names (Sequence[str]): a subset of :data:`SECTION_NAMES`.
    """
    unknown = sorted(set(names) - set(SECTION_NAMES))
    if unknown:
        raise ValueError(f'benchmark: unknown sections {unknown}; available: {list(SECTION_NAMES)}')
    state, tables = RunState(), []
    for name, section in SECTIONS:
        if name in names:
            print(f'== {name} ...', flush=True)
            table = section(args, state).markdown()
            print(table, flush=True)
            tables.append(table)
    return tables


__all__ = ['RunState', 'SECTIONS', 'SECTION_NAMES', 'Section', 'TrainCase', 'render_report', 'run_sections']
