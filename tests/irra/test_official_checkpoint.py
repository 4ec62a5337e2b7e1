"""Official IRRA checkpoints: tools/model_converters/irra_to_mmreid.py, the converted model against a plain-torch
forward of the official definition, and tools/test.py on the converted file without any CLIP download."""
import importlib.util
import os.path as osp

import pytest
import torch
from mmpretrain.registry import MODELS

import plugins  # noqa: F401
from plugins.irra import IRRA
from tests.helpers import REPO, load_tool, make_demo_data
from .official_layout import (Arch, official_irra_checkpoint, reference_image_feature, reference_image_tokens,
                              reference_mlm_scores, reference_text_feature, reference_text_tokens)

ARCH = Arch()


def converter():
    path = osp.join(REPO, 'tools', 'model_converters', 'irra_to_mmreid.py')
    spec = importlib.util.spec_from_file_location('irra_to_mmreid', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def captions(batch, length=77, seed=0):
    """SOT, words, EOT (the largest id), zero padding -- CLIPTokenize's layout."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.zeros(batch, length, dtype=torch.long)
    for i in range(batch):
        n = 5 + 7 * i
        ids[i, 0], ids[i, 1:n + 1], ids[i, n + 1] = 49406, torch.randint(1, 49405, (n, ), generator=g), 49407
    return ids


def official_float32(model_sd):
    """The official tensors as the reference forward reads them: float32, CLIP without ``base_model.``."""
    clip = {k[len('base_model.'):]: v.float() for k, v in model_sd.items() if k.startswith('base_model.')}
    heads = {k: v.float() for k, v in model_sd.items() if not k.startswith('base_model.')}
    return clip, heads


@pytest.fixture(scope='module')
def converted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('irra_official')
    official = official_irra_checkpoint(ARCH, seed=11)
    torch.save(official, tmp / 'best.pth')  # the fp16 / fp32 mix of the official build_model
    converter().main([str(tmp / 'best.pth'), str(tmp / 'irra_mmreid.pth')])
    return official, torch.load(tmp / 'irra_mmreid.pth', map_location='cpu', weights_only=True)


def build(arch, **kwargs):
    return MODELS.build(dict(type='IRRA', num_classes=arch.num_classes, cross_depth=arch.cross_depth,
                             clip=dict(pretrained=None, config=arch.transformers_config(), image_size=arch.image_size,
                                       stride=arch.patch), **kwargs))


def test_converted_file_layout(converted):
    official, out = converted
    assert set(out) == {'meta', 'state_dict'}
    assert out['meta']['official_epoch'] == 37 and out['meta']['position_rows'] == 1 + 24 * 8
    assert all(v.dtype == torch.float32 for v in out['state_dict'].values())
    assert any(v.dtype == torch.float16 for v in official['model'].values())  # the input was the fp16 mix


def test_converted_model_matches_the_official_forward(converted):
    """Image / text features, IRR (cross-former + MLM head) scores and ID logits of the plugin's IRRA loaded
    strictly from the converted file == an independent float32 forward of the official definition."""
    official, out = converted
    model = build(ARCH).eval()
    model.load_state_dict(out['state_dict'], strict=True)
    clip, heads = official_float32(official['model'])
    g = torch.Generator().manual_seed(2)
    img = torch.randn(2, 3, 384, 128, generator=g)
    ids = captions(2)
    with torch.no_grad():
        image_feats = model.extract_image_feat(img)
        text_feats = model.extract_text_feat(ids)
        scores = model.mlm_head(model.cross_modal(model.encode_text_tokens(ids), model.encode_image_tokens(img)))
        logits = model.classifier(image_feats)
        ref_image = reference_image_feature(clip, img, ARCH)
        ref_text = reference_text_feature(clip, ids, ARCH)
        ref_scores = reference_mlm_scores(heads, reference_text_tokens(clip, ids, ARCH),
                                          reference_image_tokens(clip, img, ARCH), ARCH)
        ref_logits = ref_image @ heads['classifier.weight'].t() + heads['classifier.bias']
    assert image_feats.shape == (2, ARCH.embed) and text_feats.shape == (2, ARCH.embed)
    assert (image_feats - ref_image).abs().max() <= 1e-4
    assert (text_feats - ref_text).abs().max() <= 1e-4
    assert (scores - ref_scores).abs().max() <= 1e-4
    assert (logits - ref_logits).abs().max() <= 1e-4
    assert ref_image.abs().mean() > 1e-2 and ref_text.abs().mean() > 1e-2  # not a trivially small output


def test_missing_and_unknown_entries_are_named_and_nothing_is_written(tmp_path):
    official = official_irra_checkpoint(ARCH, seed=3)
    del official['model']['base_model.transformer.resblocks.1.ln_2.bias'], official['model']['ln_pre_i.weight']
    official['model']['prompt_learner.ctx'] = torch.zeros(4, 8)
    torch.save(official, tmp_path / 'best.pth')
    with pytest.raises(KeyError) as err:
        converter().main([str(tmp_path / 'best.pth'), str(tmp_path / 'out.pth')])
    message = str(err.value)
    for fragment in ('best.pth', 'missing: base_model.transformer.resblocks.1.ln_2.bias', 'missing: ln_pre_i.weight',
                     'unknown: prompt_learner.ctx', '2 missing and 1 unknown'):
        assert fragment in message, fragment
    assert not (tmp_path / 'out.pth').exists()


def test_a_file_without_the_model_entry_is_named(tmp_path):
    torch.save({'state_dict': {}}, tmp_path / 'other.pth')
    with pytest.raises(KeyError, match=r'other\.pth.*no "model" state dict.*state_dict'):
        converter().main([str(tmp_path / 'other.pth'), str(tmp_path / 'out.pth')])


def test_module_prefix_of_a_data_parallel_run_is_removed(converted, tmp_path):
    official, out = converted
    wrapped = dict(official, model={f'module.{k}': v for k, v in official['model'].items()})
    torch.save(wrapped, tmp_path / 'best.pth')
    state_dict = converter().main([str(tmp_path / 'best.pth'), str(tmp_path / 'out.pth')])
    assert list(state_dict) == list(out['state_dict'])


# ------------------------------------------------------------------------------- tools/test.py, offline
TOOL_ARCH = Arch(cross_depth=4, num_classes=11003)  # the published config's IRR depth and CUHK-PEDES classes


@pytest.fixture(scope='module')
def demo_cuhk(tmp_path_factory):
    root = tmp_path_factory.mktemp('demo')
    make_demo_data(root, 'cuhk-pedes')
    return root / 'cuhk-pedes'


def test_tools_test_evaluates_the_converted_checkpoint_without_clip(demo_cuhk, tmp_path, monkeypatch):
    """``tools/test.py configs/irra_cuhkpedes.py OUT.pth`` (a child config that only narrows the CLIP towers to
    the test file's width and points at demo data): the converted weights reach the evaluated model, and the
    pre-trained CLIP is never asked for (every way to it raises)."""
    import transformers

    import plugins.irra.clip_loading as clip_loading
    import plugins.irra.model as irra_model

    def no_download(*args, **kwargs):
        raise AssertionError('tools/test.py tried to load the pre-trained CLIP')

    monkeypatch.setattr(clip_loading, 'pretrained_clip_state_dict', no_download)
    monkeypatch.setattr(irra_model, 'load_clip_weights', no_download)
    monkeypatch.setattr(transformers.CLIPModel, 'from_pretrained', no_download)
    evaluated = []
    predict = IRRA.predict
    monkeypatch.setattr(IRRA, 'predict', lambda self, *a, **k: evaluated.append(self) or predict(self, *a, **k))

    torch.save(official_irra_checkpoint(TOOL_ARCH, seed=21), tmp_path / 'best.pth')
    converter().main([str(tmp_path / 'best.pth'), str(tmp_path / 'irra_official.pth')])
    child = tmp_path / 'irra_cuhkpedes_tiny.py'
    child.write_text(
        f"_base_ = [{osp.join(REPO, 'configs', 'irra_cuhkpedes.py')!r}]\n"
        f"model = dict(clip=dict(config=dict(_delete_=True, **{TOOL_ARCH.transformers_config()!r})))\n"
        f"test_dataloader = dict(num_workers=0, persistent_workers=False, batch_size=64,\n"
        f"                       dataset=dict(data_root={str(demo_cuhk)!r}))\n")
    metrics = load_tool('test').main([str(child), str(tmp_path / 'irra_official.pth'),
                                      '--work-dir', str(tmp_path / 'work')])
    assert {'R1', 'R5', 'R10', 'mAP', 'mINP'} <= set(metrics)
    assert evaluated, 'the test loop never ran the model'
    converted = torch.load(tmp_path / 'irra_official.pth', map_location='cpu', weights_only=True)['state_dict']
    state = evaluated[0].state_dict()
    assert set(state) == set(converted)
    for key, value in converted.items():
        assert torch.equal(state[key].cpu(), value), key
