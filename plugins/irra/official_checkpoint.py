"""Official IRRA checkpoints (anosorae/IRRA ``best.pth``) -> this plugin's ``IRRA`` state dict.

The official model (``model/build.py``) holds ``base_model`` (OpenAI's CLIP ViT with a 24x8 (+1) position table),
``cross_attn``, ``cross_modal_transformer.resblocks.*``, ``ln_pre_t``, ``ln_pre_i``, ``ln_post``, ``mlm_head.*``
and ``classifier.*``, partly in fp16 (``convert_weights``). Here: ``clip.*`` (transformers names, through
:func:`convert_openai_to_hf`), ``cross_modal.*``, ``mlm_head.*``, ``classifier.*``, all float32.
"""
import re
from collections import OrderedDict
from typing import Dict, List

import torch

from .clip_loading import clip_classes, convert_openai_to_hf

#: entries of one CLIP / IRRA residual block (``ResidualAttentionBlock`` of the official ``clip_model.py``)
BLOCK_ENTRIES = ('attn.in_proj_weight', 'attn.in_proj_bias', 'attn.out_proj.weight', 'attn.out_proj.bias',
                 'ln_1.weight', 'ln_1.bias', 'mlp.c_fc.weight', 'mlp.c_fc.bias', 'mlp.c_proj.weight',
                 'mlp.c_proj.bias', 'ln_2.weight', 'ln_2.bias')
#: the OpenAI ViT CLIP entries outside the blocks (no ``logit_scale``: the official IRRA removed it)
CLIP_ENTRIES = ('visual.class_embedding', 'visual.positional_embedding', 'visual.conv1.weight',
                'visual.ln_pre.weight', 'visual.ln_pre.bias', 'visual.ln_post.weight', 'visual.ln_post.bias',
                'visual.proj', 'token_embedding.weight', 'positional_embedding', 'ln_final.weight',
                'ln_final.bias', 'text_projection')
#: IRRA's own entries outside the cross-modal blocks
HEAD_ENTRIES = ('cross_attn.in_proj_weight', 'cross_attn.in_proj_bias', 'cross_attn.out_proj.weight',
                'cross_attn.out_proj.bias', 'ln_pre_t.weight', 'ln_pre_t.bias', 'ln_pre_i.weight', 'ln_pre_i.bias',
                'ln_post.weight', 'ln_post.bias', 'mlm_head.dense.weight', 'mlm_head.dense.bias',
                'mlm_head.ln.weight', 'mlm_head.ln.bias', 'mlm_head.fc.weight', 'mlm_head.fc.bias',
                'classifier.weight', 'classifier.bias')
#: official IRRA prefix -> plugin prefix (everything but ``base_model``)
HEAD_RENAMES = (('cross_attn.', 'cross_modal.cross_attn.'),
                ('cross_modal_transformer.resblocks.', 'cross_modal.blocks.'),
                ('ln_pre_t.', 'cross_modal.ln_pre_text.'), ('ln_pre_i.', 'cross_modal.ln_pre_image.'),
                ('ln_post.', 'cross_modal.ln_post.'), ('mlm_head.', 'mlm_head.'), ('classifier.', 'classifier.'))
CLIP_PREFIX = 'base_model.'


def strip_module_prefix(state_dict: Dict[str, torch.Tensor]) -> 'OrderedDict[str, torch.Tensor]':
    """Drop the ``module.`` prefix a (Distributed)DataParallel model adds to every key."""
    return OrderedDict((k[len('module.'):] if k.startswith('module.') else k, v) for k, v in state_dict.items())


def _num_blocks(keys, prefix: str) -> int:
    """1 + the largest block index under ``prefix`` (a gap then shows up as missing entries)."""
    pattern = re.compile(re.escape(prefix) + r'(\d+)\.')
    indices = [int(m.group(1)) for m in map(pattern.match, keys) if m]
    return max(indices) + 1 if indices else 0


def expected_official_keys(keys) -> List[str]:
    """Every entry an official IRRA (``sdm+mlm+id``) state dict with the block counts found in ``keys`` has."""
    blocks = {f'{CLIP_PREFIX}visual.transformer.resblocks.': 0, f'{CLIP_PREFIX}transformer.resblocks.': 0,
              'cross_modal_transformer.resblocks.': 0}
    expected = [CLIP_PREFIX + k for k in CLIP_ENTRIES] + list(HEAD_ENTRIES)
    for prefix in blocks:
        for i in range(max(1, _num_blocks(keys, prefix))):
            expected += [f'{prefix}{i}.{entry}' for entry in BLOCK_ENTRIES]
    return expected


def check_official_keys(state_dict: Dict[str, torch.Tensor], source: str = 'the checkpoint') -> None:
    """Raise ``KeyError`` naming every missing and every unknown entry of an official IRRA state dict."""
    expected = expected_official_keys(state_dict)
    missing = [k for k in expected if k not in state_dict]
    unknown = sorted(set(state_dict) - set(expected))
    if missing or unknown:
        lines = [f'missing: {k}' for k in missing] + [f'unknown: {k}' for k in unknown]
        raise KeyError(f'{source} is not an official IRRA (sdm+mlm+id) state dict: {len(missing)} missing and '
                       f'{len(unknown)} unknown entries (expected base_model.* in the OpenAI CLIP layout, '
                       f'cross_attn.*, cross_modal_transformer.resblocks.N.*, ln_pre_t, ln_pre_i, ln_post, '
                       f'mlm_head.*, classifier.*):\n  ' + '\n  '.join(lines[:40])
                       + (f'\n  ... and {len(lines) - 40} more' if len(lines) > 40 else ''))


def convert_official_irra(state_dict: Dict[str, torch.Tensor],
                          source: str = 'the checkpoint') -> 'OrderedDict[str, torch.Tensor]':
    """Rename an official IRRA state dict (the ``model`` entry of ``best.pth``) to this plugin's ``IRRA`` keys.

    Args:
        state_dict (dict): official keys (``base_model.visual.conv1.weight``, ``cross_attn.in_proj_weight``, ...),
            fp16 or fp32; a ``module.`` prefix (DataParallel) is removed.
        source (str): name of the file, for the error message.

    Returns:
        OrderedDict: float32 tensors under ``IRRA.state_dict()`` keys. ``clip.logit_scale`` (a
        ``CLIPModel`` parameter the official model dropped; IRRA never reads it) is CLIP's initial value.

    Raises:
        KeyError: missing or unknown entries, all named.
    """
    state = strip_module_prefix(state_dict)
    check_official_keys(state, source)
    clip = {k[len(CLIP_PREFIX):]: v.float() for k, v in state.items() if k.startswith(CLIP_PREFIX)}
    out = OrderedDict((f'clip.{k}', v) for k, v in convert_openai_to_hf(clip).items())
    out['clip.logit_scale'] = torch.tensor(clip_classes()[0]().logit_scale_init_value)
    for key, value in state.items():
        if key.startswith(CLIP_PREFIX):
            continue
        old, new = next((o, n) for o, n in HEAD_RENAMES if key.startswith(o))
        out[new + key[len(old):]] = value.float()
    return out


def describe_official_irra(state_dict: Dict[str, torch.Tensor]) -> Dict[str, object]:
    """Sizes of an official IRRA state dict (checked by :func:`check_official_keys`), for the converter's report."""
    state_dict = strip_module_prefix(state_dict)

    def shape(key):
        return tuple(state_dict[key].shape)

    keys = list(state_dict)
    return dict(
        vision_width=shape(f'{CLIP_PREFIX}visual.conv1.weight')[0],
        vision_layers=_num_blocks(keys, f'{CLIP_PREFIX}visual.transformer.resblocks.'),
        patch_size=shape(f'{CLIP_PREFIX}visual.conv1.weight')[-1],
        position_rows=shape(f'{CLIP_PREFIX}visual.positional_embedding')[0],
        text_width=shape(f'{CLIP_PREFIX}ln_final.weight')[0],
        text_layers=_num_blocks(keys, f'{CLIP_PREFIX}transformer.resblocks.'),
        context_length=shape(f'{CLIP_PREFIX}positional_embedding')[0],
        vocab_size=shape(f'{CLIP_PREFIX}token_embedding.weight')[0],
        embed_dim=shape(f'{CLIP_PREFIX}text_projection')[1],
        cross_depth=_num_blocks(keys, 'cross_modal_transformer.resblocks.'),
        num_classes=shape('classifier.weight')[0],
        fp16_tensors=sum(v.dtype == torch.float16 for v in state_dict.values()))
