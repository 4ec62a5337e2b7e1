"""IRRA on a tiny random CLIPConfig: modes, shapes, losses, MLM isolation, predict contract, parameter groups."""
import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import plugins  # noqa: F401  (registers everything)
from plugins.irra import IRRA
from .tiny import TINY_CLIP

NUM_CLASSES = 5


def make_model(image_size=(128, 64), **kwargs):
    torch.manual_seed(0)
    cfg = dict(type='IRRA', num_classes=NUM_CLASSES, cross_depth=2,
               clip=dict(pretrained=None, config=TINY_CLIP, image_size=image_size))
    cfg.update(kwargs)
    return MODELS.build(cfg)


def make_text(batch, length=77, real=8, seed=0):
    """Caption ids SOT ... EOT, zero padded, like CLIPTokenize's output."""
    g = torch.Generator().manual_seed(seed)
    text = torch.zeros(batch, length, dtype=torch.long)
    for i in range(batch):
        n = real - i % 3
        text[i, 0] = 49406
        text[i, 1:n + 1] = torch.randint(1, 49405, (n,), generator=g)
        text[i, n + 1] = 49407
    return text


def make_mlm(text, positions=(1, 3)):
    mlm_text, labels = text.clone(), torch.full_like(text, -100)
    for p in positions:
        labels[:, p] = text[:, p]
        mlm_text[:, p] = 49405
    return mlm_text, labels


def samples(pids, modality='image'):
    out = []
    for pid in pids:
        s = DataSample().set_gt_label(pid)
        s.set_metainfo(dict(modality=modality))
        out.append(s)
    return out


def train_batch(batch=4, h=128, w=64):
    text = make_text(batch)
    mlm_text, mlm_labels = make_mlm(text)
    inputs = dict(img=torch.randn(batch, 3, h, w), text=text, mlm_text=mlm_text, mlm_labels=mlm_labels)
    return inputs, samples([0, 0, 1, 2][:batch])


def test_shapes_of_tokens_and_global_features():
    model = make_model().eval()
    img = torch.randn(2, 3, 128, 64)  # 8 x 4 patches
    text = make_text(2)
    with torch.no_grad():
        image_tokens = model.encode_image_tokens(img)
        text_tokens = model.encode_text_tokens(text)
        feats = dict(image_feats=model.extract_image_feat(img), text_feats=model.extract_text_feat(text))
        fused = model.cross_modal(text_tokens, image_tokens)
        scores = model.mlm_head(fused)
    assert image_tokens.shape == (2, 1 + 8 * 4, 64)
    assert text_tokens.shape == (2, 77, 64)
    assert feats['image_feats'].shape == (2, 64) and feats['text_feats'].shape == (2, 64)
    assert fused.shape == (2, 77, 64)
    assert scores.shape == (2, 77, 49408)
    # global text feature = projected token at the EOT (argmax id) position, not the last position
    eot = text.argmax(-1)
    assert torch.allclose(feats['text_feats'], text_tokens[torch.arange(2), eot])
    assert not torch.allclose(feats['text_feats'], text_tokens[:, -1])
    assert torch.allclose(feats['image_feats'], image_tokens[:, 0])


def test_image_feature_matches_clip_pooled_projection():
    model = make_model(image_size=(64, 64)).eval()  # CLIP's own square input
    img = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ours = model.extract_image_feat(img)
        ref = model.clip.get_image_features(pixel_values=img)
    ref = getattr(ref, 'pooler_output', ref)
    torch.testing.assert_close(ours, ref)


def test_loss_mode_returns_named_finite_losses_with_gradients():
    model = make_model().train()
    inputs, data_samples = train_batch()
    losses = model(inputs, data_samples, mode='loss')
    assert {'loss_sdm', 'loss_id', 'loss_mlm', 'acc_id_img', 'acc_id_text', 'acc_mlm'} <= set(losses)
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    for name, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None, f'{name} got no gradient (DDP would fail)'
            assert torch.isfinite(p.grad).all(), name
    # MLM at init: near-uniform over the 49,408 ids
    assert abs(losses['loss_mlm'].item() - torch.log(torch.tensor(49408.)).item()) < 1.5


def test_id_loss_is_official_mean_of_image_and_text_ce():
    model = make_model().train()
    inputs, data_samples = train_batch()
    pids = torch.tensor([0, 0, 1, 2])
    losses = model(inputs, data_samples, mode='loss')
    with torch.no_grad():  # the default (official) trains ID on the masked caption
        feats = dict(image_feats=model.extract_image_feat(inputs['img']),
                     text_feats=model.extract_text_feat(inputs['mlm_text']))
        ce = torch.nn.functional.cross_entropy
        expected = (ce(model.classifier(feats['image_feats']), pids) +
                    ce(model.classifier(feats['text_feats']), pids)) / 2
    assert losses['loss_id'].item() == pytest.approx(expected.item(), rel=1e-5)


@pytest.mark.parametrize('masked', [True, False])
def test_sdm_and_id_read_the_caption_the_switch_names(masked):
    """id_sdm_on_masked_captions=True (official): SDM and ID see the masked ids; False: the clean ids. The IRR
    branch reads the masked ids in both settings."""
    model = make_model(id_sdm_on_masked_captions=masked).eval()
    inputs, data_samples = train_batch()
    seen = {}
    model.loss_sdm.register_forward_hook(lambda m, args, out: seen.__setitem__('sdm_text', args[1]))
    model.classifier.register_forward_hook(lambda m, args, out: seen.setdefault('id', []).append(args[0]))
    model.cross_modal.register_forward_hook(lambda m, args, out: seen.__setitem__('irr_text', args[0]))
    with torch.no_grad():
        model(inputs, data_samples, mode='loss')
        clean = model.extract_text_feat(inputs['text'])
        masked_feats = model.extract_text_feat(inputs['mlm_text'])
        masked_tokens = model.encode_text_tokens(inputs['mlm_text'])
    expected, other = (masked_feats, clean) if masked else (clean, masked_feats)
    assert not torch.allclose(expected, other, atol=1e-3)  # the masks do change the caption features
    torch.testing.assert_close(seen['sdm_text'], expected)
    image_input, text_input = seen['id']  # classifier(image_feats), then classifier(text_feats)
    torch.testing.assert_close(text_input, expected)
    torch.testing.assert_close(image_input, model.extract_image_feat(inputs['img']))
    torch.testing.assert_close(seen['irr_text'], masked_tokens)


def test_masked_captions_need_the_mlm_transform():
    model = make_model(loss_mlm=None)  # no IRR branch, but SDM/ID still want the masked ids
    inputs, data_samples = train_batch()
    del inputs['mlm_text'], inputs['mlm_labels']
    with pytest.raises(KeyError, match='id_sdm_on_masked_captions=False'):
        model(inputs, data_samples, mode='loss')


def test_mlm_loss_only_depends_on_masked_positions_and_sdm_on_clean_text():
    model = make_model(id_sdm_on_masked_captions=False).eval()
    inputs, data_samples = train_batch()
    base = model(inputs, data_samples, mode='loss')
    # corrupting the masked copy changes the MLM loss but not SDM/ID (which read the clean caption)
    other = dict(inputs, mlm_text=inputs['mlm_text'].clone())
    other['mlm_text'][:, 2] = 1234
    changed = model(other, data_samples, mode='loss')
    assert changed['loss_sdm'].item() == pytest.approx(base['loss_sdm'].item(), rel=1e-6)
    assert changed['loss_id'].item() == pytest.approx(base['loss_id'].item(), rel=1e-6)
    assert changed['loss_mlm'].item() != pytest.approx(base['loss_mlm'].item(), rel=1e-6)
    # and the clean caption feeds SDM: masking it would change SDM
    masked_as_clean = dict(inputs, text=inputs['mlm_text'])
    assert model(masked_as_clean, data_samples, mode='loss')['loss_sdm'].item() != \
        pytest.approx(base['loss_sdm'].item(), rel=1e-6)


def test_disabling_mlm_and_id():
    model = make_model(loss_mlm=None, loss_id=None, id_sdm_on_masked_captions=False).train()
    assert not hasattr(model, 'cross_modal') and not hasattr(model, 'classifier')
    inputs, data_samples = train_batch()
    del inputs['mlm_text'], inputs['mlm_labels']
    assert set(model(inputs, data_samples, mode='loss')) == {'loss_sdm'}


def test_missing_mlm_inputs_name_the_transform():
    model = make_model()
    inputs, data_samples = train_batch()
    del inputs['mlm_text']
    with pytest.raises(KeyError, match='MaskedLanguageModeling'):
        model(inputs, data_samples, mode='loss')


def test_too_few_classes_is_a_config_error():
    model = make_model()
    inputs, _ = train_batch()
    with pytest.raises(ValueError, match='num_classes'):
        model(inputs, samples([0, 1, 2, 9]), mode='loss')


def test_predict_writes_image_and_text_features_by_index():
    """A mixed test batch through the preprocessor: images at positions 0, 2; captions at 1, 3."""
    model = make_model().eval()
    text = make_text(2, seed=3)
    raw = [dict(img=torch.randint(0, 255, (3, 128, 64), dtype=torch.uint8)), dict(text=text[0]),
           dict(img=torch.randint(0, 255, (3, 128, 64), dtype=torch.uint8)), dict(text=text[1])]
    data_samples = samples([1, 1, 2, 2])
    for s, m in zip(data_samples, ['image', 'text', 'image', 'text']):
        s.set_metainfo(dict(modality=m))
    with torch.no_grad():
        out = model.test_step(dict(inputs=raw, data_samples=data_samples))
        batch = model.data_preprocessor(dict(inputs=raw, data_samples=None))['inputs']
        img_feats = model.extract_image_feat(batch['img'])
        txt_feats = model.extract_text_feat(batch['text'])
    assert all(s.pred_feature.shape == (64,) for s in out)
    norm = torch.nn.functional.normalize
    torch.testing.assert_close(out[0].pred_feature, norm(img_feats, dim=1)[0])
    torch.testing.assert_close(out[2].pred_feature, norm(img_feats, dim=1)[1])
    torch.testing.assert_close(out[1].pred_feature, norm(txt_feats, dim=1)[0])
    torch.testing.assert_close(out[3].pred_feature, norm(txt_feats, dim=1)[1])


def test_param_groups_new_modules_5x_bias_2x_no_decay():
    model = make_model()
    with DefaultScope.overwrite_default_scope('mmpretrain'):  # as in a Runner with default_scope='mmpretrain'
        wrapper = build_optim_wrapper(model, dict(
            optimizer=dict(type='Adam', lr=1e-5, weight_decay=4e-5),
            constructor='IRRAOptimWrapperConstructor'))
    groups = {id(g['params'][0]): g for g in wrapper.optimizer.param_groups}
    names = dict(model.named_parameters())
    assert len(groups) == sum(p.requires_grad for p in names.values())
    assert id(model.clip.logit_scale) not in groups  # frozen CLIP temperature is not optimised

    def group(name):
        return groups[id(names[name])]

    tower_w = group('clip.vision_model.encoder.layers.0.mlp.fc1.weight')
    assert (tower_w['lr'], tower_w['weight_decay']) == (pytest.approx(1e-5), pytest.approx(4e-5))
    tower_b = group('clip.text_model.encoder.layers.1.self_attn.q_proj.bias')
    assert (tower_b['lr'], tower_b['weight_decay']) == (pytest.approx(2e-5), 0.0)
    for new in ('cross_modal.cross_attn.in_proj_weight', 'cross_modal.blocks.0.mlp.c_fc.weight',
                'cross_modal.ln_post.weight', 'mlm_head.fc.weight', 'classifier.weight'):
        assert (group(new)['lr'], group(new)['weight_decay']) == (pytest.approx(5e-5), pytest.approx(4e-5)), new
    assert (group('mlm_head.fc.bias')['lr'], group('mlm_head.fc.bias')['weight_decay']) == (pytest.approx(2e-5), 0.0)


def test_mmengine_init_weights_keeps_clip_weights():
    model = make_model()
    before = model.clip.text_model.embeddings.token_embedding.weight.clone()
    model.init_weights()
    assert torch.equal(before, model.clip.text_model.embeddings.token_embedding.weight)


def test_irra_class_is_exported():
    assert MODELS.get('IRRA') is IRRA
