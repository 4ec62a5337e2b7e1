import itertools

import numpy as np
import pytest
import torch

from plugins.cal.hooks import most_frequent_matching
from plugins.cal.matching import (attention_overlap, batch_edge_weights, inverse_matching, matching_key,
                                  max_weight_matching)


@pytest.mark.parametrize('n', [1, 2, 3, 4, 5, 6])
def test_matching_equals_brute_force(n):
    rng = np.random.default_rng(n)
    for _ in range(5):
        w = rng.normal(size=(n, n))
        best = max(itertools.permutations(range(n)), key=lambda p: sum(w[u, p[u]] for u in range(n)))
        got = max_weight_matching(torch.from_numpy(w))
        assert got.tolist() == list(best)
        assert sorted(got.tolist()) == list(range(n))  # one-to-one


def test_matching_rejects_bad_weights():
    with pytest.raises(ValueError, match='square'):
        max_weight_matching(torch.zeros(2, 3))
    with pytest.raises(ValueError, match='NaN'):
        max_weight_matching(torch.tensor([[0.0, float('nan')], [1.0, 0.0]]))


def test_batch_edge_weights_transpose_visible_direction():
    torch.manual_seed(0)
    q, t = torch.rand(4, 3, 10).softmax(-1), torch.rand(4, 3, 10).softmax(-1)
    overlap = attention_overlap(q, t)
    torch.testing.assert_close(overlap[2, 1, 0], (q[2, 1] * t[2, 0]).sum())
    is_ir = torch.tensor([True, True, False, False])
    w = batch_edge_weights(overlap, is_ir)
    torch.testing.assert_close(w, overlap[:2].mean(0) + overlap[2:].mean(0).t())
    valid = torch.tensor([True, False, True, True])
    torch.testing.assert_close(batch_edge_weights(overlap, is_ir, valid), overlap[0] + overlap[2:].mean(0).t())


def test_inverse_key_and_most_frequent():
    m = torch.tensor([2, 0, 3, 1])
    assert inverse_matching(m)[m].tolist() == [0, 1, 2, 3]
    assert matching_key(m) == '2,0,3,1'
    assert most_frequent_matching({}) is None
    assert most_frequent_matching({'1,0': 2, '0,1': 3}).tolist() == [0, 1]
    assert most_frequent_matching({'1,0': 3, '0,1': 3}).tolist() == [1, 0]  # tie: first seen
