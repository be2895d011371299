"""AnyText2's per-line inputs, reproducing the official wrapper (`ms_wrapper.AnyText2Model.forward`).

For each text line the model reads:

- a coloured glyph image at the image resolution (`draw_glyph_colored`, official ``draw_glyph2``
  of AnyText2: binary-searched font size, optional spacing, RGB anti-aliased ink in the line's
  colour; only its ink/no-ink pattern reaches the WriteNet, the colour goes to the text embedding);
- the glyph line (80 x 512, the same as AnyText's: `wenchuang.layout.glyphs.draw_glyph_line`);
- the position image (the drawn region plus its polygon, `wenchuang.layout.polygons`);
- a font hint: the text rendered in the line's font, white, summed over lines and optionally made
  "hollow" with the repository's noise texture (`font_hint_image`), from which each line's style crop
  is cut (`crop_line`); or, for "mimic from image", a binarised crop of an uploaded image
  (`draw_font_hint` + `crop_line`);
- its colour as RGB 0-255 (500, 500, 500 = unspecified).

No torch here except `crop_line` (the official crop uses `affine_grid`/`grid_sample`).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageColor, ImageDraw

from wenchuang.layout.fonts import FontSpec, load_font, resolve_font
from wenchuang.layout.glyphs import insert_spaces
from wenchuang.layout.polygons import min_area_rect

UNSPECIFIED_COLOR = (500, 500, 500)  # the official "no colour chosen"
VERTICAL_ANGLE = 10
MIN_REGION_AREA = 20  # drawn regions smaller than this many pixels are ignored (official)
POSITION_THRESHOLD = 254  # the drawn position mask is thresholded above this value (official)
NOISE_TEXTURE = Path(__file__).resolve().parent / "assets" / "bg_noise.png"

_MEASURE = ImageDraw.Draw(Image.new("RGB", (1, 1), "white"))


# --------------------------------------------------------------------------- colours
def parse_color(value) -> tuple[int, int, int]:
    """An RGB triple from "#rrggbb", "r,g,b", a sequence or None (None -> unspecified 500,500,500)."""
    if value is None:
        return UNSPECIFIED_COLOR
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("#") and len(text) == 7:
            return ImageColor.getrgb(text)[:3]  # type: ignore[return-value]
        parts = [p for p in text.replace(" ", ",").split(",") if p]
        value = [int(float(p)) for p in parts]
    rgb = tuple(int(v) for v in value)
    if len(rgb) != 3:
        raise ValueError(f"a colour needs three values (R, G, B), got {value!r}")
    return rgb  # type: ignore[return-value]


# --------------------------------------------------------------------------- coloured glyphs
def _text_box(font, text: str) -> tuple[int, int, int, int]:
    return _MEASURE.textbbox((0, 0), text=text, font=font)


def _fitted_size(font: FontSpec, text: str, long_side: float, short_side: float) -> float:
    """The official binary search: the largest size whose text box fits long x short (minus one)."""
    low, high = 1, short_side
    while low < high:
        mid = (low + high) // 2
        left, top, right, bottom = _text_box(load_font(font, max(int(mid), 1)), text)
        if right - left <= long_side and bottom - top <= short_side:
            low = mid + 1
        else:
            high = mid
    return high - 1


def _font_or_none(font: str | FontSpec | None) -> FontSpec | None:
    """The font to draw with, or None where the official code draws nothing (no font, unknown name)."""
    if font is None or isinstance(font, FontSpec):
        return font
    try:
        return resolve_font(font)
    except Exception:  # the official wrapper draws an empty hint for a font file that does not exist
        return None


def draw_glyph_colored(
    font: str | FontSpec | None,
    text: str,
    polygon: Sequence[Sequence[float]],
    color: Sequence[int] = (255, 255, 255),
    scale: int = 1,
    width: int = 512,
    height: int = 512,
    add_space: bool = True,
) -> np.ndarray:
    """AnyText2's ``draw_glyph2``: (scale*height, scale*width, 3) float64 RGB in [0, 1].

    `font` None or a missing file gives an all-black image (the official "no font" line).
    Colours below 10 are raised to 10; a negative colour means white.
    """
    blank = np.zeros((height * scale, width * scale, 3), np.float64)
    spec = _font_or_none(font)
    if spec is None:
        return blank
    rgb = np.asarray(color)
    if rgb.mean() < 0:
        rgb = np.array([255, 255, 255])
    rgb = np.clip(rgb, 10, 255)

    pts = np.asarray(polygon, dtype=np.float64) * scale
    rect = min_area_rect(pts.astype(np.int32) if np.allclose(pts, np.round(pts)) else pts.astype(np.float32))
    box = cv2.boxPoints(rect).astype(np.int64)  # truncation, as np.int0
    w, h = rect[1]
    angle = rect[2]
    if angle < -45:
        angle += 90
    angle = -angle
    if w < h:
        angle += 90
    vertical = False
    box_w = box_h = 0
    if abs(angle) % 90 < VERTICAL_ANGLE or abs(90 - abs(angle) % 90) % 90 < VERTICAL_ANGLE:
        box_w = int(box[:, 0].max() - box[:, 0].min())
        box_h = int(box[:, 1].max() - box[:, 1].min())
        if box_h >= box_w:
            vertical = True
            angle = 0
    short_side, long_side = min(w, h), max(w, h)
    fitted = load_font(spec, max(int(_fitted_size(spec, text, long_side, short_side)), 1))

    extra_space = 0
    if add_space:
        if vertical:
            total = 0
            for char in text:
                _, top, _, bottom = _text_box(fitted, char)
                total += bottom - top
            if total < long_side and len(text) > 1:
                extra_space = (long_side - total) // (len(text) - 1)
        else:
            for count in range(1, 100):
                left, top, right, bottom = _text_box(fitted, insert_spaces(text, count))
                if right - left > long_side or bottom - top > short_side:
                    text = insert_spaces(text, count - 1)
                    break
    left, top, right, bottom = _text_box(fitted, text)
    text_w, text_h = right - left, bottom - top

    size = (width * scale, height * scale)
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    fill = (*(int(v) for v in rgb), 255)
    (cx, cy) = rect[0]
    if not vertical:
        draw.text((cx - text_w / 2, cy - text_h / 2 - top), text, font=fitted, fill=fill)
    else:
        x = int(box[:, 0].min()) + box_w // 2 - text_h // 2
        y = int(box[:, 1].min())
        for char in text:
            draw.text((x, y), char, font=fitted, fill=fill)
            _, ctop, _, cbottom = _text_box(fitted, char)
            y += cbottom - ctop + extra_space
    rotated = layer.rotate(angle, expand=1, center=(cx, cy))
    canvas = Image.fromarray(np.zeros((size[1], size[0], 3), np.uint8))
    offset = (int((canvas.width - rotated.width) / 2), int((canvas.height - rotated.height) / 2))
    canvas.paste(rotated, offset, rotated)
    return np.asarray(canvas.convert("RGB")).astype(np.float64) / 255.0


# --------------------------------------------------------------------------- positions
def split_positions(
    draw_pos: np.ndarray, size: tuple[int, int] | None = None, sort_priority: str = "top-down"
) -> tuple[list[list[tuple[int, int]]], list[np.ndarray]]:
    """Polygons and position images (float32 0/1) of the white regions of a drawn position image.

    `draw_pos` is H x W (x C) uint8, white regions on black; `size` (width, height) resizes it
    first (edit mode: the drawing is at the uploaded image's size). Only channel 0 counts, values
    above 254 are inside, regions under 20 pixels are dropped (all as the official wrapper does).
    """
    from wenchuang.layout.polygons import mask_regions, region_polygon, region_position

    image = np.asarray(draw_pos)
    if size is not None and (image.shape[1], image.shape[0]) != tuple(size):
        image = cv2.resize(image, tuple(size))
    channel = image[..., 0] if image.ndim == 3 else image
    channel = cv2.convertScaleAbs(channel)
    regions = [
        r for r in mask_regions(channel, sort_priority, threshold=POSITION_THRESHOLD)
        if int(np.count_nonzero(r)) >= MIN_REGION_AREA
    ]
    polygons = [region_polygon(r) for r in regions]
    positions = [region_position(r, p) for r, p in zip(regions, polygons, strict=True)]
    return polygons, positions


# --------------------------------------------------------------------------- font hints
def font_hint_image(
    lines_hint: Sequence[np.ndarray], hollow: bool, height: int, width: int, noise: str | Path | None = None
) -> np.ndarray:
    """The (H, W) float64 font hint in [0, 1]: the per-line white renderings summed, optionally hollow.

    `lines_hint[i]` is line i's (H, W, 3) rendering in its font (`draw_glyph_colored` in white). With
    `hollow` the strokes become outlines over a thresholded noise texture (official ``font_hollow``).
    """
    if lines_hint:
        fg = np.sum(lines_hint, axis=0).clip(0, 1)[..., 0] * 255
    else:
        fg = np.zeros((height, width), np.float64)
    if hollow and fg.mean() > 0:
        texture = cv2.imread(str(noise or NOISE_TEXTURE))
        if texture is None:
            raise FileNotFoundError(f"noise texture not found: {noise or NOISE_TEXTURE}")
        grey = cv2.resize(cv2.cvtColor(texture, cv2.COLOR_BGR2GRAY), (fg.shape[1], fg.shape[0]))
        grey[grey < 230] = 0
        background = cv2.adaptiveThreshold(
            grey.astype(np.uint8), 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY, 11, 2
        )
        ink = fg.astype(np.uint8)
        outline = cv2.dilate(ink, np.ones((3, 3), np.uint8), iterations=1) - cv2.dilate(
            ink, np.ones((2, 2), np.uint8), iterations=1
        )
        result = (fg - background + outline).clip(0, 255)
        background[fg > 0] = 0
        fg = (result + background).clip(0, 255)
    return fg / 255


def draw_font_hint(
    image: np.ndarray, polygon: np.ndarray, rng: random.Random | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Official ``draw_font_hint`` for "mimic from image": (hint, mask), each (H, W, 1) float64 0/1.

    `image` is H x W x 3 in [-1, 1]; the region `polygon` is binarised (adaptive threshold: dark
    strokes become 1). The official function then erases a line across the region at a random
    offset along its long side (a zero-length "mask"): `rng` draws it as the official code does from
    Python's `random` (three draws); give `random.Random(seed)` to reproduce the official result.
    """
    rng = rng or random.Random(0)
    height, width = image.shape[:2]
    mask = np.zeros((height, width), np.uint8)
    rng.random()  # the official "empty hint" lottery (probability 0)
    polygon = np.array(polygon, dtype=np.int64).reshape(-1, 2)
    polygon[:, 0] = np.clip(polygon[:, 0], 0, width - 1)
    polygon[:, 1] = np.clip(polygon[:, 1], 0, height - 1)
    pts = polygon.reshape((-1, 1, 2)).astype(np.int32)
    cv2.fillPoly(mask, [pts], color=255)
    centre, (rect_w, rect_h), angle = min_area_rect(pts.reshape(-1, 2))
    x, y, w, h = cv2.boundingRect(np.clip(polygon, 0, None))
    crop = ((image + 1.0) / 2.0)[y : y + h, x : x + w]
    grey = cv2.cvtColor((crop * 255).astype(np.uint8), cv2.COLOR_RGB2GRAY)
    binary = cv2.adaptiveThreshold(grey, 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY, 11, 2)
    strokes = np.zeros_like(mask)
    strokes[y : y + h, x : x + w] = 1 - binary / 255.0  # stored as uint8, as the official array is
    area_ratio = rng.uniform(1.0, 1.0)
    long_side, short_side = max(rect_w, rect_h), min(rect_w, rect_h)
    erase = long_side * (1 - area_ratio)
    direction = np.array([np.cos(np.radians(angle)), np.sin(np.radians(angle))])
    if rect_w < rect_h:
        direction = np.array([-direction[1], direction[0]])
    start = np.asarray(centre) - direction * (long_side / 2 - rng.uniform(0, long_side - erase))
    middle = start + direction * (erase / 2)
    along = direction * (erase / 2)
    across = np.array([-direction[1], direction[0]]) * (short_side / 2)
    corners = np.array(
        [middle - along - across, middle + along - across, middle + along + across, middle - along + across],
        dtype=np.int32,
    )
    cv2.fillPoly(mask, [corners], color=0)
    region = mask[..., None] / 255.0
    return (region[..., 0] * strokes)[..., None], region


# --------------------------------------------------------------------------- style crops
def _umeyama(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (rotation, uniform scale, translation) taking src to dst.

    Umeyama (1991), "Least-squares estimation of transformation parameters between two point
    patterns"; returns the 3 x 3 homogeneous matrix. Works in the dtype of the points given.
    """
    n, dim = src.shape
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    cov = dst_c.T @ src_c / n
    signs = np.ones((dim,), dtype=np.float64)
    if np.linalg.det(cov) < 0:
        signs[dim - 1] = -1
    out = np.eye(dim + 1, dtype=np.float64)
    u, s, vt = np.linalg.svd(cov)
    rank = np.linalg.matrix_rank(cov)
    if rank == 0:
        return np.nan * out
    if rank == dim - 1:
        if np.linalg.det(u) * np.linalg.det(vt) > 0:
            out[:dim, :dim] = u @ vt
        else:
            flipped = signs.copy()
            flipped[dim - 1] = -1
            out[:dim, :dim] = u @ np.diag(flipped) @ vt
    else:
        out[:dim, :dim] = u @ np.diag(signs) @ vt
    scale = 1.0 / src_c.var(axis=0).sum() * (s @ signs)
    out[:dim, dim] = dst_mean - scale * (out[:dim, :dim] @ src_mean.T)
    out[:dim, :dim] *= scale
    return out


def _ordered_box(mask: np.ndarray) -> np.ndarray:
    """Official ``min_bounding_rect``: the largest region's rotated rectangle as tl, tr, br, bl."""
    _, binary = cv2.threshold(mask, 127, 255, 0)
    if binary.ndim == 3:
        binary = binary[..., 0:1]
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return np.array([[0, 0], [100, 0], [100, 100], [0, 100]])
    box = cv2.boxPoints(cv2.minAreaRect(max(contours, key=cv2.contourArea))).astype(np.int64)
    by_x = sorted(box, key=lambda p: p[0])
    tl, bl = sorted(by_x[:2], key=lambda p: p[1])
    tr, br = sorted(by_x[2:], key=lambda p: p[1])
    return np.array([tl, tr, br, bl])


def crop_line(image, mask: np.ndarray):
    """Official ``crop_image``: the rotated rectangle of `mask`'s largest region cut out of `image`.

    `image` is a (C, H, W) torch tensor (0-255), `mask` an H x W (x 1) uint8 0/255 array. The region's
    corners are mapped onto an upright width x height rectangle by a similarity transform and sampled
    bilinearly (`grid_sample`, align_corners=True), clamped to 0..255 and cut to int(width) x int(height).
    """
    import torch
    import torch.nn.functional as F

    corners = np.float32(_ordered_box(mask))
    width = max(np.linalg.norm(corners[0] - corners[1]), np.linalg.norm(corners[2] - corners[3]))
    height = max(np.linalg.norm(corners[0] - corners[3]), np.linalg.norm(corners[1] - corners[2]))
    target = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    similarity = _umeyama(corners, target)
    channels, h, w = image.shape
    to_unit = np.array([[2 / w, 0, -1], [0, 2 / h, -1], [0, 0, 1]])
    theta = np.linalg.inv(to_unit @ similarity @ np.linalg.inv(to_unit))
    theta_t = torch.from_numpy(theta[:2, :]).unsqueeze(0).type(torch.float32).to(image.device)
    grid = F.affine_grid(theta_t, torch.Size([1, channels, h, w]), align_corners=True)
    out = F.grid_sample(image.unsqueeze(0), grid.to(image.dtype), align_corners=True)
    out = torch.clamp(out.squeeze(0), 0, 255)
    return out[:, : int(height), : int(width)]


# --------------------------------------------------------------------------- everything for one request
@dataclass
class AnyText2Inputs:
    """Per-line inputs of one request (numpy; image resolution H x W)."""

    texts: list[str]
    polygons: list[list[tuple[int, int]]]
    glyphs: list[np.ndarray]  # (H, W, 3) float64 in [0, 1], coloured
    gly_lines: list[np.ndarray]  # (80, 512) float
    positions: list[np.ndarray]  # (H, W) float32 0/1
    colors: list[tuple[int, int, int]]  # RGB 0-255 (500 = unspecified)
    font_hint: np.ndarray  # (H, W) float64 in [0, 1]
    mimic_crops: list[object | None]  # per line: (3, h, w) 0-255 tensor cut from the uploaded image, or None

    @property
    def hint(self) -> np.ndarray:
        if not self.positions:
            return np.zeros_like(self.font_hint, dtype=np.float64)
        return np.sum([p.astype(np.float64) for p in self.positions], axis=0).clip(0, 1)


def build_inputs(
    texts: Sequence[str],
    polygons: Sequence[Sequence[Sequence[float]]],
    width: int,
    height: int,
    *,
    base_font: str | FontSpec | None = None,
    line_fonts: Sequence[str | FontSpec | None] | None = None,
    colors: Sequence | None = None,
    positions: Sequence[np.ndarray] | None = None,
    font_hollow: bool = True,
    mimic_images: Sequence[np.ndarray | None] | None = None,
    mimic_masks: Sequence[np.ndarray | None] | None = None,
    seed: int | None = None,
    noise: str | Path | None = None,
) -> AnyText2Inputs:
    """Everything the model reads about the lines, as the official wrapper prepares it.

    `base_font` draws the glyphs and glyph lines (the model's own font); `line_fonts[i]` is the font
    hint of line i (None: no font hint). `mimic_images[i]` / `mimic_masks[i]`: "mimic from image" for
    line i (H x W x 3 uint8 image in the channel order the official demo passes, and an H x W uint8
    mask of the lettering to imitate); it replaces that line's font. `seed` drives the random erase
    line of `draw_font_hint` (official: the request seed).
    """
    import torch

    from wenchuang.layout.glyphs import draw_glyph_line, draw_position

    n = len(texts)
    if len(polygons) != n:
        raise ValueError(f"{n} texts but {len(polygons)} polygons")
    line_fonts = list(line_fonts or [None] * n) + [None] * n
    colors = [parse_color(c) for c in (list(colors or []) + [None] * n)[:n]]
    mimic_images = list(mimic_images or []) + [None] * n
    mimic_masks = list(mimic_masks or []) + [None] * n
    base = resolve_font(base_font)
    rng = random.Random(seed)
    polys = [[(int(round(x)), int(round(y))) for x, y in p] for p in polygons]
    if positions is None:
        positions = [draw_position(p, width, height) for p in polys]
    glyphs, lines, hints, crops = [], [], [], []
    for i, text in enumerate(texts):
        glyphs.append(draw_glyph_colored(base, text, polys[i], colors[i], 1, width, height, True))
        lines.append(draw_glyph_line(text, base))
        font = line_fonts[i]
        if mimic_images[i] is not None and mimic_masks[i] is not None:
            mask = np.asarray(mimic_masks[i], np.uint8)
            mask = mask[..., 0] if mask.ndim == 3 else mask
            from wenchuang.layout.polygons import region_polygon

            poly = np.asarray(region_polygon(mask), np.int64)
            hint, _ = draw_font_hint(np.asarray(mimic_images[i]) / 127.5 - 1, poly, rng)
            source = torch.from_numpy(hint * 255).permute(2, 0, 1).repeat(3, 1, 1)
            crops.append(crop_line(source, mask))
            font = None
        else:
            crops.append(None)
        if font is None:
            hints.append(np.zeros((height, width, 3), np.float64))
        else:
            hints.append(draw_glyph_colored(font, text, polys[i], (255, 255, 255), 1, width, height, True))
    return AnyText2Inputs(
        texts=list(texts),
        polygons=polys,
        glyphs=glyphs,
        gly_lines=lines,
        positions=[np.asarray(p, np.float32) for p in positions],
        colors=colors,
        font_hint=font_hint_image(hints, font_hollow, height, width, noise),
        mimic_crops=crops,
    )
