"""CAL over the global batch: 2 gloo processes with their share of a cross-modal batch take the 1-process step.

The 1-process batch is ``[visible of all ids, infrared of all ids]`` (``CrossModalitySampler``: K images per id
and modality, the j-th infrared image has the j-th visible image's id). Rank r gets the ids of its share with the
same images, as ``[visible of its ids, infrared of its ids]``, so the rank-order concatenation is
``[v_0, i_0, v_1, i_1]``, not the 1-process ``[v_0, v_1, i_0, i_1]``. Also checked: contiguous halves of the
1-process batch (rank 0 all visible, rank 1 all infrared: every partner on the other rank).

Whole loss path in training mode, float64, BatchNorm converted with ``convert_global_batchnorm``: L_id (global
and parts), L_pcl (centres per identity over the global batch), L_kd1 / L_kd2 (partners drawn on the 1-process
batch with the shared generator, one Hungarian matching of the global batch-mean overlaps), L_dis, L_div and the
triplet. Every loss value must be the 1-process value on each rank, the matching the 1-process matching, and
DDP's mean of the parameter gradients the 1-process gradient.
"""
import logging
import types

import pytest
import torch
from mmpretrain.structures import DataSample

from plugins.cal.global_batch import cross_modal_layout, draw_global_partners
from plugins.cal.hooks import MatchDistillHook
from plugins.cal.losses import (DistinctionLoss, DiversityLoss, MatchDistillFeatureLoss, MatchDistillScoreLoss,
                                PartAlignedCenterLoss)
from plugins.cal.matching import batch_edge_weights
from plugins.cal.model import find_partners
from plugins.core import distributed as D
from tests.distributed_harness import flat_grads, fresh_step, run_on_ranks

from ._tiny import NUM_PARTS, tiny_cal

NUM_IDS, K = 4, 2
HALF = NUM_IDS * K  # visible images; as many infrared
BATCH = 2 * HALF
PIDS = torch.arange(HALF).repeat(2) // K  # 1-process batch: [v(ids 0..3), i(ids 0..3)]
IS_IR = torch.arange(BATCH) >= HALF
SHARPEN = 10

# rows of each rank in the 1-process batch
SPLITS = {
    'ids 2+2': ([0, 1], [2, 3]),  # the sampler's layout, equal P_r
    'ids 1+3': ([0], [1, 2, 3]),  # the sampler's layout, uneven P_r
}


def _rows(split, rank):
    """This rank's rows of the 1-process batch: ``[visible of its ids, infrared of its ids]``, or contiguous
    halves of the 1-process batch (``split='halves'``); None: all rows (1 process)."""
    if split is None:
        return list(range(BATCH))
    if split == 'halves':
        return list(range(rank * HALF, (rank + 1) * HALF))
    ids = SPLITS[split][rank]
    return [c for c in range(BATCH) if not IS_IR[c] and int(PIDS[c]) in ids] + \
        [c for c in range(BATCH) if IS_IR[c] and int(PIDS[c]) in ids]


# -- the whole CAL loss path ---------------------------------------------------------------------------------------

def _model():
    model = tiny_cal(num_classes=NUM_IDS, loss_triplet=dict(type='TripletLoss', margin=0.3))  # seeds torch
    with torch.no_grad():
        # peaked attention maps and part posteriors, so that the matching and L_kd2 are far from their
        # near-uniform values at initialisation (edge weights 1e-4 apart, L_kd2 ~ 1e-6)
        for mlp in (model.tsaa.token_mlp, model.tsaa.query_mlp):
            mlp[-1].weight.mul_(SHARPEN)
        model.part_classifier.weight.mul_(300)
        # the infrared DRM lists its parts in another order: a non-trivial matching ([2, 0, 1])
        score = model.drm_infrared.scorer.score
        score.weight.copy_(score.weight[[2, 0, 1]])
        score.bias.copy_(score.bias[[2, 0, 1]])
    return D.convert_global_batchnorm(model).double().train()


def _data(rows):
    gen = torch.Generator().manual_seed(1)
    imgs = torch.randint(0, 256, (BATCH, 3, 32, 16), dtype=torch.uint8, generator=gen)
    samples = []
    for c in rows:
        s = DataSample().set_gt_label(int(PIDS[c]))
        s.set_metainfo(dict(modality='infrared' if IS_IR[c] else 'visible'))
        samples.append(s)
    return dict(inputs=[{'img': imgs[c]} for c in rows], data_samples=samples)


def _train_step(rank, world_size, split):
    """One training step's losses, matching and gradients on this rank's rows (``train_step`` in float64)."""
    fresh_step()
    model = _model()
    torch.manual_seed(100 + rank)  # a global RNG that differs per rank (diff_rank_seed): no draw may use it
    data = model.data_preprocessor(_data(_rows(split, rank)), True)
    inputs = dict(data['inputs'], img=data['inputs']['img'].double())
    losses = model(inputs, data['data_samples'], mode='loss')
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    grads = flat_grads(model)
    return {k: v.item() for k, v in losses.items()}, grads, model.last_matching.tolist()


def _reference():
    return _train_step(0, 1, None)


@pytest.mark.slow
@pytest.mark.parametrize('split', ['ids 2+2', 'ids 1+3', 'halves'])
def test_cal_loss_path_on_two_ranks_is_the_one_process_step(split):
    ref_losses, ref_grad, ref_matching = _reference()
    for name in ('loss_pcl', 'loss_kd1', 'loss_kd2', 'loss_dis', 'loss_div', 'loss_triplet'):
        assert abs(ref_losses[name]) > 1e-3, name
    assert ref_matching == [2, 0, 1]
    results = run_on_ranks(_train_step, 2, split)
    for losses, _, matching in results:
        assert matching == ref_matching
        for name, want in ref_losses.items():
            assert abs(losses[name] - want) <= 1e-10 * max(1.0, abs(want)), (name, losses[name], want)
    grad = torch.stack([g for _, g, _ in results]).mean(0)  # DDP's average
    err = ((grad - ref_grad).norm() / ref_grad.norm()).item()
    assert err < 1e-8, err


# -- each batch-level computation alone: 2 ranks (the sampler's layout, uneven 1 + 3 ids) vs the whole batch -----

SPLIT = 'ids 1+3'


def _partners_rank(rank, world_size, split):
    fresh_step()
    rows = torch.tensor(_rows(split, rank))
    layout = cross_modal_layout(PIDS[rows], IS_IR[rows])
    torch.manual_seed(100 + rank)
    partner, valid = draw_global_partners(layout, find_partners)
    # as 1-process positions: rank-order row q is 1-process row all_rows[q]
    all_rows = torch.cat([torch.tensor(_rows(split, r)) for r in range(world_size)]) if split else rows
    return all_rows[partner][layout.local].tolist(), valid[layout.local].tolist(), rows.tolist()


@pytest.mark.slow
def test_partners_are_drawn_on_the_one_process_batch():
    ref_partner, ref_valid, _ = _partners_rank(0, 1, None)
    assert all(ref_valid)
    assert (PIDS[ref_partner] == PIDS).all() and (IS_IR[ref_partner] != IS_IR).all()
    for partner, valid, rows in run_on_ranks(_partners_rank, 2, SPLIT):
        assert partner == [ref_partner[c] for c in rows] and all(valid)


def _feats(rows, seed=3, shape=(NUM_PARTS, 5)):
    """Rows of ``x @ theta`` (a shared parameter theta, so the check covers the gradient into the features)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(BATCH, 4, dtype=torch.float64, generator=gen)[rows]
    theta = torch.randn(4, *shape, dtype=torch.float64, generator=gen).requires_grad_()
    return torch.einsum('bi,i...->b...', x, theta), theta


def _losses_rank(rank, world_size, split):
    """PCL, the two KD losses, L_dis, L_div and the batch edge weights on this rank's rows."""
    fresh_step()
    rows = _rows(split, rank)
    pids, is_ir = PIDS[rows], IS_IR[rows]
    valid = torch.tensor([c % 5 != 0 for c in rows])  # a few samples without partner
    cross, theta_c = _feats(rows, 3)
    self_feats, theta_s = _feats(rows, 4)
    attn_t, theta_t = _feats(rows, 5, (NUM_PARTS, 6))
    attn_s, theta_a = _feats(rows, 6, (NUM_PARTS, 6))
    logits_t, theta_l = _feats(rows, 7, (NUM_PARTS, NUM_IDS))
    logits_s, theta_m = _feats(rows, 8, (NUM_PARTS, NUM_IDS))
    selected, theta_d = _feats(rows, 9, (6, NUM_PARTS))
    attn_t, attn_s, selected = attn_t.softmax(-1), attn_s.softmax(-1), selected.sigmoid()
    matching = torch.tensor([2, 0, 1])
    per_sample = torch.where(is_ir.view(-1, 1), matching, torch.argsort(matching))
    losses = dict(
        pcl=PartAlignedCenterLoss(margin=1.5)(cross, self_feats, pids, is_ir, valid),
        kd1=MatchDistillFeatureLoss(detach_teacher=False)(attn_t, attn_s, per_sample, valid),
        kd2=MatchDistillScoreLoss(detach_teacher=False)(logits_t, logits_s, per_sample, valid),
        dis=DistinctionLoss()(logits_s, pids),
        div=DiversityLoss()(selected),
    )
    out = {}
    thetas = (theta_c, theta_s, theta_t, theta_a, theta_l, theta_m, theta_d)
    for name, loss in losses.items():
        grads = torch.autograd.grad(loss, thetas, allow_unused=True, retain_graph=True)
        out[name] = (loss.item(), torch.cat([(g if g is not None else torch.zeros_like(t)).flatten()
                                             for g, t in zip(grads, thetas)]))
    weights = batch_edge_weights(attn_t @ attn_s.transpose(1, 2), is_ir, valid)
    return out, weights


@pytest.mark.slow
def test_batch_level_losses_are_global():
    ref, ref_weights = _losses_rank(0, 1, None)
    assert ref['pcl'][0] > 0
    results = run_on_ranks(_losses_rank, 2, SPLIT)
    for out, weights in results:
        torch.testing.assert_close(weights, ref_weights, rtol=1e-12, atol=0)
    for name, (want, want_grad) in ref.items():
        for out, _ in results:
            assert abs(out[name][0] - want) <= 1e-10 * max(1.0, abs(want)), (name, out[name][0], want)
        grad = torch.stack([out[name][1] for out, _ in results]).mean(0)  # DDP's average
        err = ((grad - want_grad).norm() / want_grad.norm()).item()
        assert err < 1e-8, (name, err)


# -- MatchDistillHook counts each step's matching once --------------------------------------------------------------

def _hook_rank(rank, world_size):
    model = types.SimpleNamespace(part_matching=torch.arange(3), last_matching=None)
    runner = types.SimpleNamespace(model=model, epoch=0, max_epochs=10, logger=logging.getLogger('test'))
    hook = MatchDistillHook()
    for m in ([0, 1, 2], [2, 0, 1], [2, 0, 1]):  # every rank solves the same global matching
        model.last_matching = torch.tensor(m)
        hook.after_train_iter(runner, 0)
    return dict(hook.counts)


@pytest.mark.slow
def test_hook_counts_what_one_process_counts():
    expected = _hook_rank(0, 1)
    assert expected == {'0,1,2': 1, '2,0,1': 2}
    assert run_on_ranks(_hook_rank, 2) == [expected, expected]
