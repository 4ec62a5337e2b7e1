#!/usr/bin/env python
"""Search a folder of person images with an image or a caption query.

Usage::

    python tools/search.py CONFIG CHECKPOINT --gallery DIR --query IMG --topk 10 [--index-dir D] [--out DIR]
    python tools/search.py CONFIG CHECKPOINT --gallery DIR --query "a man in a red jacket" ...
        [--index-type flat|ivfpq] [--backend auto|faiss|torch] [--batch-size 32] [--device cpu]
        [--cfg-options KEY=VALUE ...]

Every image under ``--gallery`` (recursively) is embedded with :class:`~plugins.core.apis.ReIDInferencer`
and put in a :class:`~plugins.core.apis.GalleryIndex` (cosine similarity). With ``--index-dir`` the index is
saved there and reused by later runs: it is rebuilt when the model's weights (a hash of the loaded state), the
model / test pipeline config or the index type differ, and the images added, removed or changed since (size or
modification time, see :func:`~plugins.core.apis.gallery_index.file_stamp`) are re-embedded, with a line
naming them. ``--query`` is an image when it names an existing file; a query that looks like a path (``x.jpgg``,
``dir/name``) and names no file is an error; anything else is a caption (text-image methods only). A query
that cannot be answered meaningfully (an image under 8 px on a side or blank, a caption of unknown words) gets
a ``WARNING`` line and an entry in ``warnings`` of the JSON. The ranked list (rank, cosine similarity, path) is
printed and written to ``OUT/search_results.json``, and ``OUT/search_results.png`` shows the query and its
top-k results.
"""
import argparse
import hashlib
import json
import os
import os.path as osp
import sys

from mmengine.config import Config, DictAction

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..')))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Search a gallery folder with an image or a caption')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--gallery', required=True, help='folder of gallery images (searched recursively)')
    parser.add_argument('--query', required=True, help='query image file, or a caption (text-image methods)')
    parser.add_argument('--query-type', default='auto', choices=['auto', 'image', 'caption'],
                        help='auto: an existing file is an image, a path-like string naming no file is an error, '
                             'anything else a caption')
    parser.add_argument('--topk', type=int, default=10, help='results to return')
    parser.add_argument('--index-dir', help='save the gallery index here and reuse it while still valid')
    parser.add_argument('--out', default='work_dirs/search', help='folder of search_results.json / .png')
    parser.add_argument('--index-type', default='flat', choices=['flat', 'ivfpq'],
                        help='flat: exact; ivfpq: faiss IVF-PQ for million-image galleries')
    parser.add_argument('--backend', default='auto', choices=['auto', 'faiss', 'torch'])
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--cell-size', type=int, nargs=2, default=(128, 64), metavar=('H', 'W'),
                        help='size of one picture cell')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings, key=value')
    return parser.parse_args(argv)


if __name__ == '__main__':
    parse_args()  # --help and usage errors answer here, before torch and the plugin are imported

import torch  # noqa: E402
import plugins  # noqa: E402,F401  (registers everything; the config's custom_imports apply the mmengine patches)
from plugins.core.apis import GalleryIndex, ReIDInferencer  # noqa: E402
from plugins.core.apis.gallery_files import describe_skipped, list_gallery_images  # noqa: E402
from plugins.core.apis.gallery_index import file_stamp  # noqa: E402
from plugins.core.apis.inferencer import find_test_dataset_cfg  # noqa: E402
from plugins.core.apis.query_checks import check_query_path  # noqa: E402
from plugins.core.datasets.base import IMG_EXTENSIONS  # noqa: E402
from plugins.core.utils import atomic_write, merge_cfg_options  # noqa: E402
from plugins.core.utils.checkpoint import check_checkpoint_file  # noqa: E402
from plugins.core.visualization import draw_ranking_grid, save_picture  # noqa: E402


def list_images(folder):
    """Sorted absolute paths of the images under ``folder`` (recursively); hidden files (``.x.jpg``, macOS'
    ``._x.jpg``) and broken links are skipped, with one line counting them."""
    if not osp.isdir(folder):
        raise FileNotFoundError(f'search: gallery folder not found: {folder}')
    paths, skipped = list_gallery_images(folder, IMG_EXTENSIONS)
    line = describe_skipped(skipped, folder)
    if line:
        print(f'search: {line}')
    if not paths:
        raise ValueError(f'search: no image ({"/".join(IMG_EXTENSIONS)}) under {folder}'
                         + (f' ({line})' if line else ''))
    return paths


#: Provenance keys that must be equal for a saved index to be reused (the others are for the reader).
IDENTITY_KEYS = dict(weights_sha1='model weights', model_sha1='model / test pipeline config',
                     index_type='index type')
#: What the printed and saved numbers are.
SCORE_MEANING = 'cosine similarity (1 = same direction, higher = more similar)'


def weights_sha1(model):
    """SHA-1 of every tensor of ``model.state_dict()`` (names, dtypes, shapes, bytes): the identity of the
    weights that embed, whatever file they came from (a checkpoint copied over with its old time still differs)."""
    digest = hashlib.sha1()
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f'{name}:{tensor.dtype}:{tuple(tensor.shape)}'.encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b'')
    return digest.hexdigest()


def index_provenance(cfg, checkpoint, index_type, model):
    """What an index depends on: a saved one is reused only when its :data:`IDENTITY_KEYS` are unchanged."""
    stat = os.stat(checkpoint)
    config = json.dumps(dict(model=cfg.model.to_dict(), pipeline=find_test_dataset_cfg(cfg)['pipeline']),
                        sort_keys=True, default=str)
    return dict(checkpoint=osp.abspath(checkpoint), checkpoint_stamp=[stat.st_size, stat.st_mtime_ns],
                weights_sha1=weights_sha1(model), model_sha1=hashlib.sha1(config.encode()).hexdigest(),
                index_type=index_type)


def _names(paths, limit=5):
    shown = ', '.join(osp.basename(p) for p in paths[:limit])
    return shown + (f' and {len(paths) - limit} more' if len(paths) > limit else '')


def embed_gallery(inferencer, args, paths, provenance, index=None):
    """Embed ``paths`` into ``index`` (a new one when None), stamps taken before embedding; keep it sorted."""
    if index is None:
        index = GalleryIndex(index_type=args.index_type, backend=args.backend)
    if paths:
        print(f'search: embedding {len(paths)} gallery images')
        stamps = [file_stamp(p) for p in paths]
        index.add(inferencer.extract_images(paths, batch_size=args.batch_size), paths, stamps=stamps)
    order = sorted(range(len(index)), key=lambda i: index.paths[i])
    index = index.select(order)
    index.meta = provenance
    return index


def load_or_build_index(inferencer, args, paths, provenance):
    """(index, reused): the saved index of ``--index-dir`` when still valid, else one brought up to date.

    Another model, config or index type rebuilds everything; otherwise only the images added or changed since
    (:meth:`GalleryIndex.changed_files`) are embedded again and the removed ones dropped.
    """
    index = None
    if args.index_dir and osp.isfile(osp.join(args.index_dir, 'gallery_index.json')):
        index = GalleryIndex.load(args.index_dir, backend=args.backend)
        differ = [what for key, what in IDENTITY_KEYS.items() if index.meta.get(key) != provenance[key]]
        if differ:
            print(f'search: the index in {args.index_dir} was built with other {" / ".join(differ)} (built from '
                  f'{index.meta.get("checkpoint")}, now {provenance["checkpoint"]}); rebuilding it')
            index = None
    if index is None:
        index = embed_gallery(inferencer, args, paths, provenance)
    else:
        diff = index.changed_files(paths)
        if not any(diff.values()):
            print(f'search: reusing the gallery index in {args.index_dir} ({len(index)} images)')
            return index, True
        print(f'search: the gallery changed since the index in {args.index_dir} was built: '
              + '; '.join(f'{len(v)} {k} ({_names(v)})' for k, v in diff.items() if v) + '; updating it')
        stale = set(diff['removed']) | set(diff['changed'])
        index = index.select([i for i, p in enumerate(index.paths) if p not in stale])
        index = embed_gallery(inferencer, args, diff['added'] + diff['changed'], provenance, index)
    if args.index_dir:
        index.save(args.index_dir)
        print(f'search: saved the gallery index to {args.index_dir}')
    return index, False


def query_kind(args):
    """``'image'`` or ``'caption'`` for ``--query``; a path-like query naming no file is an error (before any
    model is built), never a caption."""
    if args.query_type == 'caption':
        return 'caption'
    if osp.isfile(args.query):
        return 'image'
    if args.query_type == 'image':
        raise FileNotFoundError(f'search: query image not found: {args.query}')
    check_query_path(args.query, 'search: --query')
    return 'caption'


def embed_query(inferencer, query, kind):
    """(feature (1, D), picture cell description, JSON description, warnings) of an image path or a caption."""
    if kind == 'image':
        warnings = inferencer.query_warnings(image=query)
        return inferencer.extract_images([query]), dict(image=query), dict(image=osp.abspath(query)), warnings
    warnings = inferencer.query_warnings(caption=query)
    return inferencer.extract_texts([query]), dict(text=query), dict(text=query), warnings


def print_results(results, warnings):
    for warning in warnings:
        print(f'search: WARNING: {warning}')
    print(f'rank  {"cosine similarity":>17}  path   (similarity: higher = more similar)')
    for rec in results:
        print(f'{rec["rank"]:4d}  {rec["score"]:17.4f}  {rec["path"]}')


def main(argv=None):
    args = parse_args(argv)
    kind = query_kind(args)
    cfg = Config.fromfile(args.config)
    merge_cfg_options(cfg, args.cfg_options)
    check_checkpoint_file(args.checkpoint)  # missing, a folder, damaged, not a checkpoint: named before any work
    inferencer = ReIDInferencer(cfg, args.checkpoint, device=args.device)
    if kind == 'caption' and not inferencer.has_text:
        raise ValueError(f'search: --query {args.query!r} is not an existing image file, and '
                         f'{type(inferencer.model).__name__} cannot embed captions')
    paths = list_images(args.gallery)
    query_feat, query_cell, query_json, warnings = embed_query(inferencer, args.query, kind)
    index, reused = load_or_build_index(
        inferencer, args, paths, index_provenance(inferencer.cfg, args.checkpoint, args.index_type, inferencer.model))
    scores, indices = index.search(query_feat, args.topk)
    results = index.records(scores[0], indices[0])

    print_results(results, warnings)
    json_file = osp.join(args.out, 'search_results.json')
    with atomic_write(json_file, 'w') as f:
        json.dump(dict(query=query_json, checkpoint=osp.abspath(args.checkpoint), topk=args.topk,
                       score_meaning=SCORE_MEANING, warnings=warnings, results=results), f, indent=2)
    cell_size = tuple(args.cell_size)
    row = dict(query=dict(query_cell, label='WARNING' if warnings else 'query'),  # the warning is printed
               results=[[dict(image=r['path'], match=None, label=f'{r["rank"]}: {r["score"]:.3f}')
                         for r in results]])
    query_width = cell_size[1] * 3 if 'text' in query_cell else None  # room for the caption
    titles = ['query', 'rank: cosine similarity (higher = closer)']
    picture = save_picture(osp.join(args.out, 'search_results.png'),
                           draw_ranking_grid([row], args.topk, cell_size, query_width, titles))
    print(f'wrote {json_file}\nwrote {picture}')
    return dict(results=results, index_reused=reused, json=json_file, picture=picture, warnings=warnings)


if __name__ == '__main__':
    main()
