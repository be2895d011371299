"""Automatic placement of text lines that come without a polygon.

Each such line gets an upright rectangle with the aspect ratio of its text (measured with its
font), in free space: away from the lines that already have polygons, from the `occupied`
regions (e.g. text kept in an edited photo) and from each other, with a gap between boxes and a
margin at the image border. Lines are placed in reading order: every new line goes at or below the
previous one, as high as possible, centred horizontally where the space allows; finally the
placed lines move down together to the middle of the image where nothing is in the way. Boxes
start large (at most 16 % of the image height and 85 % of its width, less when many lines share
the image) and shrink until they fit. The result is deterministic.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

import cv2
import numpy as np

from wenchuang.errors import RequestError
from wenchuang.layout.fonts import load_font, resolve_font
from wenchuang.layout.polygons import fill_polygon
from wenchuang.request import MIN_POLYGON_SIDE, TextLine

MAX_HEIGHT_FRACTION = 0.16  # a line's box is at most this share of the image height
MAX_WIDTH_FRACTION = 0.85  # ... and at most this share of the width inside the margins
SHRINK = 0.85  # box height factor between attempts
STEP = 2  # pixels between candidate positions
_PADDING = 1.15  # box width = text width at the box's height x this (room for the glyph rule's 80 %)


def text_aspect(text: str, font: str | None = None) -> float:
    """Width / height of the text's ink box at size 100 (at least 0.5)."""
    left, top, right, bottom = load_font(resolve_font(font), 100).getbbox(text)
    return max((right - left) / max(bottom - top, 1), 0.5)


def _occupancy(
    polygons: Iterable[Sequence[Sequence[float]]], width: int, height: int, gap: int
) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    for poly in polygons:
        fill_polygon(mask, poly)
    if gap > 0:
        mask = cv2.dilate(mask, np.ones((2 * gap + 1, 2 * gap + 1), np.uint8))
    return mask


def _free_positions(mask: np.ndarray, box_w: int, box_h: int) -> np.ndarray:
    """Boolean map over top-left corners (y, x) where a box_w x box_h box touches no occupied pixel."""
    integral = cv2.integral(mask)  # (H+1, W+1)
    sums = (
        integral[box_h:, box_w:]
        - integral[:-box_h, box_w:]
        - integral[box_h:, :-box_w]
        + integral[:-box_h, :-box_w]
    )
    return sums == 0


def _place_one(
    mask: np.ndarray, aspect: float, max_h: float, min_h: float, margin: int, cursor: int
) -> tuple[int, int, int, int] | None:
    """(x, y, w, h) of the largest box of this aspect that fits with y >= cursor: the smallest y,
    then the x closest to the centre. None when nothing fits."""
    height, width = mask.shape
    inner = mask.copy()
    inner[:margin, :] = 1
    inner[height - margin :, :] = 1
    inner[:, :margin] = 1
    inner[:, width - margin :] = 1
    box_h = max_h
    while box_h >= min_h:
        h = int(round(box_h))
        w = int(round(min(aspect * h * _PADDING, width - 2 * margin)))
        if w >= MIN_POLYGON_SIDE and h >= MIN_POLYGON_SIDE and w <= width and h <= height:
            free = _free_positions(inner, w, h)
            ys, xs = np.nonzero(free[::STEP, ::STEP])
            ys, xs = ys * STEP, xs * STEP
            below = ys >= cursor
            ys, xs = ys[below], xs[below]
            if len(ys):
                centre_offset = np.abs(xs + w / 2 - width / 2)
                best = np.lexsort((centre_offset, ys))[0]
                return int(xs[best]), int(ys[best]), w, h
        box_h *= SHRINK
    return None


def auto_layout(
    lines: Sequence[TextLine],
    width: int,
    height: int,
    font: str | None = None,
    occupied: Iterable[Sequence[Sequence[float]]] = (),
) -> list[TextLine]:
    """Copies of `lines` where every line without a polygon gets one (see the module docstring).

    Lines that have a polygon keep it. `font` is used to measure lines that name no font of their
    own. Raises RequestError naming the line when no free space is left for it.
    """
    result = [dataclasses.replace(line) for line in lines]
    todo = [i for i, line in enumerate(result) if line.polygon is None]
    if not todo:
        return result
    short = min(width, height)
    gap = max(4, short // 64)
    margin = max(4, short // 32)
    taken = list(occupied) + [line.polygon for line in result if line.polygon is not None]
    mask = _occupancy(taken, width, height, gap)
    base = mask.copy()
    max_h = min(MAX_HEIGHT_FRACTION * height, 0.8 * (height - 2 * margin) / len(todo) - gap)
    min_h = float(MIN_POLYGON_SIDE * 2)
    cursor = 0
    for i in todo:
        line = result[i]
        aspect = text_aspect(line.text, line.font or font)
        limit = min(max_h, MAX_WIDTH_FRACTION * (width - 2 * margin) / (aspect * _PADDING))
        placed = _place_one(mask, aspect, max(limit, min_h), min_h, margin, cursor)
        if placed is None:  # nothing below the previous line: anywhere else
            placed = _place_one(mask, aspect, max(limit, min_h), min_h, margin, 0)
        if placed is None:
            raise RequestError(
                f"lines[{i}].polygon",
                f"no free space left for {line.text!r} in the {width}x{height} image; give it a position",
            )
        x, y, w, h = placed
        line.polygon = [
            (float(x), float(y)),
            (float(x + w), float(y)),
            (float(x + w), float(y + h)),
            (float(x), float(y + h)),
        ]
        box = np.zeros_like(mask)
        cv2.rectangle(box, (x, y), (x + w - 1, y + h - 1), 1, -1)
        mask |= cv2.dilate(box, np.ones((2 * gap + 1, 2 * gap + 1), np.uint8))
        cursor = y + h
    _centre_block(result, todo, base, margin)
    return result


def _centre_block(result: list[TextLine], placed: list[int], base: np.ndarray, margin: int) -> None:
    """Move the placed lines down together so that they sit in the middle of the image height,
    when every moved box stays clear of the occupied regions (`base`) and the margins."""
    height = base.shape[0]
    tops = [min(p[1] for p in result[i].polygon) for i in placed]
    bottoms = [max(p[1] for p in result[i].polygon) for i in placed]
    shift = int((height - max(bottoms) - min(tops)) // 2)
    if shift <= 0:
        return
    integral = cv2.integral(base)
    for i in placed:
        x0, y0 = (int(v) for v in result[i].polygon[0])
        x1, y1 = (int(v) for v in result[i].polygon[2])
        y0, y1 = y0 + shift, y1 + shift
        if y1 > height - margin:
            return
        if integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0]:
            return
    for i in placed:
        result[i].polygon = [(x, y + shift) for x, y in result[i].polygon]
