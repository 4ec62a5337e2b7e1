"""produce_ahead: the evaluation's producer thread gives every chunk once, in order, and never outlives its loop."""
import threading
import time

import pytest

from plugins.core.evaluation.produce_ahead import produce_ahead


def test_items_come_in_order_and_the_producer_runs_ahead():
    produced = []

    def items():
        for i in range(20):
            produced.append(i)
            yield i

    seen = []
    for item in produce_ahead(items()):
        time.sleep(0.01)
        seen.append((item, len(produced)))
    assert [item for item, _ in seen] == list(range(20))
    # while the consumer worked on item i, item i + 1 was already produced
    assert all(count >= item + 2 for item, count in seen[:-1])


def test_a_producer_error_reaches_the_consumer():
    def items():
        yield 1
        raise ValueError('chunk 2 is broken')

    got = []
    with pytest.raises(ValueError, match='chunk 2 is broken'):
        for item in produce_ahead(items()):
            got.append(item)
    assert got == [1]


def test_a_consumer_that_stops_early_stops_the_producer():
    produced = []

    def items():
        for i in range(10**6):
            produced.append(i)
            yield i

    before = threading.active_count()
    with pytest.raises(RuntimeError, match='consumer failed'):
        for item in produce_ahead(items()):
            if item == 3:
                raise RuntimeError('consumer failed')
    assert threading.active_count() == before
    assert len(produced) <= 6  # item 3, the one queued and the one being put when the loop ended
