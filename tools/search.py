#!/usr/bin/env python
"""Search a folder of person images with an image or a caption query.

Usage::

    python tools/search.py CONFIG CHECKPOINT --gallery DIR --query IMG --topk 10 [--index-dir D] [--out DIR]
    python tools/search.py CONFIG CHECKPOINT --gallery DIR --query "a man in a red jacket" ...
        [--index-type flat|ivfpq] [--backend auto|faiss|torch] [--batch-size 32] [--device cpu]
        [--cfg-options KEY=VALUE ...]

Every image under ``--gallery`` (recursively) is embedded with :class:`~plugins.core.apis.ReIDInferencer`
and put in a :class:`~plugins.core.apis.GalleryIndex` (cosine similarity). With ``--index-dir`` the index is
saved there and reused by later runs while the checkpoint, the model config and the gallery file list are
unchanged (otherwise it is rebuilt). ``--query`` is an image when it names an existing file, else a caption
(text-image methods only). The ranked list is printed and written to ``OUT/search_results.json``, and
``OUT/search_results.png`` shows the query and its top-k results.
"""
import argparse
import hashlib
import json
import os
import os.path as osp
import sys

from mmengine.config import Config, DictAction

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..')))

import plugins  # noqa: E402,F401  (registers everything, safe checkpoint loading)
from plugins.core.apis import GalleryIndex, ReIDInferencer  # noqa: E402
from plugins.core.apis.inferencer import find_test_dataset_cfg  # noqa: E402
from plugins.core.datasets.base import IMG_EXTENSIONS  # noqa: E402
from plugins.core.utils import merge_cfg_options  # noqa: E402
from plugins.core.visualization import draw_ranking_grid, save_picture  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Search a gallery folder with an image or a caption')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--gallery', required=True, help='folder of gallery images (searched recursively)')
    parser.add_argument('--query', required=True, help='query image file, or a caption (text-image methods)')
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


def list_images(folder):
    """Sorted absolute paths of the images under ``folder`` (recursively)."""
    if not osp.isdir(folder):
        raise FileNotFoundError(f'search: gallery folder not found: {folder}')
    paths = [osp.join(root, name) for root, _, names in os.walk(osp.abspath(folder)) for name in names
             if name.lower().endswith(IMG_EXTENSIONS)]
    if not paths:
        raise ValueError(f'search: no image ({"/".join(IMG_EXTENSIONS)}) under {folder}')
    return sorted(paths)


def index_provenance(cfg, checkpoint, index_type):
    """What an index depends on: a saved one is reused only when this is unchanged."""
    stat = os.stat(checkpoint)
    model = json.dumps(dict(model=cfg.model.to_dict(), pipeline=find_test_dataset_cfg(cfg)['pipeline']),
                       sort_keys=True, default=str)
    return dict(checkpoint=osp.abspath(checkpoint), checkpoint_stamp=[stat.st_size, stat.st_mtime_ns],
                model_sha1=hashlib.sha1(model.encode()).hexdigest(), index_type=index_type)


def load_or_build_index(inferencer, args, paths, provenance):
    """(index, reused): the saved index of ``--index-dir`` when still valid, else a freshly embedded one."""
    if args.index_dir and osp.isfile(osp.join(args.index_dir, 'gallery_index.json')):
        index = GalleryIndex.load(args.index_dir, backend=args.backend)
        if index.meta == provenance and index.paths == paths:
            print(f'search: reusing the gallery index in {args.index_dir} ({len(index)} images)')
            return index, True
        print(f'search: the index in {args.index_dir} is stale (checkpoint, model or gallery changed); rebuilding')
    print(f'search: embedding {len(paths)} gallery images')
    index = GalleryIndex(index_type=args.index_type, backend=args.backend)
    index.add(inferencer.extract_images(paths, batch_size=args.batch_size), paths)
    index.meta = provenance
    if args.index_dir:
        index.save(args.index_dir)
        print(f'search: saved the gallery index to {args.index_dir}')
    return index, False


def embed_query(inferencer, query):
    """(feature (1, D), picture cell description, JSON description) of an image path or a caption."""
    if osp.isfile(query):
        return inferencer.extract_images([query]), dict(image=query), dict(image=osp.abspath(query))
    if query.lower().endswith(IMG_EXTENSIONS):
        raise FileNotFoundError(f'search: query image not found: {query}')
    return inferencer.extract_texts([query]), dict(text=query), dict(text=query)


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    merge_cfg_options(cfg, args.cfg_options)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'search: checkpoint not found: {args.checkpoint}')
    inferencer = ReIDInferencer(cfg, args.checkpoint, device=args.device)
    if not osp.isfile(args.query) and not inferencer.has_text:
        raise ValueError(f'search: --query {args.query!r} is not an existing image file, and '
                         f'{type(inferencer.model).__name__} cannot embed captions')
    paths = list_images(args.gallery)
    index, reused = load_or_build_index(inferencer, args, paths,
                                        index_provenance(inferencer.cfg, args.checkpoint, args.index_type))
    query_feat, query_cell, query_json = embed_query(inferencer, args.query)
    scores, indices = index.search(query_feat, args.topk)
    results = index.records(scores[0], indices[0])

    for rec in results:
        print(f'{rec["rank"]:3d}  {rec["score"]:.4f}  {rec["path"]}')
    os.makedirs(args.out, exist_ok=True)
    json_file = osp.join(args.out, 'search_results.json')
    with open(json_file, 'w') as f:
        json.dump(dict(query=query_json, checkpoint=osp.abspath(args.checkpoint), topk=args.topk,
                       results=results), f, indent=2)
    cell_size = tuple(args.cell_size)
    row = dict(query=dict(query_cell, label='query'),
               results=[[dict(image=r['path'], match=None, label=f'{r["rank"]}: {r["score"]:.3f}')
                         for r in results]])
    query_width = cell_size[1] * 3 if 'text' in query_cell else None  # room for the caption
    picture = save_picture(osp.join(args.out, 'search_results.png'),
                           draw_ranking_grid([row], args.topk, cell_size, query_width))
    print(f'wrote {json_file}\nwrote {picture}')
    return dict(results=results, index_reused=reused, json=json_file, picture=picture)


if __name__ == '__main__':
    main()
