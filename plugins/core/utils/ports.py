"""A free TCP port for a local rendezvous (``torchrun --master_port``, ``MASTER_PORT``)."""
import random
import socket

_RANGE_FILE = '/proc/sys/net/ipv4/ip_local_port_range'
_LOWEST = 10000


def _draw(low, high):
    # SystemRandom: training reseeds ``random`` in process, and two test workers must not draw the same sequence
    return random.SystemRandom().randint(low, high)


def _ephemeral_low():
    try:
        with open(_RANGE_FILE) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default and IANA's dynamic range starts at 49152: below both


def _bindable(port):
    with socket.socket() as sock:
        try:
            sock.bind(('', port))
        except OSError:
            return False
    return True


def free_local_port(tries=200):
    """A port nobody listens on, drawn below the kernel's ephemeral range.

    Binding port 0 would return an ephemeral port, and so would a draw inside that range: the kernel hands those to
    outgoing connections (the gloo pairs of any other run on the machine), which can take it between this check and
    the launcher's listen (``EADDRINUSE``). Below the range only another listener can take it.

    Raises:
        RuntimeError: if ``tries`` draws all found a listener.
    """
    high = _ephemeral_low() - 1
    for _ in range(tries):
        port = _draw(_LOWEST, high)
        if _bindable(port):
            return port
    raise RuntimeError(f'no free TCP port in {_LOWEST}-{high} after {tries} tries')
