import math

import torch

from plugins.cal.tsaa import TSAA, instance_norm_tokens


def _tsaa(c=16):
    torch.manual_seed(0)
    return TSAA(c, embed_dim=8, channel_reduction=2).eval()


def test_shapes_and_spatial_softmax():
    tsaa = _tsaa()
    tokens, parts = torch.randn(3, 20, 16), torch.randn(3, 5, 16)
    out, attn = tsaa(tokens, parts)
    assert out.shape == (3, 5, 16) and attn.shape == (3, 5, 20)
    torch.testing.assert_close(attn.sum(-1), torch.ones(3, 5))


def test_output_matches_formula():
    tsaa = _tsaa()
    tokens, parts = torch.randn(2, 12, 16), torch.randn(2, 4, 16)
    out, _ = tsaa(tokens, parts)
    t_hat = tsaa.token_mlp(instance_norm_tokens(tokens))
    p_hat = tsaa.query_mlp(instance_norm_tokens(parts))
    s = torch.softmax(p_hat @ t_hat.transpose(1, 2) / math.sqrt(8), dim=-1)
    channel = torch.sigmoid(tsaa.channel_mlp[0](parts))
    torch.testing.assert_close(out, (s @ tokens) * channel)


def test_channel_attention_is_query_dependent():
    tsaa = _tsaa()
    tokens = torch.randn(1, 12, 16)
    parts = torch.randn(1, 4, 16)
    parts[0, 1] = parts[0, 0]  # two identical queries
    weights = tsaa.channel_mlp(parts)
    assert weights.shape == (1, 4, 16) and ((weights > 0) & (weights < 1)).all()
    torch.testing.assert_close(weights[0, 0], weights[0, 1])
    assert (weights[0, 0] - weights[0, 2]).abs().max() > 1e-3
    # with the spatial attention held fixed, the refined feature changes with the query's channel weights
    out, attn = tsaa(tokens, parts)
    other = parts.clone()
    other[0, 2] = torch.randn(16)
    torch.testing.assert_close(out[0, 0] / tsaa.channel_mlp(parts)[0, 0], (attn @ tokens)[0, 0])
    assert (tsaa.channel_mlp(other)[0, 2] - weights[0, 2]).abs().max() > 1e-3


def test_similarity_is_style_agnostic():
    """Per-channel affine 'style' changes of T and P (IN removes them) leave S(T, P) unchanged."""
    tsaa = _tsaa()
    tokens, parts = torch.randn(2, 12, 16), torch.randn(2, 4, 16)
    scale, shift = torch.rand(1, 1, 16) + 0.5, torch.randn(1, 1, 16)
    torch.testing.assert_close(tsaa.spatial_attention(tokens * scale + shift, parts * scale + shift),
                               tsaa.spatial_attention(tokens, parts), atol=1e-4, rtol=1e-4)
