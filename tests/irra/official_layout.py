"""The official IRRA / OpenAI CLIP checkpoint layout, written from the definitions in anosorae/IRRA
(``model/clip_model.py``, ``model/build.py``), and a plain-torch forward of it for the tests.

Nothing here imports the plugin: the tests compare the plugin against these independent definitions.
"""
import math
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Arch:
    """Sizes of a ViT CLIP + IRRA heads (ViT-B/16 at 384x128: vision 768 x 12, text 512 x 12, embed 512)."""
    vision_width: int = 128
    vision_layers: int = 2
    patch: int = 16
    pretrained_grid: int = 14      # OpenAI's 224 / 16
    image_size: tuple = (384, 128)  # (H, W) of IRRA's inputs
    text_width: int = 128
    text_layers: int = 2
    context: int = 77
    vocab: int = 49408
    embed: int = 128
    cross_depth: int = 2
    num_classes: int = 7

    @property
    def grid(self):
        return self.image_size[0] // self.patch, self.image_size[1] // self.patch

    def transformers_config(self):
        """The same architecture as transformers ``CLIPConfig`` kwargs (heads = width // 64, as OpenAI's)."""
        return dict(
            text_config=dict(hidden_size=self.text_width, intermediate_size=4 * self.text_width,
                             num_hidden_layers=self.text_layers, num_attention_heads=self.text_width // 64,
                             vocab_size=self.vocab, max_position_embeddings=self.context, hidden_act='quick_gelu'),
            vision_config=dict(hidden_size=self.vision_width, intermediate_size=4 * self.vision_width,
                               num_hidden_layers=self.vision_layers, num_attention_heads=self.vision_width // 64,
                               image_size=self.patch * self.pretrained_grid, patch_size=self.patch,
                               hidden_act='quick_gelu'),
            projection_dim=self.embed)


def _block_shapes(prefix, width):
    return {f'{prefix}attn.in_proj_weight': (3 * width, width), f'{prefix}attn.in_proj_bias': (3 * width, ),
            f'{prefix}attn.out_proj.weight': (width, width), f'{prefix}attn.out_proj.bias': (width, ),
            f'{prefix}ln_1.weight': (width, ), f'{prefix}ln_1.bias': (width, ),
            f'{prefix}mlp.c_fc.weight': (4 * width, width), f'{prefix}mlp.c_fc.bias': (4 * width, ),
            f'{prefix}mlp.c_proj.weight': (width, 4 * width), f'{prefix}mlp.c_proj.bias': (width, ),
            f'{prefix}ln_2.weight': (width, ), f'{prefix}ln_2.bias': (width, )}


def clip_shapes(arch, num_positions):
    """OpenAI CLIP ViT state dict entries -> shapes (``visual.positional_embedding`` with ``num_positions``)."""
    vw, tw = arch.vision_width, arch.text_width
    shapes = {'visual.class_embedding': (vw, ), 'visual.positional_embedding': (num_positions, vw),
              'visual.conv1.weight': (vw, 3, arch.patch, arch.patch), 'visual.ln_pre.weight': (vw, ),
              'visual.ln_pre.bias': (vw, ), 'visual.ln_post.weight': (vw, ), 'visual.ln_post.bias': (vw, ),
              'visual.proj': (vw, arch.embed), 'token_embedding.weight': (arch.vocab, tw),
              'positional_embedding': (arch.context, tw), 'ln_final.weight': (tw, ), 'ln_final.bias': (tw, ),
              'text_projection': (tw, arch.embed)}
    for i in range(arch.vision_layers):
        shapes.update(_block_shapes(f'visual.transformer.resblocks.{i}.', vw))
    for i in range(arch.text_layers):
        shapes.update(_block_shapes(f'transformer.resblocks.{i}.', tw))
    return shapes


def irra_head_shapes(arch):
    """IRRA's own modules (``model/build.py``): cross-attention, cross-modal transformer, LNs, MLM head, ID."""
    e = arch.embed
    shapes = {'cross_attn.in_proj_weight': (3 * e, e), 'cross_attn.in_proj_bias': (3 * e, ),
              'cross_attn.out_proj.weight': (e, e), 'cross_attn.out_proj.bias': (e, ),
              'ln_pre_t.weight': (e, ), 'ln_pre_t.bias': (e, ), 'ln_pre_i.weight': (e, ), 'ln_pre_i.bias': (e, ),
              'ln_post.weight': (e, ), 'ln_post.bias': (e, ),
              'mlm_head.dense.weight': (e, e), 'mlm_head.dense.bias': (e, ), 'mlm_head.ln.weight': (e, ),
              'mlm_head.ln.bias': (e, ), 'mlm_head.fc.weight': (arch.vocab, e), 'mlm_head.fc.bias': (arch.vocab, ),
              'classifier.weight': (arch.num_classes, e), 'classifier.bias': (arch.num_classes, )}
    for i in range(arch.cross_depth):
        shapes.update(_block_shapes(f'cross_modal_transformer.resblocks.{i}.', e))
    return shapes


def _random(shapes, seed):
    """Seeded tensors of roughly CLIP's scale: LayerNorm weights near 1, matrices ~ fan_in^-0.5."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for key, shape in shapes.items():
        t = torch.randn(shape, generator=g)
        if '.ln' in key or key.startswith(('ln', 'mlm_head.ln')):
            t = (1.0 + 0.1 * t) if key.endswith('weight') else 0.05 * t
        elif len(shape) >= 2 and not key.endswith(('embedding', 'embedding.weight')):
            t = t * (shape[-1] if key.endswith('.weight') else shape[0]) ** -0.5
            if key.endswith('conv1.weight'):
                t = t * (shape[1] * shape[2] * shape[3] / shape[-1]) ** -0.5
        else:
            t = 0.05 * t if key.endswith('bias') else 0.1 * t
        out[key] = t
    return out


def openai_clip_state_dict(arch, seed=0):
    """A pre-trained OpenAI CLIP file's entries (``ViT-B-16.pt`` layout, 14x14 grid), float32."""
    sd = _random(clip_shapes(arch, 1 + arch.pretrained_grid ** 2), seed)
    sd['logit_scale'] = torch.tensor(math.log(1 / 0.07))
    return sd


#: what the official ``convert_weights`` turns into fp16 (conv / linear / attention weights, projections)
def _is_fp16_in_official(key):
    return (key.endswith(('attn.in_proj_weight', 'attn.in_proj_bias', 'proj', 'text_projection'))
            or any(part in key for part in ('conv1.', 'out_proj.', 'c_fc.', 'c_proj.', 'mlm_head.dense.',
                                            'mlm_head.fc.', 'classifier.')))


def official_irra_checkpoint(arch, seed=0):
    """An official ``best.pth``: ``{'model': state_dict, 'epoch': ...}`` with the fp16 / fp32 mix the official
    ``build_model`` (``convert_weights``) leaves; the position table is already at the 24x8 (+1) grid."""
    gh, gw = arch.grid
    sd = {f'base_model.{k}': v for k, v in _random(clip_shapes(arch, 1 + gh * gw), seed).items()}
    sd.update(_random(irra_head_shapes(arch), seed + 1))
    sd = {k: v.half() if _is_fp16_in_official(k) else v for k, v in sd.items()}
    return {'model': sd, 'num_epoch': 60, 'iteration': 0, 'epoch': 37}


# ------------------------------------------------------------------------------- plain-torch forward
def _layer_norm(x, sd, prefix, eps=1e-5):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * sd[prefix + '.weight'] + sd[prefix + '.bias']


def _attention(q_in, kv_in, sd, prefix, heads, causal=False):
    """nn.MultiheadAttention's math written out: fused in_proj -> per-head softmax(q k^T / sqrt(d)) v -> out."""
    w, b = sd[prefix + '.in_proj_weight'], sd[prefix + '.in_proj_bias']
    width = q_in.shape[-1]
    q = q_in @ w[:width].t() + b[:width]
    k = kv_in @ w[width:2 * width].t() + b[width:2 * width]
    v = kv_in @ w[2 * width:].t() + b[2 * width:]

    def split(t):
        return t.reshape(t.shape[0], t.shape[1], heads, width // heads).transpose(1, 2)

    scores = split(q) @ split(k).transpose(-1, -2) / math.sqrt(width // heads)
    if causal:  # CLIP's text mask: -inf above the diagonal
        length = scores.shape[-1]
        scores = scores.masked_fill(torch.ones(length, length, dtype=torch.bool).triu(1), float('-inf'))
    out = (scores.softmax(-1) @ split(v)).transpose(1, 2).reshape(q_in.shape)
    return out @ sd[prefix + '.out_proj.weight'].t() + sd[prefix + '.out_proj.bias']


def _residual_block(x, sd, prefix, heads, causal=False):
    h = _layer_norm(x, sd, prefix + 'ln_1')
    x = x + _attention(h, h, sd, prefix + 'attn', heads, causal)
    h = _layer_norm(x, sd, prefix + 'ln_2')
    h = h @ sd[prefix + 'mlp.c_fc.weight'].t() + sd[prefix + 'mlp.c_fc.bias']
    h = h * torch.sigmoid(1.702 * h)  # QuickGELU
    return x + h @ sd[prefix + 'mlp.c_proj.weight'].t() + sd[prefix + 'mlp.c_proj.bias']


def reference_image_tokens(sd, img, arch):
    """OpenAI ViT: conv1 patches, class token, + positional embedding, ln_pre, blocks, ln_post on every token,
    ``@ proj``. ``sd`` in the OpenAI layout (no ``base_model.`` prefix), float32. Returns (B, 1 + N, embed)."""
    x = torch.nn.functional.conv2d(img, sd['visual.conv1.weight'], stride=arch.patch)
    x = x.flatten(2).transpose(1, 2)
    cls = sd['visual.class_embedding'].expand(x.shape[0], 1, -1)
    x = torch.cat([cls, x], dim=1) + sd['visual.positional_embedding']
    x = _layer_norm(x, sd, 'visual.ln_pre')
    for i in range(arch.vision_layers):
        x = _residual_block(x, sd, f'visual.transformer.resblocks.{i}.', arch.vision_width // 64)
    return _layer_norm(x, sd, 'visual.ln_post') @ sd['visual.proj']


def reference_text_tokens(sd, ids, arch):
    """CLIP text: token + positional embedding, causal blocks, ln_final, ``@ text_projection``: (B, L, embed)."""
    x = sd['token_embedding.weight'][ids] + sd['positional_embedding'][:ids.shape[1]]
    for i in range(arch.text_layers):
        x = _residual_block(x, sd, f'transformer.resblocks.{i}.', arch.text_width // 64, causal=True)
    return _layer_norm(x, sd, 'ln_final') @ sd['text_projection']


def reference_image_feature(sd, img, arch):
    return reference_image_tokens(sd, img, arch)[:, 0]


def reference_text_feature(sd, ids, arch):
    return reference_text_tokens(sd, ids, arch)[torch.arange(ids.shape[0]), ids.argmax(-1)]


def reference_mlm_scores(sd, text_tokens, image_tokens, arch):
    """``IRRA.cross_former`` + ``mlm_head`` of the official code: (B, L, vocab)."""
    heads = arch.embed // 64
    x = _attention(_layer_norm(text_tokens, sd, 'ln_pre_t'), _layer_norm(image_tokens, sd, 'ln_pre_i'), sd,
                   'cross_attn', heads)
    for i in range(arch.cross_depth):
        x = _residual_block(x, sd, f'cross_modal_transformer.resblocks.{i}.', heads)
    x = _layer_norm(x, sd, 'ln_post')
    x = x @ sd['mlm_head.dense.weight'].t() + sd['mlm_head.dense.bias']
    x = _layer_norm(x * torch.sigmoid(1.702 * x), sd, 'mlm_head.ln')
    return x @ sd['mlm_head.fc.weight'].t() + sd['mlm_head.fc.bias']


def naive_bilinear(grid, out_h, out_w):
    """Bilinear resize of a (h, w, D) array with half-pixel centres (``align_corners=False``), by the formula:
    source coordinate ``(dst + 0.5) * in / out - 0.5`` clamped at 0, then linear weights of the two
    neighbours (the last row / column repeats at the border). float64."""
    grid = np.asarray(grid, dtype=np.float64)
    in_h, in_w = grid.shape[:2]

    def taps(out_size, in_size):
        src = np.maximum((np.arange(out_size) + 0.5) * in_size / out_size - 0.5, 0.0)
        low = np.floor(src).astype(int)
        high = np.minimum(low + 1, in_size - 1)
        return low, high, src - low

    y0, y1, wy = taps(out_h, in_h)
    x0, x1, wx = taps(out_w, in_w)
    out = np.empty((out_h, out_w, grid.shape[2]))
    for i in range(out_h):
        for j in range(out_w):
            top = (1 - wx[j]) * grid[y0[i], x0[j]] + wx[j] * grid[y0[i], x1[j]]
            bottom = (1 - wx[j]) * grid[y1[i], x0[j]] + wx[j] * grid[y1[i], x1[j]]
            out[i, j] = (1 - wy[i]) * top + wy[i] * bottom
    return out
