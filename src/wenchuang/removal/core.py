"""`remove_text(image, regions)`: segment the strokes of each region, fill them."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from wenchuang.removal.fill import inpaint
from wenchuang.removal.strokes import StrokeMask, segment

__all__ = ["Eraser", "TextRemoval", "remove_text"]

# fills the masked pixels (uint8 {0,1} H x W) of an RGB uint8 image; returns a new image in which
# only masked pixels differ: `wenchuang.removal.fill.inpaint` or a `LamaEraser`
Eraser = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass
class TextRemoval:
    """What `remove_text` did.

    image: the result (a new H x W x 3 uint8 array; the input is left untouched);
    mask: the erased pixels, uint8 {0, 1} H x W (the union of every region's stroke mask);
    colors: per region, the (r, g, b) colour of its strokes, or None where it held no strokes;
    strokes: per region, its `StrokeMask` (mask, fraction, method: "refused" where the mask would
      have covered more than text can, and nothing was erased there);
    timings: seconds spent in "segment" and "inpaint".
    """

    image: np.ndarray
    mask: np.ndarray
    colors: list[tuple[int, int, int] | None]
    strokes: list[StrokeMask] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def remove_text(
    image: np.ndarray, regions: Iterable[np.ndarray], eraser: Eraser | None = None, widen: int = 0
) -> TextRemoval:
    """Erase the text strokes inside each region (uint8 {0, 1} H x W masks) of `image` (RGB uint8).
    `eraser` fills the stroke mask (default: `inpaint`); `widen` grows every mask by that many pixels."""
    height, width = image.shape[:2]
    start = time.perf_counter()
    mask = np.zeros((height, width), np.uint8)
    found: list[StrokeMask] = []
    for region in regions:
        strokes = segment(image, region, widen=widen)
        mask |= strokes.mask
        found.append(strokes)
    segmented = time.perf_counter()
    result = (eraser or inpaint)(image, mask) if mask.any() else image.copy()
    timings = {"segment": segmented - start, "inpaint": time.perf_counter() - segmented}
    return TextRemoval(result, mask, [s.color for s in found], found, timings)
