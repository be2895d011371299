"""Where a design lands on a product, and what that does to its text lines.

Coordinates: a design's pixels (its lines' polygons are in the frame of the metadata's ``size``);
the product in millimetres from the trim's top-left corner (the bleed lies at negative values and
past the trim size). ``cover`` scales the design to fill the trim plus bleed and crops the rest,
centring the crop on the design's text lines when it has any (when they do not all fit, the crop
keeps as much text as it can, the larger lines first); ``contain`` fits the whole design inside
the trim and fills the rest with the colour of the design's border.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from wenchuang.images import load_image
from wenchuang.products.catalog import DPI_RANGE, MAX_BLEED_MM, Product, ProductError

FITS = ("cover", "contain")
MIN_GOOD_DPI = 150  # below this a print looks soft: say so
MAX_OUTPUT_PIXELS = 150_000_000  # the print canvas (A3 with bleed at 600 DPI is 73 MP)
MM_PER_INCH = 25.4
HOLE_CLEARANCE_MM = 2.0  # text closer than this to a hole's edge is warned about
_EDGE_SAMPLES = 24  # points checked along each side of a line's polygon


@dataclass
class DesignLine:
    text: str
    polygon: np.ndarray  # N x 2, design pixels


@dataclass
class Design:
    """An image with the text lines its metadata names (none when there is no metadata)."""

    image: np.ndarray  # H x W x 3 uint8 RGB
    lines: list[DesignLine] = field(default_factory=list)
    name: str = "design"
    notes: list[str] = field(default_factory=list)  # e.g. metadata that could not be used

    @property
    def size(self) -> tuple[int, int]:
        return int(self.image.shape[1]), int(self.image.shape[0])


def lines_from_metadata(meta: dict[str, Any], image_size: tuple[int, int]) -> list[DesignLine]:
    """The placed lines of a gallery/CLI metadata record (``extra.lines``, else ``request.lines``),
    scaled from the record's ``size`` to `image_size` when they differ. Lines without a polygon
    are skipped."""
    extra = meta.get("extra") if isinstance(meta.get("extra"), dict) else {}
    raw = extra.get("lines")
    if not isinstance(raw, list) or not raw:
        request = meta.get("request") if isinstance(meta.get("request"), dict) else {}
        raw = request.get("lines") if isinstance(request.get("lines"), list) else []
    frame = meta.get("size")
    sx = sy = 1.0
    if (
        isinstance(frame, list)
        and len(frame) == 2
        and all(isinstance(v, (int, float)) and v > 0 for v in frame)
    ):
        sx, sy = image_size[0] / float(frame[0]), image_size[1] / float(frame[1])
    lines = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            continue
        try:
            poly = np.asarray(item.get("polygon"), dtype=np.float64)
        except (TypeError, ValueError):
            continue
        if poly.ndim != 2 or poly.shape[1] != 2 or len(poly) < 3 or not np.isfinite(poly).all():
            continue
        lines.append(DesignLine(item["text"], poly * np.array([sx, sy])))
    return lines


def load_design(path: str | Path, metadata: dict[str, Any] | None = None) -> Design:
    """Read an image (checked by `load_image`) and the metadata JSON beside it (NAME.json), or the
    `metadata` given. Unusable metadata is a note, not an error: the design still prints."""
    path = Path(path)
    image = load_image(path, what=f"image {path.name!r}")
    design = Design(image=image, name=path.stem)
    if metadata is None:
        meta_path = path.with_suffix(".json")
        if meta_path.is_file():
            try:
                metadata = json.loads(meta_path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                design.notes.append(f"{meta_path.name} ignored: not readable JSON ({exc})")
    if isinstance(metadata, dict):
        design.lines = lines_from_metadata(metadata, design.size)
    return design


def check_dpi(dpi: Any) -> int:
    if isinstance(dpi, bool) or not isinstance(dpi, int) or not DPI_RANGE[0] <= dpi <= DPI_RANGE[1]:
        raise ProductError(
            f"dpi: {dpi!r} is out of range; give a whole number from {DPI_RANGE[0]} to {DPI_RANGE[1]}"
        )
    return dpi


def check_bleed(bleed_mm: Any) -> float:
    if isinstance(bleed_mm, bool) or not isinstance(bleed_mm, (int, float)) or not math.isfinite(bleed_mm):
        raise ProductError(f"bleed: {bleed_mm!r} is not a number of millimetres")
    if not 0 <= bleed_mm <= MAX_BLEED_MM:
        raise ProductError(f"bleed: {bleed_mm:g} mm is out of range; give 0 to {MAX_BLEED_MM:g} mm")
    return float(bleed_mm)


def pixels_for(mm: float, dpi: int) -> int:
    """Whole pixels covering `mm` at `dpi`, rounded up so the effective resolution is never below it."""
    return max(1, math.ceil(mm / MM_PER_INCH * dpi - 1e-6))


@dataclass
class Placement:
    product: Product
    dpi: int
    bleed_mm: float
    fit: str
    design_size: tuple[int, int]
    mm_per_px: float  # product millimetres per design pixel
    origin_mm: tuple[float, float]  # where the design's pixel (0, 0) lands, trim-relative mm
    background: tuple[int, int, int]  # fills what the design does not cover (contain)

    @property
    def canvas_mm(self) -> tuple[float, float]:
        return self.product.width_mm + 2 * self.bleed_mm, self.product.height_mm + 2 * self.bleed_mm

    @property
    def canvas_px(self) -> tuple[int, int]:
        w, h = self.canvas_mm
        return pixels_for(w, self.dpi), pixels_for(h, self.dpi)

    @property
    def effective_dpi(self) -> float:
        """Design pixels per printed inch."""
        return MM_PER_INCH / self.mm_per_px

    def to_mm(self, points: np.ndarray) -> np.ndarray:
        """Design pixels -> trim-relative millimetres."""
        return np.asarray(points, dtype=np.float64) * self.mm_per_px + np.array(self.origin_mm)

    def source_box(self) -> tuple[float, float, float, float]:
        """The part of the design (pixels) that covers the canvas, for a cropping resize."""
        w, h = self.canvas_mm
        x0 = (-self.bleed_mm - self.origin_mm[0]) / self.mm_per_px
        y0 = (-self.bleed_mm - self.origin_mm[1]) / self.mm_per_px
        return x0, y0, x0 + w / self.mm_per_px, y0 + h / self.mm_per_px


def border_colour(image: np.ndarray) -> tuple[int, int, int]:
    strip = max(1, min(image.shape[:2]) // 50)
    border = np.concatenate(
        [
            image[:strip].reshape(-1, 3),
            image[-strip:].reshape(-1, 3),
            image[:, :strip].reshape(-1, 3),
            image[:, -strip:].reshape(-1, 3),
        ]
    )
    return tuple(int(v) for v in np.median(border, axis=0))


def place(design: Design, product: Product, *, dpi: int, bleed_mm: float, fit: str = "cover") -> Placement:
    """Scale and position the design on the product (see the module doc). Checks the options."""
    dpi = check_dpi(dpi)
    bleed_mm = check_bleed(bleed_mm)
    if fit not in FITS:
        raise ProductError(f"fit: {fit!r} is not one of {', '.join(FITS)}")
    iw, ih = design.size
    W, H = product.width_mm, product.height_mm
    cw, ch = W + 2 * bleed_mm, H + 2 * bleed_mm
    total = pixels_for(cw, dpi) * pixels_for(ch, dpi)
    if total > MAX_OUTPUT_PIXELS:
        raise ProductError(
            f"dpi: {product.name} at {dpi} DPI is {pixels_for(cw, dpi)} x {pixels_for(ch, dpi)} = {total} pixels; "
            f"at most {MAX_OUTPUT_PIXELS}: give a lower --dpi"
        )
    if fit == "contain":
        scale = min(W / iw, H / ih)
        origin = ((W - iw * scale) / 2, (H - ih * scale) / 2)
        return Placement(product, dpi, bleed_mm, fit, (iw, ih), scale, origin, border_colour(design.image))
    scale = max(cw / iw, ch / ih)
    win_w, win_h = cw / scale, ch / scale  # the visible window, design pixels
    x0, y0 = _window(design, (win_w, win_h), (bleed_mm + product.safe_mm) / scale)
    origin = (-bleed_mm - x0 * scale, -bleed_mm - y0 * scale)
    return Placement(product, dpi, bleed_mm, fit, (iw, ih), scale, origin, (255, 255, 255))


def _window(design: Design, size: tuple[float, float], inset: float) -> tuple[float, float]:
    """Top-left of the crop window (design pixels): centred on the text lines' box when they fit,
    else where the most text lies in the safe area (the window less `inset` pixels on each side;
    each line weighted by its area), nearest that centre."""
    iw, ih = design.size
    win_w, win_h = size
    inset = min(inset, win_w / 2 - 1e-6, win_h / 2 - 1e-6)
    if not design.lines:
        return (iw - win_w) / 2, (ih - win_h) / 2
    boxes = np.array([[*line.polygon.min(axis=0), *line.polygon.max(axis=0)] for line in design.lines])
    lo, hi = boxes[:, :2].min(axis=0), boxes[:, 2:].max(axis=0)
    centre = (lo + hi) / 2

    def candidates(axis: int, win: float, full: float) -> list[float]:
        values = [centre[axis] - win / 2]
        for box in boxes:
            values += [(box[axis] + box[axis + 2] - win) / 2, box[axis] - inset, box[axis + 2] - win + inset]
        return sorted({min(max(v, 0.0), full - win) for v in values})

    areas = np.maximum(boxes[:, 2] - boxes[:, 0], 1e-6) * np.maximum(boxes[:, 3] - boxes[:, 1], 1e-6)
    best, best_key = None, None
    for x0 in candidates(0, win_w, iw):
        for y0 in candidates(1, win_h, ih):
            ix = np.clip(
                np.minimum(boxes[:, 2], x0 + win_w - inset) - np.maximum(boxes[:, 0], x0 + inset), 0, None
            )
            iy = np.clip(
                np.minimum(boxes[:, 3], y0 + win_h - inset) - np.maximum(boxes[:, 1], y0 + inset), 0, None
            )
            overlap = ix * iy
            kept = overlap > 0
            # among equally good windows, the one centred on the lines it keeps
            focus = (boxes[kept, :2].min(axis=0) + boxes[kept, 2:].max(axis=0)) / 2 if kept.any() else centre
            shift = float(np.hypot(x0 + win_w / 2 - focus[0], y0 + win_h / 2 - focus[1]))
            key = (round(float(overlap.sum()) / float(areas.sum()), 6), -shift)
            if best_key is None or key > best_key:
                best, best_key = (x0, y0), key
    return best


def _densify(poly: np.ndarray) -> np.ndarray:
    """Points along every side of a closed polygon (its corners included)."""
    t = np.linspace(0.0, 1.0, _EDGE_SAMPLES, endpoint=False)[:, None]
    nxt = np.roll(poly, -1, axis=0)
    return np.concatenate([a + t * (b - a) for a, b in zip(poly, nxt)])


def _inside(poly: np.ndarray, x: float, y: float) -> bool:
    inside = False
    n = len(poly)
    for i in range(n):
        (x1, y1), (x2, y2) = poly[i], poly[(i + 1) % n]
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def _outside_rounded_rect(
    pts: np.ndarray, x0: float, y0: float, x1: float, y1: float, r: float
) -> np.ndarray:
    """Which points lie outside the rectangle [x0, x1] x [y0, y1] with corners rounded by r."""
    out = (pts[:, 0] < x0) | (pts[:, 0] > x1) | (pts[:, 1] < y0) | (pts[:, 1] > y1)
    if r > 0:
        cx = np.clip(pts[:, 0], x0 + r, x1 - r)
        cy = np.clip(pts[:, 1], y0 + r, y1 - r)
        out |= np.hypot(pts[:, 0] - cx, pts[:, 1] - cy) > r + 1e-9
    return out


def line_warnings(design: Design, placement: Placement) -> list[str]:
    """One warning per text line that is cut off, cut by the shape (corners, holes) or comes within
    the safe margin; each names the line by number and text."""
    product = placement.product
    W, H = product.width_mm, product.height_mm
    safe, r = product.safe_mm, product.corner_radius_mm
    warnings = []
    for number, line in enumerate(design.lines, 1):
        poly = placement.to_mm(line.polygon)
        pts = _densify(poly)
        name = f'line {number} "{line.text}"'
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        if hi[0] <= 0 or hi[1] <= 0 or lo[0] >= W or lo[1] >= H:
            warnings.append(f"{name} falls outside the {product.name}'s trim: it is cropped away")
            continue
        edges = {"left": lo[0], "top": lo[1], "right": W - hi[0], "bottom": H - hi[1]}
        nearest = min(edges, key=edges.get)
        if edges[nearest] < 0:
            warnings.append(
                f"{name} is cut at the {product.name}'s {nearest} edge ({-edges[nearest]:.1f} mm past the trim)"
            )
        elif _outside_rounded_rect(pts, 0, 0, W, H, r).any():
            warnings.append(f"{name} is cut by the {product.name}'s rounded corner ({r:g} mm radius)")
        elif (
            edges[nearest] < safe
            or _outside_rounded_rect(pts, safe, safe, W - safe, H - safe, max(r - safe, 0)).any()
        ):
            warnings.append(
                f"{name} is outside the safe area: {edges[nearest]:.1f} mm from the {product.name}'s "
                f"{nearest} edge (keep text {safe:g} mm inside the trim)"
            )
        for hole in product.holes:
            gap = float(np.min(np.hypot(pts[:, 0] - hole.x_mm, pts[:, 1] - hole.y_mm))) - hole.radius_mm
            if _inside(poly, hole.x_mm, hole.y_mm) or gap < 0:
                warnings.append(f"{name} is cut by the {product.name}'s {hole.diameter_mm:g} mm hole")
            elif gap < HOLE_CLEARANCE_MM:
                warnings.append(
                    f"{name} comes within {gap:.1f} mm of the {product.name}'s hole "
                    f"(keep {HOLE_CLEARANCE_MM:g} mm clear)"
                )
    return warnings


def resolution_warning(placement: Placement) -> str | None:
    eff = placement.effective_dpi
    if eff >= MIN_GOOD_DPI:
        return None
    need_w = math.ceil(placement.design_size[0] * MIN_GOOD_DPI / eff)
    need_h = math.ceil(placement.design_size[1] * MIN_GOOD_DPI / eff)
    return (
        f"the design gives only {eff:.0f} DPI on the {placement.product.name} (below {MIN_GOOD_DPI}): "
        f"resampled with Lanczos to {placement.dpi} DPI, so it may print soft; "
        f"a {need_w} x {need_h} px design would give {MIN_GOOD_DPI} DPI"
    )
