"""The classic engine: no weights, CPU, fast.

- generate: draws each line onto the base image (or a plain gradient background of the requested
  size) with its font and colour, a soft shadow and an optional outline, fitted into its polygon:
  the text is laid out in the polygon's upright rectangle and warped onto the quad (vertical layout
  when the region is at least 1.5x taller than wide). Lines without a polygon are placed by
  `layout.auto.auto_layout`. Legibility: a generated background contrasts with every chosen ink
  by at least `MIN_CONTRAST` (WCAG's 4.5:1); on a base image the automatic ink is the one (dark or
  light) with the better contrast over most of the region, and wherever the region is busy (more
  than `BUSY_SHARE` of its pixels below `OUTLINE_BELOW` contrast with the ink, automatic or chosen)
  the text gets an outline in the opposite ink. A line drawn smaller than `MIN_READABLE_PX` gets a
  warning and fails its OCR check (`small_text_warnings`).
- edit: erases the text in each region with `wenchuang.removal.remove_text` (a stroke-level mask:
  the glyph strokes inside the region are segmented against a background model fitted to the
  region's surroundings, dilated a little and inpainted; inpainting the whole box would smear the
  background). Regions come from the new lines' polygons, `remove_regions`, the mask's connected
  regions, or every text box the PP-OCR detector finds (`remove_all_text`). New text is then
  drawn into each line's quad in the colour of the strokes it replaces (unless the line gives
  one), at the size of the text it replaces (`replaced_font_size`: the erased strokes' extent across
  the line, against the text read there before), never larger than fits the box.

Every result carries per-line OCR readings (`wenchuang.ocr.check_lines`). In an edit, the readings
list the new lines first, then one reading per erased region with expected text "" (passed when the
recogniser reads nothing there).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageColor, ImageDraw

from wenchuang.errors import RequestError
from wenchuang.layout.fonts import check_text, load_font
from wenchuang.layout.polygons import polygon_mask
from wenchuang.ocr import check_lines, get_detector
from wenchuang.ocr.reader import VERTICAL_RATIO, polygon_quad, quad_size, rectify_crop
from wenchuang.removal.scale import erase_text_at_scale
from wenchuang.request import DesignRequest, DesignResult, LineReading, TextLine

NAME = "classic"
ERASERS = ("opencv", "lama")  # how erased strokes are filled: OpenCV (default) or the LaMa model

# (top-left colour, bottom-right colour) of the generated backgrounds
_PALETTES = (
    ((247, 241, 229), (231, 216, 190)),  # rice paper
    ((228, 238, 230), (194, 216, 203)),  # celadon
    ((231, 236, 245), (198, 210, 231)),  # pale indigo
    ((251, 236, 226), (238, 206, 188)),  # peach
    ((242, 242, 240), (212, 212, 208)),  # stone
    ((150, 42, 34), (104, 24, 22)),  # vermilion
    ((36, 48, 84), (20, 28, 54)),  # deep indigo
    ((40, 58, 46), (22, 34, 27)),  # pine
)
_DARK_INK = (34, 30, 28)
_LIGHT_INK = (250, 247, 238)
MIN_CONTRAST = 4.5  # WCAG 2 AA for body text: a generated background against each chosen ink
OUTLINE_BELOW = 3.0  # a base-image pixel with less contrast than this against the ink hides it ...
BUSY_SHARE = 0.08  # ... and when more than this share of the region's pixels do, the text is outlined
MIN_READABLE_PX = 12  # a line's font size below this is warned about and fails its OCR check
AUTO_OUTLINE = 0.12  # the outline then drawn, as a fraction of the font size
# plain backgrounds for inks no palette contrasts with (the one with the better contrast is used)
_FALLBACK_BACKGROUNDS = (((252, 251, 248), (238, 237, 233)), ((22, 22, 24), (10, 10, 12)))


def engine_status(model: str | None = None) -> tuple[bool, str]:
    """Always ready: no weights needed."""
    return True, "ready (OpenCV rendering and inpainting, PP-OCR check; no weights needed)"


def create_engine(model: str | None = None, cpu_offload: bool | None = None, **options) -> ClassicEngine:
    """The classic engine; `model` and the model engines' `cpu_offload` are ignored. Options: see
    `ClassicEngine`."""
    return ClassicEngine(**options)


@dataclass
class TextStyle:
    """How a line is drawn: fill colour, outline (fraction of the font size, 0 = none), shadow."""

    color: tuple[int, int, int]
    stroke: float = 0.0
    stroke_color: tuple[int, int, int] = (255, 255, 255)
    shadow: bool = False
    shadow_color: tuple[int, int, int] = (0, 0, 0)


class ClassicEngine:
    """OpenCV/Pillow engine. `stroke`: outline width as a fraction of the font size for generated
    text (default 0, none); `shadow`: soft shadow under generated text (default on); `fill`: the
    fraction of the region's length the text may use (default 0.92)."""

    name = NAME

    def __init__(self, stroke: float = 0.0, shadow: bool = True, fill: float = 0.92, eraser: str = "opencv"):
        if not 0.0 <= float(stroke) <= 0.25:
            raise RequestError("stroke", f"must be between 0 and 0.25 of the font size, got {stroke}")
        if not 0.3 <= float(fill) <= 1.0:
            raise RequestError("fill", f"must be between 0.3 and 1, got {fill}")
        self.stroke = float(stroke)
        self.shadow = bool(shadow)
        self.fill = float(fill)
        if eraser not in ERASERS:
            raise RequestError("eraser", f"must be one of {', '.join(ERASERS)}, got {eraser!r}")
        self.eraser = eraser
        self.name = NAME if eraser == "opencv" else f"{NAME}-{eraser}"  # the registry's name for it

    # ------------------------------------------------------------------ generate
    def generate(self, request: DesignRequest) -> DesignResult:
        start = time.perf_counter()
        request.validate()
        if request.mode != "generate":
            raise RequestError("mode", "the generate method needs a request with mode 'generate'")
        width, height = request.canvas_size
        _check_fonts(request.lines)
        lines = _place_lines(request.lines, width, height)
        warnings: list[str] = []
        if request.prompt.strip():
            warnings.append("the classic engine draws text only; the prompt's scene is not painted")
        seeds = request.resolved_seeds()
        t_layout = time.perf_counter()

        images: list[np.ndarray] = []
        readings: list[list[LineReading]] = []
        render_s = ocr_s = 0.0
        glyphs = np.zeros((height, width), np.float32)
        for seed in seeds:
            t0 = time.perf_counter()
            if request.image is not None:
                canvas = request.image.copy()
            else:
                canvas = make_background(width, height, seed, inks=[hex_to_rgb(ln.color) for ln in lines if ln.color])
            glyphs[:] = 0
            for line in lines:
                style = self._style_for(line, canvas)
                alpha = draw_line(canvas, line.text, line.polygon, line.font, style, fill=self.fill)
                np.maximum(glyphs, alpha, out=glyphs)
            t1 = time.perf_counter()
            readings.append(check_lines(canvas, lines))
            ocr_s += time.perf_counter() - t1
            render_s += t1 - t0
            images.append(canvas)
        warnings += small_text_warnings(lines, readings, self.fill)

        return DesignResult(
            images=images,
            seeds=seeds,
            request=request,
            engine=self.name,
            readings=readings,
            debug={
                "glyphs": (glyphs * 255).astype(np.uint8),
                "positions": _positions_image([line.polygon for line in lines], width, height),
            },
            timings={
                "layout": t_layout - start,
                "render": render_s,
                "ocr": ocr_s,
                "total": time.perf_counter() - start,
            },
            warnings=warnings,
            extra={"lines": [line.to_dict() for line in lines]},
        )

    def _style_for(self, line: TextLine, canvas: np.ndarray) -> TextStyle:
        """The line's ink (chosen, or the more legible of dark and light over the region) and an
        outline in the opposite ink where the region is too busy for the ink alone."""
        pixels = _region_luminances(canvas, line.polygon)
        if line.color:
            color = hex_to_rgb(line.color)
        else:
            color = max((_DARK_INK, _LIGHT_INK), key=lambda ink: _contrast_percentile(ink, pixels))
        light_ink = _luminance(color) > 140
        stroke = self.stroke
        if len(pixels) and _hidden_share(color, pixels) > BUSY_SHARE:
            stroke = max(stroke, AUTO_OUTLINE)
        return TextStyle(
            color=color,
            stroke=stroke,
            stroke_color=_DARK_INK if light_ink else _LIGHT_INK,
            shadow=self.shadow,
            shadow_color=(0, 0, 0) if light_ink else (255, 255, 255),
        )

    # ------------------------------------------------------------------ edit
    def edit(self, request: DesignRequest) -> DesignResult:
        start = time.perf_counter()
        request.validate()
        if request.mode != "edit":
            raise RequestError("mode", "the edit method needs a request with mode 'edit'")
        image = request.image
        height, width = image.shape[:2]
        _check_fonts(request.lines)
        warnings: list[str] = []
        if request.image_count > 1:
            warnings.append("the classic engine's edit is deterministic; one image is returned")
        seeds = request.resolved_seeds()[:1]

        # regions to erase: the new lines' polygons, remove_regions, the mask, detected text
        placed = [line for line in request.lines if line.polygon is not None]
        regions: list[tuple[list, np.ndarray]] = []  # (reading polygon, region mask)
        for poly in [line.polygon for line in placed] + list(request.remove_regions):
            regions.append((poly, polygon_mask(poly, width, height)))
        if request.mask is not None:
            regions.extend(_mask_regions(np.asarray(request.mask) > 0))
        # erased, then checked: the whole image detected again (remove_all_text) and every region read
        # again; text still read is named in a warning and fails its reading
        # large text (a phone photo's) is erased on a reduced copy, pasted back (`removal.scale`)
        erasure, removal_scale = erase_text_at_scale(image, regions, find_all=request.remove_all_text, eraser=self._eraser())
        result, erase_mask = erasure.image, erasure.mask
        if request.remove_all_text and not erasure.regions:
            warnings.append("no text found: the image is unchanged")
        warnings += erasure.warnings()
        t_render = time.perf_counter()

        # new text (lines without a polygon are placed in free space, away from the remaining text)
        occupied: list = []
        if any(line.polygon is None for line in request.lines):  # keep clear of the text that remains
            occupied = [[(float(x), float(y)) for x, y in box] for box in get_detector().detect_boxes(result)]
        lines = _place_lines(request.lines, width, height, occupied=occupied)
        glyphs = np.zeros((height, width), np.float32)
        replaced = iter(erasure.regions[: len(placed)])
        sizes: list[int | None] = []  # the replaced text's font size, per line (None: fit to the box)
        for i, (original, line) in enumerate(zip(request.lines, lines)):
            region = next(replaced) if original.polygon is not None else None
            estimated = region.color if region is not None else None
            size = None
            if region is not None:  # the new line takes the angle and the size of the text it replaces
                line = lines[i] = dataclasses.replace(line, polygon=level_with_strokes(erase_mask, line.polygon))
                size = replaced_font_size(erase_mask, line.polygon, region.read_before, line.font)
            sizes.append(size)
            if line.color:
                color = hex_to_rgb(line.color)
            else:  # the replaced strokes' colour, unless the region held none that stands out
                background = _region_mean(result, line.polygon)
                legible = estimated is not None and contrast_ratio(estimated, background) >= OUTLINE_BELOW
                color = estimated if legible else _contrasting_ink(background)
            alpha = draw_line(result, line.text, line.polygon, line.font, TextStyle(color), self.fill, size)
            np.maximum(glyphs, alpha, out=glyphs)
        t_ocr = time.perf_counter()

        # read back where the text is: a line drawn at the replaced text's size may fill little of its box
        drawn = [
            dataclasses.replace(line, polygon=_drawn_polygon(line, self.fill, size)) if size else line
            for line, size in zip(lines, sizes)
        ]
        readings = check_lines(result, drawn) if lines else []
        warnings += small_text_warnings(lines, [readings], self.fill, wanted=sizes)
        for entry in erasure.regions[len(placed):]:  # "" expected: passed when nothing is read there
            read, score = entry.verdict_reading  # a leftover letter's reading when only it remains
            readings.append(LineReading("", read, round(score, 4), not entry.remains))
        for left in erasure.remaining:
            if left["region"] is None:  # text the final detection still reads outside every region
                readings.append(LineReading("", left["read"], left["score"], False))
        end = time.perf_counter()

        region_union = np.zeros((height, width), np.uint8)
        for entry in erasure.regions:
            region_union |= polygon_mask(entry.polygon, width, height)
        return DesignResult(
            images=[result],
            seeds=seeds,
            request=request,
            engine=self.name,
            readings=[readings],
            debug={
                "mask": erase_mask * 255,
                "regions": region_union * 255,
                "glyphs": (glyphs * 255).astype(np.uint8),
                "positions": _positions_image([line.polygon for line in lines], width, height),
            },
            timings={
                "detect": erasure.timings["detect"],
                "erase": erasure.timings["erase"],
                "verify": erasure.timings["verify"],
                "render": t_ocr - t_render,
                "ocr": end - t_ocr,
                "total": end - start,
            },
            warnings=warnings,
            extra={
                "lines": [line.to_dict() for line in lines],
                "erased_regions": len(erasure.regions),
                "removal": {"eraser": self.eraser, "scale": round(removal_scale, 4), **erasure.to_dict()},
            },
        )

    def _eraser(self):
        """The fill for erased strokes: None (OpenCV, `wenchuang.removal.inpaint`) or the LaMa model
        (downloaded on first use)."""
        if self.eraser == "lama":
            from wenchuang.removal.lama import get_lama  # noqa: PLC0415 - onnxruntime session, only when asked

            return get_lama()
        return None


# ---------------------------------------------------------------------- helpers: lines and fonts
def _check_fonts(lines: list[TextLine]) -> None:
    for i, line in enumerate(lines):
        check_text(line.text, line.font, field_name=f"lines[{i}].text")


def _place_lines(lines: list[TextLine], width: int, height: int, occupied=()) -> list[TextLine]:
    """Copies of the lines, every one with a polygon (auto layout for those without)."""
    copies = [dataclasses.replace(line) for line in lines]
    if all(line.polygon is not None for line in copies):
        return copies
    from wenchuang.layout.auto import auto_layout

    placed = auto_layout(copies, width, height, occupied=tuple(occupied))
    if any(line.polygon is None for line in placed):
        raise RequestError("lines", "there is no free space left to place every line; give positions")
    return [line.validate(i, width, height) for i, line in enumerate(placed)]


def hex_to_rgb(color: str) -> tuple[int, int, int]:
    r, g, b = ImageColor.getrgb(color)[:3]
    return r, g, b


def _luminance(rgb) -> float:
    r, g, b = (float(c) for c in rgb)
    return 0.299 * r + 0.587 * g + 0.114 * b


def _contrasting_ink(background_rgb) -> tuple[int, int, int]:
    return _DARK_INK if _luminance(background_rgb) >= 128 else _LIGHT_INK


def relative_luminance(rgb) -> np.ndarray | float:
    """WCAG 2 relative luminance of sRGB colours (the last axis holds R, G, B in 0-255)."""
    c = np.asarray(rgb, np.float64) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    out = linear[..., 0] * 0.2126 + linear[..., 1] * 0.7152 + linear[..., 2] * 0.0722
    return float(out) if np.ndim(out) == 0 else out


def contrast_ratio(a, b) -> np.ndarray | float:
    """WCAG 2 contrast ratio (1 to 21) between colours `a` and `b` (either may be an array of colours)."""
    la, lb = relative_luminance(a), relative_luminance(b)
    return (np.maximum(la, lb) + 0.05) / (np.minimum(la, lb) + 0.05)


def _region_luminances(image: np.ndarray, polygon) -> np.ndarray:
    """The relative luminance of every pixel of `image` inside `polygon` (1-D)."""
    mask = polygon_mask(polygon, image.shape[1], image.shape[0]) > 0
    return np.asarray(relative_luminance(image[mask]), np.float64).reshape(-1)


def _contrasts(ink, luminances: np.ndarray) -> np.ndarray:
    li = relative_luminance(ink)
    return (np.maximum(li, luminances) + 0.05) / (np.minimum(li, luminances) + 0.05)


def _contrast_percentile(ink, luminances: np.ndarray, q: float = 20.0) -> float:
    """The contrast the ink keeps against all but the worst `q` % of the region's pixels."""
    return float(np.percentile(_contrasts(ink, luminances), q)) if len(luminances) else 0.0


def _hidden_share(ink, luminances: np.ndarray) -> float:
    """The share of the region's pixels against which the ink has less than `OUTLINE_BELOW` contrast."""
    return float(np.mean(_contrasts(ink, luminances) < OUTLINE_BELOW)) if len(luminances) else 0.0


def _region_mean(image: np.ndarray, polygon) -> tuple[float, float, float]:
    mask = polygon_mask(polygon, image.shape[1], image.shape[0])
    return tuple(float(v) for v in cv2.mean(image, mask=mask)[:3])


def _positions_image(polygons, width: int, height: int) -> np.ndarray:
    out = np.zeros((height, width), np.uint8)
    for poly in polygons:
        out |= polygon_mask(poly, width, height)
    return out * 255


def _mask_regions(mask: np.ndarray) -> list[tuple[list, np.ndarray]]:
    """One region per connected part of a drawn mask, with its rotated rectangle for reading."""
    count, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    regions = []
    for label in range(1, count):
        region = (labels == label).astype(np.uint8)
        if region.sum() < 16:
            continue
        points = cv2.findNonZero(region)
        box = cv2.boxPoints(cv2.minAreaRect(points))
        regions.append(([(float(x), float(y)) for x, y in box], region))
    return regions


# ---------------------------------------------------------------------- background
def background_colors(seed_choice: int, inks=()) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """The two colours of a background: palette `seed_choice`, or when it does not contrast with
    every ink by `MIN_CONTRAST`, the next palette that does; failing all, plain paper white or
    near-black, whichever contrasts better with the inks."""
    inks = [tuple(int(c) for c in ink) for ink in inks]

    def worst(pair) -> float:
        return min((contrast_ratio(ink, end) for ink in inks for end in pair), default=21.0)

    count = len(_PALETTES)
    for step in range(count):
        pair = _PALETTES[(seed_choice + step) % count]
        if worst(pair) >= MIN_CONTRAST:
            return pair
    return max(_FALLBACK_BACKGROUNDS, key=worst)


def make_background(width: int, height: int, seed: int, inks=()) -> np.ndarray:
    """A plain two-colour gradient with a faint paper grain, chosen by the seed among the palettes
    that contrast with every ink in `inks` (RGB) by at least `MIN_CONTRAST`."""
    rng = np.random.default_rng(seed)
    pair = background_colors(int(rng.integers(len(_PALETTES))), inks)
    top, bottom = (np.asarray(c, np.float32) for c in pair)
    angle = float(rng.uniform(0, np.pi / 2))
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    t = xs / max(width - 1, 1) * np.cos(angle) + ys / max(height - 1, 1) * np.sin(angle)
    t /= max(float(t.max()), 1e-6)
    image = top[None, None, :] * (1 - t[..., None]) + bottom[None, None, :] * t[..., None]
    image += rng.normal(0, 1.2, (height, width, 1)).astype(np.float32)
    return np.clip(image + 0.5, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------- text rendering
def _font_size(
    text: str, font, width: int, height: int, vertical: bool, fill: float, stroke: float, wanted: int | None = None
) -> int:
    """The font size (pixels) of the text in an upright width x height box: the largest that fits, or
    `wanted` (the size of the text it replaces) when that fits. The largest leaves a margin above and
    below (78 % of the height); `wanted` may use the whole height: it comes from strokes that stood there."""
    if vertical:
        cell = height * fill / max(len([c for c in text if not c.isspace()]), 1)
        across, along = (1.0, 1.0) if wanted else (0.82, 0.92)  # shares of the width and of a cell
        size = int(min(width * across, cell * along) / (1 + 2 * stroke))
    else:
        left, _, right, _ = load_font(font, 100).getbbox(text)
        text_w = max(right - left, 1)
        across = 1.0 if wanted else 0.78  # share of the height
        size = int(min(height * across, 100 * fill * width / text_w) / (1 + 2 * stroke))
    return max(4, min(size, wanted) if wanted else size)


def line_font_size(line: TextLine, fill: float = 0.92, stroke: float = 0.0, wanted: int | None = None) -> int:
    """The font size (pixels) `draw_line` gives this placed line."""
    box_w, box_h = quad_size(polygon_quad(line.polygon))
    vertical = box_h >= VERTICAL_RATIO * box_w
    return _font_size(line.text, line.font, box_w, box_h, vertical, fill, stroke, wanted)


REPLACED_MIN_PIXELS = 20  # fewer erased pixels than this in a region tell nothing of the text's size
EXTENT_ROW_SHARE = 0.02  # a row (column) belongs to the text's extent when it holds this share of the fullest


def _extent_across(marked: np.ndarray, vertical: bool) -> int:
    """How far the marked pixels of an upright line reach across it: from the first to the last row (for a
    vertical line, column) holding at least `EXTENT_ROW_SHARE` of the fullest one's pixels, so that a
    stray pixel does not count and the thin tip of a stroke does."""
    counts = marked.sum(axis=0 if vertical else 1)
    held = np.nonzero(counts >= EXTENT_ROW_SHARE * counts.max())[0]
    return int(held[-1] - held[0] + 1)


LEVEL_RANGE = 8.0  # degrees either way around a box's own angle searched for its strokes' angle
LEVEL_MIN = 1.5  # a box is turned only when its strokes' angle differs from its own by this much or more


def level_with_strokes(mask: np.ndarray, polygon) -> list[tuple[float, float]]:
    """The polygon turned about its centre to the angle of the strokes it holds (a horizontal line only).

    The detector's box of a line over a busy picture can lean by several degrees (parts of the picture
    taken for text at one end); a replacement drawn into it would lean too. The strokes' angle is the one
    whose projection across the line is sharpest (baseline, x-height and cap lines pile up), searched
    within `LEVEL_RANGE` of the box's angle in half degrees. `mask` (H x W, nonzero = erased) holds them."""
    quad = polygon_quad(polygon)
    box_w, box_h = quad_size(quad)
    if box_h >= VERTICAL_RATIO * box_w:
        return list(polygon)
    height, width = mask.shape[:2]
    ys, xs = np.nonzero((mask > 0) & polygon_mask(polygon, width, height).astype(bool))
    if len(xs) < REPLACED_MIN_PIXELS:
        return list(polygon)
    top = quad[1] - quad[0]
    own = float(np.degrees(np.arctan2(top[1], top[0])))

    def sharpness(angle: float) -> float:
        theta = np.radians(angle)
        across = ys * np.cos(theta) - xs * np.sin(theta)
        profile = np.bincount((across - across.min()).astype(np.int64)).astype(np.float64)
        return float((profile**2).sum())

    angles = own + np.arange(-LEVEL_RANGE, LEVEL_RANGE + 0.25, 0.5)
    best = float(max(angles, key=sharpness))
    if abs(best - own) < LEVEL_MIN:
        return list(polygon)
    turn = np.radians(best - own)
    rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]], np.float32)
    centre = quad.mean(axis=0)
    return [(float(x), float(y)) for x, y in (quad - centre) @ rotation.T + centre]


def replaced_font_size(mask: np.ndarray, polygon, text: str, font) -> int | None:
    """The font size, in `font`, of the text `text` that was erased from `polygon`; None when unknown.

    `mask` (H x W, nonzero = erased) holds the text's strokes. Their extent across the line, in the
    polygon's upright frame (rows for a horizontal line, columns for a vertical one), is compared with
    the extent of `text` laid out as `draw_line` lays it out in `font` at 100 px. A replacement drawn at
    this size matches the text it replaces instead of filling the detector's box, which reaches well
    beyond the strokes. Shadows and anti-aliasing erased with the strokes make it a few percent larger."""
    chars = [c for c in text if not c.isspace()]
    if not chars:
        return None
    box_w, box_h = quad_size(polygon_quad(polygon))
    vertical = box_h >= VERTICAL_RATIO * box_w
    upright = rectify_crop((mask > 0).astype(np.uint8) * 255, polygon, rotate_vertical=False) >= 128
    if int(upright.sum()) < REPLACED_MIN_PIXELS:
        return None
    fill = 0.92
    if vertical:  # room for every character at 100 px
        ref_w, ref_h = 140, int(np.ceil(110 * len(chars) / fill))
    else:
        left, _, right, _ = load_font(font, 100).getbbox(text)
        ref_w, ref_h = int((right - left) / fill) + 40, 140
    reference, _, _ = _text_masks(text, font, ref_w, ref_h, vertical, fill, 0.0, wanted=100)
    return max(4, int(round(100 * _extent_across(upright, vertical) / _extent_across(reference > 0.5, vertical))))


def _drawn_polygon(line: TextLine, fill: float, wanted: int) -> list[tuple[float, float]]:
    """Where a placed line's text stands when drawn asking for font size `wanted`: the upright rectangle
    centred in its polygon around the text with the usual margin (the text's height is 78 % of the
    rectangle's, as when it fills a box; the recogniser reads text that touches a crop's edges badly),
    mapped back onto the quad. It may reach beyond the polygon when the text fills it."""
    quad = polygon_quad(line.polygon)
    box_w, box_h = quad_size(quad)
    vertical = box_h >= VERTICAL_RATIO * box_w
    size = line_font_size(line, fill, wanted=wanted)
    if vertical:  # the characters keep their cells along the line; across it, the margin of a full box
        width, height = size / 0.82, box_h
    else:
        left, _, right, _ = load_font(line.font, size).getbbox(line.text)
        width, height = right - left + 0.5 * size, size / 0.78
    x0, y0 = (box_w - width) / 2, (box_h - height) / 2
    corners = np.float32([[[x0, y0], [x0 + width, y0], [x0 + width, y0 + height], [x0, y0 + height]]])
    upright_box = np.float32([[0, 0], [box_w, 0], [box_w, box_h], [0, box_h]])
    matrix = cv2.getPerspectiveTransform(upright_box, quad)
    return [(float(x), float(y)) for x, y in cv2.perspectiveTransform(corners, matrix)[0]]


def small_text_warnings(
    lines: list[TextLine], readings: list[list[LineReading]], fill: float = 0.92, wanted=None
) -> list[str]:
    """A warning for each line drawn smaller than `MIN_READABLE_PX`; its OCR reading in every image
    is marked failed (text that small is not what the user asked for, even when OCR reads it).
    `wanted`: the size each line was asked to be drawn at (`draw_line`'s `size`), None for none."""
    out = []
    for i, line in enumerate(lines):
        size = line_font_size(line, fill, wanted=wanted[i] if wanted else None)
        if size >= MIN_READABLE_PX:
            continue
        out.append(
            f"line {i + 1} {line.text!r} is drawn {size} px high, below the {MIN_READABLE_PX} px that stays "
            "readable: give it a larger box or fewer characters"
        )
        for image_readings in readings:
            if i < len(image_readings):
                image_readings[i].passed = False
    return out


def _text_masks(text: str, font, width: int, height: int, vertical: bool, fill: float, stroke: float, wanted=None):
    """Fill and outline coverage (float32 in [0, 1], height x width) of the text laid out in an upright
    width x height box: one row centred, or (vertical) one character per cell from top to bottom."""
    chars = [c for c in text if not c.isspace()] if vertical else None
    cell = height * fill / max(len(chars), 1) if vertical else 0.0
    size = _font_size(text, font, width, height, vertical, fill, stroke, wanted)
    face = load_font(font, size)
    stroke_px = int(round(stroke * size))
    fill_img = Image.new("L", (width, height), 0)
    stroke_img = Image.new("L", (width, height), 0) if stroke_px else None
    targets = [(fill_img, 0)] + ([(stroke_img, stroke_px)] if stroke_img else [])
    for img, sw in targets:
        draw = ImageDraw.Draw(img)
        if vertical:
            top = (height - cell * len(chars)) / 2
            for i, ch in enumerate(chars):
                draw.text((width / 2, top + (i + 0.5) * cell), ch, font=face, fill=255, anchor="mm",
                          stroke_width=sw, stroke_fill=255)
        else:
            draw.text((width / 2, height / 2), text, font=face, fill=255, anchor="mm",
                      stroke_width=sw, stroke_fill=255)
    fill_a = np.asarray(fill_img, np.float32) / 255.0
    stroke_a = np.asarray(stroke_img, np.float32) / 255.0 if stroke_img else None
    return fill_a, stroke_a, size


def draw_line(
    image: np.ndarray, text: str, polygon, font, style: TextStyle, fill: float = 0.92, size: int | None = None
) -> np.ndarray:
    """Draw one line into its polygon on `image` (in place): at font size `size` (pixels) when given and
    it fits the polygon, else as large as fits (`_font_size`). Returns the text's coverage (float32 H x W in [0, 1]) for the debug glyph image."""
    height, width = image.shape[:2]
    quad = polygon_quad(polygon)
    box_w, box_h = quad_size(quad)
    vertical = box_h >= VERTICAL_RATIO * box_w
    fill_a, stroke_a, size = _text_masks(text, font, box_w, box_h, vertical, fill, style.stroke, size)

    # the shadow: the outer shape, shifted down-right and blurred, in the upright frame
    layers = [fill_a]
    if stroke_a is not None:
        layers.append(stroke_a)
    if style.shadow:
        outer = stroke_a if stroke_a is not None else fill_a
        shift = max(1.0, size * 0.05)
        matrix = np.float32([[1, 0, shift], [0, 1, shift]])
        shadow = cv2.warpAffine(outer, matrix, (box_w, box_h))
        shadow = cv2.GaussianBlur(shadow, (0, 0), max(0.8, size * 0.04)) * 0.55
        layers.append(shadow)

    # warp every layer from the upright box onto the quad, inside the quad's bounding box only
    x0, y0, bw, bh = cv2.boundingRect(np.round(quad).astype(np.int32))
    pad = 2
    x0, y0 = max(0, x0 - pad), max(0, y0 - pad)
    x1, y1 = min(width, x0 + bw + 2 * pad), min(height, y0 + bh + 2 * pad)
    source = np.float32([[0, 0], [box_w, 0], [box_w, box_h], [0, box_h]])
    target = quad - np.float32([x0, y0])
    matrix = cv2.getPerspectiveTransform(source, target)
    stack = np.dstack(layers) if len(layers) > 1 else layers[0]
    warped = cv2.warpPerspective(stack, matrix, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR)
    warped = warped.reshape(y1 - y0, x1 - x0, -1)

    region = image[y0:y1, x0:x1].astype(np.float32)
    index = len(layers) - 1
    if style.shadow:
        region = _blend(region, warped[..., index], style.shadow_color)
        index -= 1
    if stroke_a is not None:
        region = _blend(region, warped[..., 1], style.stroke_color)
    region = _blend(region, warped[..., 0], style.color)
    image[y0:y1, x0:x1] = np.clip(region + 0.5, 0, 255).astype(np.uint8)

    coverage = np.zeros((height, width), np.float32)
    coverage[y0:y1, x0:x1] = warped[..., 0]
    return coverage


def _blend(region: np.ndarray, alpha: np.ndarray, color) -> np.ndarray:
    a = np.clip(alpha, 0, 1)[..., None]
    return region * (1 - a) + np.asarray(color, np.float32)[None, None, :] * a
