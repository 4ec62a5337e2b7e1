import itertools

import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS

import plugins  # noqa: F401


def test_diversity_equals_naive_double_loop():
    torch.manual_seed(0)
    s_hat = torch.rand(3, 10, 4) * (torch.rand(3, 10, 4) > 0.5)
    loss = MODELS.build(dict(type='DiversityLoss', loss_weight=2.0))(s_hat)
    total = 0.0
    for b in range(3):
        for i in range(4):
            for j in range(i + 1, 4):
                total += sum(float(s_hat[b, t, i] * s_hat[b, t, j]) for t in range(10))
    assert abs(float(loss) - 2.0 * total / 3) < 1e-5


def test_distinction_is_sum_over_parts_of_nll():
    torch.manual_seed(0)
    logits, pids = torch.randn(4, 3, 7), torch.tensor([1, 5, 0, 5])
    loss = MODELS.build(dict(type='DistinctionLoss'))(logits, pids)
    naive = sum(-float(torch.log_softmax(logits[b, i], 0)[pids[b]]) for b in range(4) for i in range(3)) / 4
    assert abs(float(loss) - naive) < 1e-5


def _naive_pcl(cross, selfs, pids, is_ir, margin):
    cross, selfs = F.normalize(cross, dim=-1), F.normalize(selfs, dim=-1)
    pids, is_ir = pids.tolist(), is_ir.tolist()
    n_p = cross.shape[1]

    def centres(flag):
        out = {}
        for y in sorted(set(p for p, m in zip(pids, is_ir) if m == flag)):
            members = [selfs[i] for i in range(len(pids)) if pids[i] == y and is_ir[i] == flag]
            out[y] = sum(members) / len(members)
        return out

    c = {True: centres(True), False: centres(False)}
    loss = 0.0
    for flag in (True, False):  # g(f^{VI}, c^I) over infrared i, g(f^{IV}, c^V) over visible i
        terms = [float((cross[i, k] - c[flag][pids[i]][k]).norm())
                 for i in range(len(pids)) if is_ir[i] == flag for k in range(n_p)]
        loss += sum(terms) / len(terms)
    for a, b in ((True, False), (True, True), (False, False)):
        terms = [max(0.0, margin - float((c[a][ya][k] - c[b][yb][k]).norm()))
                 for ya in c[a] for yb in c[b] if ya != yb for k in range(n_p)]
        loss += sum(terms) / len(terms)
    return loss


def test_pcl_equals_naive_per_pair_computation():
    torch.manual_seed(0)
    pids = torch.tensor([3, 3, 3, 3, 7, 7, 7, 9, 9, 9])
    is_ir = torch.tensor([0, 0, 1, 1, 0, 1, 1, 0, 1, 0], dtype=torch.bool)
    cross, selfs = torch.randn(10, 2, 6), torch.randn(10, 2, 6)
    for margin in (0.3, 1.5):  # 1.5 makes the hinge terms active for normalised features
        loss = MODELS.build(dict(type='PartAlignedCenterLoss', margin=margin))(cross, selfs, pids, is_ir)
        assert abs(float(loss) - _naive_pcl(cross, selfs, pids, is_ir, margin)) < 1e-5


def test_pcl_pull_term_zero_when_cross_equals_centre():
    pids = torch.tensor([0, 0, 1, 1])
    is_ir = torch.tensor([False, True, False, True])
    selfs = torch.randn(4, 2, 5)
    loss = MODELS.build(dict(type='PartAlignedCenterLoss', margin=0.0))
    # single sample per (id, modality): centre == own self feature -> g = 0, margin 0 -> s = 0
    assert float(loss(selfs.clone(), selfs, pids, is_ir)) < 1e-5


def test_kd_losses_follow_the_matching():
    torch.manual_seed(0)
    b, n_p, hw, k = 3, 4, 9, 5
    t_attn, s_attn = torch.rand(b, n_p, hw).softmax(-1), torch.rand(b, n_p, hw).softmax(-1)
    t_log, s_log = torch.randn(b, n_p, k), torch.randn(b, n_p, k)
    matching = torch.tensor([[2, 0, 3, 1], [0, 1, 2, 3], [3, 2, 1, 0]])
    kd1 = MODELS.build(dict(type='MatchDistillFeatureLoss'))(t_attn, s_attn, matching)
    kd2 = MODELS.build(dict(type='MatchDistillScoreLoss'))(t_log, s_log, matching)
    n1 = n2 = 0.0
    for i in range(b):
        for u in range(n_p):
            v = int(matching[i, u])
            n1 -= float(t_attn[i, u] @ s_attn[i, v])
            p, q = t_log[i, u].softmax(0), s_log[i, v].softmax(0)
            n2 += float((p * (p.log() - q.log())).sum())
    assert abs(float(kd1) - n1 / b) < 1e-5
    assert abs(float(kd2) - n2 / b) < 1e-5


def test_kd_teacher_is_detached_and_valid_mask_applies():
    t = torch.rand(2, 3, 4, requires_grad=True)
    s = torch.rand(2, 3, 4, requires_grad=True)
    m = torch.tensor(list(itertools.permutations(range(3)))[3])
    loss = MODELS.build(dict(type='MatchDistillFeatureLoss'))(t, s, m, torch.tensor([True, False]))
    loss.backward()
    assert t.grad is None and s.grad[1].abs().sum() == 0 and s.grad[0].abs().sum() > 0
