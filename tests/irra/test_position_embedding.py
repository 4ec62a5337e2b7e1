"""The image position table as in the official IRRA: a free (1 + 24*8, width) parameter, made once from CLIP's
14x14 grid by bilinear interpolation, added as it is on every forward."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS

import plugins  # noqa: F401
from .official_layout import Arch, naive_bilinear, official_irra_checkpoint

ARCH = Arch()


def build(image_size=(384, 128), **clip):
    torch.manual_seed(0)
    return MODELS.build(dict(type='IRRA', num_classes=ARCH.num_classes, cross_depth=ARCH.cross_depth,
                             clip=dict(pretrained=None, config=ARCH.transformers_config(), image_size=image_size,
                                       **clip)))


def test_position_table_is_a_free_parameter_of_the_24x8_grid():
    model = build()
    table = model.clip.vision_model.embeddings.position_embedding.weight
    assert isinstance(table, torch.nn.Parameter) and table.requires_grad
    assert table.shape == (1 + 24 * 8, ARCH.vision_width)


def test_forward_adds_the_table_row_by_row_without_resizing():
    """Embeddings = [class, conv patches in row-major (y, x) order] + table, exactly (no interpolation)."""
    model = build().eval()
    emb = model.clip.vision_model.embeddings
    with torch.no_grad():
        emb.position_embedding.weight.normal_()
    img = torch.randn(2, 3, 384, 128)
    with torch.no_grad():
        out = emb(img)
        patches = F.conv2d(img, emb.patch_embedding.weight, stride=16).flatten(2).transpose(1, 2)
    expected = torch.cat([emb.class_embedding.expand(2, 1, -1), patches], 1) + emb.position_embedding.weight
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)


def test_official_state_dict_position_table_loads_strictly():
    """The official checkpoint stores the 193 x width table; the plugin's parameter has that shape."""
    official = official_irra_checkpoint(ARCH)['model']['base_model.visual.positional_embedding']
    model = build()
    emb = model.clip.vision_model.embeddings
    emb.position_embedding.load_state_dict({'weight': official.float()}, strict=True)
    assert torch.equal(emb.position_embedding.weight, official.float())


def test_resize_is_bilinear_half_pixel_once():
    from plugins.irra.vision_embeddings import resize_position_embedding
    g = torch.Generator().manual_seed(3)
    pretrained = torch.randn(1 + 14 * 14, 8, generator=g)
    resized = resize_position_embedding(pretrained, (24, 8))
    assert resized.shape == (1 + 24 * 8, 8)
    assert torch.equal(resized[0], pretrained[0])  # the class position is kept
    expected = naive_bilinear(pretrained[1:].reshape(14, 14, 8).numpy(), 24, 8).reshape(24 * 8, 8)
    # float32 arithmetic vs float64: ~3e-6 on values of ~3; bicubic or align_corners=True differ by ~0.1
    np.testing.assert_allclose(resized[1:].numpy(), expected, rtol=0, atol=1e-5)


def test_input_of_another_size_is_a_clear_error():
    model = build()
    with pytest.raises(ValueError, match=r'384x128.*model\.clip\.image_size'):
        model.extract_image_feat(torch.randn(1, 3, 256, 128))


def test_overlapping_patches_with_a_stride():
    """The official ViT takes ``stride_size``: (384 - 16) // 12 + 1 = 31 rows, (128 - 16) // 12 + 1 = 10 cols."""
    model = build(stride=12)
    emb = model.clip.vision_model.embeddings
    assert emb.position_embedding.weight.shape == (1 + 31 * 10, ARCH.vision_width)
    assert model.extract_image_feat(torch.randn(1, 3, 384, 128)).shape == (1, ARCH.embed)


def test_random_init_is_the_one_of_the_replaced_transformers_module():
    """pretrained=None keeps transformers' CLIP init (patch / position std initializer_range = 0.02, class token
    width^-0.5): the demo trains from it (a table at std width^-0.5 = 0.09 here cost the demo ~9 R1 points)."""
    emb = build().clip.vision_model.embeddings
    assert 0.018 < emb.position_embedding.weight.std().item() < 0.022
    assert 0.018 < emb.patch_embedding.weight.std().item() < 0.022
    assert 0.6 * ARCH.vision_width ** -0.5 < emb.class_embedding.std().item() < 1.4 * ARCH.vision_width ** -0.5
