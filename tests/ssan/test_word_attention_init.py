"""The word-attention layer W_p starts as in the official code: PyTorch's default init of its bias-free
``nn.Conv2d(C, K, 1)``, i.e. ``kaiming_uniform_(a=sqrt(5))`` = U(-1/sqrt(C), 1/sqrt(C)), so its sigmoid scores
start near 0.5 instead of saturating."""
import math

import torch
import torch.nn as nn

from plugins.ssan.model import SSAN
from plugins.ssan.text_encoder import BiLSTMTextEncoder
from plugins.ssan.word_attention import WordAttentionModule


def default_init_bound(fan_in):
    """Bound of ``kaiming_uniform_(w, a=sqrt(5))`` (nn.Linear / nn.Conv2d reset_parameters), from its formula:
    gain = sqrt(2 / (1 + a^2)), bound = gain * sqrt(3 / fan_in)."""
    gain = math.sqrt(2.0 / (1 + 5))
    return gain * math.sqrt(3.0 / fan_in)


def check_uniform(weight, bound, std_rtol):
    """``weight`` looks like i.i.d. U(-bound, bound): inside the bounds, filling them, std bound / sqrt(3)."""
    w = weight.detach().flatten()
    assert w.abs().max() <= bound
    assert w.abs().max() > 0.98 * bound  # fills the interval (a normal of the same std would not be bounded)
    assert abs(w.std().item() - bound / math.sqrt(3)) < std_rtol * bound / math.sqrt(3)
    assert abs(w.mean().item()) < 4 * bound / math.sqrt(3 * w.numel())  # 4 standard errors
    # half of U(-b, b) lies within b/2 (a Kaiming normal of std sqrt(2/K) would put almost nothing there)
    inner = (w.abs() < bound / 2).float().mean().item()
    assert abs(inner - 0.5) < 4 * math.sqrt(0.25 / w.numel())


def test_wam_weight_is_pytorch_default_init_at_published_size():
    torch.manual_seed(0)
    wam = WordAttentionModule(in_channels=2048, num_parts=6)
    bound = default_init_bound(2048)  # = 1 / sqrt(2048) = 0.0221
    assert abs(bound - 1 / math.sqrt(2048)) < 1e-12
    check_uniform(wam.score.weight, bound, std_rtol=0.03)  # 12,288 values: std known to ~0.4 %


def test_wam_weight_draws_the_same_values_as_the_official_conv():
    """Official: ``nn.Conv2d(2048, 6, kernel_size=1, bias=False)`` with its default init; same seed, same weights."""
    torch.manual_seed(3)
    official = nn.Conv2d(2048, 6, kernel_size=1, bias=False).weight.detach().view(6, 2048)
    torch.manual_seed(3)
    ours = WordAttentionModule(in_channels=2048, num_parts=6).score.weight.detach()
    torch.testing.assert_close(ours, official, rtol=0, atol=0)


def test_wam_weight_keeps_default_init_in_the_model_after_init_weights():
    """Built as the Runner builds it (``init_weights()`` after construction), the layer is not re-initialised."""
    torch.manual_seed(0)
    model = SSAN(backbone=dict(type='ResNet', depth=18, strides=(1, 2, 2, 1), out_indices=(3, )),
                 vocab_size=20, num_classes=4, embed_dims=16, feat_dims=32, relation_dims=16)
    model.init_weights()
    check_uniform(model.word_attention.score.weight, default_init_bound(512), std_rtol=0.1)  # C = 512 (ResNet-18)


def test_wam_scores_do_not_saturate_at_init_on_bilstm_word_features():
    """Published sizes (embedding 512, LSTM 2048): at init the scores stay well inside (0.05, 0.95).

    With the former Kaiming fan-out init (std sqrt(2/6) = 0.58, ~45x the default std 0.0128) 6.3 % of these
    scores started outside that interval, where the sigmoid's slope is below a fifth of its maximum.
    """
    torch.manual_seed(0)
    encoder = BiLSTMTextEncoder(vocab_size=500, embed_dims=512, hidden_dims=2048).eval()
    wam = WordAttentionModule(in_channels=2048, num_parts=6)
    lengths = [40, 31, 25, 12]
    ids = torch.zeros(len(lengths), max(lengths), dtype=torch.long)
    for b, n in enumerate(lengths):
        ids[b, :n] = torch.randint(2, 500, (n, ))
    with torch.no_grad():
        _, words, mask = encoder(ids)
        _, scores = wam(words, mask)
    real = scores[mask]  # (words, K)
    assert real.numel() == sum(lengths) * 6
    assert ((real < 0.05) | (real > 0.95)).float().mean() == 0
    assert (real - 0.5).abs().max() < 0.25


def test_the_other_part_projections_keep_the_official_kaiming_fan_out_init():
    """The official ``conv`` blocks (W_g, W_l^k, PRL) are Kaiming-normal, fan-out: std sqrt(2 / out)."""
    torch.manual_seed(0)
    model = SSAN(backbone=dict(type='ResNet', depth=18, strides=(1, 2, 2, 1), out_indices=(3, )),
                 vocab_size=20, num_classes=4, embed_dims=16, feat_dims=256, relation_dims=128)
    model.init_weights()
    for name, out_dims in (('part_proj', 256), ('global_proj', 256), ('part_relation.theta', 128),
                           ('part_relation.out', 128)):
        weight = model.get_submodule(name).weight.detach()
        want = math.sqrt(2.0 / out_dims)
        assert abs(weight.std().item() - want) < 0.05 * want, name
