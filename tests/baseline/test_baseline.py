"""ReIDBaseline and ReIDDataPreprocessor on random batches shaped like the data contract."""
import pytest
import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import plugins  # noqa: F401


def _batch(n=8, num_ids=4, with_text=False):
    inputs, samples = [], []
    for i in range(n):
        item = {'img': torch.randint(0, 256, (3, 32, 16), dtype=torch.uint8)}
        if with_text and i % 2:
            item = {'text': torch.arange(5)}
        inputs.append(item)
        samples.append(DataSample().set_gt_label(i % num_ids))
    return dict(inputs=inputs, data_samples=samples)


def _model(num_classes=4):
    return MODELS.build(dict(type='ReIDBaseline', backbone=dict(type='ResNet', depth=18, strides=(1, 2, 2, 1)),
                             num_classes=num_classes))


def test_preprocessor_normalises_and_indexes_mixed_batches():
    pre = MODELS.build(dict(type='ReIDDataPreprocessor'))
    batch = _batch(6, with_text=True)
    out = pre(batch)
    assert out['inputs']['img'].shape == (3, 3, 32, 16)
    assert out['inputs']['img_index'].tolist() == [0, 2, 4]
    assert out['inputs']['text_index'].tolist() == [1, 3, 5]
    raw = batch['inputs'][0]['img'].float().flip(0)  # BGR -> RGB
    mean = torch.tensor([123.675, 116.28, 103.53]).view(3, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(3, 1, 1)
    assert torch.allclose(out['inputs']['img'][0], (raw - mean) / std, atol=1e-5)


def test_baseline_loss_and_predict():
    model = _model()
    data = model.data_preprocessor(_batch(), True)
    losses = model(**data, mode='loss')
    assert {'loss_id', 'loss_triplet'} <= set(losses)
    assert all(torch.isfinite(v) for v in losses.values())
    model.eval()
    with torch.no_grad():
        out = model(**data, mode='predict')
    assert all(s.pred_feature.shape == (512,) for s in out)


def test_num_classes_mismatch_names_the_config_key():
    model = _model(num_classes=2)
    data = model.data_preprocessor(_batch(num_ids=4), True)
    with pytest.raises(ValueError, match='model.num_classes'):
        model(**data, mode='loss')
