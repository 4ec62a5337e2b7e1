"""ReIDMetric on the Market protocol: process(), de-duplication, backends, errors, log table."""
import logging

import numpy as np
import pytest
import torch
from eval_reference import naive_rank
from mmengine.logging import MMLogger
from mmpretrain.registry import METRICS
from mmpretrain.structures import DataSample

import plugins  # noqa: F401  (registers ReIDMetric)
from plugins.core.evaluation import ReIDMetric


def market_samples(seed=0, num_ids=8, per_cam=2, num_cams=3, dim=16, onehot=False):
    """Per-sample dicts as the model's predict mode hands them to the metric (DataSample.to_dict())."""
    rng = np.random.default_rng(seed)
    samples, idx = [], 0
    for pid in range(num_ids):
        for cam in range(num_cams):
            for k in range(per_cam):
                role = 'query' if (cam == 0 and k == 0) else 'gallery'
                if onehot:
                    feat = np.eye(dim, dtype=np.float32)[pid] + 0.01 * rng.random(dim, dtype=np.float32)
                else:
                    feat = rng.standard_normal(dim).astype(np.float32) + 0.5 * np.eye(dim, dtype=np.float32)[pid]
                samples.append(dict(pred_feature=torch.from_numpy(feat), gt_label=torch.tensor([pid]),
                                    camid=cam, modality='image', split_role=role,
                                    img_path=f'/data/{pid:04d}_c{cam + 1}_{k}.jpg', sample_idx=idx))
                idx += 1
    return samples


def run_metric(metric, samples, batch=5):
    for i in range(0, len(samples), batch):
        metric.process(None, samples[i:i + batch])
    return metric.compute_metrics(metric.results)


def naive_market(samples):
    feats = np.stack([s['pred_feature'].numpy() for s in samples]).astype(np.float64)
    pids = np.array([int(s['gt_label'][0]) for s in samples])
    cams = np.array([s['camid'] for s in samples])
    q = np.array([s['split_role'] == 'query' for s in samples])
    dist = ((feats[q][:, None] - feats[~q][None]) ** 2).sum(-1)
    cmc, mAP, mINP = naive_rank(dist, pids[q], pids[~q], cams[q], cams[~q], 20)
    return dict(R1=cmc[0] * 100, R5=cmc[4] * 100, R10=cmc[9] * 100, R20=cmc[19] * 100, mAP=mAP * 100,
                mINP=mINP * 100)


def test_onehot_features_give_rank1_100():
    metric = METRICS.build(dict(type='ReIDMetric', protocol='market'))
    res = run_metric(metric, market_samples(onehot=True))
    assert set(res) == {'R1', 'R5', 'R10', 'R20', 'mAP', 'mINP'}
    assert res['R1'] == pytest.approx(100.0) and res['mAP'] == pytest.approx(100.0)
    assert all(isinstance(v, float) for v in res.values())


def test_market_matches_naive_loop_in_percent():
    samples = market_samples(seed=1)
    res = run_metric(ReIDMetric(), samples)
    ref = naive_market(samples)
    for key, value in ref.items():
        assert res[key] == pytest.approx(value, abs=1e-4), key
    assert 0 < res['R1'] < 100  # a non-trivial problem


def test_padded_duplicates_are_removed():
    samples = market_samples(seed=2)
    clean = run_metric(ReIDMetric(), samples)
    # a distributed sampler pads the last ranks with repeated samples (same sample_idx)
    padded = samples + samples[:7] + samples[3:9]
    dedup = run_metric(ReIDMetric(), padded)
    assert dedup == pytest.approx(clean)
    # without sample_idx the duplicates would count (shows that the check above can fail)
    no_idx = [{k: v for k, v in s.items() if k != 'sample_idx'} for s in padded]
    assert run_metric(ReIDMetric(), no_idx) != pytest.approx(clean)


def test_junk_ids_are_ignored():
    samples = market_samples(seed=3)
    junk = [dict(s, gt_label=torch.tensor([-1]), sample_idx=1000 + i, pred_feature=s['pred_feature'] * 0)
            for i, s in enumerate(samples[:6])]
    assert run_metric(ReIDMetric(), samples + junk) == pytest.approx(run_metric(ReIDMetric(), samples))


def test_accepts_data_samples_and_feature_normalisation():
    samples = market_samples(seed=4)
    objs = []
    for s in samples:
        ds = DataSample().set_gt_label(int(s['gt_label'][0]))
        ds.set_metainfo({k: s[k] for k in ('camid', 'modality', 'split_role', 'img_path', 'sample_idx')})
        ds.set_field(s['pred_feature'] * 3, 'pred_feature')
        objs.append(ds)
    # scaling every feature does not change a cosine ranking, nor a euclidean one after norm_feat
    ref = run_metric(ReIDMetric(dist='cosine'), samples)
    assert run_metric(ReIDMetric(dist='cosine'), objs) == pytest.approx(ref)
    assert run_metric(ReIDMetric(norm_feat=True), objs) == pytest.approx(ref, abs=1e-4)


def test_torchreid_backend_equals_plugin():
    samples = market_samples(seed=5)
    for dist in ('euclidean', 'cosine'):
        plugin = run_metric(ReIDMetric(dist=dist), samples)
        ref = run_metric(ReIDMetric(dist=dist, backend='torchreid'), samples)
        assert plugin == pytest.approx(ref, abs=1e-4)


def test_missing_query_or_gallery_is_a_clear_error():
    samples = [s for s in market_samples() if s['split_role'] == 'gallery']
    with pytest.raises(ValueError, match=r"protocol='market'.*no query samples.*split_role='query'"):
        run_metric(ReIDMetric(), samples)
    with pytest.raises(KeyError, match='pred_feature'):
        ReIDMetric().process(None, [dict(gt_label=torch.tensor([1]))])
    with pytest.raises(ValueError, match='protocol'):
        ReIDMetric(protocol='duke')
    with pytest.raises(ValueError, match='max_rank'):
        ReIDMetric(max_rank=10)
    with pytest.raises(ValueError, match='no samples were processed'):
        ReIDMetric().compute_metrics([])


def test_results_table_is_logged():
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    logger = MMLogger.get_current_instance()
    handler, level = Keep(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)  # an earlier Runner of this process may have left its instance at WARNING
    try:
        res = run_metric(ReIDMetric(), market_samples(seed=6))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    text = '\n'.join(records)
    for name in ('mAP', 'Rank-1', 'Rank-5', 'Rank-10', 'Rank-20', 'mINP', 'market'):
        assert name in text
    assert f"{res['R1']:6.2f}%" in text
