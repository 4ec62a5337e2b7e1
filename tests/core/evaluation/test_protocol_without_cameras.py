"""The 'market' protocol on data without camera ids: only the query image itself leaves its gallery."""
import numpy as np
import pytest
import torch

from plugins.core.evaluation import ReIDMetric


def samples_without_cameras(seed=0, num_ids=6, per_id=4, dim=5, copies=3):
    """Query and gallery of ``num_ids`` ids, camid -1; the first ``copies`` queries also sit in the gallery under
    the same path (an annotation file listing an image in both), each with its exact feature."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((num_ids, dim))
    out = []
    for pid in range(num_ids):
        for k in range(per_id):
            feat = torch.as_tensor(centres[pid] + 1.5 * rng.standard_normal(dim), dtype=torch.float32)
            role = 'query' if k == 0 else 'gallery'
            out.append(dict(pred_feature=feat, gt_label=torch.tensor([pid]), camid=-1, modality='image',
                            split_role=role, img_path=f'/d/{pid}/{k}.jpg'))
            if role == 'query' and pid < copies:
                out.append(dict(out[-1], split_role='gallery'))
    for i, s in enumerate(out):
        s['sample_idx'] = i
    return out


def naive_self_removed(samples, max_rank=20):
    """One loop per query: drop the gallery items with the query's image path, rank by Euclidean distance."""
    query = [s for s in samples if s['split_role'] == 'query']
    gallery = [s for s in samples if s['split_role'] == 'gallery']
    cmc, aps = np.zeros(max_rank), []
    for q in query:
        kept = [g for g in gallery if g['img_path'] != q['img_path']]
        dist = [float(((q['pred_feature'] - g['pred_feature']) ** 2).sum()) for g in kept]
        ranked = [int(kept[j]['gt_label'][0]) for j in np.argsort(dist, kind='stable')]
        hits = [p == int(q['gt_label'][0]) for p in ranked]
        first = hits.index(True)
        cmc[first:] += 1
        found = np.cumsum(hits)
        aps.append(np.mean([found[r] / (r + 1) for r in range(len(hits)) if hits[r]]))
    return cmc / len(query) * 100, float(np.mean(aps)) * 100


def test_only_the_query_image_itself_is_removed():
    samples = samples_without_cameras()
    metric = ReIDMetric(protocol='market', max_rank=20)
    metric.process(None, samples)
    result = metric.compute_metrics(metric.results)
    cmc, mAP = naive_self_removed(samples)
    assert [result[f'R{k}'] for k in (1, 5, 10)] == pytest.approx([cmc[0], cmc[4], cmc[9]])
    assert result['mAP'] == pytest.approx(mAP)
    assert 0 < result['R1'] < 100  # the copies of the queries did not give themselves away


def test_same_camera_rule_would_remove_every_match():
    """What the camera-free rule replaces: Market's rule with one shared camera leaves no query a match."""
    samples = samples_without_cameras(copies=0)
    for s in samples:
        s['camid'] = 0
    metric = ReIDMetric(protocol='market', max_rank=20)
    metric.process(None, samples)
    with pytest.raises(Exception):
        metric.compute_metrics(metric.results)


def test_some_with_and_some_without_camera_is_an_error():
    samples = samples_without_cameras(copies=0)
    for s in samples[:5]:
        s['camid'] = 1
    metric = ReIDMetric(protocol='market')
    metric.process(None, samples)
    with pytest.raises(ValueError, match=r'no camera id .* e\.g\. /d/1/1\.jpg'):
        metric.compute_metrics(metric.results)
