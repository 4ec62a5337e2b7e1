"""SSAN over the global batch: 2 gloo processes with contiguous slices of a batch take the step of 1 process.

Whole loss path in training mode, float64, BatchNorm converted with ``convert_global_batchnorm``: the ID losses
(global means), the compound ranking loss (features and ids gathered, semi-hard negatives drawn for the global
batch with a shared generator, hinges summed over all global anchors) and the text dropout (masks per caption of
the global batch, on the global longest-caption length). Every loss value must be the 1-process value on each
rank, and DDP's mean of the parameter gradients the 1-process gradient.
"""
import pytest
import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import plugins  # noqa: F401
from plugins.core import distributed as D
from plugins.ssan.losses import CompoundRankingLoss
from plugins.ssan.text_encoder import BiLSTMTextEncoder
from tests.distributed_harness import flat_grads, fresh_step, rows_of, run_on_ranks

VOCAB, NUM_IDS, K = 30, 4, 6
BATCH = 8        # two captions per identity
MAX_WORDS = 12   # the tokenizer's fixed padded length
#: caption lengths: the longest captions are all in the second half, so the ranks' longest captions differ
TEXT_LENGTHS = (3, 5, 4, 6, 12, 7, 9, 8)
WEAK_LENGTHS = (10, 4, 6, 3, 5, 8, 7, 6)
NAMES = [f'loss_{kind}_{branch}' for kind in ('id', 'cr') for branch in ('global', 'local', 'relation')]


def _rows(sizes, rank):
    return rows_of(sizes, rank, BATCH)


def _relative(got, want):
    return ((got - want).norm() / want.norm()).item()


# -- the whole SSAN loss path ---------------------------------------------------------------------------------------

def _model(negative_mining):
    torch.manual_seed(0)  # the same weights in every process
    backbone = dict(type='ResNet', depth=18, base_channels=8, stem_channels=8, strides=(1, 2, 2, 1))
    model = MODELS.build(dict(
        type='SSAN', backbone=backbone, in_channels=64, vocab_size=VOCAB, num_classes=NUM_IDS, embed_dims=16,
        feat_dims=32, relation_dims=24, num_parts=K, text_dropout=0.3,
        loss_rank=dict(type='CompoundRankingLoss', alpha=0.2, beta=0.1, negative_mining=negative_mining)))
    return D.convert_global_batchnorm(model).double().train()


def _tokens(lengths, gen):
    ids = torch.randint(1, VOCAB, (BATCH, MAX_WORDS), generator=gen)
    mask = torch.arange(MAX_WORDS).view(1, -1) < torch.tensor(lengths).view(-1, 1)
    return ids * mask, mask.long()


def _batch(rows):
    gen = torch.Generator().manual_seed(1)
    imgs = torch.randint(0, 256, (BATCH, 3, 96, 32), dtype=torch.uint8, generator=gen)
    text, text_mask = _tokens(TEXT_LENGTHS, gen)
    weak, weak_mask = _tokens(WEAK_LENGTHS, gen)
    inputs = [dict(img=imgs[i], text=text[i], text_mask=text_mask[i], weak_text=weak[i],
                   weak_text_mask=weak_mask[i]) for i in range(BATCH)][rows]
    samples = [DataSample().set_gt_label(i % NUM_IDS) for i in range(BATCH)][rows]
    return dict(inputs=inputs, data_samples=samples)


def _train_step(rank, world_size, negative_mining, epoch, sizes):
    """One training step's losses and gradients on this rank's rows (what ``train_step`` does, in float64)."""
    fresh_step()
    model = _model(negative_mining)
    model.set_train_epoch(epoch)
    data = model.data_preprocessor(_batch(_rows(sizes, rank)), True)
    inputs = dict(data['inputs'], img=data['inputs']['img'].double())
    losses = model(inputs, data['data_samples'], mode='loss')
    sum(losses[name] for name in NAMES).backward()
    grads = flat_grads(model)
    return {k: v.item() for k, v in losses.items()}, grads


@pytest.mark.parametrize('negative_mining,epoch,sizes', [
    ('semi_hard', 0, (4, 4)), ('semi_hard', 6, (3, 5)), ('hardest', 0, (5, 3))])
def test_ssan_loss_path_on_two_ranks_is_the_one_process_step(negative_mining, epoch, sizes):
    ref_losses, ref_grad = _train_step(0, 1, negative_mining, epoch, None)
    assert set(NAMES) <= set(ref_losses) and all(ref_losses[f'loss_cr_{b}'] > 0 for b in ('global', 'local'))
    results = run_on_ranks(_train_step, 2, negative_mining, epoch, sizes)
    for losses, _ in results:
        for name, want in ref_losses.items():
            assert abs(losses[name] - want) <= 1e-10 * max(1.0, abs(want)), (name, losses[name], want)
    grad = torch.stack([g for _, g in results]).mean(0)  # DDP's average
    err = _relative(grad, ref_grad)
    assert err < 1e-8, err


# -- the compound ranking loss alone --------------------------------------------------------------------------------

def _features(n=10, dim=6, num_ids=3):
    """Image, caption and weak-caption features near their identity's centre: many semi-hard negatives."""
    gen = torch.Generator().manual_seed(3)
    pids = torch.arange(n) % num_ids
    centres = torch.randn(num_ids, dim, generator=gen, dtype=torch.float64)
    img = centres[pids] + 0.8 * torch.randn(n, dim, generator=gen, dtype=torch.float64)
    txt = centres[pids] + 0.8 * torch.randn(n, dim, generator=gen, dtype=torch.float64)
    weak = centres[pids] + 1.5 * torch.randn(n, dim, generator=gen, dtype=torch.float64)
    return img, txt, weak, pids


def _ranking_loss(rank, world_size, sizes, negative_mining, reduction, epoch):
    """CR loss value and feature gradients of this rank's rows (``sizes`` None: 1 process, whole batch)."""
    fresh_step()
    feats = _features()
    pids = feats[-1]
    rows = slice(0, len(pids)) if sizes is None else slice(sum(sizes[:rank]), sum(sizes[:rank + 1]))
    local = [f[rows].clone().requires_grad_(True) for f in feats[:3]]
    loss = CompoundRankingLoss(negative_mining=negative_mining, reduction=reduction)
    value = loss(*local, pids[rows], epoch=epoch)
    value.backward()
    return value.item(), [f.grad for f in local]


@pytest.mark.parametrize('negative_mining,reduction,epoch,sizes', [
    ('semi_hard', 'sum', 0, (5, 5)), ('semi_hard', 'sum', 7, (3, 7)), ('semi_hard', 'mean', 0, (6, 4)),
    ('hardest', 'sum', 7, (4, 6))])
def test_ranking_loss_gathered_is_the_loss_of_the_concatenated_batch(negative_mining, reduction, epoch, sizes):
    want, want_grads = _ranking_loss(0, 1, None, negative_mining, reduction, epoch)
    assert want > 0
    results = run_on_ranks(_ranking_loss, 2, sizes, negative_mining, reduction, epoch)
    for value, _ in results:
        assert abs(value - want) <= 1e-12 * abs(want), (value, want)
    for got, ref in zip(zip(*[grads for _, grads in results]), want_grads):
        # rank r's rows carry W x their share of the gradient (DDP then divides by W)
        err = _relative(torch.cat(got) / 2, ref)
        assert err < 1e-10, err


def test_semi_hard_negatives_come_from_the_shared_generator_not_the_global_rng():
    img, txt, weak, pids = _features()
    loss = CompoundRankingLoss(negative_mining='semi_hard')
    firsts = set()
    for seed in range(5):
        torch.manual_seed(seed)  # the global RNG plays no part
        fresh_step()
        firsts.add(loss(img, txt, weak, pids, epoch=0).item())
    assert len(firsts) == 1, firsts
    values = {loss(img, txt, weak, pids, epoch=0).item() for _ in range(10)}  # next streams of the step
    assert len(values) > 1


# -- the text dropout -----------------------------------------------------------------------------------------------

def _encoder():
    torch.manual_seed(0)
    return BiLSTMTextEncoder(VOCAB, embed_dims=8, hidden_dims=10, dropout=0.3).double().train()


def _encode(rank, world_size, sizes, extra_padding=0):
    """Word features of this rank's captions, in train mode (dropout on), zero-padded to the global length."""
    fresh_step()
    text, mask = _tokens(TEXT_LENGTHS, torch.Generator().manual_seed(1))
    rows = _rows(sizes, rank)
    text = torch.cat([text, text.new_zeros(BATCH, extra_padding)], 1)[rows]
    words_global, words_part, mask = _encoder()(text)
    return words_global.detach(), words_part.detach(), mask


def test_text_dropout_masks_do_not_depend_on_the_world_size_and_padding_stays_exact():
    ref_global, ref_part, ref_mask = _encode(0, 1, None)
    assert ref_mask.shape == (BATCH, max(TEXT_LENGTHS))
    # the dropout is on: the features differ from those of the eval-mode encoder
    text, _ = _tokens(TEXT_LENGTHS, torch.Generator().manual_seed(1))
    assert not torch.allclose(_encoder().eval()(text)[0], ref_global)
    # padding trick: more zero padding gives the same word features (and the same dropout masks)
    padded = _encode(0, 1, None, extra_padding=5)
    torch.testing.assert_close(padded[0], ref_global, rtol=0, atol=1e-14)
    torch.testing.assert_close(padded[1], ref_part, rtol=0, atol=1e-14)
    # rank 0 holds only short captions: its rows are still the 1-process rows
    sizes = (4, 4)
    results = run_on_ranks(_encode, 2, sizes)
    for rank, (words_global, words_part, mask) in enumerate(results):
        rows = _rows(sizes, rank)
        torch.testing.assert_close(mask, ref_mask[rows])
        torch.testing.assert_close(words_global, ref_global[rows], rtol=0, atol=1e-14)
        torch.testing.assert_close(words_part, ref_part[rows], rtol=0, atol=1e-14)
