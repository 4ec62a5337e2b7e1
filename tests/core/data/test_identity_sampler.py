import numpy as np
import pytest
from mmpretrain.registry import DATA_SAMPLERS

import plugins  # noqa: F401
from plugins.core.data.samplers import identity_sampler

from .fake_datasets import image_dataset

# ids with few (< K), exact, and many images, so that replacement, remainders and repeats all occur
COUNTS = [1, 2, 4, 5, 7, 8, 9, 12, 3, 4, 6, 16, 4, 4, 2, 10, 5, 5, 11, 4]


def build(monkeypatch, dataset, rank=0, world_size=1, **kwargs):
    monkeypatch.setattr(identity_sampler, 'get_dist_info', lambda: (rank, world_size))
    cfg = dict(type='IdentitySampler', num_instances=4, batch_size=12, seed=3)
    cfg.update(kwargs)
    return DATA_SAMPLERS.build(cfg, default_args=dict(dataset=dataset))


def batches(sampler, epoch=0):
    sampler.set_epoch(epoch)
    indices = list(sampler)
    assert len(indices) == len(sampler)
    assert len(indices) % sampler.batch_size == 0
    return [indices[i:i + sampler.batch_size] for i in range(0, len(indices), sampler.batch_size)]


def pids_of(dataset, batch):
    return [dataset.get_data_info(i)['gt_label'] for i in batch]


@pytest.mark.parametrize('shuffle', [True, False])
def test_batches_are_p_identities_times_k_instances(monkeypatch, shuffle):
    dataset = image_dataset(COUNTS)
    sampler = build(monkeypatch, dataset, shuffle=shuffle)
    for batch in batches(sampler):
        pids = pids_of(dataset, batch)
        # identity-major: 3 groups of 4 consecutive samples of one id, 3 distinct ids
        groups = [pids[i:i + 4] for i in range(0, 12, 4)]
        assert all(len(set(g)) == 1 for g in groups)
        assert len({g[0] for g in groups}) == 3
        for g_start in range(0, 12, 4):
            chunk = batch[g_start:g_start + 4]
            pid = pids[g_start]
            # without replacement whenever the identity has enough images
            if COUNTS[pid] >= 4:
                assert len(set(chunk)) == 4


def test_every_identity_and_chunk_used_each_epoch(monkeypatch):
    dataset = image_dataset(COUNTS)
    sampler = build(monkeypatch, dataset)
    expected_chunks = sum(max(n, 4) // 4 for n in COUNTS)
    for epoch in range(3):
        seen = np.bincount(pids_of(dataset, [i for b in batches(sampler, epoch) for i in b]), minlength=len(COUNTS))
        assert (seen > 0).all()
        # each id appears at least as often as its number of chunks (all chunks used; top-ups only add)
        assert all(seen[pid] >= 4 * (max(n, 4) // 4) for pid, n in enumerate(COUNTS))
    # epoch length: ceil(chunks / P) steps (here larger than the biggest id's 4 chunks) -> about the dataset size
    assert len(sampler) == int(np.ceil(expected_chunks / 3)) * 12
    assert abs(len(sampler) - sum(COUNTS)) <= 0.2 * sum(COUNTS)


def test_ranks_draw_disjoint_identities_and_cover_the_data(monkeypatch):
    dataset = image_dataset(COUNTS)
    world = 3
    per_rank = [batches(build(monkeypatch, dataset, rank=r, world_size=world, batch_size=8)) for r in range(world)]
    assert len({len(b) for b in per_rank}) == 1  # same number of steps on every rank
    for step_batches in zip(*per_rank):
        id_sets = [set(pids_of(dataset, b)) for b in step_batches]
        assert all(len(s) == 2 for s in id_sets)  # P = 8 / 4
        assert len(set.union(*id_sets)) == 2 * world  # disjoint across ranks
    all_indices = [i for rank_batches in per_rank for b in rank_batches for i in b]
    assert set(pids_of(dataset, all_indices)) == set(range(len(COUNTS)))
    # images of ids with >= K images: everything but the remainder (< K per id) is used
    used = set(all_indices)
    assert len(used) >= sum(n - n % 4 for n in COUNTS if n >= 4)


def test_reproducible_from_seed_and_epoch(monkeypatch):
    dataset = image_dataset(COUNTS)
    first = list(build(monkeypatch, dataset, seed=5))
    again = list(build(monkeypatch, dataset, seed=5))
    other_seed = list(build(monkeypatch, dataset, seed=6))
    sampler = build(monkeypatch, dataset, seed=5)
    sampler.set_epoch(1)
    other_epoch = list(sampler)
    assert first == again
    assert first != other_seed
    assert first != other_epoch


def test_unshuffled_order_is_deterministic(monkeypatch):
    dataset = image_dataset([4, 4, 4, 8])
    sampler = build(monkeypatch, dataset, shuffle=False, batch_size=8, num_instances=4)
    # 5 chunks, 2 ids per step -> 3 steps. Step 1: most remaining chunks first (3, then 0 by id order);
    # step 2: ids 1, 2; step 3: id 3's last chunk (it must be taken) + a fresh chunk of the first exhausted id 0
    assert pids_of(dataset, list(sampler)) == [0] * 4 + [3] * 4 + [1] * 4 + [2] * 4 + [0] * 4 + [3] * 4


def test_errors_name_the_problem(monkeypatch):
    dataset = image_dataset([4, 4])
    with pytest.raises(ValueError, match='batch_size'):
        build(monkeypatch, dataset, batch_size=None)
    with pytest.raises(ValueError, match='multiple of 4'):
        build(monkeypatch, dataset, batch_size=10)
    with pytest.raises(ValueError, match='2 identities'):
        build(monkeypatch, dataset, batch_size=8, rank=0, world_size=2)


def test_built_by_mmengine_runner_dataloader(monkeypatch):
    """The runner builds samplers with default_args (dataset, seed); the batches are then exactly P x K."""
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner

    class IndexDataset(type(image_dataset([1]))):
        def __getitem__(self, idx):
            return idx

    dataset = IndexDataset(image_dataset(COUNTS).infos)
    monkeypatch.setattr(identity_sampler, 'get_dist_info', lambda: (0, 1))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        loader = Runner.build_dataloader(
            dict(batch_size=12, num_workers=0, dataset=dataset, collate_fn=dict(type='default_collate'),
                 sampler=dict(type='IdentitySampler', num_instances=4, batch_size=12)), seed=11)
    assert loader.sampler.seed == 11
    batches = [b.tolist() for b in loader]
    assert len(batches) == len(loader) == len(loader.sampler) // 12
    for batch in batches:
        pids = pids_of(dataset, batch)
        assert len(batch) == 12 and all(len(set(pids[i:i + 4])) == 1 for i in range(0, 12, 4))
