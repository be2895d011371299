"""Text removal: erase the text inside given regions of an image and fill the gap from its surroundings.

One entry point, `remove_text(image, regions)`, used by the classic engine's edit and by
`wenchuang data prepare --watermarks remove`. It works in two stages:

1. `segment_strokes`: inside each region, the glyph strokes are told apart from a smooth background
   model fitted to a ring of pixels around the region; faint pixels next to the strokes (edges,
   shadows, glows) join them, and the mask is dilated a little. Only strokes are erased: inpainting
   a whole box would smear the background.
2. `inpaint`: OpenCV's Telea inpainting of the stroke mask, one connected area at a time.

Only OpenCV and NumPy: no model, no torch, and no import from the engines (which sit above it).
A region is a uint8 {0, 1} H x W mask; `wenchuang.layout.polygons.polygon_mask` turns a polygon into one.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import cv2
import numpy as np

__all__ = ["TextRemoval", "inpaint", "remove_text", "segment_strokes"]

INPAINT_RADIUS = 4  # pixels; Telea's neighbourhood


@dataclass
class TextRemoval:
    """What `remove_text` did.

    image: the result (a new H x W x 3 uint8 array; the input is left untouched);
    mask: the erased pixels, uint8 {0, 1} H x W (the union of every region's stroke mask);
    colors: per region, the (r, g, b) colour of its strokes, or None where it held no strokes;
    timings: seconds spent in "segment" and "inpaint".
    """

    image: np.ndarray
    mask: np.ndarray
    colors: list[tuple[int, int, int] | None]
    timings: dict[str, float] = field(default_factory=dict)


def remove_text(image: np.ndarray, regions: Iterable[np.ndarray]) -> TextRemoval:
    """Erase the text strokes inside each region (uint8 {0, 1} H x W masks) of `image` (RGB uint8)."""
    height, width = image.shape[:2]
    start = time.perf_counter()
    mask = np.zeros((height, width), np.uint8)
    colors: list[tuple[int, int, int] | None] = []
    for region in regions:
        strokes, color = segment_strokes(image, region)
        mask |= strokes
        colors.append(color)
    segmented = time.perf_counter()
    result = inpaint(image, mask)
    timings = {"segment": segmented - start, "inpaint": time.perf_counter() - segmented}
    return TextRemoval(result, mask, colors, timings)


def segment_strokes(image: np.ndarray, region: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int] | None]:
    """The glyph strokes inside `region` (uint8 {0,1} H x W), dilated a little, and their colour.

    A smooth background (a quadratic surface per channel) is fitted to a ring of pixels just outside the
    region; pixels that differ from it by more than an Otsu threshold (never below the ring's own
    noise) are strokes. When that marks most of the region (the region's background differs from
    its surroundings), the minority class of an Otsu split of the grey levels is used instead.
    Fainter pixels near the strokes (edges, shadows, glows; these may reach a few pixels beyond the
    region) are added, then all is dilated by 3 % of the region's short side (at least 2 px).
    Returns (mask uint8 {0,1} H x W, stroke colour (r, g, b) or None when no strokes were found).
    """
    height, width = region.shape
    ys, xs = np.nonzero(region)
    empty = np.zeros((height, width), np.uint8)
    if len(ys) == 0:
        return empty, None
    extent = max(int(ys.max() - ys.min()), int(xs.max() - xs.min()), 1)
    grow = max(2, int(round(extent * 0.02)))
    ring_width = max(4, int(round(extent * 0.03)))
    margin = grow + ring_width + 2 + max(3, int(round(extent * 0.08)))
    y0, y1 = max(0, ys.min() - margin), min(height, ys.max() + margin + 1)
    x0, x1 = max(0, xs.min() - margin), min(width, xs.max() + margin + 1)
    crop = image[y0:y1, x0:x1].astype(np.float32)
    short_side = min(int(ys.max() - ys.min()), int(xs.max() - xs.min())) + 1
    reach = max(3, int(round(short_side * 0.08)))
    inside = cv2.dilate(region[y0:y1, x0:x1], _disk(grow))
    halo = cv2.dilate(inside, _disk(reach))  # shadows and glows may spill a little outside the region
    ring = cv2.dilate(halo, _disk(ring_width)) & (1 - halo)
    if ring.sum() < 8:  # the region fills the image: use its own border
        ring = inside - cv2.erode(inside, _disk(ring_width))

    background = _fit_background(crop, ring.astype(bool))
    distance = np.linalg.norm(crop - background, axis=2)
    ring_d = distance[ring.astype(bool)]
    noise = float(np.median(ring_d)) * 1.4826 if ring_d.size else 2.0
    values = distance[inside.astype(bool)]
    otsu = _otsu(values)
    threshold = max(otsu, 3.0 * noise + 4.0, 12.0)
    strokes = (distance > threshold) & inside.astype(bool)
    if strokes.sum() > 0.55 * inside.sum():
        gray = cv2.cvtColor(np.clip(crop, 0, 255).astype(np.uint8), cv2.COLOR_RGB2GRAY).astype(np.float32)
        level = _otsu(gray[inside.astype(bool)])
        dark = (gray <= level) & inside.astype(bool)
        strokes = dark if dark.sum() <= 0.5 * inside.sum() else (~dark & inside.astype(bool))
    if strokes.sum() < 4:
        return empty, None
    core = strokes & (distance > np.percentile(distance[strokes], 50))
    color = tuple(int(v) for v in np.median(crop[core if core.any() else strokes], axis=0))

    # hysteresis: fainter pixels close to the strokes (anti-aliasing, shadows, glows, outlines,
    # compression ringing) belong to the text too
    faint = distance > max(2.0 * noise + 3.0, 6.0)
    strokes |= faint & (cv2.dilate(strokes.astype(np.uint8), _disk(reach)) > 0) & halo.astype(bool)
    # soft edges (blurred shadows, anti-aliasing, JPEG ringing) widen with the text: 3 % of its
    # height, at least 2 px; a fixed 2 px left the tail of a large text's shadow, which inpainting
    # then spread into a readable ghost of the text
    pad = max(2, int(round(short_side * 0.03)))
    dilated = cv2.dilate(strokes.astype(np.uint8), _disk(pad)) & halo
    mask = empty
    mask[y0:y1, x0:x1] = dilated
    return mask, color


def inpaint(image: np.ndarray, mask: np.ndarray, radius: int = INPAINT_RADIUS) -> np.ndarray:
    """Inpaint the masked pixels (Telea), working only on the bounding boxes of the masked areas.
    Returns a new image; pixels outside the mask keep their values exactly."""
    if not mask.any():
        return image.copy()
    out = image.copy()
    height, width = mask.shape
    pad = radius * 3 + 2
    bx, by, bw, bh = cv2.boundingRect(mask)
    ox, oy = max(0, bx - pad), max(0, by - pad)
    sub_mask = mask[oy:min(height, by + bh + pad), ox:min(width, bx + bw + pad)]
    count, _, stats, _ = cv2.connectedComponentsWithStats(cv2.dilate(sub_mask, _disk(radius * 3)), connectivity=8)
    for label in range(1, count):
        x, y, w, h, _ = stats[label]
        x0, y0 = max(0, ox + x - pad), max(0, oy + y - pad)
        x1, y1 = min(width, ox + x + w + pad), min(height, oy + y + h + pad)
        patch = cv2.inpaint(out[y0:y1, x0:x1], mask[y0:y1, x0:x1], radius, cv2.INPAINT_TELEA)
        sub = mask[y0:y1, x0:x1].astype(bool)
        out[y0:y1, x0:x1][sub] = patch[sub]
    return out


# ---------------------------------------------------------------------- helpers
def _fit_background(crop: np.ndarray, ring: np.ndarray) -> np.ndarray:
    """Per channel, a quadratic surface in x and y fitted to the ring pixels (twice, the second time
    without the ring pixels that fit worst, e.g. strokes that reach the ring)."""
    h, w = crop.shape[:2]
    ys, xs = np.nonzero(ring)
    if len(ys) < 12:
        return np.broadcast_to(np.median(crop.reshape(-1, 3), axis=0), crop.shape).astype(np.float32)
    design = _poly_terms(xs / w, ys / h)
    values = crop[ys, xs].astype(np.float64)
    coef, *_ = np.linalg.lstsq(design, values, rcond=None)
    residual = np.linalg.norm(values - design @ coef, axis=1)
    keep = residual <= np.percentile(residual, 80)
    if keep.sum() >= 12:
        coef, *_ = np.linalg.lstsq(design[keep], values[keep], rcond=None)
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float64)
    full = _poly_terms(gx / w, gy / h) @ coef
    return full.astype(np.float32)


def _poly_terms(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """1, x, y, x², xy, y²: a smooth, gently curved surface."""
    return np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=-1)


def _otsu(values: np.ndarray) -> float:
    """Otsu's threshold of a 1-D sample (any range)."""
    if values.size == 0:
        return 0.0
    low, high = float(values.min()), float(values.max())
    if high - low < 1e-6:
        return high
    scaled = np.clip((values - low) / (high - low) * 255.0, 0, 255).astype(np.uint8)
    level, _ = cv2.threshold(scaled.reshape(-1, 1), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return low + float(level) / 255.0 * (high - low)


def _disk(radius: int) -> np.ndarray:
    size = 2 * int(radius) + 1
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
