"""AXM-Net over the global batch: 2 gloo processes with contiguous slices of a P x K batch take the step of 1 process.

Whole loss path in training mode, float64, BatchNorm converted with ``convert_global_batchnorm``: the ID loss of
both modalities (global mean), the cross-modal batch-hard triplet in both directions (mined on the gathered
batch), the affinity loss (mean over every image-caption pair of the global batch) and the context-sharing gate
(one draw per pair of the global batch). Every loss value must be the 1-process value on each rank, and DDP's
mean of the parameter gradients the 1-process gradient.
"""
import pytest
import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import plugins  # noqa: F401
from plugins.axmnet import AXMBlock, CrossModalAffinityLoss
from plugins.core import distributed as D
from tests.distributed_harness import assert_one_process_step, flat_grads, fresh_step, rows_of, run_on_ranks

NUM_IDS, K = 4, 2  # P x K = 8 image-caption pairs
BATCH = NUM_IDS * K
VOCAB, LENGTH = 30, 10


def _rows(sizes, rank, total=BATCH):
    return rows_of(sizes, rank, total)


# -- the whole AXM-Net loss path ------------------------------------------------------------------------------------

def _model():
    torch.manual_seed(0)  # the same weights in every process
    cfg = dict(type='AXMNet',
               backbone=dict(type='ResNet', depth=18, num_stages=3, strides=(1, 2, 2), dilations=(1, 1, 1),
                             out_indices=(2,), stem_channels=8, base_channels=8),
               in_channels=32, vocab_size=VOCAB, num_classes=NUM_IDS, word_embed_dim=8, num_text_blocks=1,
               num_axm_blocks=2, num_parts=2, embed_dim=16, gate_reduction=4, share_prob=0.5)
    model = MODELS.build(cfg)
    # The zero-initialised residual BNs (AXM expand, text blocks, non-local output) make the context gate and
    # the residual branches inert at step 1; give every BN a non-zero scale so the check covers them.
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.weight.uniform_(0.5, 1.5)
    return D.convert_global_batchnorm(model).double().train()


def _batch(rows):
    gen = torch.Generator().manual_seed(1)
    imgs = torch.randint(0, 256, (BATCH, 3, 64, 32), dtype=torch.uint8, generator=gen)
    text = torch.randint(1, VOCAB, (BATCH, LENGTH), generator=gen)
    text[::2, 6:] = 0  # padded captions
    inputs = [{'img': imgs[i], 'text': text[i]} for i in range(BATCH)][rows]
    samples = [DataSample().set_gt_label(i // K) for i in range(BATCH)][rows]
    return dict(inputs=inputs, data_samples=samples)


def _train_step(rank, world_size, sizes):
    """One training step's losses and gradients on this rank's rows (what ``train_step`` does, in float64)."""
    fresh_step()
    model = _model()
    torch.manual_seed(100 + rank)  # a global RNG that differs per rank (diff_rank_seed): no draw may use it
    data = model.data_preprocessor(_batch(_rows(sizes, rank)), True)
    inputs = dict(data['inputs'], img=data['inputs']['img'].double())
    losses = model(inputs, data['data_samples'], mode='loss')
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    return {k: v.item() for k, v in losses.items() if k.startswith(('loss', 'acc'))}, flat_grads(model)


@pytest.mark.slow
@pytest.mark.parametrize('sizes', [(4, 4), (3, 5)])
def test_axmnet_loss_path_on_two_ranks_is_the_one_process_step(sizes):
    ref_losses, ref_grad = _train_step(0, 1, None)
    assert set(ref_losses) == {'loss_id', 'loss_triplet', 'loss_affinity', 'acc_id_img', 'acc_id_text'}
    assert ref_losses['acc_id_text'] > 0  # issue 33: both accuracies were each rank's own
    results = run_on_ranks(_train_step, 2, sizes)
    assert_one_process_step(ref_losses, ref_grad, results)  # the logged accuracies too: over the global batch


# -- each batch-level computation alone: gathered on 2 ranks vs autograd on the whole batch ------------------------

def _embeddings(rows, seed, dim=6):
    """Rows of ``x @ theta`` (a shared parameter theta, so that the check covers the gradient into the rows)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(BATCH, 5, dtype=torch.float64, generator=gen)[rows]
    theta = torch.randn(5, dim, dtype=torch.float64, generator=gen).requires_grad_()
    return x, theta


def _pids(rows):
    return (torch.arange(BATCH) // K)[rows]


def _affinity_rank(rank, world_size, form, img_sizes, text_sizes):
    """Affinity loss of this rank's images and captions (their own uneven slices) and its gradients."""
    img_rows, text_rows = _rows(img_sizes, rank), _rows(text_sizes, rank)
    x_img, theta_img = _embeddings(img_rows, seed=3)
    x_txt, theta_txt = _embeddings(text_rows, seed=4)
    text_pids = ((torch.arange(BATCH) + 1) // K)[text_rows]  # captions with other identities than the images
    loss = CrossModalAffinityLoss(form=form, loss_weight=1.5)(x_img @ theta_img, x_txt @ theta_txt,
                                                              _pids(img_rows), text_pids)
    loss.backward()
    return loss.item(), torch.cat([theta_img.grad.flatten(), theta_txt.grad.flatten()])


def _triplet_rank(rank, world_size, sizes):
    """AXM-Net's cross-modal triplet (both directions) on this rank's pairs and its gradients."""
    fresh_step()
    model = _model()
    rows = _rows(sizes, rank)
    x_img, theta_img = _embeddings(rows, seed=5)
    x_txt, theta_txt = _embeddings(rows, seed=6)
    loss = model.cross_modal_triplet(x_img @ theta_img, x_txt @ theta_txt, _pids(rows))
    loss.backward()
    return loss.item(), torch.cat([theta_img.grad.flatten(), theta_txt.grad.flatten()])


def _check_against_one_process(fn, *args):
    ref_loss, ref_grad = fn(0, 1, *[None if isinstance(a, tuple) else a for a in args])
    results = run_on_ranks(fn, 2, *args)
    for loss, _ in results:
        assert abs(loss - ref_loss) <= 1e-12 * max(1.0, abs(ref_loss)), (loss, ref_loss)
    grad = torch.stack([g for _, g in results]).mean(0)
    err = ((grad - ref_grad).norm() / ref_grad.norm()).item()
    assert err < 1e-10, err
    return ref_loss


@pytest.mark.parametrize('form', ['paper', 'bce'])
def test_affinity_is_the_mean_over_every_pair_of_the_global_batch(form):
    # 3 / 5 images and 6 / 2 captions: the rank's images meet the captions of the other rank too
    loss = _check_against_one_process(_affinity_rank, form, (3, 5), (6, 2))
    assert loss > 0


def test_cross_modal_triplet_mines_both_directions_on_the_global_batch():
    loss = _check_against_one_process(_triplet_rank, (3, 5))
    assert loss > 0


def _share_masks_rank(rank, world_size, sizes):
    """The share masks of two AXM-blocks (one forward each) on this rank's pairs."""
    fresh_step()
    torch.manual_seed(0)
    blocks = [AXMBlock(8, 8, mid_channels=8, reduction=2, share_prob=0.5).train() for _ in range(2)]
    torch.manual_seed(100 + rank)  # a global RNG that differs per rank: the gate must not use it
    v = torch.zeros(BATCH, 8, 4, 2)[_rows(sizes, rank)]
    return [block.gate.share_mask(v).flatten().tolist() for block in blocks]


def test_share_gate_draws_one_value_per_pair_of_the_global_batch():
    ref = _share_masks_rank(0, 1, None)
    ranks = run_on_ranks(_share_masks_rank, 2, (3, 5))
    assert [a + b for a, b in zip(*ranks)] == ref  # each pair keeps its gate at any world size
    assert ref[0] != ref[1]  # every block (call) gets its own stream
    assert {0.0, 1.0} <= set(ref[0] + ref[1])
