"""The README demo end to end: train, test from checkpoint, 2-process gloo training and evaluation.

Exact resume is tested in tests/reliability/test_exact_resume.py.
"""
import json
import os.path as osp

import pytest

from tests.helpers import REPO, assert_demo_learned, launcher_port, read_scalars, run_tool

CONFIG = osp.join(REPO, 'configs', 'demo', 'baseline_market1501_demo.py')
TRAIN, TEST = osp.join(REPO, 'tools', 'train.py'), osp.join(REPO, 'tools', 'test.py')
CHANCE_R1 = 100.0 / 30  # about 30 test identities in the demo Market-1501


@pytest.fixture(scope='module')
def trained(demo_root):
    work_dir = demo_root / 'work_dirs' / 'baseline'
    run_tool(demo_root, TRAIN, CONFIG, '--work-dir', str(work_dir))
    return work_dir


@pytest.mark.slow
def test_training_loss_decreases_and_r1_above_chance(trained):
    records = read_scalars(trained)
    assert_demo_learned(records)
    r1 = [r['R1'] for r in records if 'R1' in r]
    assert r1 and r1[-1] > 5 * CHANCE_R1


@pytest.mark.slow
def test_test_tool_reproduces_logged_metrics(trained, demo_root):
    ckpt = open(trained / 'last_checkpoint').read().strip()
    out = trained / 'test_metrics.json'
    run_tool(demo_root, TEST, CONFIG, ckpt, '--work-dir', str(trained / 'test'), '--out', str(out))
    tested = json.load(open(out))
    logged = [r for r in read_scalars(trained) if 'R1' in r][-1]
    for key in ('R1', 'mAP', 'mINP'):
        assert tested[key] == pytest.approx(logged[key], abs=1e-3)


@pytest.mark.slow
def test_two_process_gloo_training_and_evaluation_match_single_process(trained, demo_root):
    work_dir = demo_root / 'work_dirs' / 'baseline_dist'
    env = dict(PORT=launcher_port())
    run_tool(demo_root, osp.join(REPO, 'tools', 'dist_train.sh'), CONFIG, '2', '--work-dir', str(work_dir),
             '--cfg-options', 'train_cfg.max_epochs=1', env=env)
    ckpt = str(work_dir / 'epoch_1.pth')
    single, dist = work_dir / 'single.json', work_dir / 'dist.json'
    run_tool(demo_root, TEST, CONFIG, ckpt, '--work-dir', str(work_dir / 't1'), '--out', str(single))
    run_tool(demo_root, osp.join(REPO, 'tools', 'dist_test.sh'), CONFIG, ckpt, '2',
             '--work-dir', str(work_dir / 't2'), '--out', str(dist), env=env)
    a, b = json.load(open(single)), json.load(open(dist))
    for key in ('R1', 'R5', 'mAP', 'mINP'):
        assert a[key] == pytest.approx(b[key], abs=1e-4)


MULTI_SOURCE = osp.join(REPO, 'configs', 'demo', 'baseline_multi_source_demo.py')
SINGLE_SET = """_base_ = [{base!r}]
model = dict(num_classes=30)  # the checkpoint's classifier (the baseline demo); not used by the test features
test_dataloader = dict(dataset=dict(_delete_=True, split='test', pipeline=_base_.test_pipeline, **{source!r}))
test_evaluator = dict(_delete_=True, type='ReIDMetric', protocol='market')
"""


@pytest.mark.slow
def test_multi_set_table_gives_each_set_the_numbers_of_its_single_set_test(trained, demo_root, monkeypatch):
    """The three test sets of the multi-source demo in one run = three single-set runs of the same checkpoint."""
    from mmengine.config import Config

    from tests.helpers import load_tool
    test_tool = load_tool('test')
    monkeypatch.chdir(demo_root)
    ckpt = open(trained / 'last_checkpoint').read().strip()
    out = trained / 'multi_set.json'
    test_tool.main([MULTI_SOURCE, ckpt, '--work-dir', str(trained / 'multi'), '--out', str(out),
                    '--cfg-options', 'model.num_classes=30'])
    table = {k: v for k, v in json.load(open(out)).items() if '/' in k}  # --out also records model_selection
    sources = Config.fromfile(MULTI_SOURCE).test_dataloader.dataset.datasets
    names = ['market1501', 'dukemtmc-reid', 'cuhk03-np']
    assert sorted(table) == sorted(f'{n}/{k}' for n in names + ['mean']
                                   for k in ('R1', 'R5', 'R10', 'R20', 'mAP', 'mINP'))
    for name, source in zip(names, sources):
        config = trained / f'single_{name}.py'
        config.write_text(SINGLE_SET.format(base=MULTI_SOURCE, source=source.to_dict()))
        single = test_tool.main([str(config), ckpt, '--work-dir', str(trained / name)])
        for key, value in single.items():
            assert table[f'{name}/{key}'] == pytest.approx(value, abs=1e-6), (name, key)
    for key in ('R1', 'mAP'):
        assert table[f'mean/{key}'] == pytest.approx(sum(table[f'{n}/{key}'] for n in names) / 3)
    assert table['market1501/R1'] > 5 * CHANCE_R1  # trained on it (at another image size)
