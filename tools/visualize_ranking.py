#!/usr/bin/env python
"""Ranked test-set results of a ReID model (torchreid's ``visrank``), optionally next to a second model's.

Usage::

    python tools/visualize_ranking.py CONFIG CHECKPOINT --num-queries 20 --topk 10 --out DIR
        [--compare CHECKPOINT2 [--compare-config CONFIG2]] [--cell-size 128 64] [--device cpu]
        [--cfg-options KEY=VALUE ...]

The config's test set is embedded exactly as ``tools/test.py`` does; queries and gallery are split by its
``test_evaluator`` (``ReIDMetric``) protocol into the very ranking problems the metric scores, distances use the
metric's ``dist``, and the gallery images the evaluation removes for a query are dropped (Market-style: the
query's id *and* camera; SYSU-MM01: camera 2 for camera-3 queries). ``--num-queries``
queries spread evenly over the query set are drawn, one row each: the query (a caption is written as text),
then its top-k gallery images framed green (same identity) or red (another one). With ``--compare`` the second
model's top-k follows on the same row. Writes ``DIR/ranking.png`` and ``DIR/ranking.json``. The number under a
result is its distance (the metric's ``dist``: squared euclidean or 1 - cosine; lower = closer), as the title
strip says.

A picture holds at most ``--max-pixels`` pixels (default: PIL's ``Image.MAX_IMAGE_PIXELS``, which PIL opens
without complaint) and 65500 px a side: more queries are split over ``ranking_01.png``, ``ranking_02.png`` ...
(listed in ``ranking.json``); a single row over the limit is refused before anything is embedded.

Protocols that average several problems (SYSU-MM01: one gallery draw per trial) are drawn for one of them,
``--trial`` (default 0), as scored. Re-ranking options of the metric are not applied.
"""
import argparse
import glob
import json
import os
import os.path as osp
import sys

from mmengine.config import Config, DictAction

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..')))


#: What the numbers of each ``ReIDMetric.dist`` are (lower = closer for both).
DISTANCE_MEANING = dict(euclidean='squared euclidean distance (lower = more similar)',
                        cosine='cosine distance, 1 - cos (lower = more similar)')
#: The same, short enough to follow a checkpoint name in a title strip.
DISTANCE_SHORT = dict(euclidean='sq. euclidean dist.', cosine='1 - cos')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Draw the ranked test-set results of a ReID model')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--num-queries', type=int, default=20, help='queries to draw (spread over the query set)')
    parser.add_argument('--topk', type=int, default=10, help='results per query')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--compare', help='second checkpoint, drawn next to the first')
    parser.add_argument('--compare-config', help='config of --compare (default: CONFIG)')
    parser.add_argument('--cell-size', type=int, nargs=2, default=(128, 64), metavar=('H', 'W'))
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--trial', type=int, default=0,
                        help='which ranking problem of a protocol that averages several (SYSU-MM01 trial)')
    parser.add_argument('--max-pixels', type=int, default=None,
                        help='largest picture (height x width; default: PIL\'s limit, MAX_PICTURE_PIXELS of '
                             'plugins.core.visualization.ranking); more queries are split over several pictures')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of both configs, key=value')
    args = parser.parse_args(argv)
    if args.num_queries < 1 or args.topk < 1:
        parser.error('--num-queries and --topk must be >= 1')
    return args


if __name__ == '__main__':
    parse_args()  # --help and usage errors answer here, before torch and the plugin are imported

import numpy as np  # noqa: E402
import torch  # noqa: E402
import plugins  # noqa: E402,F401  (registers everything; the config's custom_imports apply the mmengine patches)
from mmpretrain.registry import METRICS  # noqa: E402
from plugins.core.apis import ReIDInferencer  # noqa: E402
from plugins.core.evaluation import ReIDMetric, compute_distance, ignored_gallery  # noqa: E402
from plugins.core.utils import atomic_write, merge_cfg_options  # noqa: E402
from plugins.core.visualization import draw_ranking_grid, rows_per_picture, save_picture  # noqa: E402
from plugins.core.visualization.ranking import MAX_PICTURE_PIXELS  # noqa: E402


def picture_rows(args, num_rows, query_width=None):
    """Query rows per picture; a row over the size limit is refused naming the options that change it."""
    num_models = 2 if args.compare else 1
    try:
        return rows_per_picture(num_rows, args.topk, tuple(args.cell_size), num_models, query_width,
                                with_titles=True, max_pixels=args.max_pixels)
    except ValueError as err:
        raise ValueError(f'visualize_ranking: {err}; lower --topk (now {args.topk}) or --cell-size (now '
                         f'{args.cell_size[0]} {args.cell_size[1]}), or raise --max-pixels (now {args.max_pixels})'
                         ) from None


def picture_titles(runs, dist, meaning):
    """Title of each model's results: what the numbers are, with ``--compare`` after the checkpoint's name."""
    if len(runs) == 1:
        return [f'rank:{meaning.split(" (")[0]}']
    short = DISTANCE_SHORT.get(dist, dist)
    # parent folder + file name: two runs' checkpoints are often both called best_*.pth
    return [f'{osp.join(osp.basename(osp.dirname(osp.abspath(c))), osp.basename(c))}: {short}' for c, _ in runs]


def write_pictures(out_dir, rows, topk, cell_size, query_width, titles, per_picture):
    """Draw ``rows`` into ``ranking.png`` (one picture) or ``ranking_01.png`` ... (``per_picture`` rows each);
    pictures of an earlier run that this one does not rewrite are removed. Returns the written paths."""
    chunks = [rows[i:i + per_picture] for i in range(0, len(rows), per_picture)]
    digits = len(str(len(chunks)))
    names = ['ranking.png'] if len(chunks) == 1 else [f'ranking_{i:0{digits}d}.png' for i in range(1, len(chunks) + 1)]
    pictures = [save_picture(osp.join(out_dir, name), draw_ranking_grid(chunk, topk, cell_size, query_width, titles))
                for name, chunk in zip(names, chunks)]
    for old in glob.glob(osp.join(out_dir, 'ranking.png')) + glob.glob(osp.join(out_dir, 'ranking_*.png')):
        if osp.basename(old) not in names:
            os.remove(old)
    return pictures


def load_config(path, cfg_options):
    cfg = Config.fromfile(path)
    merge_cfg_options(cfg, cfg_options)
    return cfg


def build_metric(cfg):
    """The config's ``ReIDMetric`` (its protocol, distance and options decide the ranking)."""
    evaluator = cfg.get('test_evaluator') or cfg.get('val_evaluator')
    metrics = evaluator if isinstance(evaluator, (list, tuple)) else [evaluator]
    for metric_cfg in metrics:
        metric = METRICS.build(metric_cfg)
        if isinstance(metric, ReIDMetric):
            return metric
    raise ValueError(f'visualize_ranking: the config has no ReIDMetric in test_evaluator ({evaluator})')


def ranking_problem(metric, records, trial=0):
    """The metric protocol's ranking problem number ``trial`` (the only one for single-split protocols)."""
    problems = metric.split_protocol.split(records)
    if not 0 <= trial < len(problems):
        raise ValueError(f'visualize_ranking: --trial {trial} is out of range; the {metric.protocol} protocol '
                         f'makes {len(problems)} ranking problem(s)')
    return problems[trial]


def pick_queries(num_queries, num):
    """``num_queries`` positions spread evenly over ``range(num)`` (all of them when fewer)."""
    return np.unique(np.linspace(0, num - 1, min(num_queries, num)).round().astype(np.int64))


def rank(metric, records, problem, q_sel, topk):
    """Top-k gallery positions (into ``problem.gallery``) and distances of the queries ``problem.query[q_sel]``,
    shape (Q, k) each (inf = none left), with the items the evaluation removes left out."""
    feats = metric.features(records).cpu()
    q_idx, g_idx = problem.query[q_sel], problem.gallery
    dist = compute_distance(feats[q_idx], feats[g_idx], metric.dist)
    pids = torch.tensor([r['pid'] for r in records])
    dist[ignored_gallery(pids[q_idx], problem.q_camids[q_sel], pids[g_idx], problem.g_camids,
                         problem.rules)] = float('inf')
    top = dist.topk(min(topk, len(g_idx)), dim=1, largest=False)
    return top.indices, top.values


def describe(record):
    """JSON description of a test sample."""
    out = dict(pid=record['pid'], camid=record['camid'], modality=record['modality'])
    out.update({k: record[k] for k in ('img_path', 'caption') if record.get(k) is not None})
    return out


def query_cell(record):
    label = f'id {record["pid"]}' + (f' c{record["camid"] + 1}' if record['camid'] >= 0 else '')
    if record['modality'] == 'text':
        return dict(text=record['caption'], label=label)
    return dict(image=record['img_path'], label=label)


def check_same_samples(a, b):
    key = lambda r: (r['sample_idx'], r['pid'], r.get('img_path'), r.get('caption'))  # noqa: E731
    if [key(r) for r in a] != [key(r) for r in b]:
        raise ValueError('visualize_ranking: the two configs do not yield the same test samples in the same order')


def main(argv=None):
    args = parse_args(argv)
    args.max_pixels = MAX_PICTURE_PIXELS if args.max_pixels is None else args.max_pixels
    picture_rows(args, args.num_queries)  # a row too large is refused before the test set is embedded
    cfg = load_config(args.config, args.cfg_options)
    runs = [(args.checkpoint, cfg)]
    if args.compare:
        runs.append((args.compare, load_config(args.compare_config, args.cfg_options) if args.compare_config
                     else cfg))
    metric = build_metric(cfg)
    records = []
    for checkpoint, run_cfg in runs:
        print(f'visualize_ranking: embedding the test set with {checkpoint}')
        records.append(ReIDInferencer(run_cfg, checkpoint, device=args.device).extract_test_set())
    if len(records) == 2:
        check_same_samples(*records)
    problem = ranking_problem(metric, records[0], args.trial)
    chosen = pick_queries(args.num_queries, len(problem.query))
    q_sel, g_idx = problem.query[chosen], problem.gallery
    rankings = [rank(metric, recs, problem, chosen, args.topk) for recs in records]

    rows, report = [], []
    for row, qi in enumerate(q_sel):
        query = records[0][qi]
        cells, entries = [], []
        for (indices, dists), (checkpoint, _) in zip(rankings, runs):
            results = []
            for r, (gi, d) in enumerate(zip(indices[row].tolist(), dists[row].tolist()), 1):
                if d == float('inf'):  # fewer than topk gallery images left after the filtering
                    break
                gallery = records[0][g_idx[gi]]
                results.append(dict(rank=r, distance=d, match=gallery['pid'] == query['pid'], **describe(gallery)))
            cells.append([dict(image=res['img_path'], match=res['match'], label=f'{res["rank"]}:{res["distance"]:.3g}')
                          for res in results])
            entries.append(dict(checkpoint=osp.abspath(checkpoint), results=results))
        rows.append(dict(query=query_cell(query), results=cells))
        report.append(dict(query=describe(query), models=entries))

    cell_size = tuple(args.cell_size)
    text_queries = any('text' in r['query'] for r in rows)
    query_width = cell_size[1] * 3 if text_queries else None  # room for the captions
    meaning = DISTANCE_MEANING.get(metric.dist, f'{metric.dist} distance')
    titles = ['query'] + picture_titles(runs, metric.dist, meaning)
    per_picture = picture_rows(args, len(rows), query_width)
    pictures = write_pictures(args.out, rows, args.topk, cell_size, query_width, titles, per_picture)
    for i, entry in enumerate(report):
        entry['picture'] = osp.basename(pictures[i // per_picture])
    json_file = osp.join(args.out, 'ranking.json')
    with atomic_write(json_file, 'w') as f:
        json.dump(dict(protocol=metric.protocol, problem=problem.name, dist=metric.dist, distance_meaning=meaning,
                       topk=args.topk, pictures=[osp.basename(p) for p in pictures], queries=report), f, indent=2)
    print(f'visualize_ranking: the number under each result is its {meaning}')
    print('\n'.join(f'wrote {p}' for p in pictures) + f'\nwrote {json_file}')
    return dict(picture=pictures[0], pictures=pictures, json=json_file, queries=report,
                query_width=query_width or cell_size[1])


if __name__ == '__main__':
    main()
