"""Evaluation protocols as registered objects: the metric scores what they split, and so does the ranking picture."""
import numpy as np
import pytest
import torch
from eval_reference import naive_rank, official_sysu_gallery

from plugins.core.evaluation import (REID_PROTOCOLS, RankingProblem, ReIDMetric, ReIDProtocol, compute_distance,
                                     ignored_gallery)
from tests.core.evaluation.test_reid_metric_protocols import run, sysu_samples
from tests.helpers import load_tool


def market_samples(seed=0, num_ids=5, per_cam=3, dim=6):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((num_ids, dim))
    out = []
    for pid in range(num_ids):
        for cam in range(3):
            for k in range(per_cam):
                feat = centres[pid] + rng.standard_normal(dim)
                out.append(dict(pred_feature=torch.as_tensor(feat, dtype=torch.float32), gt_label=torch.tensor([pid]),
                                camid=cam, modality='image', split_role='query' if k == 0 else 'gallery',
                                img_path=f'/m/{pid}_{cam}_{k}.jpg', sample_idx=len(out)))
    return out


@REID_PROTOCOLS.register_module(force=True)
class OddCameraProtocol(ReIDProtocol):
    """A user-defined protocol (registered from outside the plugin): camera-0 queries, two galleries of
    different cameras, averaged; nothing removed."""
    name = 'odd_camera'

    def split(self, records):
        cams = np.array([r['camid'] for r in records])
        query = np.flatnonzero(cams == 0)
        problems = []
        for cam in (1, 2):
            gallery = np.flatnonzero(cams == cam)
            problems.append(RankingProblem(query, gallery, np.zeros(len(query), np.int64),
                                           np.ones(len(gallery), np.int64), name=f'camera {cam}'))
        return problems


def test_short_names_and_configs_build_the_same_protocol():
    samples = sysu_samples(seed=3)
    by_name = run(ReIDMetric(protocol='sysu_mm01', search_mode='indoor', trials=3), samples)
    by_dict = run(ReIDMetric(protocol=dict(type='SYSUMM01Protocol', search_mode='indoor', trials=3)), samples)
    assert by_name == by_dict
    assert set(REID_PROTOCOLS.module_dict) >= {'MarketProtocol', 'SYSUMM01Protocol', 'RegDBProtocol',
                                               'TextImageProtocol'}


def test_unknown_protocol_names_the_registry():
    with pytest.raises(ValueError, match="protocol must be one of .*'market'.*REID_PROTOCOLS"):
        ReIDMetric(protocol='markett')


def test_user_protocol_with_several_galleries_is_the_mean_of_its_problems():
    """Galleries with different labels are ranked one by one and averaged (checked against a naive loop)."""
    samples = market_samples()
    metric = ReIDMetric(protocol=dict(type='OddCameraProtocol'))
    res = run(metric, samples)
    feats = torch.stack([s['pred_feature'] for s in samples])
    pids = np.array([int(s['gt_label'][0]) for s in samples])
    cams = np.array([s['camid'] for s in samples])
    q = np.flatnonzero(cams == 0)
    refs = []
    for cam in (1, 2):
        g = np.flatnonzero(cams == cam)
        distmat = compute_distance(feats[q], feats[g], 'euclidean').numpy()
        refs.append(naive_rank(distmat, pids[q], pids[g], np.zeros(len(q)), np.ones(len(g)), 20))
    assert res['R1'] == pytest.approx(100 * np.mean([r[0][0] for r in refs]), abs=1e-4)
    assert res['R5'] == pytest.approx(100 * np.mean([r[0][4] for r in refs]), abs=1e-4)
    assert res['mAP'] == pytest.approx(100 * np.mean([r[1] for r in refs]), abs=1e-4)
    assert res['mINP'] == pytest.approx(100 * np.mean([r[2] for r in refs]), abs=1e-4)


@pytest.mark.parametrize('rules', ['market', 'sysu_mm01'])
def test_ignored_gallery_is_what_the_evaluation_removes(rules):
    """mAP of a naive ranking that drops exactly ``ignored_gallery`` equals the evaluator's."""
    from plugins.core.evaluation import evaluate_rank
    rng = np.random.default_rng(1)
    q_pids, g_pids = rng.integers(0, 6, 40), rng.integers(0, 6, 90)
    q_cams, g_cams = rng.choice([2, 5], 40) if rules == 'sysu_mm01' else rng.integers(0, 4, 40), \
        rng.integers(0, 4, 90)
    distmat = rng.random((40, 90)).astype(np.float32)
    _, mAP, _ = evaluate_rank(distmat, q_pids, g_pids, q_cams, g_cams, max_rank=20, rules=rules)
    mask = ignored_gallery(torch.as_tensor(q_pids), torch.as_tensor(q_cams), torch.as_tensor(g_pids),
                           torch.as_tensor(g_cams), rules).numpy()
    aps = []
    for i in range(40):
        order = np.argsort(distmat[i])
        kept = order[~mask[i][order]]
        hits = g_pids[kept] == q_pids[i]
        if hits.any():
            aps.append(np.mean(np.cumsum(hits)[hits] / (np.flatnonzero(hits) + 1)))
    assert mAP == pytest.approx(np.mean(aps), abs=1e-9)


def records_of(samples):
    return [dict(feature=s['pred_feature'], pid=int(s['gt_label'][0]), camid=s['camid'], modality=s['modality'],
                 img_path=s['img_path'], split_role=s['split_role']) for s in samples]


@pytest.mark.parametrize('trial', [0, 2])
def test_ranking_picture_draws_the_scored_sysu_trial(trial):
    """tools/visualize_ranking.py ranks the gallery the metric drew for that trial, with the SYSU removal rule
    (a camera-3 query never shows a camera-2 image), not every visible image."""
    tool = load_tool('visualize_ranking')
    samples = sysu_samples(seed=5)
    records = records_of(samples)
    metric = ReIDMetric(protocol='sysu_mm01', trials=3)
    problem = tool.ranking_problem(metric, records, trial)
    visible = [dict(pid=r['pid'], camid=r['camid'], img_path=r['img_path'], i=i)
               for i, r in enumerate(records) if r['modality'] == 'visible']
    expected = official_sysu_gallery(visible, trial, [1, 2, 4, 5])
    assert [records[i]['img_path'] for i in problem.gallery] == expected
    chosen = np.arange(len(problem.query))
    indices, dists = tool.rank(metric, records, problem, chosen, topk=len(problem.gallery))
    for row, q in enumerate(problem.query):
        shown = [records[problem.gallery[g]]['camid'] for g, d in zip(indices[row].tolist(), dists[row].tolist())
                 if d != float('inf')]
        if records[q]['camid'] == 2:  # official camera 3
            assert 1 not in shown and len(shown) == sum(records[g]['camid'] != 1 for g in problem.gallery)
        else:
            assert len(shown) == len(problem.gallery)
    with pytest.raises(ValueError, match='--trial 3 is out of range; the sysu_mm01 protocol makes 3'):
        tool.ranking_problem(metric, records, 3)
