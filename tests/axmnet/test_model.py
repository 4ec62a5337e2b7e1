"""AXMNet forward modes on random batches shaped like a preprocessed batch (docs/data_contract.md, sec. 3)."""
import pytest
import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import plugins  # noqa: F401

VOCAB = 30


def tiny_model(**overrides):
    cfg = dict(type='AXMNet',
               backbone=dict(type='ResNet', depth=18, num_stages=3, strides=(1, 2, 2), dilations=(1, 1, 1),
                             out_indices=(2,), stem_channels=16, base_channels=16),
               in_channels=64, vocab_size=VOCAB, num_classes=4, word_embed_dim=8, num_text_blocks=1,
               num_axm_blocks=2, num_parts=2, embed_dim=16)
    cfg.update(overrides)
    torch.manual_seed(0)
    return MODELS.build(cfg)


def train_batch(b=8, length=10):
    g = torch.Generator().manual_seed(0)
    text = torch.randint(1, VOCAB, (b, length), generator=g)
    text[::2, 7:] = 0  # padding
    idx = torch.arange(b)
    samples = [DataSample().set_gt_label(i // 2) for i in range(b)]
    return dict(img=torch.randn(b, 3, 64, 32, generator=g), img_index=idx, text=text, text_index=idx), samples


def test_loss_mode_returns_named_finite_losses_and_gradients():
    model = tiny_model().train()
    inputs, samples = train_batch()
    losses = model(inputs, samples, mode='loss')
    assert {'loss_id', 'loss_triplet', 'loss_affinity'} <= set(losses)
    total = sum(v for k, v in losses.items() if k.startswith('loss'))
    assert torch.isfinite(total)
    total.backward()
    assert model.text_stem.embedding.weight.grad.abs().sum() > 0
    assert model.backbone.conv1.weight.grad.abs().sum() > 0
    assert model.axm_blocks[0].visual.expand[1].weight.grad.abs().sum() > 0
    # the AXM expand BN starts at zero (identity block), so the context gate learns from the second step on
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    model.zero_grad()
    losses = model(inputs, samples, mode='loss')
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    for block in model.axm_blocks:
        assert block.gate.fc1.weight.grad.abs().sum() > 0 and block.gate.fc2.weight.grad.abs().sum() > 0


def test_loss_mode_validates_inputs():
    model = tiny_model().train()
    inputs, samples = train_batch()
    with pytest.raises(KeyError, match='text'):
        model({k: v for k, v in inputs.items() if not k.startswith('text')}, samples, mode='loss')
    with pytest.raises(ValueError, match='num_classes'):
        model(inputs, [DataSample().set_gt_label(9) for _ in samples], mode='loss')


def test_optional_losses_can_be_switched_off():
    model = tiny_model(loss_affinity=None, loss_triplet=None).train()
    losses = model(*train_batch(), mode='loss')
    assert 'loss_affinity' not in losses and 'loss_triplet' not in losses and 'loss_id' in losses


def test_predict_mixed_batch_sets_unit_features_independent_of_batch():
    model = tiny_model().eval()
    inputs, _ = train_batch()
    # a validation batch: samples 0, 2, 5 are images, 1, 3, 4, 6 captions
    img_index, text_index = torch.tensor([0, 2, 5]), torch.tensor([1, 3, 4, 6])
    mixed = dict(img=inputs['img'][:3], img_index=img_index, text=inputs['text'][:4], text_index=text_index)
    samples = [DataSample().set_gt_label(0) for _ in range(7)]
    with torch.no_grad():
        out = model(mixed, samples, mode='predict')
        feats = torch.stack([s.pred_feature for s in out])
        assert feats.shape == (7, 16)
        assert torch.allclose(feats.norm(dim=1), torch.ones(7), atol=1e-5)
        # query-gallery independence: an image alone, or a caption alone, gets the same feature
        alone = model(dict(img=inputs['img'][1:2], img_index=torch.tensor([0])), [DataSample()], mode='predict')
        assert torch.allclose(alone[0].pred_feature, feats[2], atol=1e-5)
        alone = model(dict(text=inputs['text'][3:4], text_index=torch.tensor([0])), [DataSample()],
                      mode='predict')
        assert torch.allclose(alone[0].pred_feature, feats[6], atol=1e-5)


def test_predict_cosine_is_the_model_similarity():
    model = tiny_model().eval()
    inputs, _ = train_batch(b=4)
    with torch.no_grad():
        raw = model(inputs, mode='tensor')
        samples = [DataSample() for _ in range(4)]
        both = dict(img=inputs['img'], img_index=torch.tensor([0, 1, 2, 3]))
        imgs = [s.pred_feature for s in model(both, samples, mode='predict')]
    assert set(raw) == {'img', 'text'} and raw['img'].shape == (4, 16) and raw['text'].shape == (4, 16)
    cos = torch.nn.functional.cosine_similarity(raw['img'][0], raw['img'][1], dim=0)
    assert torch.allclose(imgs[0] @ imgs[1], cos, atol=1e-5)


def test_vocab_size_required():
    with pytest.raises(ValueError, match='vocab_size'):
        tiny_model(vocab_size=None)
