"""SDMLoss and MLMLoss against the formulas computed naively."""
import math

import pytest
import torch
import torch.nn.functional as F

from plugins.irra import MLMLoss, SDMLoss


def naive_sdm(image, text, pids, temperature=0.02, epsilon=1e-8):
    """Paper formula, one row at a time in float64 with python loops."""
    image, text = image.double().tolist(), text.double().tolist()
    pids = [int(p) for p in pids]
    n = len(pids)

    def cos(a, b):
        dot = sum(x * y for x, y in zip(a, b))
        return dot / math.sqrt(sum(x * x for x in a)) / math.sqrt(sum(y * y for y in b))

    def direction(queries, keys):
        total = 0.0
        for i in range(n):
            logits = [cos(queries[i], keys[j]) / temperature for j in range(n)]
            top = max(logits)
            z = sum(math.exp(v - top) for v in logits)
            p = [math.exp(v - top) / z for v in logits]
            count = sum(1 for j in range(n) if pids[j] == pids[i])
            q = [(1.0 / count if pids[j] == pids[i] else 0.0) for j in range(n)]
            total += sum(p[j] * (math.log(p[j]) - math.log(q[j] + epsilon)) for j in range(n) if p[j] > 0)
        return total / n

    return direction(image, text) + direction(text, image)


@pytest.mark.parametrize('pids', [[0, 1, 2, 3, 4, 5], [3, 3, 7, 7, 7, 1], [5, 5, 5, 5, 5, 5]])
@pytest.mark.parametrize('temperature', [0.02, 0.5])
def test_sdm_matches_naive_formula(pids, temperature):
    torch.manual_seed(len(set(pids)))
    image = torch.randn(6, 8) * 3  # not normalised: the loss must normalise
    text = image + 0.8 * torch.randn(6, 8)
    pids = torch.tensor(pids)
    loss = SDMLoss(temperature=temperature)(image, text, pids)
    assert loss.item() == pytest.approx(naive_sdm(image, text, pids, temperature), rel=1e-4, abs=1e-5)


def test_sdm_sums_both_directions_so_swapping_modalities_keeps_it():
    """Swapping image and text gives the same total (the sum of both KL directions)."""
    torch.manual_seed(1)
    image, text, pids = torch.randn(5, 4), torch.randn(5, 4), torch.tensor([0, 0, 1, 2, 2])
    loss = SDMLoss()
    assert loss(image, text, pids).item() == pytest.approx(loss(text, image, pids).item(), rel=1e-5)


def test_sdm_small_for_perfect_matches_large_for_swapped():
    eye = torch.eye(4) * 2.0
    pids = torch.arange(4)
    good = SDMLoss(temperature=0.02)(eye, eye, pids)
    bad = SDMLoss(temperature=0.02)(eye, eye.roll(1, dims=0), pids)
    assert good.item() < 1e-6
    assert bad.item() > 10.0


def test_sdm_gradients_finite_and_weight_applies():
    torch.manual_seed(2)
    image = torch.randn(8, 16, requires_grad=True)
    text = torch.randn(8, 16, requires_grad=True)
    pids = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    loss = SDMLoss(temperature=0.02)(image, text, pids)
    loss.backward()
    assert torch.isfinite(image.grad).all() and torch.isfinite(text.grad).all()
    assert image.grad.abs().sum() > 0
    doubled = SDMLoss(temperature=0.02, loss_weight=2.0)(image, text, pids)
    assert doubled.item() == pytest.approx(2 * loss.item(), rel=1e-6)


def test_sdm_rejects_unpaired_batches():
    with pytest.raises(ValueError, match='paired'):
        SDMLoss()(torch.randn(4, 8), torch.randn(3, 8), torch.arange(4))


def test_mlm_loss_ignores_minus_100():
    torch.manual_seed(3)
    scores = torch.randn(2, 5, 11, requires_grad=True)
    labels = torch.full((2, 5), -100)
    labels[0, 1], labels[1, 3], labels[1, 4] = 4, 0, 10
    loss = MLMLoss()(scores, labels)
    # naive: mean of -log softmax at the three labelled positions
    picks = [(0, 1, 4), (1, 3, 0), (1, 4, 10)]
    expected = sum(-F.log_softmax(scores[b, t].double(), 0)[c].item() for b, t, c in picks) / 3
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    loss.backward()
    grad_norm_per_pos = scores.grad.abs().sum(-1)
    assert (grad_norm_per_pos[labels == -100] == 0).all()
    assert (grad_norm_per_pos[labels != -100] > 0).all()


def test_mlm_loss_all_ignored_is_zero_with_gradient():
    scores = torch.randn(3, 7, requires_grad=True)
    loss = MLMLoss()(scores, torch.full((3,), -100))
    loss.backward()
    assert loss.item() == 0.0 and torch.isfinite(scores.grad).all()
