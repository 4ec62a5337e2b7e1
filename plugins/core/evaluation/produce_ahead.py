"""Run a producer one item ahead of its consumer, in a background thread."""
import queue
import threading

_DONE = object()


class _Failure:

    def __init__(self, error):
        self.error = error


def produce_ahead(items, ahead=1):
    """Yield the items of ``items`` in order while a background thread already produces the next ``ahead``.

    The evaluation ranks a chunk of distances (numpy's sorts, which release the GIL) while the next chunk is
    computed (sparse sums that torch runs on one thread), so the two use both cores. The order, and so every
    result, is the same as a plain loop. An exception of the producer is raised here; when the consumer stops
    early (an error, ``close()``), the producer stops after its current item.

    Args:
        items (Iterable): the producer, e.g. a generator of ``(start, stop, dist)`` chunks; it runs entirely in
            the background thread.
        ahead (int): items produced before the consumer takes them.

    Yields:
        the items of ``items``.
    """
    buffer = queue.Queue(maxsize=ahead)
    stop = threading.Event()

    def put(item):
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as error:  # noqa: B036 - raised again in the consumer's thread
            put(_Failure(error))
            return
        put(_DONE)

    thread = threading.Thread(target=produce, name='produce_ahead', daemon=True)
    thread.start()
    try:
        while True:
            item = buffer.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join()
