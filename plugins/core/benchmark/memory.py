"""Resident memory of this process (Linux ``/proc``), for the benchmark sections and the memory tests."""
import os


def resident_bytes():
    """Resident memory now, in bytes (``/proc/self/statm``)."""
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


def peak_resident_kib():
    """This process's peak resident memory in KiB: ``VmHWM`` of ``/proc/self/status``, or -1 where /proc is missing.

    The high-water mark of this program's memory only. ``ru_maxrss`` is not: a child started by fork + exec keeps
    in it the parent's resident size at the fork (2.5 GiB when the benchmark's market section ran first; a
    pytest worker's size in the tests), so a child smaller than its parent measures nothing.
    """
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1
