"""Text regions as polygons: parsing, finding them in a drawn mask, validation, ordering, rescaling,
and filling them into masks (`polygon_mask`, `fill_polygon`: the project's one rasteriser of polygons).

A polygon is a list of ``(x, y)`` points in image pixels. The mask and ordering rules follow the
official AnyText demo:

- a drawn position mask is split into its 8-connected regions (one region per stroke); each region's
  outer contour is simplified with ``approxPolyDP`` (epsilon = 1 % of its perimeter), or replaced by
  its minimum-area rotated rectangle with ``min_rect=True``;
- regions are read in the demo's sort order: ``"top-down"`` (the demo's '↕') groups centres into
  bands of ``SORT_GAP`` = 102 pixels, rows first, then columns; ``"left-right"`` ('↔') columns first.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import cv2
import numpy as np

from wenchuang.errors import RequestError
from wenchuang.request import MIN_POLYGON_SIDE, Point, check_polygon

SORT_GAP = 102  # pixels; the official demo's band size for ordering regions
_NUMBER_RE = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")

Polygon = list[Point]


def parse_position(text: str, field_name: str = "position") -> Polygon:
    """Parse ``"x1,y1,x2,y2"`` (a rectangle) or 8 numbers (a quad) into a polygon.

    A rectangle becomes its 4 corners clockwise from the top-left; a quad keeps its point order.
    Numbers may be separated by commas, spaces or both.
    """
    if not isinstance(text, str) or not text.strip():
        raise RequestError(field_name, "is empty; expected x1,y1,x2,y2 or 8 numbers x1,y1,...,x4,y4")
    parts = [p for p in re.split(r"[,\s]+", text.strip()) if p]
    if not all(_NUMBER_RE.fullmatch(p) for p in parts):
        raise RequestError(field_name, f"expected numbers such as 10,20,200,80, got {text!r}")
    values = [float(p) for p in parts]
    if not all(math.isfinite(v) for v in values):
        raise RequestError(field_name, f"numbers must be finite, got {text!r}")
    if len(values) == 4:
        x1, y1, x2, y2 = values
        if x2 <= x1 or y2 <= y1:
            raise RequestError(field_name, f"rectangle x1,y1,x2,y2 needs x2 > x1 and y2 > y1, got {text!r}")
        return [(x1, y1), (x2, y1), (x2, y2), (x1, y2)]
    if len(values) == 8:
        return [(values[i], values[i + 1]) for i in range(0, 8, 2)]
    raise RequestError(
        field_name, f"expected 4 numbers (x1,y1,x2,y2) or 8 (a quad), got {len(values)} in {text!r}"
    )


def _as_array(polygon: Sequence[Sequence[float]]) -> np.ndarray:
    return np.asarray([(float(p[0]), float(p[1])) for p in polygon], dtype=np.float64).reshape(-1, 2)


def cv_points(polygon: Sequence[Sequence[float]]) -> np.ndarray:
    """The polygon as an OpenCV point array: int32 when every coordinate is whole, else float32."""
    arr = _as_array(polygon)
    if np.all(arr == np.round(arr)):
        return arr.astype(np.int32)
    return arr.astype(np.float32)


def min_area_rect(
    polygon: Sequence[Sequence[float]],
) -> tuple[tuple[float, float], tuple[float, float], float]:
    """``cv2.minAreaRect`` in the OpenCV 4.5-4.x convention: angle in (0, 90] degrees.

    OpenCV 5 reports the same rectangle with another angle range; the official AnyText code (and its
    glyph orientation rule) assumes the 4.x one, so the result is normalised here.
    """
    (cx, cy), (w, h), angle = cv2.minAreaRect(cv_points(polygon))
    while angle <= 0:
        angle += 90.0
        w, h = h, w
    while angle > 90:
        angle -= 90.0
        w, h = h, w
    return (float(cx), float(cy)), (float(w), float(h)), float(angle)


def validate_polygon(
    polygon: Sequence[Sequence[float]],
    width: int | None,
    height: int | None,
    field_name: str = "polygon",
    min_side: float = MIN_POLYGON_SIDE,
) -> Polygon:
    """`request.check_polygon` plus a minimum size: the shorter side of the rotated rectangle.

    Returns the polygon as float points; raises RequestError naming `field_name`.
    """
    pts = check_polygon(polygon, width, height, field_name)
    _, (w, h), _ = min_area_rect(pts)
    if min(w, h) < min_side:
        raise RequestError(
            field_name,
            f"is too small: its rotated rectangle is {w:.0f}x{h:.0f} px; each side needs at least "
            f"{min_side:g} px",
        )
    return pts


def _binary(mask: np.ndarray, threshold: int) -> np.ndarray:
    arr = np.asarray(mask)
    if arr.ndim == 3:
        arr = arr.max(axis=2)
    if arr.ndim != 2:
        raise RequestError("mask", f"must be an H x W (or H x W x C) image, got shape {arr.shape}")
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.floating) and arr.size and float(arr.max()) <= 1.0:
        arr = arr * 255.0
    return np.where(arr > threshold, 255, 0).astype(np.uint8)


def _sort_key(centre: Sequence[float], priority: str) -> tuple[float, float]:
    if priority not in ("top-down", "left-right"):
        raise RequestError("sort_priority", f"must be 'top-down' or 'left-right', got {priority!r}")
    first, second = (1, 0) if priority == "top-down" else (0, 1)
    return (centre[first] // SORT_GAP, centre[second] // SORT_GAP)


def mask_regions(mask: np.ndarray, sort_priority: str = "top-down", threshold: int = 127) -> list[np.ndarray]:
    """The 8-connected regions of a mask as separate uint8 0/255 images, in the official reading order.

    `mask` is H x W (or H x W x C; any channel counts), nonzero above `threshold` (bool and 0-1 float
    masks are accepted too).
    """
    binary = _binary(mask, threshold)
    count, labels, _, centroids = cv2.connectedComponentsWithStats(binary)
    regions = []
    for label in range(1, count):
        regions.append(((labels == label).astype(np.uint8) * 255, centroids[label]))
    regions.sort(key=lambda r: _sort_key(r[1], sort_priority))
    return [r[0] for r in regions]


def region_polygon(region: np.ndarray, min_rect: bool = False) -> list[tuple[int, int]]:
    """The official find_polygon: the largest outer contour, simplified (or its rotated rectangle)."""
    contours, _ = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    contour = max(contours, key=cv2.contourArea)
    if min_rect:
        poly = cv2.boxPoints(cv2.minAreaRect(contour)).astype(np.int32)  # truncation, as np.int0
    else:
        epsilon = 0.01 * cv2.arcLength(contour, True)
        poly = cv2.approxPolyDP(contour, epsilon, True).reshape(-1, 2)
    return [(int(x), int(y)) for x, y in poly]


def region_position(region: np.ndarray, polygon: Sequence[Sequence[float]]) -> np.ndarray:
    """Official position image of a mask region: the region itself plus its polygon filled, float32 0/1."""
    image = region.copy()
    cv2.drawContours(image, [cv_points(polygon).astype(np.int32)], -1, 255, -1)
    return (image > 0).astype(np.float32)


def polygons_from_mask(
    mask: np.ndarray,
    sort_priority: str = "top-down",
    min_rect: bool = False,
    threshold: int = 127,
) -> list[list[tuple[int, int]]]:
    """One polygon per connected stroke of a drawn mask, in the official reading order.

    Each region's outer contour is simplified with ``approxPolyDP`` (1 % of its perimeter), as the
    official find_polygon; ``min_rect=True`` gives its minimum-area rotated rectangle instead.
    """
    return [region_polygon(r, min_rect) for r in mask_regions(mask, sort_priority, threshold)]


def polygon_centre(polygon: Sequence[Sequence[float]]) -> tuple[float, float]:
    """Area centroid of the polygon (vertex mean for degenerate ones)."""
    arr = _as_array(polygon)
    x, y = arr[:, 0], arr[:, 1]
    xn, yn = np.roll(x, -1), np.roll(y, -1)
    cross = x * yn - xn * y
    area = cross.sum() / 2.0
    if abs(area) < 1e-9:
        return float(x.mean()), float(y.mean())
    cx = ((x + xn) * cross).sum() / (6.0 * area)
    cy = ((y + yn) * cross).sum() / (6.0 * area)
    return float(cx), float(cy)


def sort_polygons(polygons: Sequence[Sequence[Sequence[float]]], priority: str = "top-down") -> list[int]:
    """Indices of `polygons` in the official reading order (see the module docstring).

    Centres are the polygons' area centroids; ties keep the input order.
    """
    keys = [_sort_key(polygon_centre(p), priority) for p in polygons]
    return sorted(range(len(polygons)), key=lambda i: keys[i])


def scale_polygon(polygon: Sequence[Sequence[float]], sx: float, sy: float | None = None) -> Polygon:
    """The polygon with x multiplied by `sx` and y by `sy` (default `sx`), e.g. after resizing an image."""
    sy = sx if sy is None else sy
    return [(float(p[0]) * sx, float(p[1]) * sy) for p in polygon]


def order_points(polygon: Sequence[Sequence[float]]) -> Polygon:
    """Four corners ordered top-left, top-right, bottom-right, bottom-left (clockwise on screen).

    More than 4 points are first reduced to their minimum-area rotated rectangle. The corners are
    sorted by their angle around the centre, and the first one is the corner whose outgoing edge is
    the most nearly horizontal left-to-right edge: a rectangle turned by less than 45 degrees keeps
    its long top edge as the top (its reading direction); turned further, its other pair of edges
    becomes the top. The one quad-ordering rule of the project: the renderer, the OCR crops and the
    benchmark crops all use it.
    """
    arr = _as_array(polygon)
    if len(arr) < 3:
        raise RequestError("polygon", f"needs at least 3 points, got {len(arr)}")
    if len(arr) != 4:
        arr = cv2.boxPoints(cv2.minAreaRect(arr.astype(np.float32))).astype(np.float64)
    # the rule's arithmetic runs in float32 (as OpenCV's warps take the quad); the points keep their values
    quad = arr.astype(np.float32)
    centre = quad.mean(axis=0)
    angles = np.arctan2(quad[:, 1] - centre[1], quad[:, 0] - centre[0])
    order = np.argsort(angles)  # y points down, so increasing angle runs clockwise on screen
    ring = quad[order]
    best, best_cos = 0, -2.0
    for start in range(4):
        edge = ring[(start + 1) % 4] - ring[start]
        cos = edge[0] / (np.hypot(edge[0], edge[1]) + 1e-9)
        if cos > best_cos + 1e-6:
            best, best_cos = start, cos
    return [(float(x), float(y)) for x, y in arr[np.roll(order, -best)]]


def fill_polygon(image: np.ndarray, polygon: Sequence[Sequence[float]], value: float = 1) -> np.ndarray:
    """Set the pixels of `polygon` (its points rounded to whole pixels) to `value` in `image`, in place;
    returns `image`. Any image type OpenCV draws on (uint8 masks, float32 position images); drawing
    straight into the target touches only the polygon's pixels: no full-size conversions."""
    points = np.round(_as_array(polygon)).astype(np.int32).reshape(-1, 1, 2)
    cv2.fillPoly(image, [points], value)
    return image


def polygon_mask(
    polygon: Sequence[Sequence[float]], width: int, height: int, dtype: np.dtype | type = np.uint8
) -> np.ndarray:
    """The filled polygon as a (height, width) mask of 0 and 1 (uint8 unless `dtype` says otherwise)."""
    return fill_polygon(np.zeros((height, width), dtype), polygon)
