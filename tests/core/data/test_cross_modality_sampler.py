import numpy as np
import pytest
from mmpretrain.registry import DATA_SAMPLERS

import plugins  # noqa: F401
from plugins.core.data.samplers import cross_modality_sampler

from .fake_datasets import cross_modality_dataset

VISIBLE = [6, 3, 8, 5, 4, 10, 2, 7, 6, 5]
INFRARED = [3, 4, 2, 6, 5, 1, 4, 3, 2, 5]


def build(monkeypatch, dataset, rank=0, world_size=1, **kwargs):
    monkeypatch.setattr(cross_modality_sampler, 'get_dist_info', lambda: (rank, world_size))
    cfg = dict(type='CrossModalitySampler', num_instances=2, batch_size=12, seed=1)  # P = 12 / (2*2) = 3
    cfg.update(kwargs)
    return DATA_SAMPLERS.build(cfg, default_args=dict(dataset=dataset))


def batches(sampler, epoch=0):
    sampler.set_epoch(epoch)
    indices = list(sampler)
    assert len(indices) == len(sampler)
    return [indices[i:i + sampler.batch_size] for i in range(0, len(indices), sampler.batch_size)]


def info(dataset, batch, key):
    return [dataset.get_data_info(i)[key] for i in batch]


@pytest.mark.parametrize('shuffle', [True, False])
def test_layout_visible_half_then_infrared_half_with_same_pids(monkeypatch, shuffle):
    dataset = cross_modality_dataset(VISIBLE, INFRARED)
    sampler = build(monkeypatch, dataset, shuffle=shuffle)
    for batch in batches(sampler):
        assert len(batch) == 12
        assert info(dataset, batch, 'modality') == ['visible'] * 6 + ['infrared'] * 6
        pids = info(dataset, batch, 'gt_label')
        assert pids[:6] == pids[6:]  # the j-th infrared sample has the j-th visible sample's id
        groups = [pids[i:i + 2] for i in range(0, 6, 2)]  # K=2 consecutive per id
        assert all(len(set(g)) == 1 for g in groups) and len({g[0] for g in groups}) == 3
        for start, counts in ((0, VISIBLE), (6, INFRARED)):
            for g in range(start, start + 6, 2):
                if counts[pids[g - start]] >= 2:  # no duplicate image when the id has K of that modality
                    assert batch[g] != batch[g + 1]


def test_epoch_length_and_identity_coverage(monkeypatch):
    dataset = cross_modality_dataset(VISIBLE, INFRARED)
    sampler = build(monkeypatch, dataset)
    # AGW: N = max(#visible, #infrared) = 56 images, 3 ids x 2 per step -> ceil(56 / 6) = 10 steps
    assert len(sampler) == 10 * 12
    covered = set()
    for epoch in range(2):
        covered |= {p for b in batches(sampler, epoch) for p in info(dataset, b, 'gt_label')}
    assert covered == set(range(len(VISIBLE)))


def test_ranks_draw_disjoint_identities(monkeypatch):
    dataset = cross_modality_dataset(VISIBLE, INFRARED)
    per_rank = [batches(build(monkeypatch, dataset, rank=r, world_size=2, batch_size=8)) for r in range(2)]
    assert len(per_rank[0]) == len(per_rank[1]) == int(np.ceil(56 / (2 * 2 * 2)))
    for b0, b1 in zip(*per_rank):
        p0, p1 = set(info(dataset, b0, 'gt_label')), set(info(dataset, b1, 'gt_label'))
        assert len(p0) == len(p1) == 2 and not p0 & p1


def test_reproducible_and_epoch_dependent(monkeypatch):
    dataset = cross_modality_dataset(VISIBLE, INFRARED)
    assert list(build(monkeypatch, dataset)) == list(build(monkeypatch, dataset))
    assert list(build(monkeypatch, dataset)) != list(build(monkeypatch, dataset, seed=2))
    sampler = build(monkeypatch, dataset)
    sampler.set_epoch(4)
    assert list(sampler) != list(build(monkeypatch, dataset))


def test_identities_missing_a_modality_are_skipped(monkeypatch):
    dataset = cross_modality_dataset(VISIBLE, INFRARED[:-1] + [0])
    with pytest.warns(UserWarning, match='1 identities'):
        sampler = build(monkeypatch, dataset)
    assert 9 not in {p for b in batches(sampler) for p in info(dataset, b, 'gt_label')}
    with pytest.raises(ValueError, match="modality='infrared'"):
        build(monkeypatch, cross_modality_dataset(VISIBLE, [0] * len(VISIBLE)))
