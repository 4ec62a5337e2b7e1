"""SSAN model: forward modes on random preprocessed batches, retrieval score = S_g + S_l + S_n, ID loss."""
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import plugins  # noqa: F401
from plugins.ssan.losses import cosine_similarity_matrix

VOCAB, CLASSES, K = 40, 5, 6


def tiny_ssan(**kwargs):
    cfg = dict(type='SSAN', backbone=dict(type='ResNet', depth=18, strides=(1, 2, 2, 1)), vocab_size=VOCAB,
               num_classes=CLASSES, embed_dims=16, feat_dims=32, relation_dims=24, num_parts=K)
    cfg.update(kwargs)
    torch.manual_seed(0)
    return MODELS.build(cfg)


def captions(bsz, length, seed):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, VOCAB, (bsz, length), generator=g)
    lengths = torch.randint(3, length + 1, (bsz,), generator=g)
    mask = torch.arange(length).view(1, -1) < lengths.view(-1, 1)
    return ids * mask, mask.long()


def train_batch(bsz=6):
    text, text_mask = captions(bsz, 10, 1)
    weak, weak_mask = captions(bsz, 12, 2)
    inputs = dict(img=torch.randn(bsz, 3, 96, 32), text=text, text_mask=text_mask, weak_text=weak,
                  weak_text_mask=weak_mask)
    for key in list(inputs):
        inputs[key + '_index'] = torch.arange(bsz)
    samples = [DataSample().set_gt_label(i % 3) for i in range(bsz)]
    return inputs, samples


def test_loss_mode_returns_the_six_weighted_losses_and_backpropagates():
    model = tiny_ssan()
    inputs, samples = train_batch()
    losses = model(inputs, samples, mode='loss')
    names = [f'loss_{kind}_{branch}' for kind in ('id', 'cr') for branch in ('global', 'local', 'relation')]
    assert set(names) <= set(losses) and 'acc_id' in losses
    assert all(torch.isfinite(losses[n]) and losses[n].dim() == 0 for n in names)
    total = sum(losses[n] for n in names)
    total.backward()
    for name in ('text_encoder.embed_part.weight', 'word_attention.score.weight', 'part_relation.theta.weight',
                 'classifiers.relation.fc.weight', 'backbone.conv1.weight'):
        assert model.get_parameter(name).grad.abs().sum() > 0, name


def test_id_loss_is_official_weighting():
    """loss_id_local = 0.5 * sum_k (CE(img_k) + CE(txt_k)) / K, with the classifiers shared by modalities."""
    model = tiny_ssan(text_dropout=0.0).eval()  # eval: deterministic dropout/BN for the comparison
    inputs, samples = train_batch()
    pids = torch.tensor([s.gt_label.item() for s in samples])
    losses = model(inputs, samples, mode='loss')
    img = model.image_features(inputs['img'])
    txt = model.text_features(inputs['text'], inputs['text_mask'])
    for name, weight in (('global', 1.0), ('local', 0.5), ('relation', 0.5)):
        fc = model.classifiers[name].fc
        num_parts = img[name].size(1)
        want = sum(F.cross_entropy(img[name][:, k] @ fc.weight[k].t() + fc.bias[k], pids)
                   + F.cross_entropy(txt[name][:, k] @ fc.weight[k].t() + fc.bias[k], pids)
                   for k in range(num_parts)) / num_parts
        torch.testing.assert_close(losses[f'loss_id_{name}'], weight * want, rtol=1e-4, atol=1e-5)


def test_feature_shapes_and_wam_scores():
    model = tiny_ssan().eval()
    inputs, _ = train_batch()
    img = model.image_features(inputs['img'])
    txt, scores = model.text_features(inputs['text'], inputs['text_mask'], return_scores=True)
    for feats in (img, txt):
        assert feats['global'].shape == (6, 1, 32)
        assert feats['local'].shape == (6, K, 32)
        assert feats['relation'].shape == (6, K, 24)
    words = int(inputs['text_mask'].sum(1).max())
    assert scores.shape == (6, words, K) and ((scores > 0) & (scores < 1)).all()


def test_predict_dot_product_is_sum_of_three_similarities_and_modalities_are_independent():
    model = tiny_ssan().eval()
    inputs, samples = train_batch()
    # a mixed test batch: images at even positions, captions at odd positions
    img_pos, txt_pos = torch.tensor([0, 2, 4]), torch.tensor([1, 3, 5])
    test_inputs = dict(img=inputs['img'][:3], img_index=img_pos, text=inputs['text'][:3],
                       text_mask=inputs['text_mask'][:3], text_index=txt_pos)
    out = model(test_inputs, samples, mode='predict')
    feats = torch.stack([s.pred_feature for s in out])
    img_feats, txt_feats = feats[img_pos], feats[txt_pos]
    img = model.image_features(inputs['img'][:3])
    txt = model.text_features(inputs['text'][:3], inputs['text_mask'][:3])
    score = sum(cosine_similarity_matrix(img[b], txt[b]) for b in ('global', 'local', 'relation'))
    torch.testing.assert_close(img_feats @ txt_feats.t(), score, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(feats.norm(dim=1), torch.full((6,), 3 ** 0.5), rtol=1e-4, atol=1e-4)
    # query-gallery independence: captions alone (other batch, other companions) give the same features
    alone = model(dict(text=inputs['text'][:1], text_mask=inputs['text_mask'][:1], text_index=torch.tensor([0])),
                  [DataSample()], mode='predict')[0].pred_feature
    torch.testing.assert_close(alone, txt_feats[0], rtol=1e-4, atol=1e-5)
    tensors = model(test_inputs, mode='tensor')
    torch.testing.assert_close(tensors['img'], img_feats)


def test_bad_inputs_name_the_fix():
    model = tiny_ssan()
    inputs, samples = train_batch()
    inputs.pop('weak_text')
    with pytest.raises(KeyError, match='weak_text'):
        model(inputs, samples, mode='loss')
    inputs, samples = train_batch()
    inputs['text'][0, 0] = VOCAB + 3
    with pytest.raises(ValueError, match='vocab_size'):
        model(inputs, samples, mode='loss')
    inputs, _ = train_batch()
    with pytest.raises(ValueError, match='num_classes'):
        model(inputs, [DataSample().set_gt_label(CLASSES)] * 6, mode='loss')
