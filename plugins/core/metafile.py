"""The methods' OpenMMLab metafiles: ``model-index.yml`` imports one ``configs/<method>/metafile.yml`` per method.

What is known about a method outside its package and its configs lives there, in OpenMMLab's format (what
``mim search`` reads): ``Collections`` (one per metafile: Name, Metadata, Paper, Code) and ``Models`` (one per
published config: Name, In Collection, Config, Metadata, Results). The tests, ``tools/benchmark.py`` and
``tools/demo_results.py`` read it here instead of keeping tables of their own, so a new method is one package,
its configs, its metafile and one import line.

Keys of this plugin (OpenMMLab's tools ignore unknown keys):

- ``Metadata`` of a model: ``Batch Size`` (the paper's *total* batch), ``Optimizer``, ``Learning Rate``,
  ``Epochs``, ``Pretrained`` (the weights the config starts from, ``none`` when it trains from scratch; no
  trained checkpoint is published, so there is no ``Weights``).
- Collection: ``Modalities`` (of the queries and galleries: ``image``, ``visible``, ``infrared``, ``text``),
  ``LR Multipliers`` (the paper's lr multiplier of a parameter by name: a list of ``{Prefix: [...], Mult: x}``
  or ``{Suffix: [...], Mult: x}``, the first that matches wins, else 1), ``Export`` (``Image Extractor`` /
  ``Text Extractor``: the dotted class of the ONNX wrapper when the model brings its own; ``Image Inputs``:
  the image graph's inputs, default ``[image]``).
- Model: ``Demo`` (the CPU demo of this setting: ``Config``, ``Data`` = its ``tools/make_demo_data.py``
  folder, ``Chance R1``, ``Host Test``: also tested from its checkpoint with mmpretrain's tools/test.py,
  ``Two-Process Test``: the test that trains it in 2 processes when it is not
  tests/reliability/test_distributed_methods.py, ``Tiny Options``: a mapping ``cfg.option.key: value`` of
  ``--cfg-options`` that make the demo's model smaller still, for the tool tests that only need some model of
  the method) and ``Benchmark`` (on one model per method:
  ``Target`` = bound on step / reference pass, ``Test Feature Modules`` / ``Training-Only Modules`` = the
  top-level modules the reference pass must / must not reach, ``Captions Read`` = the caption inputs its loss
  reads).
"""
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import yaml

MODEL_INDEX = 'model-index.yml'
DEFAULT_IMAGE_EXTRACTOR = 'plugins.core.deploy.feature_extractors.ImageFeatureExtractor'
DEFAULT_TEXT_EXTRACTOR = 'plugins.core.deploy.feature_extractors.TextFeatureExtractor'


class MetafileError(ValueError):
    """A malformed model index or metafile; the message names the file and the key."""


@dataclass(frozen=True)
class LRRule:
    """``Mult`` for a parameter whose name starts with one of ``prefixes`` or ends with one of ``suffixes``."""
    mult: float
    prefixes: Tuple[str, ...] = ()
    suffixes: Tuple[str, ...] = ()

    def matches(self, name: str) -> bool:
        return any(name.startswith(p) for p in self.prefixes) or any(name.endswith(s) for s in self.suffixes)


@dataclass(frozen=True)
class ExportSpec:
    """The ONNX wrappers (dotted class names) and the image graph's inputs."""
    image_extractor: str = DEFAULT_IMAGE_EXTRACTOR
    text_extractor: Optional[str] = None
    image_inputs: Tuple[str, ...] = ('image', )


@dataclass(frozen=True)
class DemoSpec:
    """The CPU demo of a published setting (``Demo:``).

    ``data`` is the demo data folder it trains on (``Demo: Data:``); a demo over several data sets lists them all
    (``Data: [market1501, dukemtmc-reid, cuhk03]``): ``data`` is then the first, ``data_sets`` all of them, and
    ``chance_r1`` the highest chance level over its test sets (the bar each row must clear).
    """
    config: str
    data: str
    chance_r1: float
    host_test: bool = False
    two_process_test: Optional[str] = None
    tiny_options: Tuple[Tuple[str, object], ...] = ()  # (cfg-option key, value) pairs, in the file's order
    data_sets: Tuple[str, ...] = ()  # every demo data folder it reads (``(data,)`` for one)

    @property
    def name(self) -> str:
        return osp.splitext(osp.basename(self.config))[0]


@dataclass(frozen=True)
class BenchmarkSpec:
    """What the benchmark's row of a published config measures (``Benchmark:``)."""
    target: float
    test_feature_modules: Tuple[str, ...]
    training_only_modules: Tuple[str, ...]
    captions_read: Tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelEntry:
    """One ``Models:`` entry: a published config, the paper's setting and numbers, its demo and benchmark."""
    name: str
    collection: str
    config: str                      # relative to the repository root, e.g. configs/cal_sysu.py
    metafile: str
    training_data: str
    batch_size: int                  # the paper's total batch
    optimizer: str
    learning_rate: float
    epochs: int
    pretrained: Optional[str]        # None: not stated, or ``none`` (``from_scratch``)
    pretrained_test: Optional[str]   # the test of a loading that is no mmengine `Pretrained` init_cfg
    results: Tuple[dict, ...]
    demo: Optional[DemoSpec]
    benchmark: Optional[BenchmarkSpec]
    from_scratch: bool = False       # ``Pretrained: none``: the config loads no weights


@dataclass(frozen=True)
class Method:
    """One metafile: its collection and its models."""
    name: str
    metafile: str
    paper_title: str
    paper_url: str
    modalities: Tuple[str, ...]
    lr_rules: Tuple[LRRule, ...]
    export: ExportSpec
    models: Tuple[ModelEntry, ...]
    code_url: Optional[str] = None   # ``Code: URL:``, the method's package (e.g. plugins/cal)

    @property
    def has_text(self) -> bool:
        return 'text' in self.modalities

    def lr_multiplier(self, param_name: str) -> float:
        """The paper's lr multiplier of parameter ``param_name`` (first matching ``LR Multipliers`` rule)."""
        return next((rule.mult for rule in self.lr_rules if rule.matches(param_name)), 1.0)

    @property
    def benchmark_model(self) -> ModelEntry:
        """The model whose row the benchmark reports (exactly one per metafile, checked on loading)."""
        return next(m for m in self.models if m.benchmark is not None)


class _Node:
    """A mapping of the YAML file with its location, so that every error names the file and the key path."""

    def __init__(self, data, path: str, where: str):
        self.data, self.path, self.where = data, path, where

    def fail(self, problem: str, fix: str) -> MetafileError:
        return MetafileError(f'{self.path}: {self.where}: {problem}; {fix}')

    def child(self, key: str, required: bool = True, kind=dict):
        if not isinstance(self.data, dict):
            raise self.fail(f'expected a mapping, got {type(self.data).__name__}', 'write `Key: value` lines')
        if key not in self.data or self.data[key] is None:
            if required:
                raise self.fail(f'missing key `{key}`', f'add `{key}:` (see plugins/core/metafile.py)')
            return None
        value = self.data[key]
        if kind is float and isinstance(value, (int, float, str)) and not isinstance(value, bool):
            try:  # YAML 1.1 reads 1e-5 (no dot) as a string
                return float(value)
            except ValueError:
                pass
        elif kind is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        elif kind is tuple and isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        elif kind not in (float, int, tuple) and isinstance(value, kind):
            return _Node(value, self.path, f'{self.where}.{key}') if kind in (dict, list) else value
        raise self.fail(f'`{key}` must be {_KIND_NAMES[kind]}, got {value!r}', f'give `{key}` {_KIND_NAMES[kind]}')

    def items(self) -> List['_Node']:
        return [_Node(v, self.path, f'{self.where}[{i}]') for i, v in enumerate(self.data)]


_KIND_NAMES = {dict: 'a mapping', list: 'a list', tuple: 'a list of names', str: 'a string', float: 'a number',
               int: 'an integer', bool: 'true or false'}


def _read_yaml(path: str) -> dict:
    if not osp.isfile(path):
        raise MetafileError(f'{path}: no such file; create it or fix the path that names it')
    with open(path) as f:
        try:
            data = yaml.safe_load(f)
        except yaml.YAMLError as error:
            raise MetafileError(f'{path}: not valid YAML ({error}); fix the line it names') from None
    return data


def _export(node: Optional[_Node]) -> ExportSpec:
    if node is None:
        return ExportSpec()
    return ExportSpec(image_extractor=node.child('Image Extractor', False, str) or DEFAULT_IMAGE_EXTRACTOR,
                      text_extractor=node.child('Text Extractor', False, str),
                      image_inputs=node.child('Image Inputs', False, tuple) or ('image', ))


def _lr_rules(node: Optional[_Node]) -> Tuple[LRRule, ...]:
    rules = []
    for item in (node.items() if node is not None else []):
        prefixes, suffixes = item.child('Prefix', False, tuple) or (), item.child('Suffix', False, tuple) or ()
        if not prefixes and not suffixes:
            raise item.fail('a rule without `Prefix` or `Suffix`', 'name the parameters it applies to')
        rules.append(LRRule(item.child('Mult', kind=float), prefixes, suffixes))
    return tuple(rules)


_OPTION_VALUE = (bool, int, float, str)


def _tiny_options(node: Optional[_Node]) -> Tuple[Tuple[str, object], ...]:
    """``Tiny Options``: a mapping of ``--cfg-options`` keys to numbers, strings, booleans or lists of them."""
    if node is None:
        return ()
    options = []
    for key, value in node.data.items():
        plain = isinstance(value, _OPTION_VALUE) or (
            isinstance(value, list) and all(isinstance(v, _OPTION_VALUE) for v in value))
        if not isinstance(key, str) or not plain:
            raise node.fail(f'`{key}: {value!r}` is no cfg-option',
                            'write `model.some.key: value` lines (a number, a string, true/false or a list of them)')
        options.append((key, value))
    return tuple(options)


def _demo(node: Optional[_Node]) -> Optional[DemoSpec]:
    if node is None:
        return None
    data = node.data.get('Data') if isinstance(node.data, dict) else None
    data_sets = node.child('Data', kind=tuple) if isinstance(data, list) else (node.child('Data', kind=str),)
    return DemoSpec(config=node.child('Config', kind=str), data=data_sets[0], data_sets=data_sets,
                    chance_r1=node.child('Chance R1', kind=float),
                    host_test=bool(node.child('Host Test', False, bool)),
                    two_process_test=node.child('Two-Process Test', False, str),
                    tiny_options=_tiny_options(node.child('Tiny Options', False, dict)))


def _benchmark(node: Optional[_Node]) -> Optional[BenchmarkSpec]:
    if node is None:
        return None
    return BenchmarkSpec(target=node.child('Target', kind=float),
                         test_feature_modules=node.child('Test Feature Modules', kind=tuple),
                         training_only_modules=node.child('Training-Only Modules', kind=tuple),
                         captions_read=node.child('Captions Read', False, tuple) or ())


def _training_data(meta: _Node) -> str:
    """``Training Data``: one data set, or a list of them (OpenMMLab's form for several), joined with ' + '."""
    if isinstance(meta.data, dict) and isinstance(meta.data.get('Training Data'), list):
        return ' + '.join(meta.child('Training Data', kind=tuple))
    return meta.child('Training Data', kind=str)


def _model(node: _Node, collection: str, path: str) -> ModelEntry:
    name = node.child('Name', kind=str)
    node.where = f'Models ({name})'
    if node.child('In Collection', kind=str) != collection:
        raise node.fail(f'`In Collection` is {node.data["In Collection"]!r}, not this file\'s collection '
                        f'{collection!r}', 'one metafile holds the models of one method')
    meta = node.child('Metadata')
    results = node.child('Results', False, list)
    pretrained = meta.child('Pretrained', False, str)
    for item in (results.items() if results is not None else []):
        for key in ('Task', 'Dataset'):
            item.child(key, kind=str)
        item.child('Metrics')
    return ModelEntry(
        name=name, collection=collection, config=node.child('Config', kind=str), metafile=path,
        training_data=_training_data(meta), batch_size=meta.child('Batch Size', kind=int),
        optimizer=meta.child('Optimizer', kind=str), learning_rate=meta.child('Learning Rate', kind=float),
        epochs=meta.child('Epochs', kind=int), pretrained=None if pretrained == 'none' else pretrained,
        from_scratch=pretrained == 'none',
        pretrained_test=meta.child('Pretrained Loading Test', False, str),
        results=tuple(results.data) if results is not None else (), demo=_demo(node.child('Demo', False)),
        benchmark=_benchmark(node.child('Benchmark', False)))


def load_metafile(path: str) -> Method:
    """Read one ``metafile.yml``: exactly one collection and its models.

    Raises:
        MetafileError: a missing file, invalid YAML, a missing or mistyped key (the message names the file and
            the key), or not exactly one model with ``Benchmark``.
    """
    root = _Node(_read_yaml(path), path, 'top level')
    collections = root.child('Collections', kind=list)
    if len(collections.data) != 1:
        raise collections.fail(f'{len(collections.data)} collections', 'one metafile describes one method')
    (col, ) = collections.items()
    name = col.child('Name', kind=str)
    col.where = f'Collections ({name})'
    paper = col.child('Paper')
    code = col.child('Code', False)
    models = tuple(_model(m, name, path) for m in root.child('Models', kind=list).items())
    benchmarked = [m.name for m in models if m.benchmark is not None]
    if len(benchmarked) != 1:
        raise root.fail(f'{len(benchmarked)} models with `Benchmark` ({benchmarked})',
                        'give exactly one model of the method a `Benchmark:` entry (its row in tools/benchmark.py)')
    return Method(name=name, metafile=path, paper_title=paper.child('Title', kind=str),
                  paper_url=paper.child('URL', kind=str), modalities=col.child('Modalities', kind=tuple),
                  lr_rules=_lr_rules(col.child('LR Multipliers', False, list)),
                  export=_export(col.child('Export', False)), models=models,
                  code_url=code.child('URL', False, str) if code is not None else None)


def load_model_index(repo_root: str) -> List[Method]:
    """Every method of ``<repo_root>/model-index.yml``, in its ``Import`` order.

    Args:
        repo_root (str): the folder holding ``model-index.yml``; the imported paths are relative to it.

    Returns:
        list[Method]: one per imported metafile.
    """
    index_path = osp.join(repo_root, MODEL_INDEX)
    imports = _Node(_read_yaml(index_path), index_path, 'top level').child('Import', kind=list)
    methods = []
    for item in imports.items():
        if not isinstance(item.data, str):
            raise item.fail(f'expected a metafile path, got {item.data!r}',
                            'list paths such as configs/<method>/metafile.yml')
        methods.append(load_metafile(osp.join(repo_root, item.data)))
    _check_unique(index_path, 'collection', [(m.name, m.metafile) for m in methods])
    _check_unique(index_path, 'model', [(e.name, e.metafile) for m in methods for e in m.models])
    _check_unique(index_path, 'config', [(c, e.metafile) for m in methods for e in m.models
                                         for c in [e.config] + ([e.demo.config] if e.demo else [])])
    return methods


def _check_unique(index_path: str, what: str, named: List[Tuple[str, str]]):
    seen: Dict[str, str] = {}
    for name, where in named:
        if name in seen:
            raise MetafileError(f'{index_path}: {what} {name!r} is named by {seen[name]} and by {where}; '
                                'name each one in one metafile entry only')
        seen[name] = where


def published_models(methods: List[Method]) -> List[ModelEntry]:
    """Every ``Models:`` entry (one per published config), in model-index order."""
    return [model for method in methods for model in method.models]


def demo_models(methods: List[Method]) -> List[ModelEntry]:
    """The models that have a ``Demo``."""
    return [model for model in published_models(methods) if model.demo is not None]


def benchmark_models(methods: List[Method]) -> List[ModelEntry]:
    """One model per method: the one whose ``Benchmark`` row ``tools/benchmark.py`` reports by default."""
    return [method.benchmark_model for method in methods]


def method_of(methods: List[Method], model: ModelEntry) -> Method:
    """The method (collection) of a model entry."""
    return next(m for m in methods if m.name == model.collection)
