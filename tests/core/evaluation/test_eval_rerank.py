"""k-reciprocal re-ranking in bounded memory against torchreid's numpy implementation and a dense oracle, the
guard against (Q + G)^2 intermediates, query expansion against naive loops, and the ReIDMetric options."""
import warnings

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from plugins.core.evaluation import (ReIDMetric, average_query_expansion, compute_distance, database_augmentation,
                                     evaluate_rank, evaluate_re_ranked, iter_re_ranked, re_ranking)
from plugins.core.evaluation.rerank import _FeatureDistances, _nearest_neighbours
from rerank_reference import dense_re_ranking, naive_aqe, naive_dba

with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    from torchreid.reid.utils.rerank import re_ranking as torchreid_re_ranking


def features(seed, num_q, num_g, dim=16, num_ids=None):
    g = torch.Generator().manual_seed(seed)
    if num_ids:  # clustered features: the neighbour sets are non-trivial
        centres = torch.randn(num_ids, dim, generator=g) * 2
        qf = centres[torch.arange(num_q) % num_ids] + torch.randn(num_q, dim, generator=g)
        gf = centres[torch.arange(num_g) % num_ids] + torch.randn(num_g, dim, generator=g)
    else:
        qf, gf = torch.randn(num_q, dim, generator=g), torch.randn(num_g, dim, generator=g)
    return qf, gf


def distances(qf, gf, metric='euclidean'):
    return compute_distance(qf, gf, metric), compute_distance(qf, qf, metric), compute_distance(gf, gf, metric)


def from_features(qf, gf, chunk_elements, chunk_size=None, **kwargs):
    return torch.cat([d for _, _, d in iter_re_ranked(qf, gf, chunk_size=chunk_size, chunk_elements=chunk_elements,
                                                      **kwargs)])


@pytest.mark.parametrize('seed,num_q,num_g,k1,k2,lam', [
    (0, 10, 40, 20, 6, 0.3),    # the paper's setting
    (1, 30, 90, 20, 6, 0.3),
    (2, 7, 25, 5, 1, 0.5),      # no query expansion
    (3, 12, 60, 7, 3, 0.1),     # odd k1: round(k1 / 2) as numpy does
    (4, 20, 60, 10, 4, 0.3),
    (5, 1, 50, 20, 6, 0.3),     # a single query
    (6, 5, 12, 20, 6, 0.3),     # fewer samples than k1 + 1
])
def test_parity_with_torchreid(seed, num_q, num_g, k1, k2, lam):
    qf, gf = features(seed, num_q, num_g, num_ids=6 if seed % 2 else None)
    q_g, q_q, g_g = distances(qf, gf)
    ref = torchreid_re_ranking(q_g.numpy(), q_q.numpy(), g_g.numpy(), k1=k1, k2=k2, lambda_value=lam)
    # torchreid's API (distance matrices) and the feature path, with blocks small enough to need many chunks
    out = re_ranking(q_g, q_q, g_g, k1=k1, k2=k2, lambda_value=lam, chunk_elements=300)
    feat = from_features(qf, gf, 300, chunk_size=4, k1=k1, k2=k2, lambda_value=lam)
    assert out.shape == feat.shape == (num_q, num_g) and out.dtype == feat.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), ref, rtol=0, atol=1e-5)
    np.testing.assert_allclose(feat.numpy(), ref, rtol=0, atol=1e-5)
    # re-ranking really changes the distances (the test would notice a pass-through)
    assert np.abs(ref - q_g.numpy()).max() > 1e-2


def test_cosine_and_query_gallery_cache_agree_with_torchreid():
    qf, gf = features(7, 15, 70, num_ids=5)
    ref = torchreid_re_ranking(*(d.numpy() for d in distances(qf, gf, 'cosine')))
    for cache in (0, 1 << 20):  # computed again chunk by chunk / kept from the first pass
        from plugins.core.evaluation.rerank import _FeatureDistances as Source, _iter_final
        out = torch.cat([d for _, _, d in _iter_final(Source(qf, gf, 'cosine'), 20, 6, 0.3, 7, 500, cache)])
        np.testing.assert_allclose(out.numpy(), ref, rtol=0, atol=1e-5)


def tied_features(seed, num_q, num_g):
    """Small-integer features with duplicates: many exactly equal distances (exact in float32)."""
    g = torch.Generator().manual_seed(seed)
    base = torch.randint(0, 3, (12, 6), generator=g).float()
    qf = base[torch.randint(0, 12, (num_q, ), generator=g)]
    gf = base[torch.randint(0, 12, (num_g, ), generator=g)]
    return qf, gf


@pytest.mark.parametrize('seed,num_q,num_g,k1,k2', [(0, 8, 60, 20, 6), (1, 1, 40, 6, 3), (2, 15, 45, 9, 1)])
def test_ties_follow_the_stable_order_of_the_dense_oracle(seed, num_q, num_g, k1, k2):
    qf, gf = tied_features(seed, num_q, num_g)
    q_g, q_q, g_g = distances(qf, gf)
    ref = dense_re_ranking(q_g, q_q, g_g, k1=k1, k2=k2).numpy()
    # the neighbour lists (first pass, many blocks) are exactly the stable argsort's, ties by index
    original = torch.cat([torch.cat([q_q, q_g], 1), torch.cat([q_g.t(), g_g], 1)]).pow(2)
    original = original / original.max(1, keepdim=True).values
    expected = torch.sort(original, dim=1, stable=True).indices[:, :k1 + 1]
    _, rank, _, _ = _nearest_neighbours(_FeatureDistances(qf, gf, 'euclidean'), k1 + 1, 200)
    assert torch.equal(rank, expected)
    tie_at_boundary = (original.gather(1, expected[:, -1:]) == original).sum(1) > 1
    assert tie_at_boundary.any()  # the exact path for a tie across the kept candidates is exercised
    np.testing.assert_allclose(re_ranking(q_g, q_q, g_g, k1=k1, k2=k2, chunk_elements=200).numpy(), ref,
                               rtol=0, atol=1e-6)
    np.testing.assert_allclose(from_features(qf, gf, 200, k1=k1, k2=k2).numpy(), ref, rtol=0, atol=1e-6)


def test_dense_oracle_equals_torchreid_without_ties():
    qf, gf = features(8, 12, 50, num_ids=4)
    dists = distances(qf, gf)
    np.testing.assert_allclose(dense_re_ranking(*dists).numpy(),
                               torchreid_re_ranking(*(d.numpy() for d in dists)), rtol=0, atol=1e-5)


class LargeTensorGuard(TorchDispatchMode):
    """Raises when any torch operation returns a tensor with ``limit`` entries or more."""

    def __init__(self, limit):
        super().__init__()
        self.limit, self.largest = limit, 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.numel())
                if t.numel() >= self.limit:
                    raise MemoryError(f'{func} made a tensor of shape {tuple(t.shape)}')
        return out


def test_no_intermediate_holds_a_gallery_x_gallery_matrix():
    num_q, num_g = 20, 480  # forbidden: G x G = 230,400 entries and anything larger, e.g. (Q + G)^2
    qf, gf = features(9, num_q, num_g, num_ids=40)
    dists = distances(qf, gf)
    ref = dense_re_ranking(*dists)
    with pytest.raises(MemoryError, match='shape'):  # the guard catches the dense computation
        with LargeTensorGuard(num_g * num_g):
            dense_re_ranking(*dists)
    guard = LargeTensorGuard(num_g * num_g)
    with guard:
        out = from_features(qf, gf, 16384)
        pids = np.arange(num_g) % 40
        cmc, mAP, _ = evaluate_re_ranked(qf, gf, np.arange(num_q) % 40, pids, np.zeros(num_q), np.ones(num_g),
                                         chunk_elements=16384)
    assert 0 < guard.largest < num_g * num_g
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=0, atol=1e-5)
    ref_cmc, ref_mAP, _ = evaluate_rank(ref, np.arange(num_q) % 40, pids, np.zeros(num_q), np.ones(num_g))
    assert cmc[0] == pytest.approx(ref_cmc[0], abs=1e-6) and mAP == pytest.approx(ref_mAP, abs=1e-6)


@pytest.mark.parametrize('qe_times,qe_k,alpha', [(1, 5, 3.0), (2, 3, 1.0), (1, 1, 3.0)])
def test_average_query_expansion_equals_fastreid_loop(qe_times, qe_k, alpha):
    qf, gf = features(10, 9, 40, num_ids=5)
    ref_q, ref_g = naive_aqe(qf, gf, qe_times=qe_times, qe_k=qe_k, alpha=alpha)
    out_q, out_g = average_query_expansion(qf, gf, qe_times=qe_times, qe_k=qe_k, alpha=alpha, chunk_elements=200)
    np.testing.assert_allclose(out_q.numpy(), ref_q.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out_g.numpy(), ref_g.numpy(), rtol=1e-5, atol=1e-5)
    if qe_k > 1:
        assert (out_q - qf).abs().max() > 0.1


@pytest.mark.parametrize('k,alpha', [(10, 3.0), (4, 1.0), (1, 3.0)])
def test_database_augmentation_equals_naive_loop(k, alpha):
    _, gf = features(11, 1, 35, num_ids=5)
    out = database_augmentation(gf, k=k, alpha=alpha, chunk_elements=150)
    np.testing.assert_allclose(out.numpy(), naive_dba(gf, k=k, alpha=alpha).numpy(), rtol=1e-5, atol=1e-5)
    if k == 1:  # its own nearest neighbour with similarity 1: unchanged
        np.testing.assert_allclose(out.numpy(), gf.numpy(), rtol=1e-6, atol=1e-6)


def metric_samples(num=60, num_q=10):
    rng = np.random.default_rng(0)
    samples = []
    for i in range(num):
        pid, cam = i % 10, (i // 10) % 3
        feat = np.eye(16, dtype=np.float32)[pid] + 0.8 * rng.standard_normal(16).astype(np.float32)
        samples.append(dict(pred_feature=torch.from_numpy(feat), gt_label=torch.tensor([pid]), camid=cam,
                            modality='image', split_role='query' if i < num_q else 'gallery', sample_idx=i))
    feats = torch.stack([s['pred_feature'] for s in samples])
    pids = np.array([s['gt_label'].item() for s in samples])
    cams = np.array([s['camid'] for s in samples])
    return samples, feats[:num_q], feats[num_q:], pids[:num_q], pids[num_q:], cams[:num_q], cams[num_q:]


def run_metric(samples, **kwargs):
    metric = ReIDMetric(**kwargs)
    metric.process(None, samples)
    return metric.compute_metrics(metric.results)


def test_metric_with_rerank_equals_torchreid_reranked_evaluation():
    samples, qf, gf, q_pids, g_pids, q_cams, g_cams = metric_samples()
    res = run_metric(samples, rerank=dict(k1=8, k2=3))
    dist = torchreid_re_ranking(*(d.numpy() for d in distances(qf, gf)), k1=8, k2=3, lambda_value=0.3)
    cmc, mAP, _ = evaluate_rank(dist, q_pids, g_pids, q_cams, g_cams)
    assert res['R1'] == pytest.approx(cmc[0] * 100, abs=1e-4) and res['mAP'] == pytest.approx(mAP * 100, abs=1e-4)
    assert run_metric(samples)['mAP'] != pytest.approx(res['mAP'])
    # torchreid's own re-ranking through the torchreid backend gives the same numbers
    res_torchreid = run_metric(samples, rerank=dict(k1=8, k2=3), backend='torchreid')
    assert res_torchreid['R1'] == pytest.approx(res['R1'], abs=1e-4)
    assert res_torchreid['mAP'] == pytest.approx(res['mAP'], abs=1e-4)


@pytest.mark.parametrize('rerank', [None, True])
def test_metric_query_expansion_options(rerank):
    samples, qf, gf, q_pids, g_pids, q_cams, g_cams = metric_samples()
    aqe, dba = dict(qe_times=1, qe_k=3, alpha=3.0), dict(k=4, alpha=2.0)
    res = run_metric(samples, rerank=rerank, aqe=aqe, dba=dba)
    # naive references: DBA over the gallery, then fast-reid's aqe, then (torchreid's) re-ranking
    eq, eg = naive_aqe(qf, naive_dba(gf, **dba).float(), **aqe)
    eq, eg = eq.float(), eg.float()
    dist = torchreid_re_ranking(*(d.numpy() for d in distances(eq, eg))) if rerank else compute_distance(eq, eg)
    cmc, mAP, _ = evaluate_rank(dist, q_pids, g_pids, q_cams, g_cams)
    assert res['R1'] == pytest.approx(cmc[0] * 100, abs=1e-4) and res['mAP'] == pytest.approx(mAP * 100, abs=1e-4)
    assert res['mAP'] != pytest.approx(run_metric(samples, rerank=rerank)['mAP'])
    res_torchreid = run_metric(samples, rerank=rerank, aqe=aqe, dba=dba, backend='torchreid')
    assert res_torchreid['mAP'] == pytest.approx(res['mAP'], abs=1e-4)


def test_metric_option_errors():
    with pytest.raises(ValueError, match='unknown rerank keys'):
        ReIDMetric(rerank=dict(k3=1))
    with pytest.raises(ValueError, match='unknown aqe keys'):
        ReIDMetric(aqe=dict(k=1))
    with pytest.raises(ValueError, match='unknown dba keys'):
        ReIDMetric(dba=dict(qe_k=1))
    for protocol in ('sysu_mm01', 'regdb'):
        for option in ('rerank', 'aqe', 'dba'):
            with pytest.raises(ValueError, match=f'{option} is not available for the {protocol} protocol.*official'):
                ReIDMetric(protocol=protocol, **{option: True})
    samples = metric_samples()[0]
    with pytest.raises(ValueError, match='k1 and k2 must be positive integers'):
        run_metric(samples, rerank=dict(k1=0))
