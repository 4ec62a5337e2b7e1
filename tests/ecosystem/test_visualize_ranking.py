"""The ranking pictures (plugins/core/visualization/ranking.py) and tools/visualize_ranking.py."""
import json

import cv2
import numpy as np
import torch

import plugins  # noqa: F401
from plugins.core.evaluation import RankingProblem, ReIDMetric
from plugins.core.visualization import ranking
from plugins.core.visualization.ranking import (BORDER, GAP, GREEN, GROUP_GAP, LABEL_H, RED, TITLE_H,
                                                draw_ranking_grid, grid_shape)
from tests.helpers import cfg_option_args, demo_config, load_tool, save_random_model, tiny_options

#: an image model (its tiny variant) on the demo's Market-1501 and a caption model on its CUHK-PEDES
IMAGE_CFG = demo_config(text=False, data='market1501', tiny=True)
CAPTION_CFG = demo_config(text=True, data='cuhk-pedes')
GREY = (128, 128, 128)


def random_checkpoint(config, path, seed, options=None):
    save_random_model(config, path, seed, options)
    return str(path)


def cell_origin(row, model, rank, topk, cell_size, query_width, titles):
    """Top-left pixel of result ``rank`` (0-based) of ``model`` in query row ``row``, from the documented layout."""
    cell_h, cell_w = cell_size
    group_w = topk * cell_w + (topk - 1) * GAP
    y = (TITLE_H if titles else 0) + row * (cell_h + LABEL_H + GAP)
    x = query_width + GROUP_GAP + model * (group_w + GROUP_GAP) + rank * (cell_w + GAP)
    return y, x


# ------------------------------------------------------------------------------------------ drawing
def test_grid_size_and_border_colours():
    cell = (40, 20)
    image = np.full((80, 30, 3), GREY, np.uint8)
    rows = [dict(query=dict(image=image, label='id 1'),
                 results=[[dict(image=image, match=True), dict(image=image, match=False), dict(image=image)]])
            for _ in range(2)]
    grid = draw_ranking_grid(rows, topk=4, cell_size=cell)  # 4 cells per row, 3 results: the last stays blank
    # 2 rows of (cell + label strip) with one gap; query + group gap + 4 cells with 3 gaps
    assert grid.shape == (2 * (40 + LABEL_H) + GAP, 20 + GROUP_GAP + 4 * 20 + 3 * GAP, 3)
    assert grid.shape[:2] == grid_shape(2, 4, cell)
    for row in range(2):
        expected = (GREEN, RED, GREY, (255, 255, 255))  # match, mismatch, unknown (no frame), blank
        for rank, colour in enumerate(expected):
            y, x = cell_origin(row, 0, rank, 4, cell, 20, None)
            assert tuple(grid[y, x]) == colour and tuple(grid[y + BORDER - 1, x + cell[1] - 1]) == colour
            # inside the frame the image is untouched
            assert tuple(grid[y + BORDER, x + BORDER]) == (GREY if rank < 3 else (255, 255, 255))


def test_caption_query_cell_and_titles():
    cell = (64, 32)
    image = np.full((64, 32, 3), GREY, np.uint8)
    rows = [dict(query=dict(text='a woman in a long green coat with a black handbag'),
                 results=[[dict(image=image, match=True)], [dict(image=image, match=False)]])]
    grid = draw_ranking_grid(rows, topk=2, cell_size=cell, query_width=96, titles=['query', 'A', 'B'])
    assert grid.shape[:2] == (TITLE_H + 64 + LABEL_H, 96 + 2 * (GROUP_GAP + 2 * 32 + GAP))
    caption = grid[TITLE_H:TITLE_H + 64, :96]
    assert (caption < 100).any(axis=2).sum() > 50  # dark text on the white cell
    lines = ranking.wrap_text('a woman in a long green coat with a black handbag', 90)
    assert len(lines) > 1 and ' '.join(lines) == 'a woman in a long green coat with a black handbag'
    y, x = cell_origin(0, 1, 0, 2, cell, 96, True)  # the second model's first result
    assert tuple(grid[y, x]) == RED


def test_rank_drops_same_id_same_camera():
    tool = load_tool('visualize_ranking')
    e1, e2 = torch.eye(4)[0], torch.eye(4)[1]
    records = [dict(feature=e1, pid=1, camid=0),                  # query
               dict(feature=e1, pid=1, camid=0),                  # same id, same camera: not a valid match
               dict(feature=e1 + 0.1 * e2, pid=1, camid=1),       # same id, other camera
               dict(feature=e2, pid=2, camid=0),
               dict(feature=e1 + 0.5 * e2, pid=3, camid=1)]
    metric = ReIDMetric(protocol='market')
    problem = RankingProblem(np.array([0]), np.array([1, 2, 3, 4]), np.array([0]), np.array([0, 1, 0, 1]))
    indices, dists = tool.rank(metric, records, problem, np.array([0]), topk=4)
    assert indices[0, :3].tolist() == [1, 3, 2]  # gallery positions of records 2, 4, 3
    assert dists[0, 3] == float('inf')  # the same-camera copy comes last, as "no result"


# ------------------------------------------------------------------------------------------ the tool
def check_picture(out, topk, cell_size, query_width, num_models, both_colours=True):
    """Size of ranking.png and the frame colour of every result cell against ranking.json."""
    with open(out['json']) as f:
        report = json.load(f)
    picture = cv2.imread(out['picture'])
    titles = True  # the title strip says what the numbers are, one model or two
    cell_h, cell_w = cell_size
    rows = len(report['queries'])
    assert picture.shape[:2] == (
        rows * (cell_h + LABEL_H) + (rows - 1) * GAP + (TITLE_H if titles else 0),
        query_width + num_models * (GROUP_GAP + topk * cell_w + (topk - 1) * GAP))
    matches = []
    for r, entry in enumerate(report['queries']):
        assert len(entry['models']) == num_models
        for m, model in enumerate(entry['models']):
            results = model['results']
            assert [res['rank'] for res in results] == list(range(1, topk + 1))
            assert all(a['distance'] <= b['distance'] for a, b in zip(results, results[1:]))
            for j, res in enumerate(results):
                assert res['match'] == (res['pid'] == entry['query']['pid'])
                y, x = cell_origin(r, m, j, topk, cell_size, query_width, titles)
                assert tuple(picture[y + 1, x + 1]) == (GREEN if res['match'] else RED)
                matches.append(res['match'])
    if both_colours:  # both frame colours were checked
        assert True in matches and False in matches
    return report


def test_visualize_ranking_market_compare(demo, tmp_path):
    root = demo / 'market1501'
    n_query = sum(1 for p in (root / 'Market-1501-v15.09.15' / 'query').iterdir() if not p.name.startswith('-1'))
    n_gallery = sum(1 for p in (root / 'Market-1501-v15.09.15' / 'bounding_box_test').iterdir()
                    if not p.name.startswith('-1'))
    # a tenth of the queries and half of the gallery keep the test fast (the data set lists queries first)
    indices = list(range(0, n_query, 10)) + list(range(n_query, n_query + n_gallery, 2))
    tiny = tiny_options(IMAGE_CFG)
    options = cfg_option_args(tiny) + [
        f'test_dataloader.dataset.data_root={root}', f'test_dataloader.dataset.indices={indices}']
    ckpt_a = random_checkpoint(IMAGE_CFG, tmp_path / 'a' / 'tiny.pth', 0, tiny)
    ckpt_b = random_checkpoint(IMAGE_CFG, tmp_path / 'b' / 'tiny.pth', 1, tiny)
    out = load_tool('visualize_ranking').main(
        [IMAGE_CFG, ckpt_a, '--num-queries', '4', '--topk', '5', '--out', str(tmp_path / 'out'),
         '--compare', ckpt_b, '--cfg-options', *options])
    report = check_picture(out, 5, (128, 64), 64, num_models=2)
    assert report['protocol'] == 'market' and report['dist'] == 'euclidean'
    assert len(report['queries']) == 4
    for entry in report['queries']:
        query = entry['query']
        for model in entry['models']:
            # the protocol's filtering: never the query's id seen by the query's camera
            assert all((r['pid'], r['camid']) != (query['pid'], query['camid']) for r in model['results'])
    # the two models rank differently (different random weights)
    assert any(e['models'][0]['results'] != e['models'][1]['results'] for e in report['queries'])


def test_visualize_ranking_caption_queries(demo, tmp_path):
    ckpt = random_checkpoint(CAPTION_CFG, tmp_path / 'caption_model.pth', 0)
    out = load_tool('visualize_ranking').main(
        [CAPTION_CFG, ckpt, '--num-queries', '3', '--topk', '4', '--out', str(tmp_path / 'out'),
         '--cfg-options', f'test_dataloader.dataset.data_root={demo / "cuhk-pedes"}'])
    assert out['query_width'] == 3 * 64  # captions get a wider query cell
    # a random model may find no match among 4 results: only the red frames are certain to be checked
    report = check_picture(out, 4, (128, 64), 3 * 64, num_models=1, both_colours=False)
    assert report['protocol'] == 'text_image' and report['dist'] == 'cosine'
    for entry in report['queries']:
        assert entry['query']['modality'] == 'text' and entry['query']['caption']
        assert all(r['modality'] == 'image' for r in entry['models'][0]['results'])
    picture = cv2.imread(out['picture'])
    assert (picture[:128, :3 * 64] < 100).any(axis=2).sum() > 100  # the caption is written in the query cell
