"""The methods' OpenMMLab metafiles (model-index.yml -> configs/<method>/metafile.yml, plugins/core/metafile.py).

Every config is named by exactly one metafile entry and every entry names a config that exists; the paper's
batch and lr stated there are what the config trains at one process; the published numbers are the docs'; a
malformed metafile stops with the file and the key. The last test adds a seventh method to a copy of the
repository (package, published config, demo config, metafile, one import line), collects the whole suite
there and runs every test that sees it (its parametrized cases and the ``all_methods`` tests), with no change
to any test or tool.
"""
import glob
import os
import os.path as osp
import re
import shutil
import subprocess
import sys

import pytest
import yaml
from mmengine.config import Config

from plugins.core.datasets.demo import DATASETS as DEMO_DATA_SETS
from plugins.core.metafile import MetafileError, demo_models, load_model_index, method_of, published_models
from tests.helpers import REPO, config_dicts

METHODS = load_model_index(REPO)
MODELS = published_models(METHODS)


def _relative_configs(*parts):
    return sorted(osp.relpath(p, REPO) for p in glob.glob(osp.join(REPO, 'configs', *parts, '*.py')))


@pytest.mark.all_methods
def test_every_config_is_named_by_exactly_one_metafile_entry():
    named = [m.config for m in MODELS] + [m.demo.config for m in demo_models(METHODS)]
    on_disk = _relative_configs() + _relative_configs('demo')
    assert len(on_disk) >= 24  # the globs found the configs (16 published + 8 demos when this was written)
    missing = sorted(set(on_disk) - set(named))
    assert not missing, f'configs named by no metafile entry (add them to configs/<method>/metafile.yml): {missing}'
    assert sorted(named) == sorted(on_disk)  # each exactly once, and no entry names a config that is not there


@pytest.mark.all_methods
def test_every_metafile_is_imported_by_the_model_index():
    on_disk = sorted(osp.relpath(p, REPO) for p in glob.glob(osp.join(REPO, 'configs', '*', 'metafile.yml')))
    with open(osp.join(REPO, 'model-index.yml')) as f:
        assert sorted(yaml.safe_load(f)['Import']) == on_disk
    assert len(METHODS) == len(on_disk) >= 6


@pytest.mark.parametrize('model', MODELS, ids=lambda m: m.name)
def test_entry_names_an_existing_config_of_its_method(model):
    assert osp.isfile(osp.join(REPO, model.config)), f'{model.metafile}: Models ({model.name}).Config'
    assert osp.splitext(osp.basename(model.config))[0] == model.name  # mim finds a config by the model's name
    if model.demo is not None:  # a demo twin that exists, trains the same model class on a generated data set
        assert osp.isfile(osp.join(REPO, model.demo.config)), f'{model.metafile}: Models ({model.name}).Demo.Config'
        assert set(model.demo.data_sets) <= set(DEMO_DATA_SETS), f'{model.metafile}: Models ({model.name}).Demo.Data'
        assert (Config.fromfile(osp.join(REPO, model.demo.config)).model.type
                == Config.fromfile(osp.join(REPO, model.config)).model.type)


def _pretrained_strings(node):
    """Every weight source a model config names: ``Pretrained`` init_cfg checkpoints and ``pretrained`` strings,
    in the order a depth-first walk meets them."""
    return [d['checkpoint'] if d.get('type') == 'Pretrained' else d['pretrained'] for d in config_dicts(
        node, lambda d: d.get('type') == 'Pretrained' or isinstance(d.get('pretrained'), str))]


@pytest.mark.parametrize('model', MODELS, ids=lambda m: m.name)
def test_metadata_is_what_the_config_trains_at_one_process(model, tmp_path):
    """Batch Size / Learning Rate as the Runner resolves them at world size 1 (test_published_batch's
    resolution), Epochs, Optimizer and the pretrained weights' source as the config states them."""
    from tests.core.test_published_batch import _cfg, _resolve
    cfg = _cfg(osp.basename(model.config))
    lrs, _, _, loader = _resolve(cfg, 1, tmp_path)
    multiplier = method_of(METHODS, model).lr_multiplier
    assert loader['batch_size'] == model.batch_size, f'{model.metafile}: Models ({model.name}).Metadata.Batch Size'
    assert {n: lr / multiplier(n) for n, lr in lrs.items()} == pytest.approx(
        {n: model.learning_rate for n in lrs}, rel=1e-12), f'{model.metafile}: Models ({model.name}).Learning Rate'
    assert cfg.train_cfg.max_epochs == model.epochs
    assert cfg.optim_wrapper.optimizer.type == model.optimizer
    sources = _pretrained_strings(cfg.model)
    assert not (model.from_scratch and sources), f'{model.metafile}: Models ({model.name}): `Pretrained: none`'
    if sources:  # a hub id (transformers) is written as its page: https://huggingface.co/<id>
        assert any(model.pretrained == s or model.pretrained == f'https://huggingface.co/{s}' for s in sources), \
            (model.pretrained, sources)


def _numbers(text):
    return {float(n) for n in re.findall(r'(?<![\w.])\d+\.\d+|(?<![\w.])\d+(?![\w.])', text)}


@pytest.mark.all_methods
def test_published_numbers_are_the_docs_numbers():
    """Every metric of the metafiles is a number docs/reproduce.md gives (its "Expected" lines)."""
    with open(osp.join(REPO, 'docs', 'reproduce.md')) as f:
        expected = _numbers(' '.join(line for line in f if 'Expected' in line or 'R1' in line))
    metrics = [(m.name, k, v) for m in MODELS for r in m.results for k, v in r['Metrics'].items()]
    assert len(metrics) >= 30
    assert not [x for x in metrics if float(x[2]) not in expected], 'metafile numbers not in docs/reproduce.md'


@pytest.mark.all_methods
def test_readme_demo_column_shows_the_metafiles_chance():
    """Every model with published ``Results`` and a demo has its README row; a row's chance is the metafile's."""
    with open(osp.join(REPO, 'README.md')) as f:
        rows = [line for line in f if line.startswith('|')]
    for model in demo_models(METHODS):
        row = [r for r in rows if f'`{model.demo.name}`' in r and '(' in r]
        if not row and not model.results:
            continue  # no published number to show (a new method before its paper's table is copied)
        assert row, f'README.md: no "Published numbers" row for {model.demo.name}'
        chance = re.search(r'\((\d+(?:\.\d+)?)\) \|\s*$', row[0])
        assert chance and float(chance.group(1)) == model.demo.chance_r1, (model.demo.name, row[0])


# -- malformed metafiles: the error names the file and the key ------------------------------------------------

def _copy_index(tmp_path, edit):
    """model-index.yml and the metafiles under ``tmp_path``, the CAL metafile's text passed through ``edit``."""
    shutil.copy(osp.join(REPO, 'model-index.yml'), tmp_path / 'model-index.yml')
    for path in glob.glob(osp.join(REPO, 'configs', '*', 'metafile.yml')):
        target = tmp_path / osp.relpath(path, REPO)
        target.parent.mkdir(parents=True)
        text = open(path).read()
        target.write_text(edit(text) if '/cal/' in path else text)
    return tmp_path / 'configs' / 'cal' / 'metafile.yml'


@pytest.mark.parametrize('edit,key', [
    (lambda t: t.replace('    Config: configs/cal_sysu_indoor.py\n', ''),
     'Models (cal_sysu_indoor): missing key `Config`'),
    (lambda t: t.replace('Batch Size: 64 ', 'Batch Size: sixty-four ', 1), '`Batch Size` must be an integer'),
    (lambda t: t.replace('      Chance R1: 5.0\n', ''), 'Models (cal_regdb).Demo: missing key `Chance R1`'),
    (lambda t: t.replace('      - {Prefix: [backbone], Mult: 0.1}', '      - {Mult: 0.1}'),
     'Collections (CAL).LR Multipliers[0]: a rule without `Prefix` or `Suffix`'),
    (lambda t: t.replace('    Benchmark:\n      Target: 1.3\n', '    Benchmark:\n      Target: fast\n'),
     'Models (cal_sysu).Benchmark: `Target` must be a number'),
    (lambda t: t.replace('    Benchmark:', '    Bench:'), '0 models with `Benchmark`'),
    (lambda t: t.replace('Config: configs/cal_regdb.py', 'Config: configs/cal_sysu.py'),
     "config 'configs/cal_sysu.py' is named by"),
    (lambda t: t.replace('      Chance R1: 5.6\n', '      Chance R1: 5.6\n      Tiny Options: {model.a: {b: 1}}\n'),
     'Models (cal_sysu).Demo.Tiny Options: `model.a: {\'b\': 1}` is no cfg-option'),
    (lambda t: t.replace('Models:\n', 'Models:\n  - [\n'), 'not valid YAML'),
])
def test_malformed_metafile_names_the_file_and_the_key(tmp_path, edit, key):
    path = _copy_index(tmp_path, edit)
    with pytest.raises(MetafileError) as error:
        load_model_index(str(tmp_path))
    assert str(path) in str(error.value) and key in str(error.value), str(error.value)


def test_a_missing_metafile_is_named(tmp_path):
    (tmp_path / 'model-index.yml').write_text('Import:\n  - configs/nothing/metafile.yml\n')
    with pytest.raises(MetafileError, match=r'configs/nothing/metafile.yml: no such file'):
        load_model_index(str(tmp_path))


# -- a seventh method, in a copy of the repository -------------------------------------------------------------

SEVENTH_CONFIG = '''\
# A seventh method (tests/core/test_metafiles.py): the baseline's setting with another model.
_base_ = ['./baseline_market1501.py']
model = dict(_delete_=True, type='SeventhReID', num_classes=751, embed_dim=32)
'''
SEVENTH_DEMO = '''\
_base_ = ['./baseline_market1501_demo.py']
model = dict(_delete_=True, type='SeventhReID', num_classes=30, embed_dim=32)
'''
SEVENTH_METAFILE = '''\
Collections:
  - Name: SeventhReID
    Metadata:
      Architecture: [Two convolutions]
    Paper:
      Title: A seventh method
      URL: https://example.org/seventh
    Code:
      URL: plugins/seventh
    Modalities: [image]

Models:
  - Name: seventh_market1501
    In Collection: SeventhReID
    Config: configs/seventh_market1501.py
    Metadata:
      Training Data: Market-1501
      Batch Size: 64
      Optimizer: Adam
      Learning Rate: 3.5e-4
      Epochs: 120
      Pretrained: none
    Demo:
      Config: configs/demo/seventh_market1501_demo.py
      Data: market1501
      Chance R1: 3.3
    Benchmark:
      Target: 2.0
      Test Feature Modules: [stem, neck]
      Training-Only Modules: [classifier]
'''
#: what the copy's run selects besides the new method's own cases: the tests that read every metafile, config or
#: package in one function (marked ``all_methods`` where they are written)
EVERY_METHOD_MARK = 'all_methods'


def _copy_repository(root):
    ignore = shutil.ignore_patterns('__pycache__', '*.pyc', '.pytest_cache', 'work_dirs')
    for folder in ('plugins', 'configs', 'tests', 'tools', 'docs'):
        shutil.copytree(osp.join(REPO, folder), root / folder, ignore=ignore)
    for name in ('setup.cfg', 'model-index.yml', 'README.md'):
        shutil.copy(osp.join(REPO, name), root / name)


def _add_seventh_method(root):
    """The files a new method adds (docs/adding_a_method.md): its package (the toy model of tests/toy_method,
    renamed), its published and demo configs, its metafile, one import line."""
    package = root / 'plugins' / 'seventh'
    package.mkdir()
    model = open(osp.join(REPO, 'tests', 'toy_method', 'toy_reid.py')).read().replace('ToyReID', 'SeventhReID')
    (package / 'model.py').write_text(model)
    (package / '__init__.py').write_text('from .model import SeventhReID  # noqa: F401\n')
    (root / 'configs' / 'seventh_market1501.py').write_text(SEVENTH_CONFIG)
    (root / 'configs' / 'demo' / 'seventh_market1501_demo.py').write_text(SEVENTH_DEMO)
    (root / 'configs' / 'seventh').mkdir()
    (root / 'configs' / 'seventh' / 'metafile.yml').write_text(SEVENTH_METAFILE)
    with open(root / 'model-index.yml', 'a') as f:
        f.write('  - configs/seventh/metafile.yml\n')
    with open(root / 'plugins' / '__init__.py') as f:
        text = f.read()
    anchor = 'from . import core  # noqa: F401\n'  # the method imports follow it
    assert anchor in text
    text = text.replace(anchor, anchor + 'from . import seventh  # noqa: F401\n')
    (root / 'plugins' / '__init__.py').write_text(text)


def _pytest(root, *args):
    """pytest in the copy, with this interpreter's environment first on PATH (the launchers call ``python``)."""
    path = os.pathsep.join([osp.dirname(sys.executable), os.environ.get('PATH', '')])
    env = dict(os.environ, PYTHONPATH=str(root), OMP_NUM_THREADS='1', PATH=path)
    env.pop('PYTEST_XDIST_WORKER', None)
    return subprocess.run([sys.executable, '-m', 'pytest', '-p', 'no:cacheprovider', '-p', 'no:xdist', *args],
                          cwd=root, env=env, capture_output=True, text=True, timeout=1500)


def _method_names(method):
    """What a test id may call a method: its collection, model and config names, its package."""
    names = {method.name, method.code_url and osp.basename(method.code_url)}
    for model in method.models:
        names.add(model.name)
        if model.demo is not None:
            names.add(model.demo.name)
    return {n.lower() for n in names if n}


def _cases_by_method(test_ids, methods):
    """``{test function: {method names its parametrized cases name}}`` for the collected ``test_ids``."""
    names = {method.name: _method_names(method) for method in methods}
    cases = {}
    for test_id in test_ids:
        function, bracket, param = test_id.partition('[')
        if not bracket:
            continue
        words = set(re.split(r'[^a-z0-9_]+', param.lower().replace('.py', ''))) | {param.lower()}
        seen = cases.setdefault(function, set())
        seen.update(m for m, aliases in names.items() if words & aliases)
    return cases


@pytest.mark.slow
def test_a_new_method_in_a_copy_passes_every_glob_driven_test(tmp_path):
    """A seventh method (package, configs, metafile, one import line) in a copy of the repository: the whole
    suite is collected there; every test function that has a case for each of the six methods must have one
    for the seventh; all of the seventh method's cases (slow ones too: host training, two-process training, the
    first step at two processes, the benchmark step) and every ``all_methods`` test run and pass. Nothing in
    tests/ or tools/ is edited for the new method."""
    root = tmp_path / 'repo'
    _copy_repository(root)
    _add_seventh_method(root)
    methods = load_model_index(str(root))
    new, = [m for m in methods if m.name == 'SeventhReID']
    old = [m.name for m in methods if m is not new]

    collected = _pytest(root, 'tests', '--collect-only', '-q')
    assert collected.returncode == 0, collected.stdout[-3000:] + collected.stderr[-3000:]
    test_ids = [line.strip() for line in collected.stdout.splitlines() if '::' in line]
    per_method = {f: seen for f, seen in _cases_by_method(test_ids, methods).items() if set(old) <= seen}
    assert len(per_method) >= 12, sorted(per_method)  # the per-method tests were recognised
    missed = sorted(f for f, seen in per_method.items() if new.name not in seen)
    assert not missed, f'tests with a case for every method but the new one: {missed}'
    own = [i for i in test_ids if '[' in i and 'seventh' in i.lower()]

    this_test = test_a_new_method_in_a_copy_passes_every_glob_driven_test.__name__
    run = _pytest(root, 'tests', '-v', '-k', f'(seventh or {EVERY_METHOD_MARK}) and not {this_test}')
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-3000:]
    passed = {line.split(' PASSED')[0] for line in run.stdout.splitlines() if ' PASSED' in line}
    assert set(own) <= passed, sorted(set(own) - passed)
    every_method = passed - set(own)  # what the keyword selected by its mark
    assert len(every_method) >= 8, sorted(every_method)
