"""The launch port of the multi-process tests: never one the OS may hand to an outgoing connection.

CI failed once with ``EADDRINUSE`` on a ``tools/dist_train.sh`` port drawn in the kernel's ephemeral range,
where the gloo connections of the test running beside it take their local ports.
"""
import socket

import pytest

from tests.helpers import launcher_port


def _ephemeral_low():
    try:
        with open('/proc/sys/net/ipv4/ip_local_port_range') as f:
            return int(f.read().split()[0])
    except OSError:
        pytest.skip('no /proc/sys/net/ipv4/ip_local_port_range on this system')


def test_launcher_ports_lie_below_the_ephemeral_range():
    low = _ephemeral_low()
    ports = [int(launcher_port()) for _ in range(300)]
    assert all(1024 <= p < low for p in ports), sorted(p for p in ports if p >= low)[:5]
    assert len(set(ports)) > 100  # drawn, so that two xdist workers rarely try the same one


def test_a_port_someone_listens_on_is_never_returned(monkeypatch):
    from plugins.core.utils import ports
    with socket.socket() as held:
        held.bind(('127.0.0.1', 0))
        held.listen()
        taken = held.getsockname()[1]
        draws = iter([taken, taken, 12345])
        monkeypatch.setattr(ports, '_draw', lambda low, high: next(draws))
        assert ports.free_local_port() == 12345
