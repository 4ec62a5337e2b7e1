"""k-reciprocal re-ranking in torch against torchreid's numpy implementation, and through ReIDMetric."""
import warnings

import numpy as np
import pytest
import torch

from plugins.core.evaluation import ReIDMetric, compute_distance, evaluate_rank, re_ranking

with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    from torchreid.reid.utils.rerank import re_ranking as torchreid_re_ranking


def distances(seed, num_q, num_g, dim=16, num_ids=None):
    g = torch.Generator().manual_seed(seed)
    if num_ids:  # clustered features: the neighbour sets are non-trivial
        centres = torch.randn(num_ids, dim, generator=g) * 2
        qf = centres[torch.arange(num_q) % num_ids] + torch.randn(num_q, dim, generator=g)
        gf = centres[torch.arange(num_g) % num_ids] + torch.randn(num_g, dim, generator=g)
    else:
        qf, gf = torch.randn(num_q, dim, generator=g), torch.randn(num_g, dim, generator=g)
    return compute_distance(qf, gf), compute_distance(qf, qf), compute_distance(gf, gf)


@pytest.mark.parametrize('seed,num_q,num_g,k1,k2,lam', [
    (0, 10, 40, 20, 6, 0.3),    # the paper's setting
    (1, 30, 90, 20, 6, 0.3),
    (2, 7, 25, 5, 1, 0.5),      # no query expansion
    (3, 12, 60, 7, 3, 0.1),     # odd k1: round(k1 / 2) as numpy does
    (4, 20, 60, 10, 4, 0.3),
])
def test_parity_with_torchreid(seed, num_q, num_g, k1, k2, lam):
    q_g, q_q, g_g = distances(seed, num_q, num_g, num_ids=6 if seed % 2 else None)
    ref = torchreid_re_ranking(q_g.numpy(), q_q.numpy(), g_g.numpy(), k1=k1, k2=k2, lambda_value=lam)
    out = re_ranking(q_g, q_q, g_g, k1=k1, k2=k2, lambda_value=lam)
    assert out.shape == (num_q, num_g) and out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), ref, rtol=0, atol=1e-5)
    # re-ranking really changes the distances (the test would notice a pass-through)
    assert np.abs(ref - q_g.numpy()).max() > 1e-2


def test_metric_with_rerank_equals_torchreid_reranked_evaluation():
    rng = np.random.default_rng(0)
    samples = []
    for i in range(60):
        pid, cam = i % 10, (i // 10) % 3
        feat = np.eye(16, dtype=np.float32)[pid] + 0.8 * rng.standard_normal(16).astype(np.float32)
        samples.append(dict(pred_feature=torch.from_numpy(feat), gt_label=torch.tensor([pid]), camid=cam,
                            modality='image', split_role='query' if i < 10 else 'gallery', sample_idx=i))
    metric = ReIDMetric(rerank=dict(k1=8, k2=3))
    metric.process(None, samples)
    res = metric.compute_metrics(metric.results)
    feats = torch.stack([s['pred_feature'] for s in samples])
    pids = np.array([s['gt_label'].item() for s in samples])
    cams = np.array([s['camid'] for s in samples])
    qf, gf = feats[:10], feats[10:]
    dist = torchreid_re_ranking(compute_distance(qf, gf).numpy(), compute_distance(qf, qf).numpy(),
                                compute_distance(gf, gf).numpy(), k1=8, k2=3, lambda_value=0.3)
    cmc, mAP, _ = evaluate_rank(dist, pids[:10], pids[10:], cams[:10], cams[10:])
    assert res['R1'] == pytest.approx(cmc[0] * 100, abs=1e-4) and res['mAP'] == pytest.approx(mAP * 100, abs=1e-4)
    plain = ReIDMetric()
    plain.process(None, samples)
    assert plain.compute_metrics(plain.results)['mAP'] != pytest.approx(res['mAP'])
    with pytest.raises(ValueError, match='rerank'):
        ReIDMetric(rerank=dict(k3=1))
