"""Glyph images compatible with the official AnyText preprocessing (no torch here).

Per text line AnyText needs three images, all exact 0/1 masks:

- the glyph line (`draw_glyph_line`, official ``draw_glyph``): the text alone, 80 x 512, fitted to
  90 % of the box, read by the OCR model of the text-embedding module;
- the glyph canvas (`draw_glyph_canvas`, official ``draw_glyph2``): the text drawn at `scale` x the
  image size, fitted into the polygon's minimum-area rectangle and rotated with it; a region within
  10 degrees of upright whose bounding box is at least as tall as wide gets vertical text (one
  character under the other); the final conversion to 1 bit dithers the anti-aliased edges;
- the position image (`draw_position`): the polygon filled.

`build_text_conditions` renders all of them for a set of lines, plus the hint (the union of the
positions). Fonts are loaded once per (font, size) through `layout.fonts.load_font` (cached).

The official code expects Arial Unicode at size 60; any font works here (``font=None`` is the
registry default). The reference data in ``tests/golden`` was rendered with WenQuanYi Zen Hei.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from wenchuang.errors import RequestError
from wenchuang.layout.fonts import FontSpec, load_font, resolve_font
from wenchuang.layout.polygons import cv_points, fill_polygon, min_area_rect, polygon_mask, scale_polygon

FONT_SIZE = 60  # the official glyph font size
GLYPH_SCALE = 2  # glyph canvases are drawn at twice the image size
LINE_WIDTH, LINE_HEIGHT = 512, 80  # the glyph-line image fed to the OCR model
LINE_FONT_SIZE = 50  # size used to measure the text before fitting it into the glyph line
VERTICAL_ANGLE = 10  # degrees: regions this close to upright may get vertical text

FontLike = str | FontSpec | None


@dataclass
class TextConditions:
    """Everything AnyText's control branch and text embedding read about the lines.

    `glyphs[i]`: (scale*H, scale*W); `gly_lines[i]`: (80, 512); `positions[i]`: (H, W);
    `hint`: (H, W) = clip(sum(positions), 0, 1). All float32 with values in {0, 1}.
    """

    glyphs: list[np.ndarray]
    gly_lines: list[np.ndarray]
    positions: list[np.ndarray]
    hint: np.ndarray


def _font(font: FontSpec, size: int) -> ImageFont.FreeTypeFont:
    return load_font(font, max(int(size), 1))


@functools.lru_cache(maxsize=4096)
def _bbox(font: ImageFont.FreeTypeFont, text: str) -> tuple[int, int, int, int]:
    """``font.getbbox(text)``, cached: text layout costs ~0.3 ms and the same strings are measured often.

    Fonts come from `load_font`'s cache, so one object per (font, size) and the key stays valid.
    """
    return tuple(int(v) for v in font.getbbox(text))


def draw_glyph_line(text: str, font: FontLike = None) -> np.ndarray:
    """The official ``draw_glyph``: `text` centred in an 80 x 512 image, float32 0/1."""
    font = resolve_font(font)
    left, top, right, bottom = _bbox(_font(font, LINE_FONT_SIZE), text)
    width = max(right - left, 5)
    height = max(bottom - top, 5)
    ratio = min(LINE_WIDTH * 0.9 / width, LINE_HEIGHT * 0.9 / height)
    fitted = _font(font, int(LINE_FONT_SIZE * ratio))
    left, top, right, bottom = _bbox(fitted, text)
    # the official code uses Pillow's old getsize (width, bottom) and getoffset (left, top)
    x = (LINE_WIDTH - (right - left)) // 2
    y = (LINE_HEIGHT - bottom) // 2 - top // 2
    image = Image.new("1", (LINE_WIDTH, LINE_HEIGHT), 0)
    ImageDraw.Draw(image).text((x, y), text, font=fitted, fill=255)
    return np.asarray(image, dtype=np.float32)


def insert_spaces(text: str, count: int) -> str:
    """`count` spaces between neighbouring characters (the official benchmark's spacing)."""
    return (" " * count).join(text) if count > 0 else text


@dataclass(frozen=True)
class _Placement:
    centre: tuple[float, float]
    size: tuple[float, float]  # rotated rectangle (w, h) as OpenCV reports it
    angle: float  # degrees, counter-clockwise, as PIL's rotate takes it
    vertical: bool
    box: np.ndarray  # integer corners of the rotated rectangle


def _placement(polygon: Sequence[Sequence[float]], scale: int) -> _Placement:
    pts = cv_points(polygon)
    scaled = pts * scale if pts.dtype == np.int32 else pts.astype(np.float32) * np.float32(scale)
    # OpenCV's float32 noise (383.99994 for 384) is kept: the official sizes and positions depend on it
    (cx, cy), (w, h), angle = min_area_rect(scaled)
    box = cv2.boxPoints(((cx, cy), (w, h), angle)).astype(np.int64)  # truncation, as np.int0
    angle = -angle
    if w < h:
        angle += 90.0
    vertical = False
    if abs(angle) % 90 < VERTICAL_ANGLE or abs(90 - abs(angle) % 90) % 90 < VERTICAL_ANGLE:
        box_w = int(box[:, 0].max() - box[:, 0].min())
        box_h = int(box[:, 1].max() - box[:, 1].min())
        if box_h >= box_w:
            vertical = True
            angle = 0.0
    return _Placement((cx, cy), (w, h), angle, vertical, box)


def _fit_font(
    text: str, place: _Placement, font: FontSpec, add_space: bool
) -> tuple[str, ImageFont.FreeTypeFont]:
    """The official font-size rule: 80 % of the short side, shrunk when the text is too long."""
    base = _font(font, FONT_SIZE)
    short, long = min(place.size), max(place.size)
    _, _, tw, th = _bbox(base, text)
    text_w = short * (tw / max(th, 1))
    if text_w <= long:
        if add_space and len(text) > 1 and not place.vertical:
            # the widest spacing (1..98 spaces) that still fits, as the official loop finds it
            for count in range(1, 100):
                _, _, tw2, th2 = _bbox(base, insert_spaces(text, count))
                if short * (tw2 / max(th2, 1)) > long:
                    break
            text = insert_spaces(text, count - 1)
        size = short * 0.80
    else:
        shrink = 0.75 if place.vertical else 0.85
        size = short / (text_w / long) * shrink
    return text, _font(font, int(size))


def _text_draws(
    text: str, fitted: ImageFont.FreeTypeFont, place: _Placement
) -> list[tuple[float, float, str]]:
    """Where the official code calls ``draw.text`` on the (unrotated) layer: (x, y, string) each."""
    cx, cy = place.centre
    left, top, right, bottom = _bbox(fitted, text)
    text_w, text_h = right - left, bottom - top
    if not place.vertical:
        return [(cx - text_w // 2, cy - text_h // 2 - top, text)]
    box = place.box
    box_w = int(box[:, 0].max() - box[:, 0].min())
    x = int(box[:, 0].min()) + box_w // 2 - text_h // 2
    y = int(box[:, 1].min())
    draws = []
    for char in text:
        draws.append((x, y, char))
        y += _bbox(fitted, char)[3]
    return draws


def _glyph_canvas_full(
    draws: list[tuple[float, float, str]],
    fitted: ImageFont.FreeTypeFont,
    place: _Placement,
    size: tuple[int, int],
) -> np.ndarray:
    """The official steps on full-size images: draw, rotate (expand) about the centre, paste, 1 bit."""
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    for x, y, string in draws:
        draw.text((x, y), string, font=fitted, fill=(255, 255, 255, 255))
    rotated = layer.rotate(place.angle, expand=True, center=place.centre)
    canvas = Image.new("RGB", size, (0, 0, 0))
    offset = (int((size[0] - rotated.width) / 2), int((size[1] - rotated.height) / 2))
    canvas.paste(rotated, offset, rotated)
    return np.asarray(canvas.convert("1"), dtype=np.float32)


def _rotation(
    place: _Placement, size: tuple[int, int]
) -> tuple[list[float], tuple[int, int], tuple[int, int]]:
    """Pillow's ``rotate(angle, expand=True, center=...)`` matrix (output -> input), the expanded size
    and the paste offset, computed with the same floating-point steps as Pillow."""
    w, h = size
    cx, cy = place.centre
    angle = -math.radians(place.angle % 360.0)
    cos_a, sin_a = round(math.cos(angle), 15), round(math.sin(angle), 15)
    a, b, d, e = cos_a, sin_a, round(-math.sin(angle), 15), cos_a
    c = a * -cx + b * -cy + 0.0 + cx
    f = d * -cx + e * -cy + 0.0 + cy
    xs = [a * x + b * y + c for x, y in ((0, 0), (w, 0), (w, h), (0, h))]
    ys = [d * x + e * y + f for x, y in ((0, 0), (w, 0), (w, h), (0, h))]
    nw = math.ceil(max(xs)) - math.floor(min(xs))
    nh = math.ceil(max(ys)) - math.floor(min(ys))
    tx, ty = -(nw - w) / 2.0, -(nh - h) / 2.0
    c, f = a * tx + b * ty + c, d * tx + e * ty + f
    offset = (int((w - nw) / 2), int((h - nh) / 2))
    return [a, b, c, d, e, f], (nw, nh), offset


# Pixels left and right of the ink that the 1-bit conversion sees. Floyd-Steinberg error diffusion
# runs left to right and downwards only, and a black pixel never turns white, so rows above and
# below the ink need no margin; sideways, errors that leave the window and come back die out
# within a few pixels (each step back to the left carries 3/16 of the error).
_MARGIN = 24


@dataclass(frozen=True)
class _Window:
    """Grey pixels of a glyph canvas that still need the 1-bit conversion, and where they go."""

    grey: np.ndarray  # uint8, (rows, cols)
    top: int
    left: int

    def convert(self) -> Image.Image:
        """The 1-bit conversion (Floyd-Steinberg); Pillow releases the GIL while it runs."""
        return Image.fromarray(self.grey, "L").convert("1")

    def paste(self, converted: Image.Image, out: np.ndarray) -> None:
        rows, cols = self.grey.shape
        out[self.top : self.top + rows, self.left : self.left + cols] = np.asarray(converted)


_NO_INK = _Window(np.zeros((0, 0), np.uint8), 0, 0)


def _glyph_canvas_fast(
    draws: list[tuple[float, float, str]],
    fitted: ImageFont.FreeTypeFont,
    place: _Placement,
    shape: tuple[int, int],
) -> _Window | None:
    """`_glyph_canvas_full` computed on a window around the text only (same pixels, ~50x faster).

    Returns the window of a zero (h, w) = `shape` canvas that holds the ink, before its 1-bit
    conversion (`_Window.convert`; empty where there is no ink). Returns None where the window
    shortcut does not apply (text starting left of or above the canvas, where Pillow splits
    coordinates differently).
    """
    h, w = shape
    size = (w, h)
    if any(x < 0 or y < 0 for x, y, _ in draws):
        return None
    # 1. the text layer, drawn only inside a window (layer coordinates) that holds all of its ink
    lx0, ly0, lx1, ly1 = w, h, 0, 0
    for x, y, string in draws:
        left, top, right, bottom = _bbox(fitted, string)
        lx0 = min(lx0, math.floor(x), math.floor(x) + left - 4)
        ly0 = min(ly0, math.floor(y), math.floor(y) + top - 4)
        lx1 = max(lx1, math.floor(x) + right + 4)
        ly1 = max(ly1, math.floor(y) + bottom + 4)
    lx0, ly0, lx1, ly1 = max(lx0, 0), max(ly0, 0), min(lx1, w), min(ly1, h)
    if lx1 <= lx0 or ly1 <= ly0:
        return _NO_INK
    # Text drawn in white on a transparent RGBA layer and pasted onto black with its own alpha gives
    # grey = coverage, exactly what drawing it on an "L" image gives: so one byte per pixel suffices.
    # The window has to start at or before the draw origins (their fractions decide the pixels).
    layer = Image.new("L", (lx1 - lx0, ly1 - ly0), 0)
    draw = ImageDraw.Draw(layer)
    for x, y, string in draws:
        draw.text((x - lx0, y - ly0), string, font=fitted, fill=255)
    source = np.asarray(layer)
    # Rows without ink (a quarter of the window above the glyphs, from the ascent) stay black through
    # rotation and conversion: drop them.
    ink_rows = np.flatnonzero(source.any(axis=1))
    if ink_rows.size == 0:
        return _NO_INK
    source = source[ink_rows[0] : ink_rows[-1] + 1]
    ly0, ly1 = ly0 + int(ink_rows[0]), ly0 + int(ink_rows[-1]) + 1

    # 2. rotate: nearest-neighbour gather with Pillow's 16.16 fixed-point affine arithmetic
    if place.angle % 360.0 == 0:
        rotated, ox0, oy0 = source, lx0, ly0
    else:
        (a, b, c, d, e, f), (nw, nh), (px, py) = _rotation(place, size)
        inverse = np.linalg.inv(np.array([[a, b], [d, e]]))
        corners = np.array([[lx0, ly0], [lx1, ly0], [lx1, ly1], [lx0, ly1]], np.float64)
        dest = (corners - [c, f]) @ inverse.T - 0.5 + [px, py]
        ox0 = max(int(math.floor(dest[:, 0].min())) - 3, 0, px)
        oy0 = max(int(math.floor(dest[:, 1].min())) - 3, 0, py)
        ox1 = min(int(math.ceil(dest[:, 0].max())) + 4, w, px + nw)
        oy1 = min(int(math.ceil(dest[:, 1].max())) + 4, h, py + nh)
        if ox1 <= ox0 or oy1 <= oy0:
            return _NO_INK
        fix = lambda v: math.floor(v * 65536.0 + 0.5)  # noqa: E731  (Pillow's FIX)
        a0, a1, a3, a4 = fix(a), fix(b), fix(d), fix(e)
        a2, a5 = fix(c + a * 0.5 + b * 0.5), fix(f + d * 0.5 + e * 0.5)
        # xx = a2 + Y*a1 + X*a0 exactly as Pillow's incremental integer sums (X, Y: expanded-image pixels)
        # (check_fixed in Pillow keeps every sum below 2**31: int32 is exact)
        cols = np.arange(ox0 - px, ox1 - px, dtype=np.int32)
        rows = np.arange(oy0 - py, oy1 - py, dtype=np.int32)
        xin = ((a2 + rows * a1)[:, None] + (cols * a0)[None, :]) >> 16
        yin = ((a5 + rows * a4)[:, None] + (cols * a3)[None, :]) >> 16
        xin -= lx0
        yin -= ly0
        # integer maps make cv2.remap an exact gather; outside the layer window it reads 0
        maps = np.empty(xin.shape + (2,), np.int16)
        maps[..., 0] = xin
        maps[..., 1] = yin
        rotated = cv2.remap(
            source, maps, None, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0
        )

    # 3. the window of the 1-bit conversion (dithering), with a margin left and right that holds
    # the error diffusion
    dx0, dy0 = max(ox0 - _MARGIN, 0), oy0
    dx1 = min(ox0 + rotated.shape[1] + _MARGIN, w)
    dy1 = min(oy0 + rotated.shape[0], h)
    grey = np.zeros((dy1 - dy0, dx1 - dx0), np.uint8)
    grey[oy0 - dy0 : oy0 - dy0 + rotated.shape[0], ox0 - dx0 : ox0 - dx0 + rotated.shape[1]] = rotated
    return _Window(grey, dy0, dx0)


def _canvas_window(
    text: str,
    polygon: Sequence[Sequence[float]],
    width: int,
    height: int,
    font: FontSpec,
    scale: int,
    add_space: bool,
    exact_steps: bool,
    out: np.ndarray,
) -> _Window | None:
    """`draw_glyph_canvas` up to the last step: the window still to convert and paste into `out`, or
    None when `out` is already complete (no ink, or the official full-canvas steps were run)."""
    place = _placement(polygon, scale)
    text, fitted = _fit_font(text, place, font, add_space)
    draws = _text_draws(text, fitted, place)
    window = None if exact_steps else _glyph_canvas_fast(draws, fitted, place, out.shape)
    if window is None:
        out[...] = _glyph_canvas_full(draws, fitted, place, out.shape[::-1])
        return None
    return window if window.grey.size else None


def draw_glyph_canvas(
    text: str,
    polygon: Sequence[Sequence[float]],
    width: int,
    height: int,
    font: FontLike = None,
    scale: int = GLYPH_SCALE,
    add_space: bool = False,
    exact_steps: bool = False,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """The official ``draw_glyph2``: (scale*height, scale*width) float32 0/1 glyph image of one line.

    The polygon is in image pixels (before scaling). `add_space` inserts the widest even spacing
    that still fits (the official benchmark setting; the demo does not). The image is computed on a
    window around the text; `exact_steps=True` runs the official full-canvas steps instead (same
    pixels, slower; used by the tests to check the window). `out`, when given, is a zero float32
    image of that shape to draw into (the result is then `out` itself).
    """
    shape = (height * scale, width * scale)
    if out is None:
        out = np.zeros(shape, np.float32)
    elif out.shape != shape or out.dtype != np.float32:
        raise ValueError(f"out must be float32 of shape {shape}, got {out.dtype} {out.shape}")
    window = _canvas_window(
        text, polygon, width, height, resolve_font(font), scale, add_space, exact_steps, out
    )
    if window is not None:
        window.paste(window.convert(), out)
    return out


def draw_position(polygon: Sequence[Sequence[float]], width: int, height: int) -> np.ndarray:
    """The position image of a line: its polygon filled, (height, width) float32 0/1."""
    return polygon_mask(polygon, width, height, np.float32)


def revise_position(
    glyph: np.ndarray, width: int, height: int
) -> tuple[np.ndarray, list[tuple[int, int]]] | None:
    """The official "revise position" option: shrink a line's position to where its glyphs are.

    The glyph canvas is resized to the image size, closed with a (height/10 x width/10) kernel and,
    when that leaves exactly one region, the region's rotated rectangle (corners truncated to
    integers) becomes the new polygon; the new position image is the closed image with that
    rectangle filled, divided by 255 (float32 in [0, 1]: 1 inside the rectangle, the closed
    image's own values on any edge pixels it leaves out). Returns None where the glyphs do not
    close into one region (the official demo then keeps the position).
    """
    small = cv2.resize(glyph.astype(np.float64), (width, height))
    kernel = np.ones((max(height // 10, 1), max(width // 10, 1)), np.uint8)
    closed = cv2.morphologyEx((small * 255).astype(np.uint8), cv2.MORPH_CLOSE, kernel, iterations=1)
    contours, _ = cv2.findContours(closed, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if len(contours) != 1:
        return None
    box = cv2.boxPoints(cv2.minAreaRect(contours[0])).astype(np.int32)  # truncation, as np.int0
    cv2.drawContours(closed, [box], -1, 255, -1)
    return closed.astype(np.float32) / 255.0, [(int(x), int(y)) for x, y in box]


def build_text_conditions(
    texts: Sequence[str],
    polygons: Sequence[Sequence[Sequence[float]]],
    width: int,
    height: int,
    font: FontLike = None,
    scale: int = GLYPH_SCALE,
    add_space: bool = False,
) -> TextConditions:
    """Glyph canvases, glyph lines, positions and hint for lines `texts` placed in `polygons`."""
    if len(texts) != len(polygons):
        raise RequestError("lines", f"{len(texts)} texts but {len(polygons)} polygons")
    if width < 1 or height < 1:
        raise RequestError("size", f"must be positive, got {width}x{height}")
    font = resolve_font(font)  # once: resolving a name looks at the file system
    # one zero block for all glyph canvases (one allocation, not one per line)
    block = np.zeros((len(texts), height * scale, width * scale), np.float32)
    # Pillow's font rendering holds the GIL but its 1-bit conversion does not: a worker thread
    # converts the glyph canvases while this thread renders the glyph lines.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="glyph-convert") as worker:
        converting = []
        for text, polygon, out in zip(texts, polygons, block):
            window = _canvas_window(text, polygon, width, height, font, scale, add_space, False, out)
            if window is not None:
                converting.append((window, out, worker.submit(window.convert)))
        lines = [draw_glyph_line(text, font) for text in texts]
        for window, out, job in converting:
            window.paste(job.result(), out)
    positions = [draw_position(polygon, width, height) for polygon in polygons]
    glyphs = list(block)
    hint = np.zeros((height, width), np.float32)
    for polygon in polygons:
        fill_polygon(hint, polygon)  # the union of the positions, drawn rather than combined pixel by pixel
    return TextConditions(glyphs, lines, positions, hint)


def glyph_ink_fraction(image: np.ndarray, polygon: Sequence[Sequence[float]], scale: int = 1) -> float:
    """Share of the ink of a glyph image that lies inside `polygon` (scaled by `scale`)."""
    inside = polygon_mask(scale_polygon(polygon, scale), image.shape[1], image.shape[0])
    ink = float(image.sum())
    return float((image * inside).sum()) / ink if ink else math.nan
