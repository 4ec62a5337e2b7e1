"""Mid-epoch resume on a CombinedReIDDataset: the multi-source demo resumed from a checkpoint written in the middle
of its epoch ends with the weights and the per-iteration losses of the uninterrupted run.

The run checkpoints every iteration (``CheckpointHook(by_epoch=False)``: the loop records the epoch position in
the message hub, as the preemption checkpoint does), the interrupted work dir holds what a run killed after its
second iteration leaves, and ``tools/train.py --resume`` finishes the epoch from its third batch.
"""
import os
import os.path as osp
import shutil

import pytest
import torch
from mmengine.config import Config
from mmpretrain.registry import DATASETS

import plugins  # noqa: F401
from tests.helpers import REPO, load_tool, make_demo_data, read_scalars

CONFIG = osp.join(REPO, 'configs', 'demo', 'baseline_multi_source_demo.py')


@pytest.fixture(scope='module')
def demo_cwd(tmp_path_factory):
    cwd = tmp_path_factory.mktemp('combined_resume')
    make_demo_data(cwd / 'data' / 'demo', 'market1501', 'dukemtmc-reid', 'cuhk03')
    return cwd


def first_ids(loader, ids_per_set, per_id):
    """Indices of the first ``ids_per_set`` identities of every source, at most ``per_id`` images each."""
    cfg = Config.fromfile(CONFIG)[loader].dataset.to_dict()
    dataset = DATASETS.build(dict(cfg, pipeline=[], verbose=False))
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    keep, taken = [], {}
    for i, info in enumerate(infos):
        key = (info['dataset_name'], info['gt_label'])
        per_set = sorted({inf['gt_label'] for inf in infos if inf['dataset_name'] == key[0]})[:ids_per_set]
        if key[1] in per_set and taken.get(key, 0) < per_id:
            taken[key] = taken.get(key, 0) + 1
            keep.append(i)
    return keep


def train(work_dir, train_indices, val_indices, resume=False):
    argv = [CONFIG, '--work-dir', str(work_dir)] + (['--resume'] if resume else [])
    argv += ['--cfg-options', f'train_dataloader.dataset.indices={train_indices}',
             f'val_dataloader.dataset.indices={val_indices}', 'train_dataloader.batch_size=16',
             'train_dataloader.sampler.batch_size=16', 'train_cfg.max_epochs=1',
             'default_hooks.checkpoint.by_epoch=False', 'default_hooks.checkpoint.interval=1',
             'default_hooks.checkpoint.max_keep_ckpts=-1', 'default_hooks.checkpoint.save_best=None',
             'default_hooks.logger.interval=1', 'randomness.seed=0', 'randomness.deterministic=True']
    return load_tool('train').main(argv)


@pytest.mark.slow
def test_multi_source_run_resumed_mid_epoch_matches_the_uninterrupted_run(demo_cwd, tmp_path, monkeypatch):
    monkeypatch.chdir(demo_cwd)
    deterministic = torch.are_deterministic_algorithms_enabled()
    try:
        train_indices = first_ids('train_dataloader', 4, 8)  # 2 sets x 4 ids x 8 images: 4 batches of 16
        val_indices = first_ids('val_dataloader', 3, 4)
        full, resumed = tmp_path / 'full', tmp_path / 'resumed'
        train(full, train_indices, val_indices)
        iters = sorted(int(n[5:-4]) for n in os.listdir(full) if n.startswith('iter_'))
        assert iters[-1] >= 4, iters
        os.makedirs(resumed)
        shutil.copy2(full / 'iter_2.pth', resumed)
        (resumed / 'last_checkpoint').write_text(str(resumed / 'iter_2.pth'))

        runner = train(resumed, train_indices, val_indices, resume=True)
    finally:
        torch.use_deterministic_algorithms(deterministic)
    assert runner.iter == iters[-1]
    a = torch.load(full / f'iter_{iters[-1]}.pth', weights_only=True)['state_dict']
    b = torch.load(resumed / f'iter_{iters[-1]}.pth', weights_only=True)['state_dict']
    for key, value in a.items():
        assert torch.allclose(value.float(), b[key].float(), rtol=1e-5, atol=1e-6), key
    losses = [[r['loss'] for r in read_scalars(d) if 'loss' in r and r['iter'] > 2] for d in (full, resumed)]
    assert losses[0] and losses[0] == pytest.approx(losses[1], rel=1e-5)
