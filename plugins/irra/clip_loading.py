"""Build a transformers ``CLIPModel``: random (a ``CLIPConfig``), from a hub name / local directory, or from the
original OpenAI checkpoint (``ViT-B-16.pt``) whose keys are converted to transformers names; IRRA's variant with a
fixed-size image position table (:func:`build_reid_clip`) and the pre-trained weights loaded into it
(:func:`load_clip_weights`, called by ``IRRA.init_weights``).

``transformers`` is imported by the functions that build a model (:func:`clip_classes`), not with this module:
it costs about 3 s of every ``import plugins`` (tools/train.py of any method), and only IRRA uses it.
"""
from __future__ import annotations  # the CLIPConfig / CLIPModel annotations stay strings: no import for them

import os
import re
from collections import OrderedDict
from typing import TYPE_CHECKING, Dict, Optional, Sequence

import torch

from .vision_embeddings import ReIDVisionEmbeddings, resize_position_embedding

if TYPE_CHECKING:  # annotations only
    from transformers import CLIPConfig, CLIPModel

OPENAI_VIT_B16_URL = ('https://openaipublic.azureedge.net/clip/models/'
                      '5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f/ViT-B-16.pt')
#: Entries of the OpenAI TorchScript state dict that are hyper-parameters, not weights.
_OPENAI_NON_WEIGHTS = ('input_resolution', 'context_length', 'vocab_size')
#: Per-block renames (OpenAI -> transformers) except the fused q/k/v projection.
_BLOCK_RENAMES = (('ln_1.', 'layer_norm1.'), ('ln_2.', 'layer_norm2.'), ('mlp.c_fc.', 'mlp.fc1.'),
                  ('mlp.c_proj.', 'mlp.fc2.'), ('attn.out_proj.', 'self_attn.out_proj.'))
_TOWER_RENAMES = {  # OpenAI key -> transformers key, outside the transformer blocks
    'token_embedding.weight': 'text_model.embeddings.token_embedding.weight',
    'positional_embedding': 'text_model.embeddings.position_embedding.weight',
    'ln_final.weight': 'text_model.final_layer_norm.weight',
    'ln_final.bias': 'text_model.final_layer_norm.bias',
    'logit_scale': 'logit_scale',
    'visual.class_embedding': 'vision_model.embeddings.class_embedding',
    'visual.positional_embedding': 'vision_model.embeddings.position_embedding.weight',
    'visual.conv1.weight': 'vision_model.embeddings.patch_embedding.weight',
    'visual.ln_pre.weight': 'vision_model.pre_layrnorm.weight',
    'visual.ln_pre.bias': 'vision_model.pre_layrnorm.bias',
    'visual.ln_post.weight': 'vision_model.post_layernorm.weight',
    'visual.ln_post.bias': 'vision_model.post_layernorm.bias',
}
#: OpenAI keeps projections as ``x @ proj`` matrices (in, out); transformers as ``nn.Linear`` weights (out, in).
_PROJECTIONS = {'text_projection': 'text_projection.weight', 'visual.proj': 'visual_projection.weight'}
#: Architecture of OpenAI's ViT-B/16 CLIP: IRRA builds its towers from it (``model.clip.config``) and loads the
#: pre-trained weights only in ``init_weights`` (training), so tools/test.py never needs them.
CLIP_PRESETS = {
    'ViT-B/16': dict(
        text_config=dict(hidden_size=512, intermediate_size=2048, num_hidden_layers=12, num_attention_heads=8,
                         vocab_size=49408, max_position_embeddings=77, hidden_act='quick_gelu'),
        vision_config=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                           image_size=224, patch_size=16, hidden_act='quick_gelu'),
        projection_dim=512),
}
_BLOCK_KEY = re.compile(r'^(visual\.)?transformer\.resblocks\.(\d+)\.(.+)$')


def clip_classes():
    """``(CLIPConfig, CLIPModel)`` of transformers, imported on first use."""
    from transformers import CLIPConfig, CLIPModel
    return CLIPConfig, CLIPModel


class CLIPWeightsNotFoundError(FileNotFoundError):
    """The pre-trained CLIP named in the config can be found neither locally nor on the hub."""


def _how_to_provide(pretrained: str) -> str:
    return (f'IRRA: cannot load the pre-trained CLIP "{pretrained}". Provide the weights in one of these ways '
            f'and point `model.clip.pretrained` at them:\n'
            f'  1. a transformers directory: on a machine with internet run\n'
            f'       huggingface-cli download openai/clip-vit-base-patch16 \\\n'
            f'           --local-dir checkpoints/clip-vit-base-patch16\n'
            f'     copy the folder here and set pretrained="checkpoints/clip-vit-base-patch16";\n'
            f'  2. the original OpenAI checkpoint {OPENAI_VIT_B16_URL}\n'
            f'     saved e.g. as checkpoints/ViT-B-16.pt, with pretrained="checkpoints/ViT-B-16.pt";\n'
            f'  3. a populated Hugging Face cache (HF_HOME) that holds "openai/clip-vit-base-patch16".\n'
            f'Testing a checkpoint (tools/test.py) never loads them: only training (init_weights) does.\n'
            f'For a quick run without weights set pretrained=None (random init of `model.clip.config`).')


def _split_qkv(prefix: str, weight: torch.Tensor, bias: torch.Tensor, out: Dict[str, torch.Tensor]):
    for name, w, b in zip(('q_proj', 'k_proj', 'v_proj'), weight.chunk(3, dim=0), bias.chunk(3, dim=0)):
        out[f'{prefix}self_attn.{name}.weight'] = w.clone()
        out[f'{prefix}self_attn.{name}.bias'] = b.clone()


def convert_openai_to_hf(state_dict: Dict[str, torch.Tensor]) -> 'OrderedDict[str, torch.Tensor]':
    """Rename an OpenAI CLIP (ViT) state dict to transformers ``CLIPModel`` keys.

    Args:
        state_dict (dict): keys as in OpenAI's ``ViT-B-16.pt`` / open_clip's ``CLIP`` (``visual.conv1.weight``,
            ``transformer.resblocks.0.attn.in_proj_weight``, ``text_projection``, ...).

    Returns:
        OrderedDict: keys as in ``CLIPModel.state_dict()``.

    Raises:
        KeyError: an entry that has no transformers counterpart (e.g. a ResNet CLIP), named in the message.
    """
    out = OrderedDict()
    for key, value in state_dict.items():
        if key in _OPENAI_NON_WEIGHTS or key == 'attn_mask':
            continue
        if key in _TOWER_RENAMES:
            out[_TOWER_RENAMES[key]] = value
            continue
        if key in _PROJECTIONS:
            out[_PROJECTIONS[key]] = value.t().contiguous()
            continue
        match = _BLOCK_KEY.match(key)
        if match is None:
            raise KeyError(f'convert_openai_to_hf: unexpected key "{key}" (only ViT CLIP checkpoints in the '
                           f'OpenAI layout are supported)')
        tower = 'vision_model' if match.group(1) else 'text_model'
        prefix = f'{tower}.encoder.layers.{match.group(2)}.'
        rest = match.group(3)
        if rest == 'attn.in_proj_weight':
            _split_qkv(prefix, value, state_dict[key.replace('in_proj_weight', 'in_proj_bias')], out)
            continue
        if rest == 'attn.in_proj_bias':
            continue  # handled with the weight
        for old, new in _BLOCK_RENAMES:
            if rest.startswith(old):
                out[prefix + new + rest[len(old):]] = value
                break
        else:
            raise KeyError(f'convert_openai_to_hf: unexpected block entry "{key}"')
    return out


def convert_hf_to_openai(state_dict: Dict[str, torch.Tensor]) -> 'OrderedDict[str, torch.Tensor]':
    """Inverse of :func:`convert_openai_to_hf` (transformers ``CLIPModel`` keys -> OpenAI layout)."""
    tower_back = {v: k for k, v in _TOWER_RENAMES.items()}
    proj_back = {v: k for k, v in _PROJECTIONS.items()}
    layer_key = re.compile(r'^(text|vision)_model\.encoder\.layers\.(\d+)\.(.+)$')
    out = OrderedDict()
    for key, value in state_dict.items():
        if key in tower_back:
            out[tower_back[key]] = value
        elif key in proj_back:
            out[proj_back[key]] = value.t().contiguous()
        elif (match := layer_key.match(key)) is not None:
            prefix = ('visual.' if match.group(1) == 'vision' else '') + f'transformer.resblocks.{match.group(2)}.'
            rest = match.group(3)
            if rest.startswith('self_attn.') and rest.split('.')[1] in ('q_proj', 'k_proj', 'v_proj'):
                if rest.startswith('self_attn.q_proj.'):
                    kind = rest.rsplit('.', 1)[1]
                    base = key.rsplit('self_attn.', 1)[0] + 'self_attn.'
                    out[f'{prefix}attn.in_proj_{kind}'] = torch.cat(
                        [state_dict[f'{base}{n}.{kind}'] for n in ('q_proj', 'k_proj', 'v_proj')], dim=0)
                continue
            for old, new in _BLOCK_RENAMES:
                if rest.startswith(new):
                    out[prefix + old + rest[len(new):]] = value
                    break
            else:
                raise KeyError(f'convert_hf_to_openai: unexpected layer entry "{key}"')
        else:
            raise KeyError(f'convert_hf_to_openai: unexpected key "{key}"')
    return out


def clip_config_from_openai(state_dict: Dict[str, torch.Tensor]) -> CLIPConfig:
    """Infer the ``CLIPConfig`` of an OpenAI ViT CLIP state dict (same rules as OpenAI's ``build_model``)."""
    def count_layers(prefix):
        return len({k.split('.')[len(prefix.split('.')) - 1] for k in state_dict if k.startswith(prefix)})

    vision_width = state_dict['visual.conv1.weight'].shape[0]
    patch_size = state_dict['visual.conv1.weight'].shape[-1]
    grid = round((state_dict['visual.positional_embedding'].shape[0] - 1) ** 0.5)
    text_width = state_dict['ln_final.weight'].shape[0]
    vision_cfg = dict(hidden_size=vision_width, intermediate_size=4 * vision_width,
                      num_hidden_layers=count_layers('visual.transformer.resblocks.'),
                      num_attention_heads=vision_width // 64, patch_size=patch_size, image_size=patch_size * grid,
                      hidden_act='quick_gelu')
    text_cfg = dict(hidden_size=text_width, intermediate_size=4 * text_width,
                    num_hidden_layers=count_layers('transformer.resblocks.'), num_attention_heads=text_width // 64,
                    vocab_size=state_dict['token_embedding.weight'].shape[0],
                    max_position_embeddings=state_dict['positional_embedding'].shape[0], hidden_act='quick_gelu')
    CLIPConfig, _ = clip_classes()
    return CLIPConfig(text_config=text_cfg, vision_config=vision_cfg,
                      projection_dim=state_dict['text_projection'].shape[1])


def load_openai_state_dict(path: str) -> Dict[str, torch.Tensor]:
    """Read an OpenAI CLIP checkpoint: the released TorchScript archive or a plain (possibly wrapped) state dict."""
    from plugins.core.utils.checkpoint import check_checkpoint_file
    check_checkpoint_file(path, 'CLIP weights file')  # an HTML page of a failed download is named as such
    try:
        obj = torch.load(path, map_location='cpu', weights_only=True)
    except RuntimeError as err:
        if 'TorchScript' not in str(err) and 'jit' not in str(err):
            raise
        obj = torch.jit.load(path, map_location='cpu').state_dict()  # the file OpenAI publishes
    for wrapper in ('state_dict', 'model'):
        if isinstance(obj, dict) and wrapper in obj and isinstance(obj[wrapper], dict):
            obj = obj[wrapper]
    return {k[len('module.'):] if k.startswith('module.') else k: v for k, v in obj.items()}


def clip_from_openai_checkpoint(path: str) -> CLIPModel:
    """A ``CLIPModel`` holding the weights of an OpenAI-layout checkpoint file."""
    state_dict = load_openai_state_dict(path)
    _, CLIPModel = clip_classes()
    model = CLIPModel(clip_config_from_openai(state_dict))
    model.load_state_dict(convert_openai_to_hf(state_dict), strict=True)
    return model


def _clip_config(config) -> CLIPConfig:
    """``CLIPConfig`` from a preset name, a dict of kwargs or a ``CLIPConfig``."""
    if config is None:
        raise ValueError('IRRA: give `clip.pretrained` (weights) or `clip.config` (random init)')
    if isinstance(config, str):
        if config not in CLIP_PRESETS:
            raise KeyError(f'IRRA: unknown clip.config preset "{config}" (known: {sorted(CLIP_PRESETS)})')
        config = CLIP_PRESETS[config]
    CLIPConfig, _ = clip_classes()
    return config if isinstance(config, CLIPConfig) else CLIPConfig(**config)


def build_clip(pretrained: Optional[str] = None, config: Optional[dict] = None) -> CLIPModel:
    """Build the CLIP towers of IRRA.

    Args:
        pretrained (str, optional): a hub name (``'openai/clip-vit-base-patch16'``), a local transformers
            directory, or an OpenAI checkpoint file (``*.pt`` / ``*.pth``). None: random init from ``config``.
        config (dict | str, optional): ``CLIPConfig`` keyword arguments for random init (``text_config``,
            ``vision_config``, ``projection_dim``) or a preset name of :data:`CLIP_PRESETS` (``'ViT-B/16'``);
            ignored when ``pretrained`` is given.

    Raises:
        CLIPWeightsNotFoundError: the weights are not reachable; the message says how to provide them.
    """
    _, CLIPModel = clip_classes()
    if pretrained is None:
        return CLIPModel(_clip_config(config))
    pretrained = os.path.expanduser(str(pretrained))
    if os.path.isfile(pretrained):
        return clip_from_openai_checkpoint(pretrained)
    if os.path.isdir(pretrained):
        return CLIPModel.from_pretrained(pretrained)
    if pretrained.endswith(('.pt', '.pth', '.bin', '.safetensors')) or pretrained.startswith(('.', '/', '~')):
        raise CLIPWeightsNotFoundError(_how_to_provide(pretrained) + f'\n(no file or directory "{pretrained}")')
    try:
        return CLIPModel.from_pretrained(pretrained)
    except (OSError, ValueError) as err:  # offline, unknown repo id, invalid name
        raise CLIPWeightsNotFoundError(_how_to_provide(pretrained) + f'\n(transformers said: {err})') from err


def pretrained_clip_state_dict(pretrained: str) -> Dict[str, torch.Tensor]:
    """The weights named by ``model.clip.pretrained`` (hub name, transformers directory or OpenAI-layout file)
    with transformers ``CLIPModel`` keys, at CLIP's own resolution (the 14x14 position grid of ViT-B/16)."""
    path = os.path.expanduser(str(pretrained))
    if os.path.isfile(path):
        return convert_openai_to_hf(load_openai_state_dict(path))
    return build_clip(pretrained=pretrained).state_dict()


def build_reid_clip(config, image_size: Sequence[int], stride: Optional[int] = None) -> CLIPModel:
    """A randomly initialised ``CLIPModel`` whose image tower takes (H, W) = ``image_size`` inputs with a free
    ``1 + rows * cols`` position table (:class:`ReIDVisionEmbeddings`), as the official IRRA's ViT.

    Args:
        config (str | dict | CLIPConfig): the architecture (preset name ``'ViT-B/16'`` or ``CLIPConfig`` kwargs).
        image_size (tuple[int, int]): (H, W) of the inputs, (384, 128) in the paper.
        stride (int, optional): patch stride (the official ``stride_size``); defaults to the patch size.
    """
    _, CLIPModel = clip_classes()
    model = CLIPModel(_clip_config(config))
    vision = model.config.vision_config
    model.vision_model.embeddings = ReIDVisionEmbeddings(
        vision.hidden_size, vision.patch_size, image_size, stride, vision.num_channels,
        init_std=vision.initializer_range * vision.initializer_factor, init_factor=vision.initializer_factor)
    return model


def load_clip_weights(model: CLIPModel, pretrained: str) -> None:
    """Copy pre-trained CLIP weights into ``model`` (built by :func:`build_reid_clip`), every tensor as it is
    except the image position table, which is resized **once** from the pre-trained grid to the model's
    (bilinear, :func:`resize_position_embedding`, the official ``resize_pos_embed``).

    Raises:
        CLIPWeightsNotFoundError: the weights are not reachable.
        ValueError: the weights do not fit ``model.clip.config`` (the message names the keys and shapes).
    """
    state = dict(pretrained_clip_state_dict(pretrained))
    embeddings = model.vision_model.embeddings
    table_key = 'vision_model.embeddings.position_embedding.weight'
    if isinstance(embeddings, ReIDVisionEmbeddings) and table_key in state and \
            state[table_key].shape[0] != embeddings.position_embedding.num_embeddings:
        state[table_key] = resize_position_embedding(state[table_key], embeddings.grid)
    own = model.state_dict()
    problems = [f'missing in the file: {k}' for k in own if k not in state]
    problems += [f'not in the model: {k}' for k in state if k not in own]
    problems += [f'{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}'
                 for k in own if k in state and state[k].shape != own[k].shape]
    if problems:
        raise ValueError(f'IRRA: the pre-trained CLIP "{pretrained}" does not fit the architecture of '
                         f'model.clip.config ({len(problems)} problems; set model.clip.config to the weights\' '
                         f'architecture):\n  ' + '\n  '.join(problems[:20]))
    model.load_state_dict(state, strict=True)
