"""The image files of a gallery folder: hidden files and broken links are skipped and counted, never embedded.

A gallery copied from a Mac holds ``._name.jpg`` resource forks, a photo manager leaves ``.hidden.jpg`` thumbnails,
and a folder of links to a data set keeps a dead link when one target moves. Embedding the first two ranks
non-images among the results; the third stopped the whole search with a raw ``os.stat`` error.
"""
import os
import os.path as osp

from plugins.core.datasets.base import IMG_EXTENSIONS


def list_gallery_images(folder, extensions=IMG_EXTENSIONS):
    """Sorted absolute paths of the images under ``folder`` (recursively), and what was skipped.

    Hidden files and folders (names starting with ``.``, which includes macOS' ``._*`` files) and links whose
    target does not exist are skipped.

    Args:
        folder (str): the gallery folder.
        extensions (tuple[str]): accepted file name endings (lower case).

    Returns:
        tuple[list[str], dict]: the paths, and ``{'hidden': [...], 'broken link': [...]}`` (skipped paths).

    Raises:
        FileNotFoundError: ``folder`` is not a folder.
    """
    if not osp.isdir(folder):
        raise FileNotFoundError(f'gallery folder not found: {folder}')
    paths, skipped = [], {'hidden': [], 'broken link': []}
    for root, dirs, names in os.walk(osp.abspath(folder)):
        hidden_dirs = sorted(d for d in dirs if d.startswith('.'))
        skipped['hidden'] += [osp.join(root, d) for d in hidden_dirs]
        dirs[:] = sorted(d for d in dirs if not d.startswith('.'))  # not walked into
        for name in names:
            if not name.lower().endswith(extensions):
                continue
            path = osp.join(root, name)
            if name.startswith('.'):
                skipped['hidden'].append(path)
            elif not osp.exists(path):  # exists() follows links: False for a link to nothing
                skipped['broken link'].append(path)
            else:
                paths.append(path)
    return sorted(paths), {kind: sorted(found) for kind, found in skipped.items()}


_NOUNS = {'hidden': ('hidden file', 'hidden files'), 'broken link': ('broken link', 'broken links')}


def describe_skipped(skipped, folder, limit=3):
    """One line counting the skipped files (empty string when none), e.g. ``skipped 2 hidden files (.a.jpg,
    ._b.jpg) and 1 broken link (c.jpg) under gallery/``."""
    parts = []
    for kind, found in skipped.items():
        if found:
            names = ', '.join(osp.relpath(p, folder) for p in found[:limit])
            more = f' and {len(found) - limit} more' if len(found) > limit else ''
            noun = _NOUNS[kind][len(found) > 1]
            parts.append(f'{len(found)} {noun} ({names}{more})')
    return f'skipped {" and ".join(parts)} under {folder}' if parts else ''
