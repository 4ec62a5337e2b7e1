"""Distributed coverage of the identity samplers on 2 simulated ranks: disjoint and complete, same length.

``tests/core/data`` checks per-step disjointness (and, for IdentitySampler, coverage of the ids on 3 ranks);
here the stronger 2-rank properties: every image is used exactly once over the ranks when the data allow it,
and no image or identity of a step is shared between the ranks.
"""
from collections import Counter

import pytest
from mmpretrain.registry import DATA_SAMPLERS

import plugins  # noqa: F401
from plugins.core.data.samplers import cross_modality_sampler, identity_sampler

from tests.core.data.fake_datasets import cross_modality_dataset, image_dataset

WORLD = 2


def per_rank_batches(monkeypatch, module, dataset, epoch, **cfg):
    """The batches of every rank (``get_dist_info`` patched per rank); the same explicit seed on all ranks."""
    out = []
    for rank in range(WORLD):
        monkeypatch.setattr(module, 'get_dist_info', lambda rank=rank: (rank, WORLD))
        sampler = DATA_SAMPLERS.build(dict(cfg, seed=7), default_args=dict(dataset=dataset))
        sampler.set_epoch(epoch)
        indices = list(sampler)
        assert len(indices) == len(sampler)
        out.append([indices[i:i + sampler.batch_size] for i in range(0, len(indices), sampler.batch_size)])
    assert len(out[0]) == len(out[1])  # same number of steps: no rank waits for the other in DDP
    return out


@pytest.mark.parametrize('epoch', [0, 1, 5])
def test_identity_sampler_uses_every_image_exactly_once_over_two_ranks(monkeypatch, epoch):
    # every id has a multiple of K=4 images and the 12 chunks fill 3 steps of 2 ranks x P=2 ids: no top-up,
    # no remainder, so the two ranks together must use every image exactly once
    counts = [4, 8, 4, 4, 8, 4, 8, 8]
    dataset = image_dataset(counts)
    ranks = per_rank_batches(monkeypatch, identity_sampler, dataset, epoch, type='IdentitySampler',
                             num_instances=4, batch_size=8)
    used = Counter(i for batches in ranks for batch in batches for i in batch)
    assert sorted(used) == list(range(len(dataset))) and set(used.values()) == {1}
    for b0, b1 in zip(*ranks):  # identities of a step are disjoint across ranks
        assert not {dataset.get_data_info(i)['gt_label'] for i in b0} & \
            {dataset.get_data_info(i)['gt_label'] for i in b1}


def test_identity_sampler_two_ranks_cover_all_ids_with_uneven_data(monkeypatch):
    counts = [1, 2, 4, 5, 7, 9, 3, 6, 16, 2, 10, 4]  # fewer than K, remainders, one large id (top-ups)
    dataset = image_dataset(counts)
    ranks = per_rank_batches(monkeypatch, identity_sampler, dataset, 0, type='IdentitySampler',
                             num_instances=4, batch_size=8)
    labels = [[dataset.get_data_info(i)['gt_label'] for i in b] for batches in ranks for b in batches]
    assert {pid for batch in labels for pid in batch} == set(range(len(counts)))
    # every full chunk of 4 images of an id is used: no image of an id with >= K images is left out apart
    # from its remainder (n % 4), whichever rank drew it
    used = {i for batches in ranks for b in batches for i in b}
    assert len(used) >= sum(n - n % 4 for n in counts if n >= 4)
    for b0, b1 in zip(*ranks):
        assert not set(b0) & set(b1)


@pytest.mark.parametrize('shuffle', [True, False])
def test_cross_modality_sampler_two_ranks_disjoint_and_cover_identities(monkeypatch, shuffle):
    visible, infrared = [4, 6, 4, 5, 4, 8, 4, 4], [4, 4, 5, 4, 6, 4, 4, 7]
    dataset = cross_modality_dataset(visible, infrared)
    covered = set()
    for epoch in range(3):
        ranks = per_rank_batches(monkeypatch, cross_modality_sampler, dataset, epoch, type='CrossModalitySampler',
                                 num_instances=2, batch_size=8, shuffle=shuffle)  # P = 2 ids per rank
        for b0, b1 in zip(*ranks):
            p0 = {dataset.get_data_info(i)['gt_label'] for i in b0}
            p1 = {dataset.get_data_info(i)['gt_label'] for i in b1}
            assert len(p0) == len(p1) == 2 and not p0 & p1  # 2 x P distinct ids per step
            assert not set(b0) & set(b1)  # so no image is on both ranks in a step
            covered |= p0 | p1
        if not shuffle:  # the deterministic order walks through all ids in every epoch
            assert covered == set(range(len(visible)))
    assert covered == set(range(len(visible)))
