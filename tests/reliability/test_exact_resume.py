"""Exact resume: a run interrupted after epoch 1 and resumed with ``--resume`` ends where an uninterrupted run does.

Each case trains the demo config for 2 epochs (deterministic, seed 0, validation only at the end) and leaves
``epoch_1.pth``; the *interrupted* work dir holds exactly what a run killed during epoch 2 leaves behind
(``epoch_1.pth``, ``last_checkpoint`` and, for SSAN, ``vocab.json``), and ``tools/train.py --resume`` finishes
it. Weights, per-iteration losses of epoch 2, validation metrics and method state (CAL's MatchDistill counts,
SSAN's vocabulary) must match. The runs are in-process (``main(argv)``) on a few identities of the demo data.
"""
import hashlib
import os
import os.path as osp
import shutil

import pytest
import torch
from mmengine.config import Config
from mmpretrain.registry import DATASETS

import plugins  # noqa: F401
from tests.helpers import REPO, data_root_options, load_tool, make_demo_data, read_scalars

# (config, demo data set, (train ids, images per id and modality, validation ids), extra --cfg-options):
# 2 training iterations per epoch (batches of 16: 4 ids x 4 / 2 ids x (4 + 4) / 16 image-caption pairs)
LOADERS = ('train_dataloader', 'val_dataloader')
BATCH = ['train_dataloader.batch_size=16', 'train_dataloader.sampler.batch_size=16']
CASES = {
    'baseline': ('baseline_market1501_demo.py', 'market1501', (6, 4, 5), BATCH),
    # count matchings from the first epoch, so that both epochs' counts must survive the resume
    'cal': ('cal_sysu_demo.py', 'sysu-mm01', (4, 4, 6), BATCH + ['custom_hooks.1.count_begin_epoch=0']),
    # 96 x 32 images: 6 feature rows, still one per part (K = 6)
    'ssan': ('ssan_cuhkpedes_demo.py', 'cuhk-pedes', (8, 4, 5),
             BATCH[:1] + [f'{loader}.dataset.pipeline.1.scale=(32,96)' for loader in LOADERS]),
}


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('resume_data')
    return make_demo_data(root, *(case[1] for case in CASES.values()))


@pytest.fixture(autouse=True)
def restore_determinism():
    """The runs switch on ``torch.use_deterministic_algorithms``; do not leak it into other tests."""
    before = torch.are_deterministic_algorithms_enabled()
    yield
    torch.use_deterministic_algorithms(before)


def subset(config, root, loader, num_ids, per_group=None):
    """Indices of the first ``num_ids`` identities of a data set, at most ``per_group`` per (id, modality).

    Keeping whole identities (rather than a stride) keeps the identity samplers' P x K batches and the
    query/gallery pairs of the validation set valid on a few dozen samples.
    """
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'demo', config))[loader].dataset
    cfg = {k: v for k, v in cfg.items() if k != 'text_pipeline'}
    dataset = DATASETS.build(dict(cfg, data_root=root, pipeline=[], verbose=False))
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    ids = sorted({info['gt_label'] for info in infos})[:num_ids]
    taken, indices = {}, []
    for i, info in enumerate(infos):
        group = (info['gt_label'], info['modality'])
        if info['gt_label'] in ids and taken.get(group, 0) < (per_group or len(infos)):
            taken[group] = taken.get(group, 0) + 1
            indices.append(i)
    return indices


def train(case, work_dir, root, resume=False):
    """``tools/train.py`` in process: 2 epochs on a subset, validation at the end only, logging every iteration."""
    config, _, (train_ids, per_id, val_ids), extra = case
    argv = [osp.join(REPO, 'configs', 'demo', config), '--work-dir', str(work_dir)]
    if resume:
        argv.append('--resume')
    argv += ['--cfg-options', *data_root_options(root),
             f'train_dataloader.dataset.indices={subset(config, root, "train_dataloader", train_ids, per_id)}',
             f'val_dataloader.dataset.indices={subset(config, root, "val_dataloader", val_ids)}',
             'train_cfg.max_epochs=2', 'train_cfg.val_interval=2', 'default_hooks.logger.interval=1',
             'randomness.seed=0', 'randomness.deterministic=True', *extra]
    return load_tool('train').main(argv)


def interrupted_copy(full_dir, work_dir):
    """The work dir of a run killed during epoch 2: its epoch-1 checkpoint and the files written before it."""
    os.makedirs(work_dir)
    shutil.copy2(osp.join(full_dir, 'epoch_1.pth'), work_dir)
    if osp.exists(osp.join(full_dir, 'vocab.json')):
        shutil.copy2(osp.join(full_dir, 'vocab.json'), work_dir)
    with open(osp.join(work_dir, 'last_checkpoint'), 'w') as f:
        f.write(osp.join(str(work_dir), 'epoch_1.pth'))


def epoch2_losses(work_dir):
    return [{k: v for k, v in r.items() if k.startswith('loss')} for r in read_scalars(work_dir)
            if 'loss' in r and r['epoch'] == 2]


def sha1(path):
    with open(path, 'rb') as f:
        return hashlib.sha1(f.read()).hexdigest()


@pytest.mark.slow
@pytest.mark.parametrize('method', list(CASES))
def test_resumed_run_matches_uninterrupted_run(tmp_path, data_root, method):
    root = osp.join(data_root, CASES[method][1])
    full, resumed = tmp_path / 'full', tmp_path / 'resumed'
    train(CASES[method], full, root)
    interrupted_copy(full, resumed)
    vocab = resumed / 'vocab.json'
    vocab_before = (sha1(vocab), os.stat(vocab).st_mtime_ns) if vocab.exists() else None

    runner = train(CASES[method], resumed, root, resume=True)

    assert runner.train_loop.epoch == 2
    a = torch.load(full / 'epoch_2.pth', weights_only=True)
    b = torch.load(resumed / 'epoch_2.pth', weights_only=True)
    assert a['state_dict'].keys() == b['state_dict'].keys()
    for key, value in a['state_dict'].items():
        assert torch.allclose(value.float(), b['state_dict'][key].float(), rtol=1e-5, atol=1e-6), key
    # epoch 2 saw the same batches in the same order (the loss of every iteration matches)
    losses_a, losses_b = epoch2_losses(full), epoch2_losses(resumed)
    assert losses_a and len(losses_a) == len(losses_b)
    for la, lb in zip(losses_a, losses_b):
        assert la == pytest.approx(lb, rel=1e-5, abs=1e-6)
    metrics_a = [r for r in read_scalars(full) if 'mAP' in r][-1]
    metrics_b = [r for r in read_scalars(resumed) if 'mAP' in r][-1]
    for key in ('R1', 'mAP'):
        assert metrics_a[key] == pytest.approx(metrics_b[key], abs=1e-4)

    if method == 'cal':  # MatchDistillHook: counts of both epochs, fixed after the last one, identical
        state = b['match_distill']
        assert state == a['match_distill'] and state['fixed']
        assert sum(state['counts'].values()) > sum(
            torch.load(full / 'epoch_1.pth', weights_only=True)['match_distill']['counts'].values())
    if method == 'ssan':  # the vocabulary was reloaded from the work dir, not rebuilt or rewritten
        assert vocab_before is not None and (sha1(vocab), os.stat(vocab).st_mtime_ns) == vocab_before
