"""Ranking pictures: one row per query (query cell, then its top-k results), as torchreid's ``visrank``.

Layout of a grid (all sizes in pixels, see :func:`grid_shape`)::

    [title strip of TITLE_H when titles are given]
    query | GROUP_GAP | r1 GAP r2 ... rk | GROUP_GAP | r1 ... rk (second model)   <- cell_h + LABEL_H
    GAP
    next query ...

A result cell gets a ``BORDER``-pixel frame drawn inside it: green for the query's identity, red for another
one, none when the identity is unknown (plain search). A caption query is drawn as wrapped text in a query
cell that may be wider than the image cells (``query_width``).

A picture stays within :data:`MAX_PICTURE_PIXELS` (what PIL opens without complaint) and
:data:`MAX_PICTURE_SIDE` per side: :func:`rows_per_picture` says how many rows fit, so that many queries are
split over several pictures.
"""
import os.path as osp
from typing import Optional, Sequence

import cv2
import numpy as np

from ..utils.atomic_write import atomic_write

#: BGR colours (OpenCV order) of the frames.
GREEN = (0, 200, 0)
RED = (0, 0, 230)
BORDER = 4
LABEL_H = 16
TITLE_H = 20
GAP = 4
GROUP_GAP = 16
BACKGROUND = 255
FONT = cv2.FONT_HERSHEY_SIMPLEX
#: PIL's ``Image.MAX_IMAGE_PIXELS``: PIL warns above it and refuses to open twice as many.
MAX_PICTURE_PIXELS = 89_478_485
#: Largest width / height of a picture (JPEG's limit; many viewers' too).
MAX_PICTURE_SIDE = 65_500


def grid_shape(num_rows: int, topk: int, cell_size=(128, 64), num_models: int = 1,
               query_width: Optional[int] = None, with_titles: bool = False):
    """(height, width) of the picture :func:`draw_ranking_grid` makes.

    Args:
        num_rows (int): queries.
        topk (int): result cells per model.
        cell_size (tuple[int, int]): (height, width) of one image cell.
        num_models (int): result groups side by side (2 with ``--compare``).
        query_width (int, optional): width of the query cell; default the cell width.
        with_titles (bool): whether a title strip is on top.
    """
    cell_h, cell_w = cell_size
    query_width = query_width or cell_w
    width = query_width + num_models * (GROUP_GAP + topk * cell_w + (topk - 1) * GAP)
    height = num_rows * (cell_h + LABEL_H) + (num_rows - 1) * GAP + (TITLE_H if with_titles else 0)
    return height, width


def rows_per_picture(num_rows: int, topk: int, cell_size=(128, 64), num_models: int = 1,
                     query_width: Optional[int] = None, with_titles: bool = False,
                     max_pixels: int = MAX_PICTURE_PIXELS, max_side: int = MAX_PICTURE_SIDE) -> int:
    """How many of ``num_rows`` query rows one picture holds within ``max_pixels`` and ``max_side``.

    Args:
        num_rows (int): queries to draw in all.
        topk, cell_size, num_models, query_width, with_titles: as in :func:`grid_shape`.
        max_pixels (int): largest height x width of one picture.
        max_side (int): largest height or width.

    Returns:
        int: rows per picture, between 1 and ``num_rows``.

    Raises:
        ValueError: a single row is already too large (names the sizes and the limit).
    """
    height, width = grid_shape(1, topk, cell_size, num_models, query_width, with_titles)
    if width > max_side or height * width > max_pixels:
        raise ValueError(f'one row of {num_models} x {topk} results of {cell_size[0]}x{cell_size[1]} px is a '
                         f'{width}x{height} px picture, over the limit of {max_pixels} pixels and {max_side} px a '
                         f'side (pictures larger than PIL.Image.MAX_IMAGE_PIXELS={MAX_PICTURE_PIXELS} do not open)')
    row_h = cell_size[0] + LABEL_H + GAP
    # rows r fit when height(r) = height(1) + (r - 1) * row_h stays within both limits
    by_side = (max_side - height) // row_h + 1
    by_pixels = (max_pixels // width - height) // row_h + 1
    return max(1, min(num_rows, by_side, by_pixels))


def image_cell(image, cell_size=(128, 64)) -> np.ndarray:
    """An image file path or BGR array resized to ``cell_size`` (height, width), uint8 (H, W, 3)."""
    if isinstance(image, np.ndarray):
        img = image
    else:
        img = cv2.imread(str(image), cv2.IMREAD_COLOR)
        if img is None:
            raise FileNotFoundError(f'ranking: cannot read image {image}')
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    return cv2.resize(np.ascontiguousarray(img, dtype=np.uint8), (cell_size[1], cell_size[0]),
                      interpolation=cv2.INTER_AREA)


def wrap_text(text: str, width: int, scale: float = 0.35):
    """Greedy word wrap of ``text`` into lines no wider than ``width`` pixels (a longer word gets its own)."""
    lines, line = [], ''
    for word in text.split():
        candidate = f'{line} {word}'.strip()
        if line and cv2.getTextSize(candidate, FONT, scale, 1)[0][0] > width:
            lines.append(line)
            line = word
        else:
            line = candidate
    return lines + ([line] if line else [])


def text_cell(text: str, cell_size=(128, 64), scale: float = 0.35) -> np.ndarray:
    """A white cell with ``text`` wrapped on it (cut with '...' when it does not fit), uint8 (H, W, 3)."""
    height, width = cell_size
    cell = np.full((height, width, 3), BACKGROUND, np.uint8)
    line_h = cv2.getTextSize('Ag', FONT, scale, 1)[0][1] + 5
    lines = wrap_text(text, width - 6, scale)
    max_lines = max(1, (height - 4) // line_h)
    if len(lines) > max_lines:
        lines = lines[:max_lines - 1] + [lines[max_lines - 1] + ' ...']
    for i, line in enumerate(lines):
        cv2.putText(cell, line, (3, 2 + line_h * (i + 1) - 4), FONT, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return cell


def draw_border(cell: np.ndarray, colour, thickness: int = BORDER) -> np.ndarray:
    """Paint the outer ``thickness`` pixels of ``cell`` with ``colour`` (in place), and return it."""
    cell[:thickness], cell[-thickness:] = colour, colour
    cell[:, :thickness], cell[:, -thickness:] = colour, colour
    return cell


def label_strip(text: str, width: int) -> np.ndarray:
    """A white strip of ``LABEL_H`` rows with ``text`` (cut to fit) in black."""
    strip = np.full((LABEL_H, width, 3), BACKGROUND, np.uint8)
    while text and cv2.getTextSize(text, FONT, 0.35, 1)[0][0] > width - 2:
        text = text[:-1]
    cv2.putText(strip, text, (1, LABEL_H - 4), FONT, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
    return strip


def _query_panel(query: dict, cell_size, query_width):
    size = (cell_size[0], query_width)
    cell = text_cell(query['text'], size) if 'text' in query else image_cell(query['image'], size)
    return np.concatenate([cell, label_strip(query.get('label', 'query'), query_width)])


def _result_panel(result: dict, cell_size):
    cell = image_cell(result['image'], cell_size)
    match = result.get('match')
    if match is not None:
        draw_border(cell, GREEN if match else RED)
    return np.concatenate([cell, label_strip(result.get('label', ''), cell_size[1])])


def _title(text: str, width: int) -> np.ndarray:
    strip = np.full((TITLE_H, width, 3), BACKGROUND, np.uint8)
    while text and cv2.getTextSize(text, FONT, 0.45, 1)[0][0] > width - 2:
        text = text[:-1]
    cv2.putText(strip, text, (1, TITLE_H - 6), FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return strip


def draw_ranking_grid(rows: Sequence[dict], topk: int, cell_size=(128, 64), query_width: Optional[int] = None,
                      titles: Optional[Sequence[str]] = None) -> np.ndarray:
    """One row per query with the ranked results of one or more models.

    Args:
        rows (Sequence[dict]): per query ``query`` (``dict(image=path | BGR array)`` or ``dict(text=caption)``,
            optional ``label``) and ``results``: one list per model of up to ``topk`` dicts ``image``,
            ``match`` (True / False / None) and optional ``label`` (e.g. rank and distance).
        topk (int): result cells per model (missing results leave the cell blank).
        cell_size (tuple[int, int]): (height, width) of an image cell.
        query_width (int, optional): width of the query cell (wider for captions); default the cell width.
        titles (Sequence[str], optional): strip on top naming the query column and each model.

    Returns:
        ndarray: BGR uint8 picture of shape :func:`grid_shape` + (3,).
    """
    if not rows:
        raise ValueError('draw_ranking_grid: no rows to draw')
    num_models = len(rows[0]['results'])
    cell_h, cell_w = cell_size
    query_width = query_width or cell_w
    height, width = grid_shape(len(rows), topk, cell_size, num_models, query_width, bool(titles))
    canvas = np.full((height, width, 3), BACKGROUND, np.uint8)
    group_w = topk * cell_w + (topk - 1) * GAP
    top = TITLE_H if titles else 0
    if titles:
        starts = [0] + [query_width + GROUP_GAP + m * (group_w + GROUP_GAP) for m in range(num_models)]
        for x, title in zip(starts, titles):
            strip_w = query_width if x == 0 else group_w
            canvas[:TITLE_H, x:x + strip_w] = _title(title, strip_w)
    for row in rows:
        if len(row['results']) != num_models:
            raise ValueError('draw_ranking_grid: every row needs the same number of result lists')
        canvas[top:top + cell_h + LABEL_H, :query_width] = _query_panel(row['query'], cell_size, query_width)
        x0 = query_width + GROUP_GAP
        for results in row['results']:
            for j, result in enumerate(results[:topk]):
                x = x0 + j * (cell_w + GAP)
                canvas[top:top + cell_h + LABEL_H, x:x + cell_w] = _result_panel(result, cell_size)
            x0 += group_w + GROUP_GAP
        top += cell_h + LABEL_H + GAP
    return canvas


def save_picture(path: str, picture: np.ndarray) -> str:
    """Write a BGR picture (PNG/JPEG by extension), creating the folder; raise if OpenCV cannot encode it.

    Written through :func:`~plugins.core.utils.atomic_write`: an interrupted write never leaves a truncated picture.
    """
    ok, encoded = cv2.imencode(osp.splitext(path)[1] or '.png', picture)
    if not ok:
        raise OSError(f'ranking: cannot write picture {path}')
    with atomic_write(path, 'wb') as f:
        f.write(encoded.tobytes())
    return path
