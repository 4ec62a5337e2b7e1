"""tools/sweep.py: seeds and RegDB trials of one config, one table (every run, mean ± sample std with n, the
paper's number), a finished run never trained again, a failed run listed and left out of the mean."""
import json
import os
import os.path as osp
import statistics

import pytest
from mmengine.config import Config

from plugins.core.evaluation.sweep_table import summarize, sweep_table
from tests.helpers import REPO, cfg_option_args, data_root_options, demo_config, load_tool, tiny_options

CAL_REGDB = osp.join(REPO, 'configs', 'cal_regdb.py')


def _runs(*values, failed=()):
    runs = [dict(name=f'seed{i}', status='done', metrics=dict(R1=r1, mAP=m)) for i, (r1, m) in enumerate(values)]
    return runs + [dict(name=name, status='failed', error='training exit 1: ValueError: boom') for name in failed]


def test_summary_is_mean_and_sample_std_of_finished_runs_only():
    runs = _runs((90.0, 80.0), (92.0, 83.0), (97.0, 86.0), failed=['seed3'])
    summary = summarize(runs)
    assert summary['R1']['n'] == 3 and summary['R1']['mean'] == pytest.approx(93.0)
    assert summary['R1']['std'] == pytest.approx(statistics.stdev([90.0, 92.0, 97.0]))  # ddof=1: 3.6056
    assert summary['mAP']['std'] == pytest.approx(3.0)
    assert summarize(_runs((90.0, 80.0)))['R1']['std'] is None  # one run: no spread, not 0


def test_table_lists_every_run_the_failed_one_apart_and_the_papers_row():
    runs = _runs((93.0, 87.0), (95.0, 89.5), failed=['seed2'])
    result = sweep_table(CAL_REGDB, runs)
    rows = result['markdown'].splitlines()
    assert rows[0] == '| run | status | R1 | mAP |'
    assert rows[2] == '| seed0 | done | 93.00 | 87.00 |'
    assert rows[4] == '| seed2 | failed: training exit 1: ValueError: boom | - | - |'
    assert rows[5] == '| mean ± std | n=2 | 94.00 ± 1.41 | 88.25 ± 1.77 |'  # seed2 not averaged in
    assert rows[6] == '| paper | - | 94.50 | 88.70 |'  # configs/cal/metafile.yml, cal_regdb
    assert rows[7] == '| mean - paper | - | -0.50 | -0.45 |'
    assert '- not averaged: seed2 (1 run(s) not finished, see their rows)' in rows
    doc = json.loads(json.dumps(result['json']))
    assert doc['failed'] == ['seed2'] and doc['summary']['R1']['n'] == 2 and doc['paper'] == {'R1': 94.5, 'mAP': 88.7}


def test_trials_set_every_regdb_loader_and_are_refused_elsewhere():
    sweep = load_tool('sweep')
    assert sweep.parse_trials(['1-3', '7']) == [1, 2, 3, 7] and sweep.parse_trials(['2,4']) == [2, 4]
    args = sweep.parse_args([CAL_REGDB, '--trials', '1-2', '--seeds', '0', '5'])
    runs = sweep.plan_runs(Config.fromfile(CAL_REGDB), args)
    assert [r[0] for r in runs] == ['seed0_trial1', 'seed5_trial1', 'seed0_trial2', 'seed5_trial2']
    assert runs[3][3] == {'randomness.seed': 5, 'train_dataloader.dataset.trial': 2, 'trial': 2,
                          'val_dataloader.dataset.trial': 2, 'test_dataloader.dataset.trial': 2}
    market = Config.fromfile(osp.join(REPO, 'configs', 'baseline_market1501.py'))
    with pytest.raises(SystemExit, match='has no data set with a `trial`'):
        sweep.plan_runs(market, sweep.parse_args([market.filename, '--trials', '1-10']))


def test_launchers_get_the_run_options():
    sweep = load_tool('sweep')
    args = sweep.parse_args([CAL_REGDB, '--gpus', '4', '--cfg-options', 'train_cfg.max_epochs=2'])
    cmd = sweep.train_command(args, 'w/seed0', {'randomness.seed': 0}, resume=True)
    assert cmd[:2] == ['bash', osp.join(REPO, 'tools', 'dist_train.sh')] and cmd[2:4] == [CAL_REGDB, '4']
    assert cmd[4:] == ['--work-dir', 'w/seed0', '--resume', '--cfg-options', 'train_cfg.max_epochs=2',
                       'randomness.seed=0']
    args = sweep.parse_args([CAL_REGDB, '--launcher', 'slurm'])
    cmd = sweep.test_command(args, 'w/best.pth', 'w', 'w/out.json', {})
    assert cmd[1:] == [osp.join(REPO, 'tools', 'test.py'), CAL_REGDB, 'w/best.pth', '--work-dir',
                       osp.join('w', 'test'), '--out', 'w/out.json', '--launcher', 'slurm']


@pytest.mark.slow
def test_demo_sweep_two_seeds_then_resume_trains_nothing_then_a_failed_run(demo, tmp_path, capsys, monkeypatch):
    """Two seeds of one epoch (the demo's tiny model); again: nothing trained; a broken third run: listed as
    failed, the mean stays the two finished runs'."""
    monkeypatch.setenv('OMP_NUM_THREADS', '1')  # the runs are subprocesses: one thread each on the CI's 2 cores
    config = demo_config(data='market1501', tiny=True)
    root = tmp_path / 'sweep'
    options = ['train_cfg.max_epochs=1', 'train_cfg.val_interval=2', *cfg_option_args(tiny_options(config)),
               *data_root_options(demo / 'market1501')]
    sweep = load_tool('sweep')
    assert sweep.main([config, '--seeds', '0', '1', '--work-dir', str(root), '--cfg-options', *options]) == 0
    first = json.load(open(root / 'sweep.json'))
    assert [(r['name'], r['status']) for r in first['runs']] == [('seed0', 'done'), ('seed1', 'done')]
    r1 = [r['metrics']['R1'] for r in first['runs']]
    assert r1[0] != r1[1]  # the seeds made two different runs
    assert first['summary']['R1'] == pytest.approx(dict(mean=sum(r1) / 2, std=statistics.stdev(r1), n=2))
    assert all(r['model_selection']['rule'] == 'last' for r in first['runs'])
    logs = {name: os.stat(root / name / 'sweep_train.log').st_mtime_ns for name in ('seed0', 'seed1')}
    capsys.readouterr()

    # a third run whose checkpoint is broken (resume fails before training): failed, not averaged in
    os.makedirs(root / 'seed2')
    (root / 'seed2' / 'epoch_1.pth').write_bytes(b'')
    (root / 'seed2' / 'last_checkpoint').write_text(str(root / 'seed2' / 'epoch_1.pth'))
    assert sweep.main([config, '--seeds', '0', '1', '2', '--work-dir', str(root), '--cfg-options', *options]) == 1
    out = capsys.readouterr().out
    assert out.count('finished before') == 2 and '[seed0] training' not in out and '[seed1] training' not in out
    assert {n: os.stat(root / n / 'sweep_train.log').st_mtime_ns for n in logs} == logs  # nothing retrained
    second = json.load(open(root / 'sweep.json'))
    assert second['failed'] == ['seed2'] and second['runs'][2]['status'] == 'failed'
    assert 'epoch_1.pth' in second['runs'][2]['error']  # the error names the broken checkpoint
    assert second['summary'] == first['summary']
    table = open(root / 'sweep.md').read()
    assert '| seed2 | failed: training exit 1' in table and '| mean ± std | n=2 |' in table
