"""Train and test one config over several seeds and/or RegDB trials; write one table with mean ± std and the paper.

Usage:
    python tools/sweep.py CONFIG --seeds 0 1 2 [--work-dir DIR] [--cfg-options k=v ...]
    python tools/sweep.py configs/cal_regdb.py --trials 1-10 [--seeds 0] [--gpus 4]

Each run (a seed, a trial, or a pair of both) trains with ``tools/train.py`` (``tools/dist_train.sh`` with
``--gpus N`` > 1; ``--launcher`` is passed on) in its own work dir ``DIR/<run>``, then tests the checkpoint its
config's ``model_selection`` names (the best on val, or the last) with ``tools/test.py``. A finished run leaves
``DIR/<run>/sweep_result.json`` and is never trained again; a run with checkpoints but no result (preempted,
killed) continues with ``--resume`` (preemption: exit code 75, see README "Reliability"): run the same command
again. A failed run is a row marked ``failed`` with its error and is left out of the mean. The table (every run,
mean ± sample std with n, the paper's number from the config's metafile entry) is written to ``DIR/sweep.md`` and
``DIR/sweep.json`` and printed. Exit status: 0 when every run finished, 75 when a run was preempted (run the
command again), 1 otherwise.
"""
import argparse
import glob
import json
import os
import os.path as osp
import subprocess
import sys
import time

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..'))
sys.path.insert(0, REPO)

RESULT_FILE = 'sweep_result.json'


def parse_trials(tokens):
    """``['1-10']``, ``['1', '3']``, ``['1,3,5']`` -> sorted unique ints."""
    trials = []
    for token in ','.join(tokens or []).split(','):
        token = token.strip()
        if not token:
            continue
        first, _, last = token.partition('-')
        if not first.isdigit() or (last and not last.isdigit()):
            raise argparse.ArgumentTypeError(f'--trials {token!r}: expected N, N-M or N,M,...')
        trials += list(range(int(first), int(last or first) + 1))
    return sorted(set(trials))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='config file path')
    parser.add_argument('--seeds', nargs='+', type=int, help='randomness.seed of each run')
    parser.add_argument('--trials', nargs='+', help='RegDB trials (splits), e.g. 1-10 or 1 2 3')
    parser.add_argument('--work-dir', help='the folder of the runs (default: work_dirs/sweep_<config name>)')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='overrides of every run, passed to tools/train.py and tools/test.py')
    parser.add_argument('--gpus', type=int, default=1, help='processes per run (tools/dist_train.sh when > 1)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='passed to tools/train.py and tools/test.py (the sweep runs inside that job)')
    args = parser.parse_args(argv)
    for entry in args.cfg_options:
        if '=' not in entry:
            from plugins.core.utils.config import OPTION_SYNTAX  # not for --help: the plugin imports torch
            parser.error(f'--cfg-options: `{entry}` is not key=value; {OPTION_SYNTAX}')
    try:
        args.trial_list = parse_trials(args.trials)
    except argparse.ArgumentTypeError as error:
        parser.error(str(error))
    if args.gpus < 1:
        parser.error('--gpus must be >= 1')
    return args


if __name__ == '__main__':
    parse_args()  # --help and usage errors answer here, before torch and the plugin are imported

from mmengine.config import Config  # noqa: E402

from plugins.core.evaluation.sweep_table import DONE, FAILED, PREEMPTED, sweep_table  # noqa: E402
from plugins.core.hooks.model_selection_hook import model_selection_rule  # noqa: E402
from plugins.core.hooks.preemption_hook import PREEMPTED_EXIT_CODE  # noqa: E402
from plugins.core.utils import atomic_write, merge_cfg_options  # noqa: E402
from plugins.core.utils.config import _datasets_of, parse_option_value  # noqa: E402


def trial_options(cfg, trial):
    """``{'<loader>.dataset[...].trial': trial}`` for every data set of ``cfg`` that takes a ``trial`` (RegDB)."""
    options = {f'{path}.trial': trial for name in cfg.keys() if name.endswith('_dataloader')
               and isinstance(cfg[name], dict)
               for path, ds in _datasets_of(cfg[name].get('dataset'), f'{name}.dataset') if 'trial' in ds}
    if not options:
        raise SystemExit(f'sweep: {cfg.filename} has no data set with a `trial` (RegDB\'s 10 splits, e.g. '
                         f'configs/cal_regdb.py); --trials applies to those')
    if 'trial' in cfg:  # the config variable, kept consistent with the loaders in the dumped config
        options['trial'] = trial
    return options


def plan_runs(cfg, args):
    """``[(name, seed, trial, {cfg-option: value})]``: the product of seeds and trials."""
    seeds = args.seeds if args.seeds else [None]
    trials = args.trial_list or [None]
    runs = []
    for trial in trials:
        for seed in seeds:
            options, parts = {}, []
            if seed is not None:
                options['randomness.seed'], parts = seed, parts + [f'seed{seed}']
            if trial is not None:
                options.update(trial_options(cfg, trial))
                parts.append(f'trial{trial}')
            runs.append(('_'.join(parts) or f'seed{cfg.get("randomness", {}).get("seed", 0)}', seed, trial, options))
    if len({name for name, *_ in runs}) != len(runs):
        raise SystemExit('sweep: --seeds / --trials name the same run twice')
    return runs


def _python(tool):
    return [sys.executable, osp.join(REPO, 'tools', tool)]


def train_command(args, work_dir, options, resume):
    extra = ['--work-dir', work_dir] + (['--resume'] if resume else []) + _cfg_options(args, options)
    if args.gpus > 1 and args.launcher == 'none':
        return ['bash', osp.join(REPO, 'tools', 'dist_train.sh'), args.config, str(args.gpus)] + extra
    return _python('train.py') + [args.config] + extra + ['--launcher', args.launcher]


def test_command(args, checkpoint, work_dir, out, options):
    extra = ['--work-dir', osp.join(work_dir, 'test'), '--out', out] + _cfg_options(args, options)
    if args.gpus > 1 and args.launcher == 'none':
        return ['bash', osp.join(REPO, 'tools', 'dist_test.sh'), args.config, checkpoint, str(args.gpus)] + extra
    return _python('test.py') + [args.config, checkpoint] + extra + ['--launcher', args.launcher]


def _cfg_options(args, options):
    entries = list(args.cfg_options) + [f'{k}={v}' for k, v in options.items()]
    return ['--cfg-options'] + entries if entries else []


def _run(cmd, log_path):
    """Run ``cmd`` with its output in ``log_path``; returns (exit status, the last lines of the output)."""
    with open(log_path, 'a') as log:
        log.write(f'\n$ {" ".join(cmd)}\n')
        log.flush()
        status = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=os.getcwd())
    with open(log_path) as log:
        tail = log.read()[-4000:]
    return status, tail


def _last_error(tail):
    lines = [line for line in tail.strip().splitlines() if line.strip()]
    errors = [line for line in lines if 'Error' in line or 'error:' in line]
    return (errors or lines or ['no output'])[-1].strip()


def tested_checkpoint(cfg, work_dir):
    """The checkpoint the rule of ``cfg`` names in ``work_dir``: ``best_*.pth`` ('val' / 'test'), else the last."""
    rule = model_selection_rule(cfg)
    if rule in ('val', 'test') and cfg.get('val_cfg') is not None:
        best = sorted(glob.glob(osp.join(work_dir, 'best_*.pth')))
        if len(best) != 1:
            raise RuntimeError(f'model_selection={rule!r}: expected one best_*.pth in {work_dir}, found {best}')
        return best[0]
    marker = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(marker):
        raise RuntimeError(f'{work_dir}: training wrote no last_checkpoint')
    with open(marker) as f:
        return f.read().strip()


def read_result(work_dir):
    path = osp.join(work_dir, RESULT_FILE)
    if not osp.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def write_json(path, obj):
    with atomic_write(path, 'w') as f:
        json.dump(obj, f, indent=2)


def run_one(args, cfg, name, seed, trial, options, root):
    """Train (or resume) and test one run; returns its record (also written as ``<work dir>/sweep_result.json``
    when it finished)."""
    work_dir = osp.join(root, name)
    record = dict(name=name, seed=seed, trial=trial, work_dir=work_dir, cfg_options=list(args.cfg_options))
    done = read_result(work_dir)
    if done is not None and done.get('status') == DONE:
        if done.get('cfg_options') != record['cfg_options']:
            raise SystemExit(f'sweep: {work_dir} finished with --cfg-options {done.get("cfg_options")}, not '
                             f'{record["cfg_options"]}; use another --work-dir for other options')
        print(f'[{name}] finished before: {osp.join(work_dir, RESULT_FILE)} (not trained again)', flush=True)
        return dict(done, reused=True)
    os.makedirs(work_dir, exist_ok=True)
    resume = osp.isfile(osp.join(work_dir, 'last_checkpoint'))
    print(f'[{name}] {"resuming" if resume else "training"} in {work_dir} (log: sweep_train.log)', flush=True)
    start = time.time()
    status, tail = _run(train_command(args, work_dir, options, resume), osp.join(work_dir, 'sweep_train.log'))
    if status == PREEMPTED_EXIT_CODE:
        return dict(record, status=PREEMPTED, error=f'stopped by a signal (exit {status}); run the sweep again '
                    f'to resume it')
    if status != 0:
        return dict(record, status=FAILED, error=f'training exit {status}: {_last_error(tail)}')
    try:
        checkpoint = tested_checkpoint(cfg, work_dir)
    except RuntimeError as error:
        return dict(record, status=FAILED, error=str(error))
    out = osp.join(work_dir, 'test_metrics.json')
    print(f'[{name}] testing {checkpoint}', flush=True)
    status, tail = _run(test_command(args, checkpoint, work_dir, out, options), osp.join(work_dir, 'sweep_test.log'))
    if status != 0 or not osp.isfile(out):
        return dict(record, status=FAILED, error=f'test exit {status}: {_last_error(tail)}')
    with open(out) as f:
        tested = json.load(f)
    metrics = {k: v for k, v in tested.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    record.update(status=DONE, checkpoint=checkpoint, metrics=metrics,
                  model_selection=tested.get('model_selection'), seconds=round(time.time() - start, 1))
    write_json(osp.join(work_dir, RESULT_FILE), record)
    print(f'[{name}] ' + ', '.join(f'{k} {v:.2f}' for k, v in metrics.items()), flush=True)
    return record


def is_main_process():
    return int(os.environ.get('RANK', os.environ.get('SLURM_PROCID', '0'))) == 0


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    merge_cfg_options(cfg, {k: parse_option_value(v) for k, v in (e.split('=', 1) for e in args.cfg_options)})
    root = args.work_dir or osp.join('work_dirs', 'sweep_' + osp.splitext(osp.basename(args.config))[0])
    runs = plan_runs(cfg, args)
    print(f'sweep: {len(runs)} run(s) of {args.config} under {root}: {", ".join(r[0] for r in runs)}; '
          f'model selection: {model_selection_rule(cfg)}', flush=True)
    records = []
    for name, seed, trial, options in runs:
        records.append(run_one(args, cfg, name, seed, trial, options, root))
        if records[-1]['status'] == PREEMPTED:
            print(f'[{name}] {records[-1]["error"]}', flush=True)
            break
    records += [dict(name=name, seed=seed, trial=trial, status='pending', error='not run (the sweep stopped)')
                for name, seed, trial, _ in runs[len(records):]]
    result = sweep_table(args.config, records)
    if is_main_process():
        os.makedirs(root, exist_ok=True)
        with atomic_write(osp.join(root, 'sweep.md'), 'w') as f:
            f.write(f'# Sweep of `{args.config}`\n\n' + result['markdown'])
        write_json(osp.join(root, 'sweep.json'), dict(result['json'], cfg_options=list(args.cfg_options)))
        print('\n' + result['markdown'] + f'\nwritten: {osp.join(root, "sweep.md")}, {osp.join(root, "sweep.json")}',
              flush=True)
    if any(r['status'] == PREEMPTED for r in records):
        return PREEMPTED_EXIT_CODE
    return 0 if all(r['status'] == DONE for r in records) else 1


if __name__ == '__main__':
    sys.exit(main())
