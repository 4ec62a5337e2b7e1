"""MultiSetReIDMetric: each test set ranked alone with its own protocol, one table, ``<set>/<key>`` metrics."""
import numpy as np
import pytest
from mmengine.logging import MMLogger
from mmpretrain.registry import METRICS
from test_reid_metric import market_samples, naive_market, run_metric

import plugins  # noqa: F401  (registers the metrics)
from plugins.core.evaluation import MultiSetReIDMetric, ReIDMetric

KEYS = ('R1', 'R5', 'R10', 'R20', 'mAP', 'mINP')


def two_sets():
    """Two Market-style sets whose person ids (0..7) collide: ranked together they would match strangers."""
    first, second = market_samples(seed=0), market_samples(seed=1)
    for s in first:
        s['dataset_name'] = 'first'
    for s in second:
        s['dataset_name'] = 'second'
        s['sample_idx'] += len(first)  # CombinedReIDDataset numbers the samples over all sets
    return first, second


def test_each_row_is_the_set_ranked_alone_and_the_mean_row_their_mean():
    first, second = two_sets()
    metric = MultiSetReIDMetric(sets=dict(first=dict(protocol='market'), second=dict(protocol='market')))
    got = run_metric(metric, first + second)
    expected = dict(first=naive_market(first), second=naive_market(second))
    for name in ('first', 'second'):
        for key in KEYS:
            assert got[f'{name}/{key}'] == pytest.approx(expected[name][key], abs=1e-6), (name, key)
    for key in KEYS:
        assert got[f'mean/{key}'] == pytest.approx((expected['first'][key] + expected['second'][key]) / 2)
    assert len(got) == 3 * len(KEYS)


def test_a_set_under_two_protocol_options_and_shared_options():
    first, second = two_sets()
    metric = METRICS.build(dict(type='MultiSetReIDMetric', dist='cosine', mean=False, sets={
        'first': dict(), 'second': dict(), 'second-euclidean': dict(dataset='second', dist='euclidean')}))
    got = run_metric(metric, first + second)
    alone = run_metric(ReIDMetric(dist='cosine'), second)
    assert {k: got[f'second/{k}'] for k in KEYS} == pytest.approx(alone)
    assert {k: got[f'second-euclidean/{k}'] for k in KEYS} == pytest.approx(naive_market(second))
    assert not any(k.startswith('mean/') for k in got)


def test_the_table_has_a_row_per_set_and_the_mean(monkeypatch):
    first, second = two_sets()
    messages = []
    monkeypatch.setattr(MMLogger.get_current_instance(), 'info', messages.append)
    run_metric(MultiSetReIDMetric(sets=dict(first=dict(), second=dict())), first + second)
    table = next(m for m in messages if 'over 2 test sets' in m).splitlines()
    assert [line.split('|')[1].strip() for line in table[1:]] == ['test set', 'first', 'second', 'mean']


def test_sets_and_data_that_do_not_match_are_named():
    first, second = two_sets()
    with pytest.raises(ValueError, match=r"no test data for \['third'\]"):
        run_metric(MultiSetReIDMetric(sets=dict(first=dict(), third=dict())), first + second)
    with pytest.raises(ValueError, match=r"no row for \['second'\]"):
        run_metric(MultiSetReIDMetric(sets=dict(first=dict())), first + second)
    with pytest.raises(ValueError, match='without a `dataset_name`'):
        run_metric(MultiSetReIDMetric(sets=dict(first=dict())), market_samples())
    with pytest.raises(ValueError, match="set 'first'.*protocol"):
        MultiSetReIDMetric(sets=dict(first=dict(protocol='no-such-protocol')))
    with pytest.raises(ValueError, match='reserved'):
        MultiSetReIDMetric(sets=dict(mean=dict()))


def test_one_reid_metric_over_several_sets_is_refused_not_ranked_together():
    first, second = two_sets()
    mixed = [dict(s) for s in first + second]
    with pytest.raises(ValueError, match=r"come from 2 data sets \['first', 'second'\].*MultiSetReIDMetric"):
        run_metric(ReIDMetric(), mixed)
    # one set with its name is the single-set metric as before
    assert run_metric(ReIDMetric(), first) == pytest.approx(naive_market(first))
    assert np.isfinite(list(run_metric(ReIDMetric(), market_samples()).values())).all()
