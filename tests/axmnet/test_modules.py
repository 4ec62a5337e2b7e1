"""AXM-block, context-sharing gate, part channel attention and text non-local attention."""
import pytest
import torch

from plugins.axmnet import AXMBlock, ContextSharingGate, PartChannelAttention, TextNonLocal, WordConvTextStem


def _maps(b=3, c=16, h=8, w=4, length=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(b, c, h, w, generator=g)
    t = torch.randn(b, c, 1, length, generator=g)
    mask = torch.ones(b, length, dtype=torch.bool)
    mask[0, 5:] = False
    return v, t, mask


def test_axm_block_shapes_and_scale_range():
    torch.manual_seed(0)
    block = AXMBlock(16, 32, kernel_sizes=(1, 3, 5), reduction=4, share_prob=1.0, visual_stride=2).train()
    v, t, mask = _maps()
    v_out, t_out, (scales_v, scales_t) = block(v, t, mask, return_scales=True)
    assert v_out.shape == (3, 32, 4, 2)
    assert t_out.shape == (3, 32, 1, 7)
    assert len(scales_v) == len(scales_t) == 3  # one scale vector per receptive-field stream
    for s in scales_v + scales_t:
        assert s.shape == (3, 8)  # mid channels = out // 4
        assert bool(((s > 0) & (s < 1)).all())
    assert bool((t_out[0, :, :, 5:] == 0).all())  # padding stays zero


def test_scales_depend_on_both_modalities_in_training_only():
    torch.manual_seed(0)
    block = AXMBlock(16, 16, mid_channels=16, reduction=2, share_prob=1.0).train()
    v, t, mask = _maps()
    _, t2, _ = _maps(seed=5)
    _, _, (sv_a, st_a) = block(v, t, mask, return_scales=True)
    _, _, (sv_b, _) = block(v, t2, mask, return_scales=True)
    _, _, (sv_self, _) = block(v, None, None, return_scales=True)
    for a, b, s in zip(sv_a, sv_b, sv_self):
        assert not torch.allclose(a, b, atol=1e-4), 'the visual scale must change with the paired caption'
        assert not torch.allclose(a, s, atol=1e-4)
    for a, b in zip(sv_a, st_a):  # a shared context gives both modalities the same re-calibration
        assert torch.allclose(a, b)
    # text scale depends on the image too
    v2, _, _ = _maps(seed=7)
    _, _, (_, st_c) = block(v2, t, mask, return_scales=True)
    assert not torch.allclose(st_a[0], st_c[0], atol=1e-4)

    block.eval()  # test time: every sample uses its own context
    out_pair, _ = block(v, t, mask)
    out_other, _ = block(v, t2, mask)
    out_alone, _ = block(v, None)
    assert torch.allclose(out_pair, out_other) and torch.allclose(out_pair, out_alone)
    _, t_alone = block(None, t, mask)
    _, t_pair = block(v, t, mask)
    assert torch.allclose(t_alone, t_pair)


def test_share_prob_zero_never_mixes_and_mask_is_per_pair():
    torch.manual_seed(0)
    block = AXMBlock(16, 16, mid_channels=16, reduction=2, share_prob=0.0).train()
    v, t, mask = _maps()
    _, t2, _ = _maps(seed=5)
    _, _, (sv_a, _) = block(v, t, mask, return_scales=True)
    _, _, (sv_b, _) = block(v, t2, mask, return_scales=True)
    assert all(torch.allclose(a, b) for a, b in zip(sv_a, sv_b))

    gate = ContextSharingGate(8, reduction=2)
    x_v, x_t = torch.randn(4, 8), torch.randn(4, 8)
    share = torch.tensor([[1.0], [0.0], [1.0], [0.0]])
    s_v, s_t = gate(x_v, x_t, share)
    alone_v, alone_t = gate(x_v, None)[0], gate(None, x_t)[1]
    h = (torch.relu(gate.fc1(x_v)) + torch.relu(gate.fc1(x_t))) / 2
    shared = torch.sigmoid(gate.fc2(h))
    assert torch.allclose(s_v[[0, 2]], shared[[0, 2]]) and torch.allclose(s_t[[0, 2]], shared[[0, 2]])
    assert torch.allclose(s_v[[1, 3]], alone_v[[1, 3]]) and torch.allclose(s_t[[1, 3]], alone_t[[1, 3]])
    with pytest.raises(ValueError):
        ContextSharingGate(8, share_prob=1.5)


def test_axm_block_is_sum_of_scaled_streams():
    """(V~, T~) = sum_r (V_r * v~_r, T_r * t~_r): recompute the visual branch by hand (eval, no sharing)."""
    torch.manual_seed(0)
    block = AXMBlock(16, 16, reduction=4).eval()
    torch.nn.init.normal_(block.visual.expand[1].weight)  # leave the zero-init so the streams matter
    v, _, _ = _maps()
    branch = block.visual
    mid = branch.reduce(v)
    fused = 0
    for stream in branch.streams:
        m = stream(mid)
        scale = torch.sigmoid(block.gate.fc2(torch.relu(block.gate.fc1(m.mean(dim=(2, 3))))))
        fused = fused + m * scale[:, :, None, None]
    expected = torch.relu(branch.expand(fused) + v)
    assert torch.allclose(block(v, None)[0], expected, atol=1e-5)


def test_part_attention_shared_weights_naive():
    torch.manual_seed(0)
    module = PartChannelAttention(8, num_parts=3, reduction=2)
    x = torch.randn(2, 8, 6, 4)
    global_feat, parts, att = module(x)
    assert global_feat.shape == (2, 8) and parts.shape == (2, 3, 8) and att.shape == (2, 3, 8)
    assert bool(((att > 0) & (att < 1)).all())
    assert torch.allclose(global_feat, x.mean(dim=(2, 3)))
    for k in range(3):
        stripe = x[:, :, 2 * k:2 * k + 2, :]
        a = module.attention(stripe.mean(dim=(2, 3)))  # the same weights for every part
        assert torch.allclose(parts[:, k], (stripe * a[:, :, None, None]).mean(dim=(2, 3)), atol=1e-6)
    with pytest.raises(ValueError, match='num_parts'):
        module(torch.randn(1, 8, 2, 4))


def test_text_non_local_naive_and_padding():
    torch.manual_seed(0)
    module = TextNonLocal(6, inter_channels=3).eval()
    torch.nn.init.normal_(module.out[1].weight)
    t = torch.randn(2, 6, 1, 5)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    out = module(t, mask)
    x = t.squeeze(2)
    theta, phi, g = module.theta(x), module.phi(x), module.g(x)
    for b in range(2):
        valid = mask[b].nonzero().flatten().tolist()
        y = torch.zeros(3, 5)
        for i in range(5):
            logits = torch.stack([theta[b, :, i] @ phi[b, :, j] for j in valid])
            w = logits.softmax(0)
            y[:, i] = sum(w[n] * g[b, :, j] for n, j in enumerate(valid))
        z = x[b] + module.out(y[None])[0]
        z = z * mask[b].float()
        assert torch.allclose(out[b, :, 0], z, atol=1e-5)
    # features at padded positions do not reach the real words
    t2 = t.clone()
    t2[0, :, :, 3:] = 100.0
    assert torch.allclose(module(t2, mask)[0, :, :, :3], out[0, :, :, :3], atol=1e-5)


def test_text_stem_mask_and_shape():
    stem = WordConvTextStem(vocab_size=20, embed_dim=8, channels=16, num_blocks=1)
    ids = torch.tensor([[3, 4, 5, 0, 0], [0, 0, 0, 0, 0]])
    t, mask = stem(ids)
    assert t.shape == (2, 16, 1, 5)
    assert mask.tolist() == [[True, True, True, False, False], [True, False, False, False, False]]
    assert bool((t[0, :, :, 3:] == 0).all())
