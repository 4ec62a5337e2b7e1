"""Byte-identical image files, found cheaply: file sizes first, a hash only of the files whose size is shared.

A copied file (``0002_c1s1_000451_00 (copy).jpg``, the same crop saved under a second name, a query image also
put in the gallery) trains twice or is found at rank 1 by itself. Two files can only be identical when their
sizes are, so every file is ``stat``-ed (no read) and only the groups of equal size are hashed, read by a thread
pool. Measured (``tools/dataset_stats.py`` docs, docs/custom_data.md): the demo Market-1501 (~700 files) in
about 10 ms; a Market-sized folder of 30,000 JPEGs of 2-9 kB in about 1 s on a warm disk cache, most of it the
hashing of the files that share a size (there are only a few thousand distinct sizes among 30,000 small JPEGs).
"""
import hashlib
import os
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

#: bytes read per ``read`` call while hashing
CHUNK = 1 << 20


def describe_paths(paths, limit=5):
    """``'a, b, c (+N more)'`` for messages: the first ``limit`` paths and how many more."""
    paths = list(paths)
    more = f' (+{len(paths) - limit} more)' if len(paths) > limit else ''
    return ', '.join(str(p) for p in paths[:limit]) + more


def file_digest(path):
    """BLAKE2b digest of a file's bytes."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(CHUNK), b''):
            digest.update(block)
    return digest.digest()


def find_identical_files(paths, num_threads=None):
    """Groups of byte-identical files among ``paths``.

    Args:
        paths (Iterable[str]): files (a path listed twice counts once).
        num_threads (int, optional): hashing threads (``ThreadPoolExecutor``'s default).

    Returns:
        list[list[str]]: each group sorted, groups sorted by their first path; files without a twin are absent.
    """
    by_size = defaultdict(list)
    for path in sorted(set(map(str, paths))):
        by_size[os.path.getsize(path)].append(path)
    candidates = [(size, p) for size, group in by_size.items() if len(group) > 1 for p in group]
    if not candidates:
        return []
    with ThreadPoolExecutor(num_threads) as pool:
        digests = list(pool.map(file_digest, [p for _, p in candidates]))
    by_content = defaultdict(list)
    for (size, path), digest in zip(candidates, digests):
        by_content[(size, digest)].append(path)
    return sorted(sorted(g) for g in by_content.values() if len(g) > 1)
