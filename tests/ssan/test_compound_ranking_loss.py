"""CompoundRankingLoss against a naive per-anchor implementation of the SSAN formula (official mining rules)."""
import itertools
import math

import pytest
import torch

from plugins.ssan.losses import CompoundRankingLoss

ALPHA, BETA = 0.2, 0.1


def naive_cos(a, b):
    return (a @ b) / ((a.norm() + 1e-8) * (b.norm() + 1e-8))


def anchor_terms(img, txt, weak, pids, epoch, begin=5, detach_lambda=True):
    """Every hinge term of the loss as (weight, margin, positive sim, [negative sims]), one per anchor.

    Written straight from the formula: strong terms rank D_p against captions D_n of other ids (image anchor)
    and I_p against images I_n of other ids (caption anchor); weak terms the same with the weak captions D'.
    """
    n = len(pids)
    S = [[naive_cos(img[i], txt[j]) for j in range(n)] for i in range(n)]
    W = [[naive_cos(img[i], weak[j]) for j in range(n)] for i in range(n)]
    dynamic = epoch >= begin
    terms = []
    for i in range(n):
        negs = [j for j in range(n) if pids[j] != pids[i]]
        terms.append((1.0, ALPHA, S[i][i], [S[i][j] for j in negs]))          # image anchor, D_n
        terms.append((1.0, ALPHA, S[i][i], [S[j][i] for j in negs]))          # caption anchor, I_n
    for i in range(n):
        negs = [j for j in range(n) if pids[j] != pids[i]]
        if dynamic:
            s_w, s = (W[i][i].detach(), S[i][i].detach()) if detach_lambda else (W[i][i], S[i][i])
            lam = torch.clamp(s_w.abs() / s.abs(), max=1.0)
            a2 = (lam + 1) * ALPHA / 2
            if float(a2.detach()) < 0.16:
                continue                                                     # official skip rule
        else:
            a2 = ALPHA / 2
        terms.append((BETA, a2, W[i][i], [W[i][j] for j in negs]))           # image anchor, D'_n
        terms.append((BETA, a2, W[i][i], [W[j][i] for j in negs]))           # weak caption anchor, I_n
    return terms


def naive_hardest(terms, reduction='sum'):
    groups = {}
    for k, (w, m, pos, negs) in enumerate(terms):
        if not negs:
            continue
        hardest = max(negs, key=lambda s: float(s.detach()))
        groups.setdefault((w, k % 2), []).append(w * torch.clamp(m - pos + hardest, min=0))
    total = 0
    for vals in groups.values():
        total = total + (sum(vals) if reduction == 'sum' else sum(vals) / len(vals))
    return total


def naive_semi_hard_outcomes(terms):
    """All loss values the random semi-hard draw can produce (one candidate per anchor, product over anchors)."""
    choices = []
    for w, m, pos, negs in terms:
        m, pos = float(m), float(pos)
        cands = [w * (m - pos + float(s)) for s in negs if 0 < m - pos + float(s) < m]
        choices.append(cands or [0.0])
    return {round(sum(c), 5) for c in itertools.product(*choices)}


def random_case(seed, n=8, dim=6, num_ids=3):
    g = torch.Generator().manual_seed(seed)
    pids = torch.arange(n) % num_ids
    centers = torch.randn(num_ids, dim, generator=g)
    img = centers[pids] + 0.8 * torch.randn(n, dim, generator=g)
    txt = centers[pids] + 0.8 * torch.randn(n, dim, generator=g)
    weak = centers[pids] + 1.5 * torch.randn(n, dim, generator=g)
    return img, txt, weak, pids


@pytest.mark.parametrize('epoch', [0, 7])
@pytest.mark.parametrize('reduction', ['sum', 'mean'])
def test_hardest_mining_equals_naive(epoch, reduction):
    img, txt, weak, pids = random_case(0)
    loss = CompoundRankingLoss(ALPHA, BETA, negative_mining='hardest', reduction=reduction)
    got = loss(img, txt, weak, pids, epoch=epoch)
    want = naive_hardest(anchor_terms(img, txt, weak, pids.tolist(), epoch), reduction)
    assert got.item() == pytest.approx(float(want), rel=1e-5, abs=1e-6)


def test_dynamic_margin_and_skip_rule_are_exercised():
    """The chosen case has weak anchors on both sides of a2 = 0.16, and the result changes at epoch 5."""
    img, txt, weak, pids = random_case(0)
    lam = torch.clamp(torch.nn.functional.cosine_similarity(img, weak).abs()
                      / torch.nn.functional.cosine_similarity(img, txt).abs(), max=1)
    a2 = (lam + 1) * ALPHA / 2
    assert (a2 < 0.16).any() and (a2 >= 0.16).any() and (a2 < 0.2).any()
    loss = CompoundRankingLoss(ALPHA, BETA, negative_mining='hardest')
    before = loss(img, txt, weak, pids, epoch=4)
    after = loss(img, txt, weak, pids, epoch=5)
    assert not torch.isclose(before, after)
    # strong part alone (beta=0) does not depend on the epoch
    strong = CompoundRankingLoss(ALPHA, 0.0, negative_mining='hardest')
    assert torch.isclose(strong(img, txt, weak, pids, epoch=4), strong(img, txt, weak, pids, epoch=5))


def test_lambda_is_detached_in_gradient():
    img, txt, weak, pids = random_case(1)
    weak.requires_grad_(True)
    txt.requires_grad_(True)
    loss = CompoundRankingLoss(ALPHA, BETA, negative_mining='hardest')
    grads = torch.autograd.grad(loss(img, txt, weak, pids, epoch=10), [weak, txt])

    def naive_grads(detach):
        value = naive_hardest(anchor_terms(img, txt, weak, pids.tolist(), 10, detach_lambda=detach))
        return torch.autograd.grad(value, [weak, txt])

    detached, attached = naive_grads(True), naive_grads(False)
    for got, want in zip(grads, detached):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
    # the test can fail: back-propagating through lambda would give a different gradient
    assert not torch.allclose(grads[0], attached[0], atol=1e-5)


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_semi_hard_draws_only_semi_hard_negatives(seed):
    img, txt, weak, pids = random_case(seed, n=6, num_ids=2)
    terms = anchor_terms(img, txt, weak, pids.tolist(), epoch=0)
    outcomes = naive_semi_hard_outcomes(terms)
    loss = CompoundRankingLoss(ALPHA, BETA, negative_mining='semi_hard')
    seen = set()
    torch.manual_seed(seed)
    for _ in range(20):
        value = round(loss(img, txt, weak, pids, epoch=0).item(), 5)
        assert any(math.isclose(value, o, abs_tol=2e-5) for o in outcomes), (value, sorted(outcomes)[:5])
        seen.add(value)
    if len(outcomes) > 1:
        assert len(seen) > 1  # the draw is random, not always the same negative


def test_semi_hard_hand_made_case():
    """Two ids, unit vectors chosen so that each anchor's semi-hard candidate set is known by hand."""
    ang = torch.tensor([0.0, 0.1, 1.5, 1.6])  # ids 0, 0, 1, 1
    img = torch.stack([ang.cos(), ang.sin()], 1)
    txt = img.clone()
    pids = torch.tensor([0, 0, 1, 1])
    # positives have sim 1, negatives cos(>=1.4) < 0.2: hinge = 0.2 - 1 + s_n <= 0 -> nothing semi-hard
    loss = CompoundRankingLoss(ALPHA, 0.0, negative_mining='semi_hard')
    assert loss(img, txt, txt, pids, epoch=0).item() == 0.0
    # move caption 0 towards id 1 (angle 0.7): only the caption anchor D0 gets semi-hard negatives, the
    # images I2 (angle 1.5) and I3 (angle 1.6): hinge = 0.2 - cos(0.7) + cos(0.8 | 0.9) = 0.132 | 0.057.
    # (image anchor I0 against D2/D3: 0.2 - cos(0.7) + cos(1.5 | 1.6) < 0; I2 against D0:
    # 0.2 - 1 + cos(0.8) < 0; every other pair is further apart.)
    txt2 = txt.clone()
    txt2[0] = torch.tensor([math.cos(0.7), math.sin(0.7)])
    possible = [0.2 - math.cos(0.7) + math.cos(0.8), 0.2 - math.cos(0.7) + math.cos(0.9)]
    seen = set()
    torch.manual_seed(0)
    for _ in range(30):
        got = loss(img, txt2, txt2, pids, epoch=0).item()
        match = [p for p in possible if math.isclose(got, p, abs_tol=1e-6)]
        assert match, (got, possible)
        seen.add(match[0])
    assert len(seen) == 2
    # 'hardest' takes I2 (the most similar negative image) deterministically
    hardest = CompoundRankingLoss(ALPHA, 0.0, negative_mining='hardest')
    assert hardest(img, txt2, txt2, pids, epoch=0).item() == pytest.approx(possible[0], abs=1e-6)


def test_epoch_set_through_set_train_epoch():
    img, txt, weak, pids = random_case(0)
    loss = CompoundRankingLoss(ALPHA, BETA, negative_mining='hardest')
    assert torch.isclose(loss(img, txt, weak, pids), loss(img, txt, weak, pids, epoch=0))  # never told: epoch 0
    loss.set_train_epoch(5)
    assert torch.isclose(loss(img, txt, weak, pids), loss(img, txt, weak, pids, epoch=5))
    loss.set_train_epoch(4)
    assert torch.isclose(loss(img, txt, weak, pids), loss(img, txt, weak, pids, epoch=4))
    assert not torch.isclose(loss(img, txt, weak, pids, epoch=4), loss(img, txt, weak, pids, epoch=5))


def test_part_features_are_flattened_and_bad_batches_rejected():
    img, txt, weak, pids = random_case(3, dim=12)
    loss = CompoundRankingLoss(negative_mining='hardest')
    flat = loss(img, txt, weak, pids, epoch=0)
    parts = loss(img.view(-1, 3, 4), txt.view(-1, 3, 4), weak.view(-1, 3, 4), pids, epoch=0)
    assert torch.isclose(flat, parts)
    with pytest.raises(ValueError, match='batch sizes'):
        loss(img, txt[:-1], weak, pids)
    with pytest.raises(ValueError, match='negative_mining'):
        CompoundRankingLoss(negative_mining='easy')
