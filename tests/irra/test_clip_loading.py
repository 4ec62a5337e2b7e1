"""OpenAI <-> transformers CLIP key conversion (against open_clip's tiny model) and the missing-weights error."""
import pytest
import torch

from plugins.irra import (CLIPWeightsNotFoundError, build_clip, clip_config_from_openai, convert_hf_to_openai,
                          convert_openai_to_hf)


@pytest.fixture(scope='module')
def tiny_openai_clip():
    """open_clip's CLIP has exactly the OpenAI checkpoint layout (visual.conv1, transformer.resblocks, ...)."""
    open_clip_model = pytest.importorskip('open_clip.model')
    torch.manual_seed(0)
    model = open_clip_model.CLIP(
        embed_dim=32, quick_gelu=True,
        vision_cfg=open_clip_model.CLIPVisionCfg(layers=2, width=128, head_width=64, patch_size=16, image_size=64),
        text_cfg=open_clip_model.CLIPTextCfg(context_length=77, vocab_size=49408, width=128, heads=2, layers=2))
    with torch.no_grad():  # open_clip zero-inits some biases / pos-embeds; randomise so the test sees every entry
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    return model.eval()


def _captions():
    text = torch.zeros(2, 77, dtype=torch.long)
    text[0, :6] = torch.tensor([49406, 320, 1929, 530, 1746, 49407])
    text[1, :4] = torch.tensor([49406, 1237, 2866, 49407])
    return text


def test_openai_state_dict_round_trip(tiny_openai_clip):
    sd = {k: v for k, v in tiny_openai_clip.state_dict().items() if k != 'attn_mask'}
    hf = convert_openai_to_hf(sd)
    model = build_clip(config=clip_config_from_openai(sd))
    assert set(hf) == set(model.state_dict())  # every transformers weight is produced, nothing extra
    model.load_state_dict(hf, strict=True)
    back = convert_hf_to_openai(model.state_dict())
    assert set(back) == set(sd)
    for key, value in sd.items():
        assert torch.equal(back[key], value), key


def test_converted_model_reproduces_openai_outputs(tiny_openai_clip, tmp_path):
    """Saved in the OpenAI layout, loaded through build_clip(path): same image/text embeddings as open_clip."""
    path = tmp_path / 'ViT-tiny.pt'
    torch.save({'state_dict': tiny_openai_clip.state_dict()}, path)
    model = build_clip(pretrained=str(path)).eval()
    cfg = model.config
    assert (cfg.vision_config.num_hidden_layers, cfg.vision_config.hidden_size, cfg.vision_config.patch_size,
            cfg.vision_config.image_size, cfg.projection_dim) == (2, 128, 16, 64, 32)
    torch.manual_seed(1)
    img = torch.randn(2, 3, 64, 64)
    text = _captions()
    with torch.no_grad():
        ref_img = tiny_openai_clip.encode_image(img)
        ref_txt = tiny_openai_clip.encode_text(text)
        hf_img = model.visual_projection(model.vision_model(pixel_values=img).pooler_output)
        hidden = model.text_model(input_ids=text).last_hidden_state
        hf_txt = model.text_projection(hidden[torch.arange(2), text.argmax(-1)])
    torch.testing.assert_close(hf_img, ref_img, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(hf_txt, ref_txt, atol=1e-5, rtol=1e-4)


def test_missing_checkpoint_file_names_the_ways_to_provide_weights(tmp_path):
    with pytest.raises(CLIPWeightsNotFoundError) as err:
        build_clip(pretrained=str(tmp_path / 'ViT-B-16.pt'))
    message = str(err.value)
    assert 'ViT-B-16.pt' in message and 'huggingface-cli download' in message and 'openaipublic' in message


def test_unreachable_hub_name_gives_the_same_clear_error(monkeypatch):
    import huggingface_hub.constants
    monkeypatch.setattr(huggingface_hub.constants, 'HF_HUB_OFFLINE', True)  # no retries against the network
    with pytest.raises(CLIPWeightsNotFoundError, match='model.clip.pretrained'):
        build_clip(pretrained='openai/clip-vit-base-patch16-not-cached')


def test_random_init_needs_a_config():
    with pytest.raises(ValueError, match='clip.config'):
        build_clip(pretrained=None, config=None)


class _Holder(torch.nn.Module):
    """Nested modules holding given tensors under dotted names (to write a TorchScript archive like OpenAI's)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _torchscript_archive(state_dict, path):
    root = _Holder()
    for key, value in state_dict.items():
        *parents, leaf = key.split('.')
        node = root
        for name in parents:
            if not hasattr(node, name):
                node.add_module(name, _Holder())
            node = getattr(node, name)
        node.register_parameter(leaf, torch.nn.Parameter(value.clone(), requires_grad=False))
    torch.jit.save(torch.jit.script(root), str(path))


def test_openai_torchscript_archive_loads(tiny_openai_clip, tmp_path):
    """OpenAI publishes ViT-B-16.pt as a TorchScript archive; torch.load(weights_only) refuses it."""
    sd = {k: v for k, v in tiny_openai_clip.state_dict().items() if k != 'attn_mask'}
    path = tmp_path / 'ViT-tiny-jit.pt'
    _torchscript_archive(sd, path)
    model = build_clip(pretrained=str(path))
    hf = convert_openai_to_hf(sd)
    for key, value in model.state_dict().items():
        assert torch.equal(value, hf[key]), key


def test_vit_b16_preset_matches_openai_clip_and_its_key_layout():
    """The preset rebuilds OpenAI's ViT-B/16 (149,620,737 parameters) and survives the OpenAI layout both ways."""
    from transformers import CLIPConfig, CLIPModel
    from plugins.irra.clip_loading import CLIP_PRESETS
    with torch.device('meta'):  # shapes only, no memory
        model = CLIPModel(CLIPConfig(**CLIP_PRESETS['ViT-B/16']))
    assert sum(p.numel() for p in model.parameters()) == 149_620_737
    openai_sd = convert_hf_to_openai(model.state_dict())
    assert openai_sd['visual.conv1.weight'].shape == (768, 3, 16, 16)
    assert openai_sd['visual.positional_embedding'].shape == (197, 768)  # 14x14 + CLS
    assert openai_sd['visual.proj'].shape == (768, 512) and openai_sd['text_projection'].shape == (512, 512)
    assert openai_sd['transformer.resblocks.11.attn.in_proj_weight'].shape == (1536, 512)
    inferred = clip_config_from_openai(openai_sd)
    for tower in ('text_config', 'vision_config'):
        for key, value in CLIP_PRESETS['ViT-B/16'][tower].items():
            assert getattr(getattr(inferred, tower), key) == value, (tower, key)
    assert inferred.projection_dim == 512


def test_unknown_preset_is_named():
    with pytest.raises(KeyError, match='ViT-B/16'):
        build_clip(pretrained=None, config='ViT-X/99')


def test_local_transformers_directory_loads(tmp_path):
    from .tiny import TINY_CLIP
    torch.manual_seed(4)
    model = build_clip(config=TINY_CLIP)
    model.save_pretrained(tmp_path / 'clip-tiny')
    loaded = build_clip(pretrained=str(tmp_path / 'clip-tiny'))
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key


# ------------------------------------------------------------------------- published configs' init path
@pytest.mark.parametrize('config', ['irra_cuhkpedes.py', 'irra_icfgpedes.py', 'irra_rstpreid.py'])
def test_published_config_init_path_loads_a_local_openai_clip_bit_for_bit(tmp_path, config):
    """Built and initialised as the Runner does (``MODELS.build`` + ``init_weights()``) with
    ``model.clip.pretrained`` a local OpenAI-layout file (fp16 like OpenAI's): every tensor of the file reaches
    the CLIP towers bit for bit (fused q/k/v split in three, ``x @ proj`` matrices transposed, matched by value,
    so no key mapping is assumed), and the 14x14 position grid arrives bilinearly resized to the config's
    24x8 grid (checked against a naive float64 interpolation)."""
    import os.path as osp

    import numpy as np
    from mmengine import Config
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS

    from .official_layout import Arch, naive_bilinear, openai_clip_state_dict
    arch = Arch()
    file_sd = {k: v.half() for k, v in openai_clip_state_dict(arch, seed=5).items()}
    path = tmp_path / 'ViT-tiny-16.pt'
    torch.save(file_sd, path)
    cfg = Config.fromfile(osp.join(osp.dirname(__file__), '..', '..', 'configs', config))
    cfg.model.clip.pretrained = str(path)
    cfg.model.clip.config = arch.transformers_config()  # the file's (small) architecture, same layout
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)
    model.init_weights()

    table_key = 'vision_model.embeddings.position_embedding.weight'
    pieces = {}
    for key, value in file_sd.items():
        value = value.float()
        if key == 'visual.positional_embedding':
            continue
        parts = value.chunk(3) if key.endswith(('in_proj_weight', 'in_proj_bias')) else \
            [value.t()] if key in ('visual.proj', 'text_projection') else [value]
        for part in parts:
            pieces[part.contiguous().numpy().tobytes()] = key
    reached = {}
    for name, tensor in model.clip.state_dict().items():
        if name != table_key:
            assert tensor.dtype == torch.float32, name
            assert tensor.numpy().tobytes() in pieces, f'{name} does not hold a tensor of the file'
            reached[pieces[tensor.numpy().tobytes()]] = name
    assert len(reached) == len(file_sd) - 1 and len(pieces) == len(model.clip.state_dict()) - 1

    gh, gw = tuple(cfg.model.clip.image_size)[0] // 16, tuple(cfg.model.clip.image_size)[1] // 16
    table = model.clip.state_dict()[table_key]
    pretrained = file_sd['visual.positional_embedding'].float()
    assert table.shape == (1 + gh * gw, arch.vision_width) == (1 + 24 * 8, arch.vision_width)
    assert torch.equal(table[0], pretrained[0])
    expected = naive_bilinear(pretrained[1:].reshape(14, 14, -1).numpy(), gh, gw).reshape(gh * gw, -1)
    np.testing.assert_allclose(table[1:].numpy(), expected, rtol=0, atol=1e-5)


def test_pretrained_clip_of_another_architecture_names_the_keys(tmp_path):
    from plugins.irra.clip_loading import build_reid_clip, load_clip_weights

    from .official_layout import Arch, openai_clip_state_dict
    path = tmp_path / 'ViT-tiny-16.pt'
    torch.save(openai_clip_state_dict(Arch(), seed=1), path)
    model = build_reid_clip(Arch(vision_width=64).transformers_config(), (384, 128))
    with pytest.raises(ValueError) as err:
        load_clip_weights(model, str(path))
    message = str(err.value)
    assert 'model.clip.config' in message and str(path) in message
    assert 'vision_model.embeddings.patch_embedding.weight: file (128, 3, 16, 16) vs model (64, 3, 16, 16)' \
        in message
