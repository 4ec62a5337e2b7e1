"""SSAN building blocks: word attention (WAM), part relation (PRL), BiLSTM text encoder, per-part linear."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from plugins.ssan.part_linear import PartwiseLinear
from plugins.ssan.part_relation import PartRelationModule
from plugins.ssan.text_encoder import BiLSTMTextEncoder, caption_mask
from plugins.ssan.word_attention import WordAttentionModule


def test_partwise_linear_uses_one_weight_per_part():
    torch.manual_seed(0)
    layer = PartwiseLinear(3, 5, 4, bias=True)
    torch.nn.init.normal_(layer.bias)
    x = torch.randn(2, 3, 5)
    want = torch.stack([x[:, k] @ layer.weight[k].t() + layer.bias[k] for k in range(3)], dim=1)
    torch.testing.assert_close(layer(x), want)
    upstream = torch.randn(2, 3, 4)
    grad = torch.autograd.grad((layer(x) * upstream).sum(), layer.weight)[0]
    want_grad = torch.stack([upstream[:, k].t() @ x[:, k] for k in range(3)])  # dL/dW_k = sum_b g_bk x_bk^T
    torch.testing.assert_close(grad, want_grad)
    assert grad.is_contiguous()


def test_wam_scores_in_unit_interval_with_batch_words_parts_shape():
    torch.manual_seed(0)
    wam = WordAttentionModule(in_channels=16, num_parts=6)
    words = 3 * torch.randn(4, 9, 16)
    mask = caption_mask(torch.tensor([[1] * 9, [1] * 5 + [0] * 4, [1] * 2 + [0] * 7, [1] * 7 + [0] * 2]))
    parts, scores = wam(words, mask)
    assert scores.shape == (4, 9, 6)
    assert ((scores > 0) & (scores < 1)).all()
    assert parts.shape == (4, 6, 16)
    # naive: s_i^k = sigmoid(w_k . e_i); part k = max over the real words of s_i^k e_i
    for b in range(4):
        n = int(mask[b].sum())
        for k in range(6):
            s = torch.sigmoid(words[b, :n] @ wam.score.weight[k])
            torch.testing.assert_close(scores[b, :n, k], s)
            torch.testing.assert_close(parts[b, k], (s[:, None] * words[b, :n]).max(dim=0).values)


def naive_relation(module, parts):
    """v_n^k = W_n^k(v^k + W_gamma^k(sum_{i != k} a_ki phi_i(v^i))), a = softmax over i != k of cos(theta, phi)."""
    bsz, num_parts, _ = parts.shape
    out = []
    for k in range(num_parts):
        theta = F.leaky_relu(parts[:, k] @ module.theta.weight[k].t(), 0.25)
        phis = [F.leaky_relu(parts[:, i] @ module.phi.weight[i].t(), 0.25) for i in range(num_parts)]
        others = [i for i in range(num_parts) if i != k]
        sims = torch.stack([F.cosine_similarity(theta, phis[i], dim=1) for i in others], 1)  # (B, K-1)
        alpha = sims.softmax(dim=1)
        context = sum(alpha[:, j:j + 1] * F.normalize(phis[i], dim=1) for j, i in enumerate(others))
        context = F.leaky_relu(module.gamma_bn[k](context @ module.gamma.weight[k].t()), 0.25)
        out.append((parts[:, k] + context) @ module.out.weight[k].t())
    return torch.stack(out, dim=1)


def test_prl_matches_formula_without_self_relation():
    torch.manual_seed(0)
    prl = PartRelationModule(in_channels=8, num_parts=4, reduction=2, out_channels=6).eval()
    for bn in prl.gamma_bn:  # non-trivial running statistics
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2)
    parts = torch.randn(3, 4, 8)
    weights = prl.relation_weights(parts)
    assert weights.shape == (3, 4, 4)
    assert (weights.diagonal(dim1=1, dim2=2) == 0).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 4))
    torch.testing.assert_close(prl(parts), naive_relation(prl, parts), rtol=1e-4, atol=1e-5)


def test_prl_excludes_self_by_construction():
    """With K = 2 the only other part gets weight 1: part 0's context depends on part 1 alone.

    Changing part 0 then changes v_n^0 only through its own residual term, i.e. by W_n^0 (delta).
    """
    torch.manual_seed(1)
    prl = PartRelationModule(in_channels=8, num_parts=2, reduction=2, out_channels=5).eval()
    parts = torch.randn(2, 2, 8)
    delta = torch.zeros_like(parts)
    delta[:, 0] = torch.randn(2, 8)
    torch.testing.assert_close(prl.relation_weights(parts), torch.tensor([[0., 1.], [1., 0.]]).expand(2, 2, 2))
    change = prl(parts + delta)[:, 0] - prl(parts)[:, 0]
    torch.testing.assert_close(change, delta[:, 0] @ prl.out.weight[0].t(), rtol=1e-4, atol=1e-5)


def _packed_reference(enc, embedding, ids):
    """The official encoding: packed sequences (padding never enters the LSTM), mean of both directions."""
    lengths = ids.ne(0).sum(1).clamp(min=1)
    packed = nn.utils.rnn.pack_padded_sequence(embedding(ids), lengths, batch_first=True, enforce_sorted=False)
    out, _ = enc.lstm(packed)
    out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=ids.size(1))
    return out.view(*out.shape[:2], 2, -1).mean(dim=2)


def test_dense_text_encoder_equals_packed_sequences_values_and_gradients():
    torch.manual_seed(0)
    enc = BiLSTMTextEncoder(vocab_size=40, embed_dims=8, hidden_dims=6, dropout=0.0).train()
    ids = torch.tensor([[5, 7, 9, 0, 0, 0], [1, 2, 3, 4, 5, 6], [3, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]])
    dense, _, mask = enc(ids)
    reference = _packed_reference(enc, enc.embed_global, ids)
    torch.testing.assert_close(dense, reference, rtol=1e-5, atol=1e-6)
    assert dense[~mask].abs().max() == 0  # padding positions are zero, as pad_packed_sequence leaves them
    weights = torch.randn_like(dense)
    grads = torch.autograd.grad((dense * weights).sum(), [enc.lstm.weight_hh_l0_reverse, enc.embed_global.weight])
    ref_grads = torch.autograd.grad((reference * weights).sum(),
                                    [enc.lstm.weight_hh_l0_reverse, enc.embed_global.weight])
    for got, want in zip(grads, ref_grads):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)


def test_text_encoder_ignores_padding_and_other_captions():
    torch.manual_seed(0)
    enc = BiLSTMTextEncoder(vocab_size=30, embed_dims=8, hidden_dims=6).eval()
    short = torch.tensor([[5, 7, 9, 0, 0, 0]])
    batch = torch.tensor([[5, 7, 9, 0, 0, 0, 0, 0], [1, 2, 3, 4, 5, 6, 7, 8]])
    g1, l1, m1 = enc(short)
    g2, l2, m2 = enc(batch)
    assert g1.shape == (1, 3, 6) and g2.shape == (2, 8, 6)   # trimmed to the longest caption
    torch.testing.assert_close(g1[0], g2[0, :3])
    torch.testing.assert_close(l1[0], l2[0, :3])
    assert m2[0].tolist() == [True] * 3 + [False] * 5
    # mean of the two directions: the backward direction sees the end of the caption, so the first word's
    # feature changes when a word is appended
    g3, _, _ = enc(torch.tensor([[5, 7, 9, 11]]))
    assert not torch.allclose(g3[0, 0], g1[0, 0])
    # the tokenizer's mask is honoured
    _, _, m4 = enc(batch, torch.tensor([[1, 1, 1, 0, 0, 0, 0, 0], [1] * 8]))
    assert m4[0].sum() == 3
