"""The methods' OpenMMLab metafiles (model-index.yml -> configs/<method>/metafile.yml, plugins/core/metafile.py).

Every config is named by exactly one metafile entry and every entry names a config that exists; the paper's
batch and lr stated there are what the config trains at one process; the published numbers are the docs'; a
malformed metafile stops with the file and the key. The last test adds a seventh method to a copy of the
repository (package, published config, demo config, metafile, one import line) and runs the metafile-driven
tests there: they see it without a change to any test or tool.
"""
import glob
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import textwrap

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


def test_every_config_is_named_by_exactly_one_metafile_entry():
    named = [m.config for m in MODELS] + [m.demo.config for m in demo_models(METHODS)]
    on_disk = _relative_configs() + _relative_configs('demo')
    assert len(on_disk) >= 24  # the globs found the configs (16 published + 8 demos when this was written)
    missing = sorted(set(on_disk) - set(named))
    assert not missing, f'configs named by no metafile entry (add them to configs/<method>/metafile.yml): {missing}'
    assert sorted(named) == sorted(on_disk)  # each exactly once, and no entry names a config that is not there


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
        assert model.demo.data in DEMO_DATA_SETS, f'{model.metafile}: Models ({model.name}).Demo.Data'
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
    if sources:  # a hub id (transformers) is written as its page: https://huggingface.co/<id>
        assert any(model.pretrained == s or model.pretrained == f'https://huggingface.co/{s}' for s in sources), \
            (model.pretrained, sources)


def _numbers(text):
    return {float(n) for n in re.findall(r'(?<![\w.])\d+\.\d+|(?<![\w.])\d+(?![\w.])', text)}


def test_published_numbers_are_the_docs_numbers():
    """Every metric of the metafiles is a number docs/reproduce.md gives (its "Expected" lines)."""
    with open(osp.join(REPO, 'docs', 'reproduce.md')) as f:
        expected = _numbers(' '.join(line for line in f if 'Expected' in line or 'R1' in line))
    metrics = [(m.name, k, v) for m in MODELS for r in m.results for k, v in r['Metrics'].items()]
    assert len(metrics) >= 30
    assert not [x for x in metrics if float(x[2]) not in expected], 'metafile numbers not in docs/reproduce.md'


def test_readme_demo_column_shows_the_metafiles_chance():
    with open(osp.join(REPO, 'README.md')) as f:
        rows = [line for line in f if line.startswith('|')]
    for model in demo_models(METHODS):
        row = [r for r in rows if f'`{model.demo.name}`' in r and '(' in r]
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
    Demo:
      Config: configs/demo/seventh_market1501_demo.py
      Data: market1501
      Chance R1: 3.3
    Benchmark:
      Target: 2.0
      Test Feature Modules: [stem, neck]
      Training-Only Modules: [classifier]
'''
#: test file -> the test functions that must have run on the seventh method (their ids name it)
SEEN_BY = {
    'tests/core/test_published_batch.py': ['test_published_config_trains_the_paper_batch_at_any_world_size',
                                           'test_demo_total_batch_and_lr_do_not_move_with_the_world_size',
                                           'test_train_tool_auto_scale_lr_flag'],
    'tests/core/test_metafiles.py': ['test_entry_names_an_existing_config_of_its_method',
                                     'test_metadata_is_what_the_config_trains_at_one_process'],
    'tests/ecosystem/test_host_launcher.py': ['test_distributed_backend_is_one_torch_knows',
                                              'test_published_config_builds_with_runner_from_cfg'],
    'tests/ecosystem/test_export_onnx.py': ['test_export_matches_pytorch', 'test_image_extractor_equals_predict',
                                            'test_a_method_brings_its_own_wrapper_from_its_package',
                                            'test_image_only_model_has_no_text_tower'],
    'tests/core/test_benchmark_tool.py': ['test_reference_pass_reaches_exactly_the_test_feature_modules'],
    'tests/core/models/test_base_model.py': ['test_tensor_mode_is_one_format_for_every_method'],
}
#: the method-independent checks that must pass with the seventh method in place (coverage, the tool's default)
ALSO_RUN = ['test_every_config_is_named_by_exactly_one_metafile_entry', 'test_every_metafile_is_imported',
            'test_every_config_is_covered', 'test_published_cases_are_reid_models_with_a_demo_twin']
#: slow tests (not run here): collected with the seventh method's id
COLLECTED_BY = {'tests/reliability/test_distributed_methods.py': 'test_two_process_training_and_evaluation',
                'tests/ecosystem/test_host_launcher.py': 'test_demo_trains_one_epoch_with_the_host_train_tool',
                'tests/reliability/test_first_step_world_size.py': 'test_two_processes_take_the_one_process_first_step',
                'tests/core/test_benchmark_tool.py': 'test_train_section_steps_every_demo_config_with_its_real_hooks'}


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
    env = dict(os.environ, PYTHONPATH=str(root), OMP_NUM_THREADS='1')
    return subprocess.run([sys.executable, '-m', 'pytest', '-p', 'no:cacheprovider', *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=1200)


@pytest.mark.slow
def test_a_seventh_method_is_seen_by_every_metafile_driven_test(tmp_path):
    """Runs, in the copy: the seventh method's cases of SEEN_BY (``-k seventh``) and the ALSO_RUN checks, then
    collects the slow tests of COLLECTED_BY; nothing in tests/ or tools/ was edited for the new method."""
    root = tmp_path / 'repo'
    _copy_repository(root)
    _add_seventh_method(root)
    selection = ' or '.join(['seventh'] + ALSO_RUN)
    run = _pytest(root, *SEEN_BY, '-v', '-m', 'not slow', '-k', selection, '-x')
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    passed = [line.split(' PASSED')[0] for line in run.stdout.splitlines() if ' PASSED' in line]
    for path, tests in SEEN_BY.items():
        for test in tests:
            assert any(p.startswith(f'{path}::{test}[') and 'seventh' in p.lower() for p in passed), \
                (path, test, textwrap.shorten(' '.join(passed), 3000))
    for test in ALSO_RUN:
        assert any(f'::{test}' in p for p in passed), test

    collected = _pytest(root, *COLLECTED_BY, '--collect-only', '-q')
    assert collected.returncode == 0, collected.stdout[-3000:] + collected.stderr[-3000:]
    for path, test in COLLECTED_BY.items():
        assert any(line.startswith(f'{path}::{test}[') and 'seventh' in line.lower()
                   for line in collected.stdout.splitlines()), (path, test, collected.stdout[-2000:])
