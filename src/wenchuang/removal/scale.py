"""Removal at a working scale: large text is erased on a reduced copy and pasted back.

The removal's rules (stroke widths, soft edges, windows along a line, the 2 px bands) were built and
measured on pictures whose text boxes are 30-250 px tall, and they hold there (docs/removal.md). A
phone photo's text can be 300-700 px tall; erased at that size the same picture went wrong (coffee's
lines upscaled 8x: text left readable) and slow (almost 6 minutes for a 4000 x 4000 image instead of
about 2 s). `erase_text_at_scale` measures the text boxes (the regions given, and with `find_all`
what the detector finds), and when the tallest is taller than `MAX_BOX` works on a copy reduced until
it is `MAX_BOX` tall, never making the shortest shorter than `MIN_BOX` (small text beside large text
keeps being found). The text's sharpness counts too: the rules' pixel counts (a 2 px soft edge, the
first edge pixel) assume edges as sharp as rendered text's, and a picture whose text edges are soft
(an enlarged picture, most phone photos at full size) is reduced until they are that sharp again
(`edge_width`: the benchmark's scenes enlarged 2x came back at 2x the sharp width and were erased
at full size, "HERITAGE 1905" 10.6 dB below the exact-mask baseline). For "remove all text", a box that
would be tiny at the large text's scale (a name tag beside a headline) no longer keeps the whole picture
at full size: the large text is erased reduced, then a second pass at full size erases what is still
found (`split_scale`). A picture no longer than `MEASURED_SIDE` (the sizes the rules were measured at) is
erased as it is, so the detection that measures the boxes for "remove all text" (the erasure's own runs
again) is paid only on larger pictures. The erased copy is pasted back into the original with
`images.paste_back` (every pixel the removal did not change stays exactly the original's), the mask is
enlarged and every polygon of the report scaled back, so callers see one `Erasure` at the original's size.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from wenchuang.images import paste_back, resize_image
from wenchuang.layout.polygons import scale_polygon
from wenchuang.ocr import get_detector
from wenchuang.ocr.reader import line_height
from wenchuang.removal.verified import Erasure, erase_text, read_back, still_read

MAX_BOX = 100  # px: a text box taller than this (its short side) is erased on a reduced copy ...
MIN_BOX = 40  # ... but never so reduced that the shortest box gets shorter than this
MIN_REDUCTION = 0.9  # a scale above this is not worth a copy: the removal runs on the original
SPLIT_BOX = 20  # px: a box this short at the large text's scale may not be found there: erased apart, at full size
MEASURED_SIDE = 640  # px: a picture no longer than this is erased as it is (the benchmark's pictures, 384-640 px)
SHARP_EDGE = 2.05  # px: `edge_width` of rendered text (the benchmark's 512² scenes: 1.9-2.4, median 2.05)
SOBEL_WIDTH = 1.0  # px of that width that the measuring gradient adds (measured: enlarged 2x 3.0, 3x 4.0)
EDGE_CONTRAST = 30.0  # grey levels across an edge, at least, for it to be measured
EDGE_WINDOW = 11  # px: the neighbourhood an edge's two sides are taken from
EDGE_TOP = 97.0  # percentile: the box's steepest pixels, its text's edges


def edge_width(image: np.ndarray, boxes) -> float | None:
    """How soft the text's edges are, in pixels: for each box, the median over its steepest pixels of
    (the contrast across the edge) / (the steepest slope), and the sharpest box's value (reducing the
    picture for a soft shadow beside a sharp line would lose the line). About `SHARP_EDGE` for rendered
    text, more for an enlarged or blurred picture; None when no box has edges to measure."""
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    gray = gray.astype(np.float32)
    height, width = gray.shape
    window = np.ones((EDGE_WINDOW, EDGE_WINDOW), np.uint8)
    widths = []
    for box in boxes:
        x, y, w, h = cv2.boundingRect(np.round(np.asarray(box, np.float32)).astype(np.int32))
        x0, y0, x1, y1 = max(0, x), max(0, y), min(width, x + w), min(height, y + h)
        if x1 - x0 < EDGE_WINDOW or y1 - y0 < EDGE_WINDOW:
            continue
        crop = gray[y0:y1, x0:x1]
        # per-pixel slope in grey levels per pixel (the 3x3 Sobel's weights sum to 8)
        slope = np.hypot(cv2.Sobel(crop, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(crop, cv2.CV_32F, 0, 1, ksize=3)) / 8
        contrast = cv2.dilate(crop, window) - cv2.erode(crop, window)
        steep = (slope >= np.percentile(slope, EDGE_TOP)) & (contrast >= EDGE_CONTRAST)
        if steep.sum() >= 20:
            widths.append(float(np.median(contrast[steep] / np.maximum(slope[steep], 1e-3))))
    return min(widths) if widths else None


def _free_scale(heights: list[float], edge: float | None) -> float:
    """The scale that brings the tallest box to `MAX_BOX` and soft edges to `SHARP_EDGE` (at most 1)."""
    scale = min(1.0, MAX_BOX / max(heights))
    if edge is not None and edge > SHARP_EDGE:
        scale = min(scale, (SHARP_EDGE - SOBEL_WIDTH) / (edge - SOBEL_WIDTH))
    return scale


def working_scale(heights: list[float], edge: float | None = None) -> float:
    """The scale to erase text boxes this tall at (short sides in pixels) whose edges are `edge` px
    soft (`edge_width`; None: not measured): 1, or smaller so that the tallest is `MAX_BOX` and soft
    edges are as sharp as `SHARP_EDGE`, while the shortest box stays at least `MIN_BOX`."""
    heights = [h for h in heights if h > 0]
    if not heights:
        return 1.0
    scale = max(_free_scale(heights, edge), MIN_BOX / min(heights))
    return 1.0 if scale > MIN_REDUCTION else scale


def split_scale(heights: list[float], edge: float | None = None) -> float:
    """For "remove all text" when small text is found beside large text: the scale to erase the large
    boxes at (the small ones, which would be under `SPLIT_BOX` there, are left to a second pass at full
    size); 1.0 when one scale suits every box (`working_scale`) or nothing is worth reducing."""
    heights = [h for h in heights if h > 0]
    if not heights:
        return 1.0
    free = _free_scale(heights, edge)
    large = [h for h in heights if h * free >= SPLIT_BOX]
    if not large or len(large) == len(heights):
        return 1.0
    scale = working_scale(large, edge)
    return scale if scale < working_scale(heights, edge) else 1.0


def erase_text_at_scale(
    image: np.ndarray, regions: list[tuple[list, np.ndarray]] = (), *, find_all: bool = False, eraser=None
) -> tuple[Erasure, float]:
    """`erase_text` (same arguments), run on a reduced copy when the text is large (`working_scale`);
    the erasure at the original's size and the scale it was worked at (1.0: on the original).

    With `find_all` and no regions given, small text found beside large text does not keep the large
    text at full size (`split_scale`): the large text is erased on the reduced copy, then what is still
    found is erased at full size, and the two erasures are reported as one."""
    if max(image.shape[:2]) <= MEASURED_SIDE:
        return erase_text(image, list(regions), find_all=find_all, eraser=eraser), 1.0
    boxes = [polygon for polygon, _ in regions]
    if find_all:
        boxes += list(get_detector().detect_boxes(image))
    heights, edge = [line_height(box) for box in boxes], edge_width(image, boxes)
    split = split_scale(heights, edge) if find_all and not regions else 1.0
    if split < 1.0:
        large = _erase_reduced(image, [], split, find_all=True, eraser=eraser)
        return _joined(large, erase_text(large.image, [], find_all=True, eraser=eraser)), split
    scale = working_scale(heights, edge)
    if scale >= 1.0:
        return erase_text(image, list(regions), find_all=find_all, eraser=eraser), 1.0
    return _erase_reduced(image, regions, scale, find_all=find_all, eraser=eraser), scale


def _joined(first: Erasure, second: Erasure) -> Erasure:
    """Two erasures one after the other (`second` made on `first.image`) as one: its image, both masks,
    both passes' regions and rejections, and what is still readable at the end. The first's regions are
    read again on the final image (the second pass may have erased what the first left), so no region
    reports text that is no longer there."""
    offset = len(first.regions)
    timings = dict(first.timings)
    for key, value in second.timings.items():
        timings[key] = timings.get(key, 0.0) + value
    remaining = [
        {**d, "region": None if d.get("region") is None else d["region"] + offset} for d in second.remaining
    ]
    stale = [(index, region) for index, region in enumerate(first.regions) if region.remains]
    read_back(second.image, [region for _, region in stale])
    remaining += [found for index, region in stale for found in still_read(region, index)]
    return Erasure(
        image=second.image,
        mask=np.maximum(first.mask, second.mask),
        regions=[*first.regions, *second.regions],
        rejected=[*first.rejected, *second.rejected],
        remaining=remaining,
        passes=first.passes + second.passes,
        timings=timings,
    )


def _erase_reduced(image, regions, scale: float, *, find_all: bool, eraser) -> Erasure:
    """`erase_text` on a copy reduced by `scale`, pasted back and reported at the original's size."""
    height, width = image.shape[:2]
    small_w, small_h = max(1, round(width * scale)), max(1, round(height * scale))
    sx, sy = small_w / width, small_h / height
    small = resize_image(image, (small_w, small_h))
    small_regions = [
        # area-averaged, so a thin stroke of a drawn mask is kept rather than dropped between samples
        (scale_polygon(polygon, sx, sy), (cv2.resize(mask.astype(np.float32), (small_w, small_h), interpolation=cv2.INTER_AREA) > 0).astype(np.uint8))
        for polygon, mask in regions
    ]
    erasure = erase_text(small, small_regions, find_all=find_all, eraser=eraser)

    def back(polygon):
        return scale_polygon(polygon, 1 / sx, 1 / sy)

    def back_entry(entry: dict) -> dict:
        return {**entry, "polygon": back(entry["polygon"])} if entry.get("polygon") is not None else dict(entry)

    full = dataclasses.replace(
        erasure,
        image=paste_back(image, small, erasure.image),
        mask=cv2.resize(erasure.mask, (width, height), interpolation=cv2.INTER_NEAREST),
        regions=[
            dataclasses.replace(
                r,
                polygon=back(r.polygon),
                leftovers=[back_entry(d) for d in r.leftovers],
                in_picture=[back_entry(d) for d in r.in_picture],
            )
            for r in erasure.regions
        ],
        rejected=[dataclasses.replace(c, polygon=back(c.polygon), strokes=None, region=None) for c in erasure.rejected],
        remaining=[back_entry(d) for d in erasure.remaining],
    )
    return full
