"""Shared losses against naive per-sample computations."""
import math

import pytest
import torch

from plugins.core.models.losses import CrossEntropyLabelSmoothLoss, TripletLoss


def test_label_smooth_matches_hand_formula():
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]])
    targets = torch.tensor([0, 2])
    eps = 0.1
    expected = 0.0
    for row, y in zip(logits.tolist(), targets.tolist()):
        z = math.log(sum(math.exp(v) for v in row))
        logp = [v - z for v in row]
        q = [(1 - eps) * (1.0 if k == y else 0.0) + eps / 3 for k in range(3)]
        expected += -sum(qk * lk for qk, lk in zip(q, logp))
    expected /= 2
    loss = CrossEntropyLabelSmoothLoss(epsilon=eps)(logits, targets)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_label_smooth_zero_eps_is_cross_entropy():
    logits, targets = torch.randn(5, 7), torch.randint(0, 7, (5,))
    assert torch.allclose(CrossEntropyLabelSmoothLoss(0.0)(logits, targets),
                          torch.nn.functional.cross_entropy(logits, targets))


def _naive_batch_hard(feats, pids, gfeats, gpids, margin):
    losses = []
    for i in range(len(feats)):
        d = [float(torch.dist(feats[i], gfeats[j])) for j in range(len(gfeats))]
        pos = [d[j] for j in range(len(gfeats)) if gpids[j] == pids[i]]
        neg = [d[j] for j in range(len(gfeats)) if gpids[j] != pids[i]]
        if pos and neg:
            losses.append(max(0.0, max(pos) - min(neg) + margin))
    return sum(losses) / len(losses)


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_triplet_equals_naive_loop(seed):
    g = torch.Generator().manual_seed(seed)
    feats = torch.randn(12, 8, generator=g)
    pids = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3])
    loss = TripletLoss(margin=0.3)(feats, pids)
    assert loss.item() == pytest.approx(_naive_batch_hard(feats, pids, feats, pids, 0.3), rel=1e-5)


def test_cross_set_triplet_equals_naive_loop():
    g = torch.Generator().manual_seed(3)
    text, img = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    pids = torch.tensor([0, 0, 1, 1, 2, 2])
    loss = TripletLoss(margin=0.5)(text, pids, img, pids)
    assert loss.item() == pytest.approx(_naive_batch_hard(text, pids, img, pids, 0.5), rel=1e-5)


def test_triplet_gradient_finite_with_duplicate_features():
    feats = torch.ones(4, 3, requires_grad=True)  # zero distances: sqrt must not give NaN gradients
    TripletLoss()(feats, torch.tensor([0, 0, 1, 1])).backward()
    assert torch.isfinite(feats.grad).all()
