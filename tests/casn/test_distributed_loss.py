"""CASN over the global batch: 2 gloo processes with contiguous slices of a P x K batch take the step of 1 process.

Whole loss path in training mode, float64, BatchNorm converted with ``convert_global_batchnorm``: L_id, L_ia
(per-image Grad-CAM with ``create_graph``, the masked images through the same network), L_sia (Siamese pairs
drawn on the gathered batch, negatives across ranks) and L_sa (attention consistency of the positive pairs,
double backward through the Grad-CAM maps), dropout masks per sample of the global batch. Every loss value must
be the 1-process value on each rank, and DDP's mean of the parameter gradients the 1-process gradient.
"""
import pytest
import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import plugins  # noqa: F401
from plugins.casn.heads import IDEHead, PCBHead
from plugins.casn.losses import IdentificationAttentionLoss
from plugins.core import distributed as D
from tests.distributed_harness import assert_one_process_step, flat_grads, fresh_step, rows_of, run_on_ranks

NUM_IDS, K = 4, 2  # P x K = 8 images
BATCH = NUM_IDS * K


def _rows(sizes, rank):
    return rows_of(sizes, rank, BATCH)


# -- the whole CASN loss path ---------------------------------------------------------------------------------------

def _model(head):
    torch.manual_seed(0)  # the same weights in every process
    backbone = dict(type='ResNet', depth=18, base_channels=8, stem_channels=8, strides=(1, 1, 2, 1))
    model = MODELS.build(dict(type='CASN', backbone=backbone, num_classes=NUM_IDS, head=head,
                              head_cfg=dict(stripe_dim=16) if head == 'pcb' else dict(embed_dim=16)))
    return D.convert_global_batchnorm(model).double().train()


def _batch(rows, h):
    gen = torch.Generator().manual_seed(1)
    imgs = torch.randint(0, 256, (BATCH, 3, h, 16), dtype=torch.uint8, generator=gen)
    inputs = [{'img': imgs[i]} for i in range(BATCH)][rows]
    samples = [DataSample().set_gt_label(i // K) for i in range(BATCH)][rows]
    return dict(inputs=inputs, data_samples=samples)


def _train_step(rank, world_size, head, sizes):
    """One training step's loss and gradients on this rank's rows (what ``train_step`` does, in float64)."""
    fresh_step()
    model = _model(head)
    data = model.data_preprocessor(_batch(_rows(sizes, rank), h=48 if head == 'pcb' else 32), True)
    inputs = dict(img=data['inputs']['img'].double())
    losses = model(inputs, data['data_samples'], mode='loss')
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    grads = flat_grads(model)
    return {k: v.item() for k, v in losses.items()}, grads


@pytest.mark.slow
@pytest.mark.parametrize('head,sizes', [('pcb', (4, 4)), ('pcb', (3, 5)), ('ide', (5, 3))])
def test_casn_loss_path_on_two_ranks_is_the_one_process_step(head, sizes):
    ref_losses, ref_grad = _train_step(0, 1, head, None)
    assert {'loss_id', 'loss_ia', 'loss_sia', 'loss_sa'} <= set(ref_losses) and ref_losses['loss_sa'] > 0
    results = run_on_ranks(_train_step, 2, head, sizes)
    assert_one_process_step(ref_losses, ref_grad, results)


# -- each batch-level computation alone: gathered on 2 ranks (uneven 3 / 5) vs autograd on the whole batch --------

SIZES = (3, 5)


def _tiny_casn():
    return _model('ide')  # its Siamese head, loss_sa and pair sampling; the network itself is not run


def _embeddings(rows, dim=16):
    """Rows of ``x @ theta`` (a shared parameter theta, so that the check covers the gradient into f)."""
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(BATCH, 5, dtype=torch.float64, generator=gen)[rows]
    theta = torch.randn(5, dim, dtype=torch.float64, generator=gen).requires_grad_()
    return x, theta


def _pids(rows):
    return (torch.arange(BATCH) // K)[rows]


def _pairs_rank(rank, world_size, sizes):
    fresh_step()
    model = _tiny_casn()
    torch.manual_seed(100 + rank)  # a global RNG that differs per rank (diff_rank_seed): the draw must not use it
    first, second, same = model.global_pairs(_pids(_rows(sizes, rank)))
    return first.tolist(), second.tolist(), same.tolist()


@pytest.mark.slow
def test_pairs_are_drawn_on_the_gathered_batch():
    ref = _pairs_rank(0, 1, None)
    ranks = run_on_ranks(_pairs_rank, 2, SIZES)
    assert ranks[0] == ranks[1] == ref
    first, second, same = ref
    assert sum(same) == len(same) // 2 == BATCH // 4  # half of B // 2 pairs positive
    rank_of = [0] * SIZES[0] + [1] * SIZES[1]
    assert any(rank_of[i] != rank_of[j] for i, j in zip(first, second))  # a pair across the two ranks


def _siamese_rank(rank, world_size, sizes):
    fresh_step()
    model = _tiny_casn()
    rows = _rows(sizes, rank)
    x, theta = _embeddings(rows)
    pairs = model.global_pairs(_pids(rows))
    loss = model.siamese_loss((x @ theta).tanh(), *pairs)['loss_sia']
    loss.backward()
    return loss.item(), torch.cat([theta.grad.flatten(), model.siamese_head.fc.weight.grad.flatten()])


def _siamese_attention_rank(rank, world_size, sizes):
    fresh_step()
    model = _tiny_casn()
    rows = _rows(sizes, rank)
    x, theta = _embeddings(rows, dim=12 * 6)
    maps = (x @ theta).sigmoid().view(-1, 1, 12, 6)  # maps in [0, 1] of this rank's images
    loss = model.siamese_attention_loss(maps, *model.global_pairs(_pids(rows)))
    loss.backward()
    return loss.item(), theta.grad.flatten()


def _identification_attention_rank(rank, world_size, sizes):
    rows = _rows(sizes, rank)
    x, theta = _embeddings(rows, dim=12 * 6)
    maps = (x @ theta).sigmoid().view(-1, 1, 12, 6)
    img = torch.linspace(-1, 1, BATCH * 3 * 12 * 6, dtype=torch.float64).view(BATCH, 3, 12, 6)[rows]
    torch.manual_seed(4)
    head = D.convert_global_batchnorm(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 12 * 6, NUM_IDS),
                                                          torch.nn.BatchNorm1d(NUM_IDS))).double().train()
    loss = IdentificationAttentionLoss()(img, maps, _pids(rows), head)  # a batch-coupled classifier (BN)
    loss.backward()
    return loss.item(), torch.cat([theta.grad.flatten(), head[1].weight.grad.flatten()])


@pytest.mark.slow
@pytest.mark.parametrize('rank_fn', [_siamese_rank, _siamese_attention_rank, _identification_attention_rank],
                         ids=['loss_sia', 'loss_sa', 'loss_ia'])
def test_each_loss_over_the_gathered_batch(rank_fn):
    ref_loss, ref_grad = rank_fn(0, 1, None)
    results = run_on_ranks(rank_fn, 2, SIZES)
    for loss, _ in results:
        assert abs(loss - ref_loss) <= 1e-12 * abs(ref_loss), (loss, ref_loss)
    grad = torch.stack([g for _, g in results]).mean(0)  # DDP's average
    assert ref_grad.norm() > 0
    assert ((grad - ref_grad).norm() / ref_grad.norm()).item() < 1e-10


def _head_rank(rank, world_size, sizes, kind, dropout=True):
    """A head's embedding and logits in training mode on this rank's rows (``dropout=False``: dropout off)."""
    fresh_step()
    torch.manual_seed(5)
    head = IDEHead(8, NUM_IDS, embed_dim=6) if kind == 'ide' else PCBHead(8, NUM_IDS, stripe_dim=4)
    head = D.convert_global_batchnorm(head).double().train()
    head.dropout.train(dropout)
    feat_map = torch.randn(BATCH, 8, 6, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    f, logits = head(feat_map[_rows(sizes, rank)])
    return f.detach(), torch.stack(logits).detach()


@pytest.mark.slow
@pytest.mark.parametrize('kind', ['ide', 'pcb'])
def test_head_dropout_masks_do_not_depend_on_the_world_size(kind):
    f, logits = _head_rank(0, 1, None, kind)
    ranks = run_on_ranks(_head_rank, 2, SIZES, kind)
    assert torch.allclose(torch.cat([r[0] for r in ranks]), f, rtol=1e-12, atol=1e-14)
    assert torch.allclose(torch.cat([r[1] for r in ranks], dim=1), logits, rtol=1e-12, atol=1e-14)
    # the classifiers saw dropped features: without dropout the logits differ
    assert not torch.allclose(logits, _head_rank(0, 1, None, kind, dropout=False)[1])


def _sync_bn_rank(rank, world_size):
    model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(_tiny_casn())
    with pytest.raises(RuntimeError, match="sync_bn = 'global'"):
        model.check_distributed_batchnorm()
    return True


@pytest.mark.slow
def test_torch_syncbatchnorm_is_refused_when_distributed():
    assert run_on_ranks(_sync_bn_rank, 2) == [True, True]
    torch.nn.SyncBatchNorm.convert_sync_batchnorm(_tiny_casn()).check_distributed_batchnorm()  # 1 process: fine
