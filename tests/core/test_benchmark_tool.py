"""plugins/core/benchmark and tools/benchmark.py: the reference pass of every method is the forward + backward of
its test features (the model contract) on every input of the batch its loss reads, the timing loop measures the
config's custom hooks inside the step, the loader section runs on its own, and the report is written only when
asked."""
import argparse
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from mmpretrain.registry import MODELS

import plugins  # noqa: F401
from plugins.core.benchmark import RunState, TrainCase
from plugins.core.benchmark.loader import loader_section
from plugins.core.benchmark.train import case_config, caption_keys, keys_read_by_loss, reference_outputs, time_case
from plugins.core.metafile import benchmark_models, load_model_index
from plugins.core.models import BaseReIDModel
from tests.helpers import REPO, demo_config, load_tool, make_demo_data

#: the benchmark model of each method (configs/<method>/metafile.yml, ``Benchmark:``): its demo twin (same model
#: class, small and fast) is what the reference-pass test builds; ``Test Feature Modules`` are the top-level
#: modules whose parameters the test features depend on, ``Training-Only Modules`` the rest (ID classifiers, the
#: Siamese head, the MLM branch), ``Captions Read`` the caption inputs its loss reads (every text-image batch also
#: carries weak_text)
BENCHMARKED = benchmark_models(load_model_index(REPO))
BENCHMARK_OF_DEMO = {model.demo.config: model.benchmark for model in BENCHMARKED}


@pytest.fixture(scope='module')
def args(tmp_path_factory):
    root = tmp_path_factory.mktemp('benchmark') / 'demo'
    make_demo_data(root, *sorted({d for model in BENCHMARKED for d in model.demo.data_sets}))
    return argparse.Namespace(demo_root=str(root), quick=True, seed=0, train_cases=[])


@pytest.mark.all_methods
def test_published_cases_are_reid_models_with_a_demo_twin():
    tool = load_tool('benchmark')
    published = tool.parse_args([]).train_cases
    assert [(c.config, c.target) for c in published] == [(osp.join(REPO, m.config), m.benchmark.target)
                                                         for m in BENCHMARKED]
    for case, model in zip(published, BENCHMARKED):
        model_type = Config.fromfile(case.config).model.type
        assert issubclass(MODELS.get(model_type), BaseReIDModel), case.config
        assert Config.fromfile(osp.join(REPO, model.demo.config)).model.type == model_type, case.config


@pytest.mark.parametrize('config', sorted(BENCHMARK_OF_DEMO))
def test_reference_pass_reaches_exactly_the_test_feature_modules(args, tmp_path, config):
    spec = BENCHMARK_OF_DEMO[config]
    cfg = case_config(args, TrainCase(osp.join(REPO, config)), 8, 0, str(tmp_path))
    model = MODELS.build(cfg.model)
    model.train()
    # the metafile names every top-level module with parameters once: test feature or training only
    modules = {name.split('.')[0] for name, _ in model.named_parameters()}
    assert sorted(spec.test_feature_modules + spec.training_only_modules) == sorted(modules), config
    batch = next(iter(Runner.build_dataloader(cfg.train_dataloader, seed=0)))
    data = model.data_preprocessor(batch, True)
    used = keys_read_by_loss(model, data)
    assert 'img' in used
    captions = sorted(caption_keys(data['inputs'], used))
    assert captions == sorted(spec.captions_read)
    assert model.has_text_tower == bool(captions)
    outs = reference_outputs(model, data['inputs'], data['data_samples'], used)
    assert len(outs) == 1 + len(captions)  # one output per image / caption input the loss reads
    assert all(out.shape[0] == len(batch['data_samples']) for out in outs)
    sum(out.float().mean() for out in outs).backward()
    reached = {name.split('.')[0] for name, p in model.named_parameters()
               if p.grad is not None and bool(p.grad.abs().sum() > 0)}
    assert reached == set(spec.test_feature_modules)
    assert not reached & set(spec.training_only_modules)


def test_time_case_times_step_reference_and_custom_hooks(args, tmp_path):
    config = demo_config(text=False, where=lambda cfg: bool(cfg.get('custom_hooks')))  # image-only, with hooks
    case = TrainCase(config)
    result = time_case(args, case, 8, 1, str(tmp_path))
    assert 0 < result['reference'] and 0 < result['step']
    assert result['reference_pass'] == '`embed_image` on img'
    assert result['hooks'] == [h['type'] for h in Config.fromfile(config).custom_hooks]
    # the hooks see the last epoch, where every epoch-scheduled callback is on: some time, far less than a step
    assert 0 < result['hook_seconds'] < result['step']


def test_loader_section_alone_measures_the_model_step(args):
    """``--sections loader`` without ``train`` measured no model step and reported 'not run'."""
    run_args = argparse.Namespace(**vars(args))
    config = demo_config(text=False, data='market1501')
    cfg = Config.fromfile(config)
    run_args.train_cases = [TrainCase(config)]
    section = loader_section(run_args, RunState())
    (row, ) = section.rows
    assert row[0] == f'{cfg.model.type} (`{osp.basename(config)}`)' and row[1] == cfg.train_dataloader.batch_size
    loader_rate, model_rate = float(row[2]), float(row[3])
    assert loader_rate > 0 and model_rate > 0
    assert row[4] == f'{loader_rate / model_rate:.0f} x'


def test_report_is_written_only_with_out(tmp_path, monkeypatch):
    """``--quick`` used to overwrite the tracked docs/benchmark_quick.md; now only ``--out FILE`` writes."""
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)  # the gpu section then only reports 'not run'
    monkeypatch.chdir(tmp_path)
    tracked = osp.join(REPO, 'docs', 'benchmark_quick.md')
    before = open(tracked).read()
    tool = load_tool('benchmark')
    report = tool.main(['--quick', '--sections', 'gpu'])
    assert open(tracked).read() == before and not list(tmp_path.iterdir())
    assert report.startswith('# Benchmarks\n\nGenerated by `python tools/benchmark.py --quick`')
    assert '### GPU: training step in float32 and with AMP' in report
    out = tmp_path / 'reports' / 'quick.md'
    tool.main(['--quick', '--sections', 'gpu', '--out', str(out)])
    assert out.read_text().split('\n')[4:] == report.split('\n')[4:]  # same tables (the header has the time)


@pytest.mark.slow
def test_distributed_section_times_the_global_and_the_local_step_at_two_processes(args, tmp_path):
    """``--sections distributed``: 2 gloo processes time the step with the global-batch computations and
    inside ``local_computation`` (plain BatchNorm, per-rank losses); the ratio is of the two times."""
    from plugins.core.benchmark.distributed import GLOBAL_COST_TARGET, distributed_section
    from tests.toy_method.toy_reid import write_toy_config
    config = write_toy_config(tmp_path / 'toy_reid_market1501.py', osp.join(args.demo_root, 'market1501'))
    run_args = argparse.Namespace(**vars(args))
    run_args.train_cases = [TrainCase(str(config))]
    section = distributed_section(run_args, RunState())
    (row, ) = section.rows
    label, one, local, global_, ratio, target = row
    assert label == 'ToyReID (`toy_reid_market1501.py`)' and target == f'<= {GLOBAL_COST_TARGET}'
    assert all(float(t) > 0 for t in (one, local, global_))
    assert float(ratio.strip('*')) == pytest.approx(float(global_) / float(local), rel=0.05, abs=0.01)


@pytest.mark.slow
@pytest.mark.parametrize('config', sorted(glob.glob(osp.join(REPO, 'configs', 'demo', '*.py'))),
                         ids=lambda p: osp.splitext(osp.basename(p))[0])
def test_train_section_steps_every_demo_config_with_its_real_hooks(args, tmp_path, config):
    """The train section drives the config's own hooks through a real Runner: a hook that needs what a run has
    (the work dir, the data loaders: WordVocabularyHook) works as in training."""
    full_size = argparse.Namespace(**dict(vars(args), quick=False))  # the demo's own (small) input size
    result = time_case(full_size, TrainCase(config), 8, 1, str(tmp_path))
    assert 0 < result['reference'] and 0 < result['step']
    assert result['hooks'] == [h['type'].split('.')[-1] for h in Config.fromfile(config).get('custom_hooks', [])]
