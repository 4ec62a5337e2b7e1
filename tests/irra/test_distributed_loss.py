"""IRRA over the global batch: 2 gloo processes with contiguous slices of a batch take the step of 1 process.

Whole loss path in training mode, float64, on the tiny random CLIP: the SDM loss (each rank's image / caption
rows against the gathered captions / images, identity targets from the gathered ids, mean over the global
batch), the ID losses (global means) and the MLM loss (per-token cross-entropy summed over every rank's masked
tokens, divided by the global masked-token count; the ranks hold different counts, one of them none). Every
loss value must be the 1-process value on each rank, and DDP's mean of the parameter gradients the 1-process
gradient.
"""
import pytest
import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import plugins  # noqa: F401  (registers everything)
from plugins.core import distributed as D
from plugins.irra import MLMLoss, SDMLoss
from tests.distributed_harness import ddp_gradient_error, flat_grads, fresh_step, rows_of, run_on_ranks
from .tiny import TINY_CLIP

NUM_IDS = 4
BATCH = 8
#: identity 0 on both sides of every split: SDM's targets need the gathered ids
PIDS = (0, 0, 1, 1, 2, 3, 0, 2)
#: masked caption positions per sample: different counts per rank, none at all in the first two samples
MASKED = ((), (), (1, 3), (2,), (1, 2, 4), (3,), (1, 5), (2, 4))
LOSSES = ('loss_sdm', 'loss_id', 'loss_mlm')


def _relative(got, want):
    return ((got - want).norm() / want.norm()).item()


# -- the whole IRRA loss path -----------------------------------------------------------------------------------------

def _model():
    torch.manual_seed(0)  # the same weights in every process
    model = MODELS.build(dict(type='IRRA', num_classes=NUM_IDS, cross_depth=1,
                              clip=dict(pretrained=None, config=TINY_CLIP, image_size=(64, 32))))
    return D.convert_global_batchnorm(model).double().train()


def _batch(rows):
    """The global batch as the train pipeline packs it (SOT ... EOT captions, MLM copies), this rank's rows."""
    gen = torch.Generator().manual_seed(1)
    imgs = torch.randint(0, 256, (BATCH, 3, 64, 32), dtype=torch.uint8, generator=gen)
    inputs = []
    for i in range(BATCH):
        words = 6 + i % 3
        text = torch.zeros(77, dtype=torch.long)
        text[0], text[words + 1] = 49406, 49407
        text[1:words + 1] = torch.randint(1, 49405, (words,), generator=gen)
        mlm_text, mlm_labels = text.clone(), torch.full_like(text, -100)
        for p in MASKED[i]:
            mlm_labels[p], mlm_text[p] = text[p], 49405
        inputs.append(dict(img=imgs[i], text=text, mlm_text=mlm_text, mlm_labels=mlm_labels))
    samples = [DataSample().set_gt_label(pid) for pid in PIDS]
    return dict(inputs=inputs[rows], data_samples=samples[rows])


def _train_step(rank, world_size, sizes):
    """One training step's losses and gradients on this rank's rows (what ``train_step`` does, in float64)."""
    fresh_step()
    model = _model()
    data = model.data_preprocessor(_batch(rows_of(sizes, rank, BATCH)), True)
    inputs = dict(data['inputs'], img=data['inputs']['img'].double())
    losses = model(inputs, data['data_samples'], mode='loss')
    sum(losses[name] for name in LOSSES).backward()
    return {k: v.item() for k, v in losses.items()}, flat_grads(model)


@pytest.mark.slow
@pytest.mark.parametrize('sizes', [(4, 4), (3, 5), (2, 6)])
def test_irra_loss_path_on_two_ranks_is_the_one_process_step(sizes):
    ref_losses, ref_grad = _train_step(0, 1, None)
    assert set(LOSSES) <= set(ref_losses) and all(ref_losses[name] > 0 for name in LOSSES)
    results = run_on_ranks(_train_step, 2, sizes)
    for losses, _ in results:
        for name, want in ref_losses.items():  # the logged accuracies too
            assert abs(losses[name] - want) <= 1e-10 * max(1.0, abs(want)), (name, losses[name], want)
    err = ddp_gradient_error(ref_grad, [g for _, g in results])
    assert err < 1e-8, err


# -- the SDM loss alone -----------------------------------------------------------------------------------------------

def _features(n=10, dim=6):
    gen = torch.Generator().manual_seed(3)
    pids = torch.tensor([0, 1, 0, 2, 1, 1, 3, 0, 2, 4])[:n]
    centres = torch.randn(5, dim, generator=gen, dtype=torch.float64)
    image = centres[pids] + 0.7 * torch.randn(n, dim, generator=gen, dtype=torch.float64)
    text = centres[pids] + 0.7 * torch.randn(n, dim, generator=gen, dtype=torch.float64)
    return image * 3, text, pids  # not normalised: the loss normalises


def _sdm(rank, world_size, sizes, temperature):
    """SDM value and feature gradients of this rank's rows (``sizes`` None: 1 process, whole batch)."""
    image, text, pids = _features()
    rows = rows_of(sizes, rank, len(pids))
    image, text = image[rows].clone().requires_grad_(True), text[rows].clone().requires_grad_(True)
    value = SDMLoss(temperature=temperature, loss_weight=1.5)(image, text, pids[rows])
    value.backward()
    return value.item(), image.grad, text.grad


@pytest.mark.parametrize('sizes,temperature', [((5, 5), 0.02), ((3, 7), 0.02), ((8, 2), 0.5)])
def test_sdm_gathered_is_the_loss_of_the_concatenated_batch(sizes, temperature):
    want, *want_grads = _sdm(0, 1, None, temperature)
    assert want > 0
    results = run_on_ranks(_sdm, 2, sizes, temperature)
    for value, *_ in results:
        assert abs(value - want) <= 1e-12 * abs(want), (value, want)
    for k, ref in enumerate(want_grads):
        # rank r's rows carry W x their share of the gradient (DDP then divides by W)
        err = _relative(torch.cat([grads[k] for _, *grads in results]) / 2, ref)
        assert err < 1e-10, err


# -- the MLM loss alone -----------------------------------------------------------------------------------------------

def _mlm(rank, world_size, sizes, masked):
    """MLM value and score gradients of this rank's captions; ``masked[i]``: masked positions of caption i."""
    gen = torch.Generator().manual_seed(4)
    scores = torch.randn(len(masked), 6, 11, generator=gen, dtype=torch.float64)
    labels = torch.full((len(masked), 6), -100)
    for i, positions in enumerate(masked):
        for p in positions:
            labels[i, p] = (3 * i + p) % 11
    rows = rows_of(sizes, rank, len(masked))
    scores = scores[rows].clone().requires_grad_(True)
    value = MLMLoss(loss_weight=0.7)(scores, labels[rows])
    value.backward()
    return value.item(), scores.grad


@pytest.mark.parametrize('sizes,masked', [
    ((2, 3), ((1,), (0, 2, 3), (4,), (1, 5), (0, 1, 2, 3))),  # 4 and 7 masked tokens
    ((2, 3), ((), (), (4,), (1, 5), (2,))),                  # rank 0 holds no masked token
    ((1, 4), ((), (), (), (), ()))])                          # none at all: zero loss, zero gradient
def test_mlm_is_the_mean_over_the_masked_tokens_of_the_global_batch(sizes, masked):
    want, want_grad = _mlm(0, 1, None, masked)
    results = run_on_ranks(_mlm, 2, sizes, masked)
    for value, _ in results:
        assert abs(value - want) <= 1e-12 * max(1.0, abs(want)), (value, want)
    grad = torch.cat([g for _, g in results]) / 2
    if want == 0:
        assert want_grad.abs().max() == 0 and grad.abs().max() == 0
    else:
        assert _relative(grad, want_grad) < 1e-10
