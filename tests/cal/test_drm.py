import math

import pytest
import torch

from plugins.cal.drm import DRM, PartScorer, aggregate_parts, num_selected_tokens, select_top_tokens


@pytest.mark.parametrize('hw,n_p,alpha,expected', [(162, 6, 1.0, 27), (162, 6, 0.5, 14), (10, 3, 1.0, 4),
                                                   (8, 6, 1.0, 2), (8, 2, 5.0, 8)])
def test_num_selected_tokens_is_ceil(hw, n_p, alpha, expected):
    assert num_selected_tokens(hw, n_p, alpha) == expected == min(hw, math.ceil(alpha * hw / n_p))


def test_top_k_keeps_exactly_the_k_largest_scores_per_part():
    torch.manual_seed(0)
    scores = torch.rand(3, 20, 4).softmax(-1)
    k = 6
    selected = select_top_tokens(scores, k)
    assert ((selected != 0).sum(dim=1) == k).all()
    for b in range(3):
        for p in range(4):
            col = scores[b, :, p]
            kept = selected[b, :, p] != 0
            # every kept score is >= every dropped score, and kept values are unchanged
            assert col[kept].min() >= col[~kept].max()
            assert torch.equal(selected[b, kept, p], col[kept])


def test_aggregation_is_weighted_mean_of_selected_tokens():
    torch.manual_seed(1)
    b, hw, n_p, c = 2, 12, 3, 5
    selected = select_top_tokens(torch.rand(b, hw, n_p), 4)
    tokens = torch.randn(b, hw, c)
    parts = aggregate_parts(selected, tokens)
    for i in range(b):
        for p in range(n_p):
            num = sum(selected[i, j, p] * tokens[i, j] for j in range(hw))
            den = sum(selected[i, j, p] for j in range(hw))
            torch.testing.assert_close(parts[i, p], num / den)
    # normalisation: a constant map aggregates to the constant, whatever the scores
    const = torch.randn(1, 1, c).expand(b, hw, c)
    torch.testing.assert_close(aggregate_parts(selected, const), const[:, :n_p])


def test_part_scorer_softmax_over_parts_and_same_size_pooling():
    scorer = PartScorer(in_channels=8, num_parts=4, pool_sizes=(1, 3, 5))
    scores = scorer(torch.randn(2, 8, 6, 3))
    assert scores.shape == (2, 18, 4)
    torch.testing.assert_close(scores.sum(-1), torch.ones(2, 18))
    assert scorer.score.in_channels == 8 * 3
    with pytest.raises(ValueError, match='odd'):
        PartScorer(8, 4, pool_sizes=(2,))


def test_part_scorer_equals_naive_window_maxima():
    torch.manual_seed(0)
    scorer = PartScorer(in_channels=4, num_parts=3, pool_sizes=(1, 3), reduce_channels=None)
    feat = torch.randn(2, 4, 5, 3)
    h, w = feat.shape[-2:]
    window_max = torch.empty_like(feat)  # 3x3, stride 1, windows clipped at the border
    for i in range(h):
        for j in range(w):
            window_max[..., i, j] = feat[..., max(i - 1, 0):i + 2, max(j - 1, 0):j + 2].amax(dim=(-2, -1))
    logits = scorer.score(torch.cat([feat, window_max], dim=1))
    torch.testing.assert_close(scorer(feat), logits.flatten(2).transpose(1, 2).softmax(dim=-1))


def test_drm_forward_selects_n_k_tokens_per_part():
    drm = DRM(in_channels=8, num_parts=3, num_classes=5, alpha=1.0)
    feat = torch.randn(2, 8, 6, 4)
    parts, selected, tokens = drm(feat)
    assert parts.shape == (2, 3, 8) and selected.shape == (2, 24, 3) and tokens.shape == (2, 24, 8)
    assert ((selected > 0).sum(1) == math.ceil(24 / 3)).all()
    torch.testing.assert_close(tokens, feat.flatten(2).transpose(1, 2))
    assert drm.classify(parts).shape == (2, 3, 5)
