"""ReIDBaseline over the global batch: 2 gloo processes with contiguous slices of a P x K batch take the step of 1
process.

Whole loss path in training mode, float64, every BatchNorm (backbone and BNNeck) converted with
``convert_global_batchnorm``: label-smoothed cross-entropy (global mean) and batch-hard triplet (mined on the
gathered batch). Every loss value (and the logged accuracy) must be the 1-process value on each rank, and DDP's
mean of the parameter gradients the 1-process gradient. Identities are split contiguously between the ranks (the
identity sampler's P x K batch cut in rank order), evenly and unevenly.
"""
import pytest
import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import plugins  # noqa: F401
from plugins.core import distributed as D
from tests.distributed_harness import assert_one_process_step, flat_grads, rows_of, run_on_ranks

NUM_IDS, K = 4, 4  # P x K = 16 images
BATCH = NUM_IDS * K


def _rows(sizes, rank):
    return rows_of(sizes, rank, BATCH)


def _model(global_bn=True):
    torch.manual_seed(0)  # the same weights in every process
    model = MODELS.build(dict(type='ReIDBaseline', num_classes=NUM_IDS,
                              backbone=dict(type='ResNet', depth=18, base_channels=16, stem_channels=16,
                                            strides=(1, 2, 2, 1))))
    model = D.convert_global_batchnorm(model) if global_bn else model
    return model.double().train()


def _batch(rows):
    gen = torch.Generator().manual_seed(1)
    imgs = torch.randint(0, 256, (BATCH, 3, 32, 16), dtype=torch.uint8, generator=gen)
    inputs = [{'img': imgs[i]} for i in range(BATCH)][rows]
    samples = [DataSample().set_gt_label(i // K) for i in range(BATCH)][rows]
    return dict(inputs=inputs, data_samples=samples)


def _train_step(rank, world_size, sizes, global_bn=True):
    """One training step's losses and gradients on this rank's rows (what ``train_step`` does, in float64)."""
    model = _model(global_bn)
    data = model.data_preprocessor(_batch(_rows(sizes, rank)), True)
    losses = model(dict(data['inputs'], img=data['inputs']['img'].double()), data['data_samples'], mode='loss')
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    grads = flat_grads(model)
    return {k: v.item() for k, v in losses.items() if k.startswith(('loss', 'acc'))}, grads


@pytest.mark.slow
@pytest.mark.parametrize('sizes', [(8, 8), (4, 12)])  # 2 + 2 and 1 + 3 whole identities
def test_baseline_loss_path_on_two_ranks_is_the_one_process_step(sizes):
    ref_losses, ref_grad = _train_step(0, 1, None)
    assert set(ref_losses) == {'loss_id', 'loss_triplet', 'acc_id'} and ref_losses['loss_triplet'] > 0
    assert 0 < ref_losses['acc_id'] < 1  # issue 33: acc_id was each rank's own (rank 0's logged)
    results = run_on_ranks(_train_step, 2, sizes)
    assert_one_process_step(ref_losses, ref_grad, results)  # the logged accuracy too: over the global batch


@pytest.mark.slow
def test_local_batchnorm_would_not_be_the_one_process_step():
    """The check above has teeth: without the conversion each rank normalises with its own statistics."""
    ref_losses, ref_grad = _train_step(0, 1, None)
    results = run_on_ranks(_train_step, 2, (8, 8), False)
    grad = torch.stack([g for _, g in results]).mean(0)
    assert ((grad - ref_grad).norm() / ref_grad.norm()).item() > 1e-4
    assert any(abs(losses['loss_id'] - ref_losses['loss_id']) > 1e-6 for losses, _ in results)
