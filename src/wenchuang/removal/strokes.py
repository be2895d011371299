"""Stroke masks: which pixels of a text region are the text (glyphs, anti-aliasing, outlines,
shadows), so that only they are filled and the picture around them is spared.

`segment(image, region)` tries, in order:

1. background model: a smooth surface (quadratic per channel) fitted to a ring of pixels just outside
   the region; pixels that differ from it by more than an Otsu threshold (never below the ring's own
   noise) are strokes. Exact on flat and graded backgrounds.
2. colour clusters (when the ring is busy, e.g. fur, bark, foliage, or the first method marks too
   much): k-means in CIE Lab over the region and its ring; clusters common inside the region and rare
   in the ring are the text's colours (the ring is the local background).
3. tighter (when the mask still covers more than text strokes can, `MAX_CORE_FRACTION` of the region):
   only the single most text-like colour cluster, and if even that is too much, nothing: a mask that
   would eat the subject is refused rather than filled.

Fainter pixels next to the strokes (anti-aliasing, shadows, glows, outlines, JPEG ringing) join them
(hysteresis), and the mask is dilated by 3 % of the text height (at least 2 px).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["MAX_CORE_FRACTION", "StrokeMask", "segment", "segment_strokes"]

MAX_CORE_FRACTION = 0.55  # strokes (before dilation) never cover more of a text box than this
NOISY_RING = 9.0  # ring noise (robust sigma, RGB distance) above which the background is "busy"
KMEANS_K = 6
MIN_BACKGROUND_FRACTION = 0.06  # the background model finding less than this is checked by colour


@dataclass
class StrokeMask:
    """One region's stroke mask.

    mask: uint8 {0, 1} image-sized, dilated (what is filled);
    color: the strokes' (r, g, b), or None when none were found;
    fraction: undilated stroke pixels / region pixels;
    blob_fraction: the share of the strokes that survive a morphological opening by a disk a third of
      the text's height across: near 0 for strokes, high for solid shapes (an eye, a coin);
    method: "background", "colour", "tight", "refused" or "empty".
    """

    mask: np.ndarray
    color: tuple[int, int, int] | None
    fraction: float
    blob_fraction: float
    method: str


def segment_strokes(image: np.ndarray, region: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int] | None]:
    """The glyph strokes inside `region` (uint8 {0,1} H x W), dilated a little, and their colour
    (None when no strokes were found): `segment` without the details."""
    found = segment(image, region)
    return found.mask, found.color


def segment(image: np.ndarray, region: np.ndarray, widen: int = 0) -> StrokeMask:
    """The stroke mask of the text inside `region` (uint8 {0,1} H x W) of `image` (RGB uint8); see the
    module's notes. `widen` (pixels) grows the mask further: a retry after text was still read."""
    height, width = region.shape
    ys, xs = np.nonzero(region)
    empty = np.zeros((height, width), np.uint8)
    if len(ys) == 0:
        return StrokeMask(empty, None, 0.0, 0.0, "empty")
    extent = max(int(ys.max() - ys.min()), int(xs.max() - xs.min()), 1)
    grow = max(2, int(round(extent * 0.02)))
    ring_width = max(4, int(round(extent * 0.03)))
    margin = grow + ring_width + 2 + max(3, int(round(extent * 0.08))) + widen
    y0, y1 = max(0, ys.min() - margin), min(height, ys.max() + margin + 1)
    x0, x1 = max(0, xs.min() - margin), min(width, xs.max() + margin + 1)
    crop = image[y0:y1, x0:x1].astype(np.float32)
    short_side = _short_side(region[y0:y1, x0:x1])
    reach = max(3, int(round(short_side * 0.08)))
    inside = cv2.dilate(region[y0:y1, x0:x1], _disk(grow))
    halo = cv2.dilate(inside, _disk(reach + widen))  # shadows and glows may spill a little outside
    ring = cv2.dilate(halo, _disk(ring_width)) & (1 - halo)
    if ring.sum() < 8:  # the region fills the image: use its own border
        ring = inside - cv2.erode(inside, _disk(ring_width))
    inside_b, ring_b, halo_b = inside.astype(bool), ring.astype(bool), halo.astype(bool)
    area = max(int(inside_b.sum()), 1)

    background = _fit_background(crop, ring_b)
    distance = np.linalg.norm(crop - background, axis=2)
    ring_d = distance[ring_b]
    noise = float(np.median(ring_d)) * 1.4826 if ring_d.size else 2.0
    threshold = max(_otsu(distance[inside_b]), 3.0 * noise + 4.0, 12.0)
    strokes = (distance > threshold) & inside_b
    method = "background"
    clusters = None
    share = strokes.sum() / area
    if noise > NOISY_RING or share > 0.45 or share < MIN_BACKGROUND_FRACTION:  # busy, or found little
        clusters = _colour_clusters(crop, inside_b, ring_b)
        if clusters is not None:
            found = clusters[0].sum()
            # too much: the colours; too little: the colours when they find more; a busy ring with a
            # plausible share: the colours only when they are the tighter of the two
            if share > 0.45 or (found > strokes.sum() if share < MIN_BACKGROUND_FRACTION else found <= strokes.sum()):
                strokes, method = clusters[0], "colour"
    if strokes.sum() > MAX_CORE_FRACTION * area and clusters is not None:
        strokes, method = clusters[1], "tight"  # the single most text-like colour only
    if strokes.sum() > MAX_CORE_FRACTION * area:
        return StrokeMask(empty, None, float(strokes.sum()) / area, 1.0, "refused")
    if strokes.sum() < 4:
        return StrokeMask(empty, None, 0.0, 0.0, "empty")
    fraction = float(strokes.sum()) / area
    opened = cv2.morphologyEx(strokes.astype(np.uint8), cv2.MORPH_OPEN, _disk(max(2, int(round(short_side / 6)))))
    blob_fraction = float(opened.sum()) / float(strokes.sum())
    core = strokes & (distance > np.percentile(distance[strokes], 50))
    color = tuple(int(v) for v in np.median(crop[core if core.any() else strokes], axis=0))

    # hysteresis: fainter pixels close to the strokes (anti-aliasing, shadows, glows, outlines,
    # compression ringing) belong to the text too
    faint = distance > max(2.0 * noise + 3.0, 6.0)
    near = cv2.dilate(strokes.astype(np.uint8), _disk(reach)) > 0
    grown = strokes | (faint & near & halo_b)
    if method != "background" and grown.sum() > 1.6 * strokes.sum():
        grown = strokes  # on a busy background "faint" is the texture itself, not a shadow
    # soft edges (blurred shadows, anti-aliasing, JPEG ringing) widen with the text: 3 % of its
    # height, at least 2 px; a fixed 2 px left the tail of a large text's shadow, which inpainting
    # then spread into a readable ghost of the text
    pad = max(2, int(round(short_side * 0.03))) + widen
    dilated = cv2.dilate(grown.astype(np.uint8), _disk(pad)) & halo
    mask = empty
    mask[y0:y1, x0:x1] = dilated
    return StrokeMask(mask, color, fraction, blob_fraction, method)


def _colour_clusters(crop: np.ndarray, inside: np.ndarray, ring: np.ndarray):
    """(strokes, tightest strokes) from k-means in Lab, or None when no colour is specific to the
    region: a cluster is text when its share of the ring is under 30 % of its share inside."""
    lab = cv2.cvtColor(np.clip(crop, 0, 255).astype(np.uint8), cv2.COLOR_RGB2LAB).astype(np.float32)
    sample = lab[inside | ring]
    if len(sample) < 4 * KMEANS_K or ring.sum() < 8:
        return None
    step = max(1, len(sample) // 20000)
    cv2.setRNGSeed(0)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    _, _, centres = cv2.kmeans(sample[::step], KMEANS_K, None, criteria, 2, cv2.KMEANS_PP_CENTERS)
    labels = np.argmin(((lab[:, :, None, :] - centres[None, None]) ** 2).sum(axis=3), axis=2)
    p_in = np.bincount(labels[inside], minlength=KMEANS_K) / max(int(inside.sum()), 1)
    p_ring = np.bincount(labels[ring], minlength=KMEANS_K) / max(int(ring.sum()), 1)
    ratio = p_ring / np.maximum(p_in, 1e-6)
    text = [c for c in np.argsort(ratio) if p_in[c] >= 0.01 and ratio[c] < 0.3]
    if not text:
        return None
    chosen, total = [], 0.0
    for c in text:
        if total + p_in[c] > MAX_CORE_FRACTION and chosen:
            break
        chosen.append(c)
        total += p_in[c]
    return np.isin(labels, chosen) & inside, (labels == text[0]) & inside


def _short_side(region: np.ndarray) -> int:
    """The short side of the region's minimum-area rectangle (the text's height for a line box)."""
    points = cv2.findNonZero(region)
    (_, _), (w, h), _ = cv2.minAreaRect(points)
    return max(1, int(round(min(w, h))) + 1)


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
