"""evaluate_rank: parity with torchreid's python evaluator, hand-worked cases, SYSU rules, chunking."""
import warnings

import numpy as np
import pytest
import torch
from eval_reference import naive_rank

from plugins.core.evaluation import rank as rank_module
from plugins.core.evaluation.rank import evaluate_rank

with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    from torchreid.reid.metrics.rank import eval_market1501 as torchreid_eval_market1501


def random_problem(seed, num_q=40, num_g=150, num_ids=12, num_cams=3, ties=False, absent_ids=0):
    rng = np.random.default_rng(seed)
    if ties:  # few distinct values: many exactly equal distances per row
        distmat = rng.integers(0, 6, (num_q, num_g)).astype(np.float32)
    else:
        distmat = rng.random((num_q, num_g)).astype(np.float32)
    g_pids = rng.integers(0, num_ids, num_g)
    # queries of ids absent from the gallery are skipped by the metric
    q_pids = rng.integers(0, num_ids + absent_ids, num_q)
    return distmat, q_pids, g_pids, rng.integers(0, num_cams, num_q), rng.integers(0, num_cams, num_g)


def safe_max_rank(distmat, q_pids, g_pids, q_camids, g_camids, wanted=50):
    """torchreid's python code needs every valid query to keep >= max_rank items (else a ragged array)."""
    removed = ((q_pids[:, None] == g_pids[None]) & (q_camids[:, None] == g_camids[None])).sum(1)
    return int(min(wanted, distmat.shape[1] - removed.max()))


@pytest.mark.parametrize('seed', range(5))
@pytest.mark.parametrize('ties', [False, True])
def test_parity_with_torchreid_python(seed, ties):
    problem = random_problem(seed, ties=ties, absent_ids=3)
    max_rank = safe_max_rank(*problem)
    cmc_ref, map_ref = torchreid_eval_market1501(*problem, max_rank)
    cmc, mAP, mINP = evaluate_rank(*problem, max_rank=max_rank, chunk_size=7)
    assert cmc.dtype == np.float32 and cmc.shape == (max_rank,)
    np.testing.assert_allclose(cmc, cmc_ref, rtol=0, atol=1e-6)
    assert abs(mAP - map_ref) < 1e-6
    # torchreid has no mINP: compare with a naive loop of the AGW definition
    _, _, minp_ref = naive_rank(*problem, max_rank)
    assert abs(mINP - minp_ref) < 1e-9


def test_ties_change_the_metric_and_are_ordered_like_numpy():
    """With ties, ranking order matters: the result must equal torchreid's (numpy quicksort order) exactly."""
    problem = random_problem(11, num_q=30, num_g=400, ties=True)
    max_rank = safe_max_rank(*problem)
    _, map_quick, _ = naive_rank(*problem, max_rank, kind='quicksort')
    _, map_stable, _ = naive_rank(*problem, max_rank, kind='stable')
    assert map_quick != map_stable, 'the problem must be one where the order of tied items matters'
    _, map_ref = torchreid_eval_market1501(*problem, max_rank)
    assert evaluate_rank(*problem, max_rank=max_rank)[1] == pytest.approx(map_ref, abs=1e-12)


@pytest.mark.parametrize('threads', [1, 2, 3])
def test_argsort_rows_is_numpys_order_on_any_number_of_threads(threads):
    """The CPU ranking sorts row blocks on several threads; every row keeps numpy's (tie) order."""
    dist = torch.randint(0, 7, (203, 300), generator=torch.Generator().manual_seed(5)).float()  # many ties
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        order = rank_module.argsort_rows(dist)
    finally:
        torch.set_num_threads(previous)
    assert order.dtype == torch.int64 and order.shape == dist.shape
    np.testing.assert_array_equal(order.numpy(), np.argsort(dist.numpy(), axis=1))


def test_rows_with_and_without_ties_rank_like_torchreid(monkeypatch):
    """Market ranks come from counting closer items; rows where a hit ties another item (numpy's order decides)
    or is NaN are ranked by an argsort. A mix of both kinds of rows equals torchreid exactly."""
    distmat, q_pids, g_pids, q_camids, g_camids = random_problem(21, num_q=60, num_g=400)
    tie_rows = np.arange(0, 60, 3)
    distmat[tie_rows] = np.round(distmat[tie_rows] * 5) / 5                  # every third row: many ties
    distmat[7, np.flatnonzero(g_pids == q_pids[7])[0]] = np.nan             # a NaN hit
    argsorted = []
    real_argsort = rank_module.argsort_rows
    monkeypatch.setattr(rank_module, 'argsort_rows', lambda d: argsorted.append(d.shape[0]) or real_argsort(d))
    problem = distmat, q_pids, g_pids, q_camids, g_camids
    max_rank = safe_max_rank(*problem)
    cmc, mAP, mINP = evaluate_rank(*problem, max_rank=max_rank, chunk_size=25)
    assert 0 < sum(argsorted) < 60, 'both paths must run: argsorted rows only where ties or a NaN hit decide'
    cmc_ref, map_ref = torchreid_eval_market1501(*problem, max_rank)
    np.testing.assert_allclose(cmc, cmc_ref, rtol=0, atol=1e-6)
    assert abs(mAP - map_ref) < 1e-9
    assert abs(mINP - naive_rank(*problem, max_rank)[2]) < 1e-9


def test_stable_sort_path_used_on_accelerators(monkeypatch):
    """The non-CPU path (stable torch sort) equals the naive loop with a stable argsort."""
    problem = random_problem(3, ties=True)
    monkeypatch.setattr(rank_module, 'argsort_rows', lambda d: torch.sort(d, dim=1, stable=True).indices)
    max_rank = safe_max_rank(*problem)
    cmc, mAP, mINP = evaluate_rank(*problem, max_rank=max_rank)
    cmc_ref, map_ref, minp_ref = naive_rank(*problem, max_rank, kind='stable')
    np.testing.assert_allclose(cmc, cmc_ref, atol=1e-6)
    assert mAP == pytest.approx(map_ref, abs=1e-9) and mINP == pytest.approx(minp_ref, abs=1e-9)


def test_single_gallery_item_and_max_rank_clipping():
    distmat = np.array([[0.3], [0.1], [0.2]], dtype=np.float32)
    q_pids, g_pids = np.array([1, 1, 2]), np.array([1])
    q_camids, g_camids = np.array([0, 1, 0]), np.array([0])
    # query 0: same pid and camera -> removed -> no valid match; query 1 hits at rank 1; query 2 misses
    cmc_ref, map_ref = torchreid_eval_market1501(distmat, q_pids, g_pids, q_camids, g_camids, 1)
    with pytest.warns(UserWarning, match='clipped'):
        cmc, mAP, mINP = evaluate_rank(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=50)
    assert cmc.shape == (1,)
    np.testing.assert_allclose(cmc, cmc_ref, atol=1e-6)
    assert mAP == pytest.approx(map_ref) == 1.0 and mINP == 1.0


def test_hand_computed_case():
    # gallery:        g0      g1      g2      g3      g4
    g_pids = np.array([1, 2, 1, 3, 1])
    g_camids = np.array([0, 1, 1, 0, 2])
    distmat = np.array([
        [0.1, 0.2, 0.3, 0.4, 0.5],  # q0 pid 1 cam 0: g0 removed; kept g1 x, g2 hit@2, g3 x, g4 hit@4
        [0.5, 0.4, 0.3, 0.2, 0.1],  # q1 pid 2 cam 1: its only match g1 has its camera -> no valid match
        [0.9, 0.8, 0.7, 0.1, 0.6],  # q2 pid 3 cam 1: g3 first -> hit@1
    ], dtype=np.float32)
    q_pids, q_camids = np.array([1, 2, 3]), np.array([0, 1, 1])
    cmc, mAP, mINP = evaluate_rank(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=4)
    # q0: CMC 0,1,1,1  AP (1/2 + 2/4) / 2 = 0.5  INP 2 hits / rank 4 = 0.5;  q2: CMC 1,1,1,1  AP 1  INP 1
    np.testing.assert_allclose(cmc, [0.5, 1.0, 1.0, 1.0])
    assert mAP == pytest.approx(0.75) and mINP == pytest.approx(0.75)


def test_hand_computed_sysu_rules():
    # ranking order = column order; 0-based cameras: 1 = official cam2, 2 = cam3, 5 = cam6
    g_pids = np.array([5, 5, 7, 1, 9])
    g_camids = np.array([0, 3, 1, 0, 1])
    distmat = np.tile(np.arange(5, dtype=np.float32), (3, 1))
    # the third query's identity (42) is not in the gallery: it is skipped
    q_pids, q_camids = np.array([1, 1, 42]), np.array([2, 5, 2])
    cmc, mAP, mINP = evaluate_rank(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=4, rules='sysu_mm01')
    # cam3 query: cam2 items (pid 7, pid 9) removed -> 5, 5, 1 -> identities 5, 1 -> rank 2; AP = INP = 1/3
    # cam6 query: nothing removed -> 5, 5, 7, 1 -> identities 5, 7, 1 -> rank 3; AP = INP = 1/4
    np.testing.assert_allclose(cmc, [0.0, 0.5, 1.0, 1.0])
    assert mAP == pytest.approx((1 / 3 + 1 / 4) / 2) and mINP == pytest.approx((1 / 3 + 1 / 4) / 2)
    # the market rule on the same ranking: first hit at raw rank 4 for both queries
    cmc_m, map_m, _ = evaluate_rank(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=4)
    np.testing.assert_allclose(cmc_m, [0, 0, 0, 1.0])
    assert map_m == pytest.approx(0.25)


@pytest.mark.parametrize('seed', range(3))
def test_sysu_rules_against_naive_official_loop(seed):
    rng = np.random.default_rng(seed)
    num_q, num_g = 30, 80
    distmat = rng.random((num_q, num_g)).astype(np.float32)
    q_pids, g_pids = rng.integers(0, 10, num_q), rng.integers(0, 10, num_g)
    q_camids = rng.choice([2, 5], num_q)
    g_camids = rng.choice([0, 1, 3, 4], num_g)
    cmc, mAP, mINP = evaluate_rank(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=10, rules='sysu_mm01',
                                   chunk_size=4)
    cmc_ref, map_ref, minp_ref = naive_rank(distmat, q_pids, g_pids, q_camids + 1, g_camids + 1, 10, sysu=True)
    np.testing.assert_allclose(cmc, cmc_ref, atol=1e-6)
    assert mAP == pytest.approx(map_ref, abs=1e-9) and mINP == pytest.approx(minp_ref, abs=1e-9)


def test_chunking_and_input_types_do_not_change_results():
    problem = random_problem(7, num_q=33, num_g=90)
    ref = evaluate_rank(*problem, max_rank=20)
    distmat, q_pids, g_pids, q_camids, g_camids = problem
    for chunk in (1, 5, 1000):
        out = evaluate_rank(torch.from_numpy(distmat), torch.from_numpy(q_pids), g_pids.tolist(),
                            torch.from_numpy(q_camids), g_camids, max_rank=20, chunk_size=chunk)
        np.testing.assert_array_equal(out[0], ref[0])
        assert out[1] == pytest.approx(ref[1], abs=1e-12) and out[2] == pytest.approx(ref[2], abs=1e-12)


def test_no_valid_query_and_bad_shapes_raise():
    distmat = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match='do not appear in gallery'):
        evaluate_rank(distmat, np.array([7, 8]), np.array([1, 2, 3]), np.zeros(2), np.zeros(3))
    with pytest.raises(ValueError, match='rows'):
        evaluate_rank(distmat, np.array([1]), np.array([1, 2, 3]), np.zeros(1), np.zeros(3))
    with pytest.raises(ValueError, match='rules'):
        evaluate_rank(distmat, np.array([1, 2]), np.array([1, 2, 3]), np.zeros(2), np.zeros(3), rules='duke')
