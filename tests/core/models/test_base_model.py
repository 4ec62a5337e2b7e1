"""BaseReIDModel: the default preprocessor, the mode dispatch and predict built on embed_image / embed_text."""
import glob
import os.path as osp
import types

import pytest
import torch
import torch.nn as nn
from mmpretrain.structures import DataSample

import plugins  # noqa: F401
from plugins.core.hooks import TrainEpochHook
from plugins.core.models import BaseReIDModel, ReIDDataPreprocessor
from tests.helpers import REPO, load_tool


class MeanColour(BaseReIDModel):
    """Image feature = the mean of each channel; text feature = the first three token ids as floats."""

    def loss(self, inputs, data_samples):
        pids = self.training_pids(data_samples)
        return dict(loss=self.embed_image(inputs).sum() * 0 + pids.float().mean())

    def embed_image(self, inputs, data_samples=None):
        return inputs['img'].mean(dim=(2, 3))


class MeanColourText(MeanColour):

    def embed_text(self, inputs, data_samples=None):
        return inputs['text'][:, :3].float()


class EpochRecorder(nn.Module):

    def __init__(self):
        super().__init__()
        self.epochs = []

    def set_train_epoch(self, epoch):
        self.epochs.append(epoch)


def test_data_preprocessor_type_defaults_to_reid():
    """A preprocessor dict without ``type`` is a ReIDDataPreprocessor (mmpretrain's ``setdefault('type')``)."""
    model = MeanColour(data_preprocessor=dict(mean=None, std=None, to_rgb=False))
    assert isinstance(model.data_preprocessor, ReIDDataPreprocessor)
    assert model.data_preprocessor.to_rgb is False and model.data_preprocessor._normalize is False
    assert isinstance(MeanColour().data_preprocessor, ReIDDataPreprocessor)
    with pytest.raises(TypeError, match='data_preprocessor must be a dict or an nn.Module, got str'):
        MeanColour(data_preprocessor='ReIDDataPreprocessor')


def test_a_model_must_implement_embed_image_and_loss():
    class NoEmbedding(BaseReIDModel):
        def loss(self, inputs, data_samples):
            return {}

    with pytest.raises(TypeError, match='abstract'):
        NoEmbedding()


def test_predict_writes_embed_features_by_index():
    """Rows of ``img`` / ``text`` go to the samples at ``img_index`` / ``text_index`` (a mixed test batch)."""
    model = MeanColourText()
    img = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).view(2, 3, 2, 2)
    text = torch.tensor([[7, 8, 9, 0], [4, 5, 6, 1]])
    inputs = dict(img=img, img_index=torch.tensor([3, 0]), text=text, text_index=torch.tensor([1, 2]))
    out = model(inputs, [DataSample() for _ in range(4)], mode='predict')
    # channel means by hand: image 0 holds 0..11, channel c its values 4c..4c+3
    assert out[3].pred_feature.tolist() == [1.5, 5.5, 9.5]
    assert out[0].pred_feature.tolist() == [13.5, 17.5, 21.5]
    assert out[1].pred_feature.tolist() == [7., 8., 9.] and out[2].pred_feature.tolist() == [4., 5., 6.]
    tensors = model(inputs, mode='tensor')
    assert set(tensors) == {'img', 'text'} and tensors['img'][0].tolist() == [1.5, 5.5, 9.5]


def test_image_only_model_ignores_text_and_refuses_embed_text():
    model = MeanColour()
    assert not model.has_text_tower and MeanColourText().has_text_tower
    inputs = dict(img=torch.ones(1, 3, 2, 2), img_index=torch.tensor([1]), text=torch.ones(1, 4, dtype=torch.long),
                  text_index=torch.tensor([0]))
    out = model(inputs, [DataSample(), DataSample()], mode='predict')
    assert 'pred_feature' not in out[0] and out[1].pred_feature.tolist() == [1., 1., 1.]
    assert model(inputs, mode='tensor').shape == (1, 3)  # image-only: a tensor, not a dict
    with pytest.raises(TypeError, match='MeanColour has no text tower: it embeds images only'):
        model.embed_text(inputs)


def test_invalid_mode_and_class_count():
    model = MeanColour(num_classes=3)
    with pytest.raises(RuntimeError, match='Invalid mode "train"; expected loss, predict or tensor'):
        model(dict(img=torch.ones(1, 3, 2, 2)), mode='train')
    samples = [DataSample().set_gt_label(p) for p in (0, 3)]
    with pytest.raises(ValueError, match='MeanColour: training person id 3 >= model.num_classes=3'):
        model(dict(img=torch.ones(2, 3, 2, 2)), samples, mode='loss')


def test_train_epoch_hook_reaches_the_model_and_its_modules():
    model = MeanColour()
    model.recorder = EpochRecorder()
    assert model.train_epoch == 0  # never told: epoch 0
    hook = TrainEpochHook()
    runner = types.SimpleNamespace(model=model, epoch=3)
    hook.before_train(runner)
    hook.before_train_epoch(runner)
    assert model.train_epoch == 3 and model.recorder.epochs == [3]
    with pytest.raises(TypeError, match='TrainEpochHook: the model Linear has no `set_train_epoch'):
        hook.before_train(types.SimpleNamespace(model=nn.Linear(2, 2), epoch=0))


@pytest.mark.parametrize('config', sorted(glob.glob(osp.join(REPO, 'configs', 'demo', '*.py'))),
                         ids=lambda p: osp.splitext(osp.basename(p))[0])
def test_tensor_mode_is_one_format_for_every_method(config):
    """``mode='tensor'`` of every method: (N, D) = ``embed_image`` for image-only models, ``{'img', 'text'}`` =
    ``embed_image`` / ``embed_text`` for text-image models (one model returned ``image_feats`` / ``text_feats``)."""
    from mmengine.config import Config
    from mmpretrain.registry import MODELS
    export = load_tool('export_onnx')
    cfg = Config.fromfile(config)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).eval()
    height, width = export.test_image_size(cfg)
    inputs = dict(img=torch.randn(2, 3, height, width))
    if model.has_text_tower:
        length = export.test_text_length(cfg)
        text = torch.randint(1, model.vocab_size or 100, (3, length))
        text[:, length // 2:] = 0  # padding after half the tokens, as a short caption
        inputs.update(text=text, text_mask=text.ne(0))
    with torch.no_grad():
        out = model(inputs, mode='tensor')
        if not model.has_text_tower:
            torch.testing.assert_close(out, model.embed_image(inputs))
            return
        assert sorted(out) == ['img', 'text']
        torch.testing.assert_close(out['img'], model.embed_image(inputs))
        torch.testing.assert_close(out['text'], model.embed_text(inputs))
