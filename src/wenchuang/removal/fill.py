"""Filling erased pixels from their surroundings: one connected area at a time, the method chosen by
the area's thickness.

- thin areas (no pixel further than `THIN_RADIUS` from the area's edge: strokes of ordinary text)
  are filled by OpenCV's Telea inpainting, which is exact on smooth backgrounds and, on textured ones,
  the best guess in the least-squares sense (what PSNR measures);
- thick areas (large, bold text; a widened retry mask) are filled by "structure + texture": Telea
  fills a low-pass copy of the image (the structure), and the high-pass detail (grain, fur, bark) is
  copied from the nearby offset whose detail best matches the area's surroundings (an exemplar
  fill). Diffusion alone leaves a flat, blurred patch there that reads as a smudge.

`benchmarks/removal.py` measures both (docs/removal.md says why the thresholds are where they are).
"""

from __future__ import annotations

import cv2
import numpy as np

from wenchuang.removal.strokes import _disk

__all__ = ["INPAINT_RADIUS", "THIN_RADIUS", "inpaint"]

INPAINT_RADIUS = 4  # pixels; Telea's neighbourhood
THIN_RADIUS = 6  # an area whose distance transform never exceeds this is filled by Telea alone
DETAIL_SIGMA = 2.0  # the structure / texture split (Gaussian sigma of the low-pass)


def inpaint(image: np.ndarray, mask: np.ndarray, radius: int = INPAINT_RADIUS, texture: bool = True) -> np.ndarray:
    """Fill the masked pixels (uint8 {0,1} H x W) of `image` (RGB uint8). Returns a new image; pixels
    outside the mask keep their values exactly. `texture=False`: Telea everywhere."""
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
        window, sub = out[y0:y1, x0:x1], mask[y0:y1, x0:x1]
        thick = texture and float(cv2.distanceTransform(sub, cv2.DIST_L2, 3).max()) > THIN_RADIUS
        if thick:
            patch = _structure_and_texture(out, mask, (x0, y0, x1, y1), radius)
        else:
            patch = cv2.inpaint(window, sub, radius, cv2.INPAINT_TELEA)
        keep = sub.astype(bool)
        out[y0:y1, x0:x1][keep] = patch[keep]
    return out


def _structure_and_texture(image: np.ndarray, mask: np.ndarray, box, radius: int) -> np.ndarray:
    """The window `box` (x0, y0, x1, y1) filled: Telea on the low-pass image plus the high-pass detail
    of the best-matching nearby offset (valid pixels only, not masked, inside the image)."""
    x0, y0, x1, y1 = box
    height, width = mask.shape
    w, h = x1 - x0, y1 - y0
    # a search area around the window: offsets up to the window's size in each direction
    sx0, sy0 = max(0, x0 - w), max(0, y0 - h)
    sx1, sy1 = min(width, x1 + w), min(height, y1 + h)
    area = image[sy0:sy1, sx0:sx1].astype(np.float32)
    valid = 1.0 - mask[sy0:sy1, sx0:sx1].astype(np.float32)
    # low-pass that ignores the masked pixels (normalised convolution), so text does not leak into it
    weight = cv2.GaussianBlur(valid, (0, 0), DETAIL_SIGMA)
    low = cv2.GaussianBlur(area * valid[..., None], (0, 0), DETAIL_SIGMA) / np.maximum(weight, 1e-3)[..., None]
    detail = (area - low) * valid[..., None]

    wx0, wy0 = x0 - sx0, y0 - sy0
    hole = mask[y0:y1, x0:x1]
    band = (cv2.dilate(hole, _disk(radius + 2)) > 0) & (hole == 0)
    target = detail[wy0:wy0 + h, wx0:wx0 + w]
    best, best_cost = None, np.inf
    step = max(2, min(w, h) // 8)
    for dy in range(-wy0, (sy1 - sy0) - h - wy0 + 1, step):
        for dx in range(-wx0, (sx1 - sx0) - w - wx0 + 1, step):
            if abs(dx) < w // 2 and abs(dy) < h // 2:
                continue  # overlaps the hole itself
            cy, cx = wy0 + dy, wx0 + dx
            if valid[cy:cy + h, cx:cx + w][hole.astype(bool)].min() < 1.0:
                continue  # the source holds erased pixels
            candidate = detail[cy:cy + h, cx:cx + w]
            cost = float(((candidate - target)[band] ** 2).mean()) if band.any() else 0.0
            if cost < best_cost:
                best, best_cost = (cy, cx), cost
    low_u8 = np.clip(low[wy0:wy0 + h, wx0:wx0 + w] + 0.5, 0, 255).astype(np.uint8)
    structure = cv2.inpaint(low_u8, hole, radius, cv2.INPAINT_TELEA).astype(np.float32)
    if best is None:
        return cv2.inpaint(image[y0:y1, x0:x1], hole, radius, cv2.INPAINT_TELEA)
    cy, cx = best
    return np.clip(structure + detail[cy:cy + h, cx:cx + w] + 0.5, 0, 255).astype(np.uint8)
