"""tools/benchmark.py, training-step section: the reference pass of every method runs its encoders (and
nothing else) forward and backward, and the timing loop measures MatchDistill inside CAL's step."""
import argparse
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.runner import Runner
from mmpretrain.registry import MODELS

from tests.helpers import REPO, load_tool, make_demo_data

benchmark = load_tool('benchmark')

#: demo config of each published case (same model class, small and fast) -> modules the reference trains
DEMO_ENCODERS = {
    'configs/demo/baseline_market1501_demo.py': {'backbone'},
    'configs/demo/cal_sysu_demo.py': {'backbone'},
    'configs/demo/casn_pcb_market1501_demo.py': {'backbone'},
    'configs/demo/irra_cuhkpedes_demo.py': {'clip'},
    'configs/demo/ssan_cuhkpedes_demo.py': {'backbone', 'text_encoder'},
    'configs/demo/axmnet_cuhkpedes_demo.py': {'backbone', 'text_stem'},
}


@pytest.fixture(scope='module')
def args(tmp_path_factory):
    root = tmp_path_factory.mktemp('benchmark') / 'demo'
    make_demo_data(root, 'market1501', 'sysu-mm01', 'cuhk-pedes')
    return argparse.Namespace(demo_root=str(root), quick=False, seed=0)


def test_every_published_case_has_a_reference_pass_and_a_demo_twin():
    demo_types = {Config.fromfile(osp.join(REPO, c)).model.type for c in DEMO_ENCODERS}
    for case in benchmark.TRAIN_CASES:
        model_type = Config.fromfile(osp.join(REPO, case.config)).model.type
        assert model_type in benchmark.REFERENCE_PASSES, case.config
        assert model_type in demo_types, case.config


@pytest.mark.parametrize('config', sorted(DEMO_ENCODERS))
def test_reference_pass_reaches_exactly_the_encoders(args, tmp_path, config):
    cfg = benchmark.case_config(args, benchmark.TrainCase('demo', config, ''), 8, 0, str(tmp_path))
    model = MODELS.build(cfg.model)
    model.train()
    batch = next(iter(Runner.build_dataloader(cfg.train_dataloader, seed=0)))
    data = model.data_preprocessor(batch, True)
    outs = benchmark.REFERENCE_PASSES[type(model).__name__](model, data['inputs'], data['data_samples'])
    sum(out.float().mean() for out in outs).backward()
    reached = {name.split('.')[0] for name, p in model.named_parameters()
               if p.grad is not None and bool(p.grad.abs().sum() > 0)}
    assert reached == DEMO_ENCODERS[config]


def test_time_case_times_step_reference_and_match_distill(args, tmp_path):
    case = benchmark.TrainCase('CAL demo', 'configs/demo/cal_sysu_demo.py', '')
    best, hook_seconds = benchmark._time_case(args, case, 8, 1, str(tmp_path))
    assert set(best) == {'step', 'reference'}
    assert 0 < best['reference'] and 0 < best['step']
    # the hook's callbacks and the Hungarian matching it installs: some time, far less than the step
    assert 0 < hook_seconds < best['step']
