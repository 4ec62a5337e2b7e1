"""CASN model on random batches shaped like the data contract (IDE and PCB heads)."""
import pytest
import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import plugins  # noqa: F401


def _batch(num_ids=4, k=2, h=48, w=16):
    inputs, samples = [], []
    for i in range(num_ids * k):
        inputs.append({'img': torch.randint(0, 256, (3, h, w), dtype=torch.uint8)})
        samples.append(DataSample().set_gt_label(i // k))
    return dict(inputs=inputs, data_samples=samples)


def _model(head, **kwargs):
    backbone = dict(type='ResNet', depth=18, base_channels=16, stem_channels=16, strides=(1, 1, 2, 1))
    cfg = dict(type='CASN', backbone=backbone, num_classes=4,
               head=head, head_cfg=dict(stripe_dim=32) if head == 'pcb' else dict(embed_dim=64))
    cfg.update(kwargs)
    return MODELS.build(cfg)


@pytest.mark.parametrize('head,dim', [('ide', 64), ('pcb', 6 * 32)])
def test_loss_predict_tensor(head, dim):
    torch.manual_seed(0)
    model = _model(head)
    data = model.data_preprocessor(_batch(), True)
    losses = model(**data, mode='loss')
    assert {'loss_id', 'loss_ia', 'loss_sia', 'loss_sa', 'acc_id', 'acc_sia'} <= set(losses)
    assert all(torch.isfinite(v) for v in losses.values())
    assert 0 <= losses['loss_ia'] <= 1  # a softmax probability
    total = sum(v for k, v in losses.items() if k.startswith('loss'))
    total.backward()
    assert model.backbone.conv1.weight.grad.abs().sum() > 0
    assert model.siamese_head.fc.weight.grad.abs().sum() > 0
    if head == 'pcb':
        assert len(model.head.classifiers) == 6
        assert all(fc.weight.grad.abs().sum() > 0 for fc in model.head.classifiers)

    model.eval()
    with torch.no_grad():
        out = model(**data, mode='predict')
        feats = model(data['inputs'], mode='tensor')
    assert all(s.pred_feature.shape == (dim,) for s in out)
    assert feats.shape == (8, dim)


def test_attention_terms_reach_backbone_and_can_be_disabled():
    torch.manual_seed(0)
    model = _model('ide', loss_sia_weight=0.0, loss_sa=None)
    data = model.data_preprocessor(_batch(), True)
    losses = model(**data, mode='loss')
    assert set(k for k in losses if k.startswith('loss')) == {'loss_id', 'loss_ia'}
    losses['loss_ia'].backward()
    assert model.backbone.layer1[0].conv1.weight.grad.abs().sum() > 0

    model = _model('pcb', loss_ia=None, loss_sia_weight=0.0)
    data = model.data_preprocessor(_batch(), True)
    losses = model(**data, mode='loss')
    assert set(k for k in losses if k.startswith('loss')) == {'loss_id', 'loss_sa'}
    assert losses['loss_sa'] > 0  # random maps of two images of one "id" are not identical
    losses['loss_sa'].backward()
    assert model.backbone.layer1[0].conv1.weight.grad.abs().sum() > 0


def test_pcb_rejects_short_feature_maps():
    model = _model('pcb')
    data = model.data_preprocessor(_batch(h=32, w=16), True)
    with pytest.raises(ValueError, match='num_stripes'):
        model(**data, mode='loss')


def test_masked_pass_leaves_bn_running_statistics_to_real_images():
    torch.manual_seed(0)
    model = _model('ide', loss_sia_weight=0.0, loss_sa=None)
    img = model.data_preprocessor(_batch(), True)['inputs']['img']
    bn = model.backbone.bn1
    before = bn.running_mean.clone()
    model.classify(img)  # the L_ia path
    assert torch.equal(bn.running_mean, before) and bn.momentum == 0.1
    model.extract(img)  # a real forward still updates them
    assert not torch.equal(bn.running_mean, before)
