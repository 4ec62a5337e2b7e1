"""Siamese pairs inside a P x K batch."""
import torch

from plugins.casn.pair_sampling import sample_pairs


def test_half_positive_half_negative_distinct_pairs():
    torch.manual_seed(0)
    pids = torch.tensor([3, 3, 3, 3, 7, 7, 7, 7, 1, 1, 1, 1, 9, 9, 9, 9])  # P=4 x K=4
    first, second, same = sample_pairs(pids)
    assert len(first) == 8 and same.sum() == 4
    assert torch.equal(same, pids[first] == pids[second])
    assert torch.all(first < second)
    pairs = set(zip(first.tolist(), second.tolist()))
    assert len(pairs) == 8


def test_batch_without_positives_is_filled_with_negatives():
    first, second, same = sample_pairs(torch.arange(6), num_pairs=4)
    assert len(first) == 4 and not same.any()
    # only positives available (one identity): filled with positives
    first, second, same = sample_pairs(torch.zeros(4, dtype=torch.long), num_pairs=4)
    assert len(first) == 4 and same.all()
