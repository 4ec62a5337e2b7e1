"""A refused start writes nothing (issue 33, items 1 and 5).

Each row starts a training the way a user would, with one mistake: the work dir in use by another run, an unknown
``--cfg-options`` key under a dict that a registered class builds, a missing ``_base_`` file, a ``--work-dir``
that is a regular file or lies under one, a wrong data root. The work dir holds what an earlier run left (config
copy, log folder, checkpoint, ``last_checkpoint``, ``.run.lock``); the row asserts the error (its type and the
fragments its message must name) and that the work dir is unchanged: the same names, modification times and
contents (it used to get a rewritten config copy and a new timestamped log folder before the lock refused it).
No row builds a model or reads an image: every refusal comes first.
"""
import hashlib
import os
import os.path as osp
import subprocess
import sys

import pytest

import plugins  # noqa: F401
from plugins.core.hooks.work_dir_lock_hook import WorkDirLockedError
from tests.helpers import LOCK_HOLDER, REPO, load_tool

BASELINE = osp.join(REPO, 'configs', 'demo', 'baseline_market1501_demo.py')
IRRA = osp.join(REPO, 'configs', 'demo', 'irra_cuhkpedes_demo.py')


def snapshot(folder):
    """{relative path: (kind, mtime_ns, sha1 of a file)} of everything under ``folder`` (and of ``folder``)."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in [''] + dirnames + filenames:
            path = osp.join(dirpath, name)
            stat = os.stat(path)
            digest = hashlib.sha1(open(path, 'rb').read()).hexdigest() if osp.isfile(path) else None
            state[osp.relpath(path, folder)] = (osp.isdir(path), stat.st_mtime_ns, digest)
    return state


def earlier_run(work):
    """What a (running or finished) training run leaves in its work dir."""
    (work / '20261207_101010' / 'vis_data').mkdir(parents=True)
    (work / '20261207_101010' / '20261207_101010.log').write_text('epoch 1 ...\n')
    (work / 'baseline_market1501_demo.py').write_text('# the running run\'s config copy\n')
    (work / 'epoch_1.pth').write_bytes(b'PK\x03\x04 weights')
    (work / 'last_checkpoint').write_text(str(work / 'epoch_1.pth'))
    (work / '.run.lock').write_text('{"pid": 1}')
    return work


def train(*argv):
    return load_tool('train').main([str(a) for a in argv])


def mmpretrain_train(config, work):
    """What mmpretrain's tools/train.py (and ``mim train``) do: ``RUNNERS.build(cfg)``, then ``train()``."""
    from mmengine.config import Config
    from mmengine.registry import RUNNERS
    cfg = Config.fromfile(config)
    cfg.work_dir = str(work)
    RUNNERS.build(cfg).train()


def missing_base_config(tmp):
    path = tmp / 'my_variant.py'
    path.write_text(f'# a variant\n_base_ = [{BASELINE!r},\n          "./my_schedule.py"]\n'
                    'train_cfg = dict(max_epochs=3)\n')
    return path


# (case, start(tmp, work), exception, fragments of the message; '{work}' the work dir, '{tmp}' the row's folder,
# '{holder}' the PID of the lock holder). `locked`: another process holds the work dir.
ROWS = [
    ('a second run (tools/train.py)', True, lambda tmp, work: train(BASELINE, '--work-dir', work),
     WorkDirLockedError, ['{work}', 'PID {holder}']),
    ('a second run (mmpretrain tools/train.py, mim train)', True, lambda tmp, work: mmpretrain_train(BASELINE, work),
     WorkDirLockedError, ['{work}', 'PID {holder}']),
    ('model.hed.num_classes=10 (baseline)', False,
     lambda tmp, work: train(BASELINE, '--work-dir', work, '--cfg-options', 'model.hed.num_classes=10'),
     KeyError, ['model.hed.num_classes', 'no `hed` under `model`', 'ReIDBaseline', 'num_classes']),
    ('model.hed.num_classes=10 (IRRA)', False,
     lambda tmp, work: train(IRRA, '--work-dir', work, '--cfg-options', 'model.hed.num_classes=10'),
     KeyError, ['model.hed.num_classes', 'no `hed` under `model`', 'IRRA']),
    ('model.backbone.depht=18 (a typo under a nested built dict)', False,
     lambda tmp, work: train(BASELINE, '--work-dir', work, '--cfg-options', 'model.backbone.depht=18'),
     KeyError, ['model.backbone.depht', 'Did you mean: model.backbone.depth?']),
    ('a missing _base_ file', False, lambda tmp, work: train(missing_base_config(tmp), '--work-dir', work),
     FileNotFoundError, ['{tmp}/my_variant.py', 'line 3', './my_schedule.py', '{tmp}/my_schedule.py']),
    ('--work-dir is a regular file', False, lambda tmp, work: train(BASELINE, '--work-dir', work / 'epoch_1.pth'),
     NotADirectoryError, ['--work-dir {work}/epoch_1.pth', 'is a file']),
    ('--work-dir under a regular file', False,
     lambda tmp, work: train(BASELINE, '--work-dir', work / 'last_checkpoint' / 'run2'),
     NotADirectoryError, ['--work-dir {work}/last_checkpoint/run2', '{work}/last_checkpoint is a file']),
    ('a wrong data root', False,
     lambda tmp, work: train(BASELINE, '--work-dir', work, '--cfg-options', f'data_root={tmp}/nowhere'),
     FileNotFoundError, ['{tmp}/nowhere']),
]


@pytest.mark.parametrize('case,locked,start,error,fragments', ROWS, ids=[row[0] for row in ROWS])
def test_a_refused_start_leaves_the_work_dir_unchanged(tmp_path, case, locked, start, error, fragments):
    work = earlier_run(tmp_path / 'work')
    holder = subprocess.Popen([sys.executable, '-c', LOCK_HOLDER, str(work), '.run.lock'], stdout=subprocess.PIPE,
                              text=True) if locked else None
    try:
        if holder is not None:
            assert holder.stdout.readline().strip() == 'locked'
        before = snapshot(work)
        with pytest.raises(error) as err:
            start(tmp_path, work)
    finally:
        if holder is not None:
            holder.kill()
            holder.wait()
    message = str(err.value)
    for fragment in fragments:
        expected = fragment.format(work=work, tmp=tmp_path, holder=holder.pid if holder else '')
        assert expected in message, f'{case}: {expected!r} not in {message!r}'
    assert snapshot(work) == before, f'{case}: the refused start changed the work dir'
    assert sorted(os.listdir(tmp_path)) == sorted(['work'] + (['my_variant.py'] if '_base_' in case else []))


@pytest.mark.parametrize('rank', ['0', '2'])
def test_a_config_error_of_a_multi_process_run_is_printed_once(tmp_path, monkeypatch, capsys, rank):
    """`dist_train.sh CFG 3` with a config error printed the traceback 3 times (121 lines): rank 0 raises it, the
    other ranks say one line each (tools/train.py ``run_on_rank``)."""
    monkeypatch.setenv('RANK', rank)
    monkeypatch.setenv('WORLD_SIZE', '3')
    monkeypatch.setattr(sys, 'argv', ['train.py', BASELINE, '--work-dir', str(tmp_path / 'work'), '--launcher',
                                      'pytorch', '--cfg-options', 'model.hed.num_classes=10'])
    tool = load_tool('train')
    monkeypatch.setattr(tool, 'setup_cpu_distributed', lambda cfg: None)  # no process group: the error comes first
    if rank == '0':
        with pytest.raises(KeyError, match='no `hed` under `model`'):
            tool.run_on_rank()
    else:
        with pytest.raises(SystemExit) as stop:
            tool.run_on_rank()
        lines = capsys.readouterr().err.strip().splitlines()
        assert stop.value.code == 1 and len(lines) == 1 and lines[0].startswith('rank 2: KeyError: ') \
            and 'no `hed` under `model`' in lines[0] and 'rank 0 prints the whole error' in lines[0], lines
    assert not (tmp_path / 'work').exists()
