"""Chunked distances: torchreid's definitions, chunk invariance, float32 output, fused ranking."""
import warnings

import numpy as np
import pytest
import torch

from plugins.core.evaluation import compute_distance, evaluate_features, evaluate_rank, iter_distance_chunks

with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    from torchreid.reid.metrics import compute_distance_matrix


@pytest.mark.parametrize('metric', ['euclidean', 'cosine'])
def test_matches_torchreid_and_naive_formula(metric):
    g = torch.Generator().manual_seed(0)
    qf, gf = torch.randn(13, 6, generator=g), torch.randn(29, 6, generator=g)
    out = compute_distance(qf, gf, metric, chunk_size=4)
    assert out.shape == (13, 29) and out.dtype == torch.float32
    torch.testing.assert_close(out, compute_distance_matrix(qf, gf, metric), rtol=1e-5, atol=1e-5)
    q64, g64 = qf.double().numpy(), gf.double().numpy()
    if metric == 'euclidean':  # torchreid's "euclidean" is the squared distance
        naive = ((q64[:, None] - g64[None]) ** 2).sum(-1)
    else:
        naive = 1 - (q64 / np.linalg.norm(q64, axis=1, keepdims=True)) @ \
            (g64 / np.linalg.norm(g64, axis=1, keepdims=True)).T
    np.testing.assert_allclose(out.numpy(), naive, rtol=1e-5, atol=1e-5)


def test_chunks_cover_every_row_and_output_is_float32_for_float64_features():
    qf, gf = torch.randn(10, 4, dtype=torch.float64), torch.randn(7, 4, dtype=torch.float64)
    spans = [(start, stop) for start, stop, dist in iter_distance_chunks(qf, gf, chunk_size=3)]
    assert spans == [(0, 3), (3, 6), (6, 9), (9, 10)]
    out = compute_distance(qf, gf, chunk_size=3)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, compute_distance(qf, gf, chunk_size=100))
    with pytest.raises(ValueError, match='metric'):
        compute_distance(qf, gf, 'manhattan')
    with pytest.raises(ValueError, match=r'\(Q, D\)'):
        compute_distance(qf, torch.randn(7, 5))


def test_fused_evaluation_equals_distance_then_rank():
    rng = np.random.default_rng(0)
    q_pids, g_pids = rng.integers(0, 9, 25), rng.integers(0, 9, 70)
    q_cams, g_cams = rng.integers(0, 3, 25), rng.integers(0, 3, 70)
    qf, gf = torch.randn(25, 8), torch.randn(70, 8)
    for metric in ('euclidean', 'cosine'):
        ref = evaluate_rank(compute_distance(qf, gf, metric), q_pids, g_pids, q_cams, g_cams, max_rank=20)
        out = evaluate_features(qf, gf, q_pids, g_pids, q_cams, g_cams, metric=metric, max_rank=20, chunk_size=6)
        np.testing.assert_array_equal(out[0], ref[0])
        assert out[1:] == pytest.approx(ref[1:], abs=1e-12)
