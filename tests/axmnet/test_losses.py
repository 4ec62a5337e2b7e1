"""CrossModalAffinityLoss against the paper's formula (hand-worked 3x3 case) and torch's BCE."""
import math

import pytest
import torch
import torch.nn.functional as F

import plugins  # noqa: F401
from mmpretrain.registry import MODELS
from plugins.axmnet import CrossModalAffinityLoss


def _case():
    # images V1=[1,0], V2=[0,1], V3=[1,1]; captions T1=[1,0], T2=[0,2], T3=[-1,0]; ids 0, 1, 0 on both sides
    images = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    texts = torch.tensor([[1.0, 0.0], [0.0, 2.0], [-1.0, 0.0]])
    pids = torch.tensor([0, 1, 0])
    return images, texts, pids


def test_affinity_paper_formula_hand_worked_3x3():
    images, texts, pids = _case()
    r = 1 / math.sqrt(2)
    # cosine similarities S(V_i, T_j), worked by hand
    sim = [[1, 0, -1],
           [0, 1, 0],
           [r, r, -r]]
    same = [[1, 0, 1],
            [0, 1, 0],
            [1, 0, 1]]

    def log_sigmoid(x):
        return -math.log(1 + math.exp(-x))

    terms = []
    for i in range(3):
        for j in range(3):
            s, y = sim[i][j], same[i][j]
            # paper: -[y log sigma(S) + (1 - y) log sigma(1 - S)]
            terms.append(-(y * log_sigmoid(s) + (1 - y) * log_sigmoid(1 - s)))
    expected = sum(terms) / 9
    # the same number worked out once more: 5 x log(1 + e^-1) + log(1 + e) + log(1 + e^-r) + log(1 + e^-(1-r))
    # + log(1 + e^r), divided by 9
    assert expected == pytest.approx(0.5495255, abs=1e-6)
    loss = CrossModalAffinityLoss()(images, texts, pids)
    assert loss.item() == pytest.approx(expected, abs=1e-6)


def test_affinity_registered_and_weighted():
    images, texts, pids = _case()
    loss = MODELS.build(dict(type='CrossModalAffinityLoss', loss_weight=2.0))(images, texts, pids)
    assert loss.item() == pytest.approx(2 * 0.5495255, abs=1e-5)


def test_affinity_bce_option_matches_torch():
    g = torch.Generator().manual_seed(0)
    images, texts = torch.randn(6, 8, generator=g), torch.randn(5, 8, generator=g)
    pids, text_pids = torch.tensor([0, 0, 1, 2, 2, 3]), torch.tensor([0, 1, 2, 2, 4])
    loss = CrossModalAffinityLoss(form='bce')(images, texts, pids, text_pids)
    sim = F.normalize(images, dim=1) @ F.normalize(texts, dim=1).t()
    target = (pids[:, None] == text_pids[None, :]).float()
    assert loss.item() == pytest.approx(F.binary_cross_entropy_with_logits(sim, target).item(), abs=1e-6)
    assert loss.item() == pytest.approx(F.binary_cross_entropy(torch.sigmoid(sim), target).item(), abs=1e-5)


def test_paper_and_bce_forms_differ_only_on_negatives():
    g = torch.Generator().manual_seed(1)
    images, texts = torch.randn(4, 8, generator=g), torch.randn(4, 8, generator=g)
    all_same = torch.zeros(4, dtype=torch.long)
    paper = CrossModalAffinityLoss('paper')(images, texts, all_same)
    bce = CrossModalAffinityLoss('bce')(images, texts, all_same)
    assert paper.item() == pytest.approx(bce.item(), abs=1e-6)
    distinct = torch.arange(4)
    assert CrossModalAffinityLoss('paper')(images, texts, distinct).item() != pytest.approx(
        CrossModalAffinityLoss('bce')(images, texts, distinct).item(), abs=1e-4)


def test_affinity_rejects_unknown_form():
    with pytest.raises(ValueError, match='paper'):
        CrossModalAffinityLoss(form='focal')
