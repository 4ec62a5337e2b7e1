"""No silently wrong results (issue 19): strict checkpoints, one run per work dir, no orphans, honest overrides.

Each row of ``TABLE`` runs a tool the way a careful user would with input that used to give a result that looked
valid and was wrong (metrics of a mostly random model, two runs overwriting each other's checkpoints, an override
that was silently ignored). It asserts the clear error (the exception type and the fragments its message must
name) and that nothing was left corrupted: the checkpoint read is unchanged and the failed run wrote no checkpoint.
The tests below the table cover what is a warning or a clean-up rather than an error (resume with nothing to
resume, orphaned temporary files of killed writers, the run log) and the lock in a 2-process run.
"""
import fcntl
import glob
import hashlib
import json
import multiprocessing
import os
import os.path as osp
import re
import signal
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config

import plugins  # noqa: F401
from tests.helpers import LOCK_HOLDER, REPO, data_root_options, load_tool, make_demo_data

BASELINE = osp.join(REPO, 'configs', 'demo', 'baseline_market1501_demo.py')
CASN_IDE = osp.join(REPO, 'configs', 'demo', 'casn_ide_market1501_demo.py')
LOCK_FILE = '.run.lock'  # documented in README "Reliability": the work dir lock of a training run


def sha1(path):
    with open(path, 'rb') as f:
        return hashlib.sha1(f.read()).hexdigest()


def checkpoints_in(folder):
    return sorted(f for _, _, files in os.walk(folder) for f in files
                  if f.endswith('.pth') or f == 'last_checkpoint') if osp.isdir(folder) else []


@pytest.fixture(scope='module')
def env(tmp_path_factory):
    """Demo Market-1501 and one baseline run of 1 epoch (its checkpoint is 'a checkpoint of another model' for
    the CASN config). The run is in process: its log shows what the plugin's log filter does."""
    root = tmp_path_factory.mktemp('silent_errors')
    data = make_demo_data(root / 'data', 'market1501') / 'market1501'
    work_dir = root / 'baseline'
    runner = load_tool('train').main([BASELINE, '--work-dir', str(work_dir), '--cfg-options',
                                      *data_root_options(data), 'train_cfg.max_epochs=1'])
    log = glob.glob(osp.join(runner.log_dir, '*.log'))
    return SimpleNamespace(root=root, data=data, work_dir=work_dir, checkpoint=str(work_dir / 'epoch_1.pth'),
                           log=open(log[0]).read(), num_params=sum(p.requires_grad for p in runner.model.parameters()),
                           model=runner.model)


def train(*argv):
    return load_tool('train').main([str(a) for a in argv])


# ---------------------------------------------------------------------------------------------------- the table
def evaluate_with_another_models_checkpoint(tmp, env):
    load_tool('test').main([CASN_IDE, env.checkpoint, '--work-dir', str(tmp / 'work'),
                            '--cfg-options', *data_root_options(env.data)])


def evaluate_with_another_num_classes(tmp, env):
    load_tool('test').main([BASELINE, env.checkpoint, '--work-dir', str(tmp / 'work'),
                            '--cfg-options', *data_root_options(env.data), 'model.num_classes=31'])


def inferencer_with_another_models_checkpoint(tmp, env):
    from plugins.core.apis import ReIDInferencer
    ReIDInferencer(CASN_IDE, env.checkpoint)


def query_image(env):
    return sorted(glob.glob(str(env.data / '*' / 'query' / '*.jpg')))[0]


def search_with_another_models_checkpoint(tmp, env):
    load_tool('search').main([CASN_IDE, env.checkpoint, '--gallery', osp.dirname(query_image(env)),
                              '--query', query_image(env), '--out', str(tmp / 'work')])


def attention_with_another_models_checkpoint(tmp, env):
    image = query_image(env)
    load_tool('visualize_attention').main([CASN_IDE, env.checkpoint, '--images', image, '--out', str(tmp / 'work')])


def resume_from_another_models_checkpoint(tmp, env):
    train(CASN_IDE, '--work-dir', tmp / 'work', '--resume', env.checkpoint, '--cfg-options',
          *data_root_options(env.data))


def resume_partially_from_another_models_checkpoint(tmp, env):
    # partial loading allowed: the model loads what fits, the optimizer state cannot
    train(CASN_IDE, '--work-dir', tmp / 'work', '--resume', env.checkpoint, '--cfg-options',
          *data_root_options(env.data), 'load_strict=False')


def second_run_in_a_locked_work_dir(tmp, env):
    work = tmp / 'work'
    holder = subprocess.Popen([sys.executable, '-c', LOCK_HOLDER, str(work), LOCK_FILE], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == 'locked'
        tmp.joinpath('holder_pid').write_text(str(holder.pid))
        train(BASELINE, '--work-dir', work, '--cfg-options', *data_root_options(env.data), 'train_cfg.max_epochs=0')
    finally:
        holder.kill()
        holder.wait()


def num_classes_not_an_int(tmp, env):
    train(BASELINE, '--work-dir', tmp / 'work', '--cfg-options', *data_root_options(env.data),
          'model.num_classes=abc')


def data_root_override(tmp, env):
    # the top-level variable: must reach every data loader (it was silently ignored: the run used data/demo)
    train(BASELINE, '--work-dir', tmp / 'work', '--cfg-options', f'data_root={tmp}/elsewhere')


# (case, action, exception, fragments the message must contain; '{tmp}' is the case's directory, '{ckpt}' the
# trained baseline checkpoint, '{holder}' the PID of the lock holder)
TABLE = [
    ('tools/test.py with a checkpoint of another model', evaluate_with_another_models_checkpoint, RuntimeError,
     ['{ckpt}', 'casn_ide_market1501_demo.py', 'baseline_market1501_demo', 'missing', 'load_strict=False']),
    ('tools/test.py with another num_classes', evaluate_with_another_num_classes, RuntimeError,
     ['size mismatch for classifier.weight', 'baseline_market1501_demo', 'load_strict=False']),
    ('ReIDInferencer with a checkpoint of another model', inferencer_with_another_models_checkpoint, RuntimeError,
     ['{ckpt}', 'baseline_market1501_demo', 'load_strict=False']),
    ('tools/search.py with a checkpoint of another model', search_with_another_models_checkpoint, RuntimeError,
     ['{ckpt}', 'baseline_market1501_demo', 'load_strict=False']),
    ('tools/visualize_attention.py with a checkpoint of another model', attention_with_another_models_checkpoint,
     RuntimeError, ['{ckpt}', 'baseline_market1501_demo', 'load_strict=False']),
    ('--resume from a checkpoint of another model', resume_from_another_models_checkpoint, RuntimeError,
     ['{ckpt}', 'casn_ide_market1501_demo.py', 'baseline_market1501_demo', 'load_strict=False']),
    ('--resume partially (load_strict=False) from another model', resume_partially_from_another_models_checkpoint,
     RuntimeError, ['{ckpt}', 'parameter groups', 'casn_ide_market1501_demo.py', 'baseline_market1501_demo']),
    ('a second training run in a work dir in use', second_run_in_a_locked_work_dir, RuntimeError,
     ['{tmp}/work', 'PID {holder}']),
    ('model.num_classes=abc', num_classes_not_an_int, TypeError, ['model.num_classes', 'int', "'abc'"]),
    ('--cfg-options data_root=...', data_root_override, FileNotFoundError, ['{tmp}/elsewhere']),
]


@pytest.mark.parametrize('case,action,error,fragments', TABLE, ids=[row[0] for row in TABLE])
def test_bad_input_fails_clearly_and_corrupts_nothing(tmp_path, env, case, action, error, fragments):
    before = sha1(env.checkpoint)
    with pytest.raises(error) as err:
        action(tmp_path, env)
    message = str(err.value)
    holder = tmp_path.joinpath('holder_pid').read_text() if tmp_path.joinpath('holder_pid').exists() else ''
    for fragment in fragments:
        expected = fragment.format(tmp=tmp_path, ckpt=env.checkpoint, holder=holder)
        assert expected in message, f'{case}: {expected!r} not in {message!r}'
    assert sha1(env.checkpoint) == before  # the checkpoint read is unchanged
    assert checkpoints_in(tmp_path / 'work') == []  # and the failed run wrote none
    if action in (attention_with_another_models_checkpoint, search_with_another_models_checkpoint):
        assert not (tmp_path / 'work').exists()  # no picture, no search_results.json


# ------------------------------------------------------------------------------------------ strict loading works
def test_strict_test_of_the_matching_checkpoint_gives_its_metrics(tmp_path, env):
    metrics = load_tool('test').main([BASELINE, env.checkpoint, '--work-dir', str(tmp_path / 'work'),
                                      '--cfg-options', *data_root_options(env.data)])
    assert 0.0 <= metrics['R1'] <= 100.0 and 0.0 <= metrics['mAP'] <= 100.0


def test_checkpoint_meta_names_the_training_config(env):
    """What the error messages quote: mmengine saves the experiment name and the config text in ``meta``."""
    from plugins.core.utils.checkpoint import checkpoint_origin
    checkpoint = torch.load(env.checkpoint, map_location='cpu', weights_only=True)
    assert re.fullmatch(r'baseline_market1501_demo_\d{8}_\d{6}', checkpoint['meta']['experiment_name'])
    origin = checkpoint_origin(checkpoint)
    assert 'baseline_market1501_demo.py' in origin and 'ReIDBaseline' in origin, origin
    assert 'no mmengine meta' in checkpoint_origin({'state_dict': {}})


def test_partial_loading_on_purpose_loads_what_fits(env):
    """``strict=False`` (``load_strict=False``): the matching tensors are loaded, the rest keeps its init."""
    from mmpretrain.registry import MODELS

    from plugins.core.utils.checkpoint import load_model_checkpoint
    cfg = Config.fromfile(BASELINE)
    model = MODELS.build(dict(cfg.model, num_classes=31))
    load_model_checkpoint(model, env.checkpoint, strict=False)
    trained = torch.load(env.checkpoint, map_location='cpu', weights_only=True)['state_dict']
    state = model.state_dict()
    assert torch.equal(state['backbone.conv1.weight'], trained['backbone.conv1.weight'])
    mismatched = [k for k in trained if k in state and state[k].shape != trained[k].shape]
    assert mismatched == ['classifier.weight']  # the only tensor whose shape depends on num_classes
    assert not torch.equal(state['classifier.weight'][:30], trained['classifier.weight'])  # kept its init


# ------------------------------------------------------------- killed writers, nothing to resume, demo data
def start_killed_writer(path):
    """A process that dies (kill -9) in the middle of an atomic checkpoint write of ``path``; returns its PID."""
    code = ('import os, sys, time\n'
            f'sys.path.insert(0, {REPO!r})\n'
            'from plugins.core.utils.atomic_write import atomic_write\n'
            "os.fsync = lambda fd: (print('writing', flush=True), time.sleep(600))\n"
            f'with atomic_write({str(path)!r}, "wb") as f:\n    f.write(b"x" * 4096)\n')
    writer = subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == 'writing'
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    return writer.pid


def test_resume_cleans_orphans_of_killed_writers_and_warns_when_nothing_to_resume(tmp_path, env):
    work = tmp_path / 'work'
    work.mkdir()
    dead = start_killed_writer(work / 'epoch_1.pth')
    orphans = [n for n in os.listdir(work) if n.startswith('.epoch_1.pth.')]
    assert len(orphans) == 1 and f'.{dead}.' in orphans[0], orphans  # the temporary file names its writer
    live_writer = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])
    try:
        live_tmp = work / f'.epoch_2.pth.{live_writer.pid}.tmp'
        live_tmp.write_bytes(b'being written')
        runner = train(BASELINE, '--work-dir', work, '--resume', '--cfg-options', *data_root_options(env.data),
                       'train_cfg.max_epochs=0')
        assert live_tmp.exists()  # a live writer's file is left alone
    finally:
        live_writer.kill()
        live_writer.wait()
    assert not (work / orphans[0]).exists()
    log = open(glob.glob(osp.join(runner.log_dir, '*.log'))[0]).read()
    assert re.search(rf'WARNING - --resume: nothing to resume in {re.escape(str(work))}', log), log[-3000:]
    assert f'removed 1 orphaned temporary file(s) of killed writers in {work}' in log
    assert checkpoints_in(work) == []


def test_make_demo_data_removes_orphans_of_dead_generators(env):
    root = env.data.parent
    dead = subprocess.Popen([sys.executable, '-c', 'pass'])
    dead.wait()
    orphan = root / f'.cuhk03.{dead.pid}.tmp'
    (orphan / 'images').mkdir(parents=True)
    live = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])
    try:
        live_tmp = root / f'.regdb.{live.pid}.tmp'
        live_tmp.mkdir()
        make_demo_data(root, 'market1501')  # exists already: reused, but the orphans are cleaned first
        assert live_tmp.is_dir() and not orphan.exists()
    finally:
        live.kill()
        live.wait()
        live_tmp.rmdir()


# ----------------------------------------------------------------------------------------------- the work dir lock
def test_a_finished_run_released_the_lock_and_named_itself(env):
    with open(env.work_dir / LOCK_FILE) as f:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)  # would raise BlockingIOError if still held
        assert json.loads(f.read())['pid'] == os.getpid()  # the (in-process) training run wrote its PID


def _rank_takes_lock(rank, init_file, work_dir, results):
    import torch.distributed as dist

    from plugins.core.hooks.work_dir_lock_hook import WorkDirLockHook
    dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank, world_size=2)
    hook = WorkDirLockHook()
    runner = SimpleNamespace(work_dir=work_dir, logger=SimpleNamespace(info=print, warning=print))
    try:
        hook.before_train(runner)
        results.put((rank, 'locked', os.getpid()))
        dist.barrier()
        hook.after_train(runner)
    except RuntimeError as e:
        results.put((rank, str(e), os.getpid()))
    dist.destroy_process_group()


@pytest.mark.parametrize('held_by_another_run', [False, True])
def test_two_process_run_takes_one_lock_and_no_rank_hangs(tmp_path, held_by_another_run):
    work = tmp_path / 'work'
    holder = None
    if held_by_another_run:
        holder = subprocess.Popen([sys.executable, '-c', LOCK_HOLDER, str(work), LOCK_FILE],
                                  stdout=subprocess.PIPE, text=True)
        assert holder.stdout.readline().strip() == 'locked'
    ctx = multiprocessing.get_context('fork')
    results = ctx.Queue()
    ranks = [ctx.Process(target=_rank_takes_lock, args=(r, tmp_path / 'init', str(work), results)) for r in (0, 1)]
    try:
        for p in ranks:
            p.start()
        outcome = dict((r, (msg, pid)) for r, msg, pid in (results.get(timeout=120) for _ in ranks))
        for p in ranks:
            p.join(timeout=60)
    finally:
        for p in ranks:
            if p.is_alive():
                p.kill()
        if holder is not None:
            holder.kill()
            holder.wait()
    if held_by_another_run:
        for rank in (0, 1):
            assert f'PID {holder.pid}' in outcome[rank][0], outcome
    else:
        assert outcome[0][0] == outcome[1][0] == 'locked', outcome
        # one lock per run, taken by rank 0
        assert json.loads((work / LOCK_FILE).read_text())['pid'] == outcome[0][1]


# --------------------------------------------------------------------------------------------------------- logs
def test_run_log_summarises_param_groups_and_tells_the_truth_about_gpus(env):
    log = env.log
    assert 'paramwise_options --' not in log  # one line per parameter and option: at DEBUG now
    summary = re.search(r'Optimizer Adam: (\d+) parameter tensors in (\d+) param groups: (.*)', log)
    assert summary, log[:3000]
    assert int(summary.group(1)) == env.num_params
    settings = re.findall(r'weight_decay=([0-9.e-]+) for (\d+) tensors', summary.group(3))
    counts = {float(wd): int(n) for wd, n in settings}
    # by hand: paramwise_cfg bias_decay_mult=0, norm_decay_mult=0 -> norm layers and biases have no decay (frozen
    # tensors, the BNNeck bias, are not given to the optimizer)
    no_decay = sum(1 for module in env.model.modules() for name, p in module.named_parameters(recurse=False)
                   if p.requires_grad and (isinstance(module, torch.nn.modules.batchnorm._NormBase) or name == 'bias'))
    assert counts == {0.0: no_decay, 5e-4: env.num_params - no_decay}, summary.group(0)
    if not torch.cuda.is_available():
        assert 'GPU number: 1' not in log
        assert 'GPU number: 0 (no CUDA device; 1 process on CPU)' in log


# -------------------------------------------------------------------------------------------- config overrides
def test_data_root_override_reaches_every_data_set():
    from plugins.core.utils import merge_cfg_options
    cfg = merge_cfg_options(Config.fromfile(BASELINE), {'data_root': '/x', 'test_dataloader.dataset.data_root': '/y'})
    assert cfg.data_root == '/x'
    assert cfg.train_dataloader.dataset.data_root == cfg.val_dataloader.dataset.data_root == '/x'
    assert cfg.test_dataloader.dataset.data_root == '/y'  # an explicit per-loader override wins
    nested = Config(dict(data_root='a', train_dataloader=dict(dataset=dict(
        type='ConcatDataset', datasets=[dict(data_root='a'), dict(data_root='b', dataset=dict(data_root='a'))]))))
    merge_cfg_options(nested, {'data_root': 'z'})
    datasets = nested.train_dataloader.dataset.datasets
    assert [datasets[0].data_root, datasets[1].data_root, datasets[1].dataset.data_root] == ['z', 'b', 'z']


def test_data_root_override_that_reaches_nothing_names_the_key_to_use():
    from plugins.core.utils import merge_cfg_options
    cfg = Config(dict(data_root='a', train_dataloader=dict(dataset=dict(data_root='b'))))
    with pytest.raises(KeyError, match=r'train_dataloader\.dataset\.data_root'):
        merge_cfg_options(cfg, {'data_root': 'z'})


@pytest.mark.parametrize('key,value,ok', [
    ('model.num_classes', 'abc', False), ('model.num_classes', 31, True), ('train_cfg.max_epochs', 1.5, False),
    ('optim_wrapper.optimizer.lr', 1, True), ('optim_wrapper.optimizer.lr', 'fast', False),
    ('model.backbone.depth', True, False), ('train_dataloader.dataset.data_root', '/data', True)])
def test_cfg_options_of_the_wrong_type_are_refused_before_anything_is_built(key, value, ok):
    from plugins.core.utils import merge_cfg_options
    cfg = Config.fromfile(BASELINE)
    if ok:
        merge_cfg_options(cfg, {key: value})
        return
    old = cfg
    for part in key.split('.'):
        old = old[part]
    with pytest.raises(TypeError) as err:
        merge_cfg_options(cfg, {key: value})
    assert key in str(err.value) and type(old).__name__ in str(err.value) and repr(value) in str(err.value)
