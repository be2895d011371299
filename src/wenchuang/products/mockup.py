"""Photograph-like mock-ups of a product carrying a design, drawn in code (no image assets).

A flat product (mouse pad, card, bookmark) lies on a table and is seen from the front and above
through a pinhole camera: its printed face is a plane, so the design reaches the picture through
one homography, with the product's thickness as a side band below it, rounded corners and holes
cut out, a soft shadow, a light falling from the upper left, and a surface (woven cloth with a
stitched edge, or paper grain). A poster hangs on a wall, seen slightly from the side. A mug is a
lit glossy cylinder whose wrap is mapped around it (the front half shows), with a handle, rim and
opening.

Everything is deterministic (fixed noise seeds), so the same design gives the same picture.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image, ImageDraw

from wenchuang.products.catalog import DPI_RANGE, Product, ProductError
from wenchuang.products.export import render_canvas
from wenchuang.products.placement import MM_PER_INCH, Design, line_warnings, place

MOCKUP_WIDTH = 1600
WIDTH_RANGE = (1024, 4096)
ASPECT = 0.75  # height / width of the picture
LIGHT = np.array([-0.55, 0.45, 0.70])  # towards the light: left, away from the viewer, up
LIGHT = LIGHT / np.linalg.norm(LIGHT)


@dataclass
class Mockup:
    image: np.ndarray  # H x W x 3 uint8
    product: str
    warnings: list[str] = field(default_factory=list)
    corners: np.ndarray | None = None  # where the printed face's trim corners landed (flat products)


# -- noise and surfaces ---------------------------------------------------------------------------
def _smooth_noise(shape: tuple[int, int], scale: float, rng: np.random.Generator) -> np.ndarray:
    """Noise in about [-1, 1] varying over `scale` pixels."""
    h, w = shape
    gh, gw = max(2, int(h / scale) + 2), max(2, int(w / scale) + 2)
    grid = rng.standard_normal((gh, gw)).astype(np.float32)
    up = cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
    return up / (np.abs(up).max() + 1e-6)


def _grain(shape: tuple[int, int], rng: np.random.Generator, sigma: float = 0.7) -> np.ndarray:
    noise = rng.standard_normal(shape).astype(np.float32)
    return cv2.GaussianBlur(noise, (0, 0), sigma)


def _surface(
    w: int, h: int, top: tuple, bottom: tuple, rng: np.random.Generator, mottle: float
) -> np.ndarray:
    """A vertical colour gradient, lit by `_room_light`."""
    t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    img = np.asarray(top, np.float32) * (1 - t) + np.asarray(bottom, np.float32) * t
    return _room_light(np.broadcast_to(img, (h, w, 3)).copy(), rng, mottle)


def _room_light(img: np.ndarray, rng: np.random.Generator, mottle: float) -> np.ndarray:
    """A light pool on the upper left, low mottling and a fine grain over a background."""
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    pool = np.exp(-(((xx - 0.3 * w) / (0.75 * w)) ** 2 + ((yy - 0.25 * h) / (0.9 * h)) ** 2))
    img *= (0.86 + 0.2 * pool)[..., None]
    img *= (1 + mottle * _smooth_noise((h, w), w / 6, rng))[..., None]
    img *= (1 + 0.012 * _grain((h, w), rng))[..., None]
    return img


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """A Gaussian blur; wide ones are done on a smaller copy (same look, a fraction of the time)."""
    if sigma <= 6:
        return cv2.GaussianBlur(img, (0, 0), sigma)
    h, w = img.shape[:2]
    f = sigma / 3
    small = cv2.resize(img, (max(2, round(w / f)), max(2, round(h / f))), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), 3)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _vignette(img: np.ndarray, strength: float = 0.22) -> np.ndarray:
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = ((xx / w - 0.5) ** 2 + (yy / h - 0.5) ** 2) / 0.5
    return img * (1 - strength * r**1.5)[..., None]


def _finish(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A lens vignette and sensor noise, then 8 bits."""
    img = _vignette(img)
    img += rng.normal(0.0, 1.6, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def _wood(w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """A walnut desk: long streaks along x, finer ones on top, and plank seams."""

    def streaks(rows: int, cols: int) -> np.ndarray:
        grid = rng.standard_normal((rows, cols)).astype(np.float32)
        up = cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        return up / (np.abs(up).max() + 1e-6)

    t = (
        0.5
        + 0.32 * streaks(max(2, h // 10), max(2, w // 260))
        + 0.18 * streaks(max(2, h // 3), max(2, w // 90))
    )
    t = np.clip(t, 0, 1)[..., None]
    img = np.float32([78, 52, 36]) * (1 - t) + np.float32([146, 104, 70]) * t
    plank = max(8, h // 3)
    for y in range(int(plank * rng.uniform(0.3, 0.7)), h, plank):
        img[max(0, y - 1) : y + 1] *= 0.55
    return img


def _shape_mask(product: Product, size: tuple[int, int]) -> np.ndarray:
    """The cut shape (rounded corners, holes) over the trim, anti-aliased, float 0..1, at `size`."""
    w, h = size
    ss = 2
    big = Image.new("L", (w * ss, h * ss), 0)
    draw = ImageDraw.Draw(big)
    per_mm = w * ss / product.width_mm
    radius = product.corner_radius_mm * per_mm
    draw.rounded_rectangle((0, 0, w * ss - 1, h * ss - 1), radius=radius, fill=255)
    for hole in product.holes:
        r = hole.radius_mm * per_mm
        cx, cy = hole.x_mm * per_mm, hole.y_mm * per_mm
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=0)
    small = big.resize((w, h), Image.Resampling.BOX)
    return np.asarray(small, np.float32) / 255.0


def _texture(design: Design, product: Product, fit: str, long_px: int) -> np.ndarray:
    """The printed trim area (no bleed) with its long side about `long_px` pixels, float RGB."""
    inches = max(product.width_mm, product.height_mm) / MM_PER_INCH
    dpi = int(min(max(round(long_px / inches), DPI_RANGE[0]), DPI_RANGE[1]))
    placement = place(design, product, dpi=dpi, bleed_mm=0.0, fit=fit)
    return np.asarray(render_canvas(design, placement), np.float32)


def _material(tex: np.ndarray, product: Product, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Surface of the printed face: cloth (soft weave, stitched dark edge) or paper (grain)."""
    h, w = tex.shape[:2]
    if product.material == "cloth":
        tex = cv2.GaussianBlur(tex, (0, 0), 0.6)  # dye in fabric is a little soft
        mean = tex.mean(axis=2, keepdims=True)
        tex = mean + 0.9 * (tex - mean)  # and a little less saturated
        tex = 12 + tex * 0.93
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        period = max(2.5, w / 420)
        weave = np.sin(2 * np.pi * xx / period) * np.sin(2 * np.pi * yy / period)
        tex *= (1 + 0.03 * weave + 0.02 * _grain((h, w), rng, 0.5))[..., None]
        # stitched edge: a dark band along the outline, with thread ticks
        per_mm = w / product.width_mm
        band = max(2, round(2.2 * per_mm))
        inner = cv2.erode(
            (mask > 0.5).astype(np.uint8),
            np.ones((3, 3), np.uint8),
            iterations=band,
            borderType=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
        edge = (mask > 0.5) & (inner == 0)
        ticks = 0.75 + 0.25 * (np.sin(2 * np.pi * (xx + yy) / max(3.0, 1.6 * per_mm)) > 0)
        edge_colour = np.array([34, 34, 38], np.float32)
        tex[edge] = edge_colour * ticks[edge][:, None]
    else:
        tex = tex * (1 + 0.018 * _grain((h, w), rng, 0.8))[..., None]
        tex *= (1 + 0.01 * _smooth_noise((h, w), w / 12, rng))[..., None]
    return tex


def _lit(tex: np.ndarray, gloss: float, tilt: float = 0.10) -> np.ndarray:
    """A light from the upper left across the face, and a broad soft sheen for glossy surfaces."""
    h, w = tex.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    u, v = xx / w, yy / h
    light = 1.03 - tilt * (0.6 * u + 0.4 * v)
    sheen = gloss * np.exp(-(((u - 0.28) / 0.35) ** 2 + ((v - 0.22) / 0.3) ** 2))
    return tex * light[..., None] + 255 * sheen[..., None]


# -- a pinhole camera -----------------------------------------------------------------------------
def _camera(elevation_deg: float, distance: float, focal: float):
    """A projector for world points (mm; z up, y away from the viewer) seen from the front."""
    e = math.radians(elevation_deg)
    eye = np.array([0.0, -distance * math.cos(e), distance * math.sin(e)])
    forward = -eye / np.linalg.norm(eye)
    right = np.array([1.0, 0.0, 0.0])
    up = np.cross(right, forward)

    def project(points: np.ndarray) -> np.ndarray:
        rel = points - eye
        x, y, z = rel @ right, rel @ up, rel @ forward
        return np.stack([focal * x / z, -focal * y / z], axis=1)

    return project


def _on_table(product: Product, yaw_deg: float, z: float) -> np.ndarray:
    """World corners of the face at height z (top-left, top-right, bottom-right, bottom-left)."""
    W, H = product.width_mm, product.height_mm
    local = np.array([[-W / 2, H / 2], [W / 2, H / 2], [W / 2, -H / 2], [-W / 2, -H / 2]])
    a = math.radians(yaw_deg)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    xy = local @ rot.T
    return np.column_stack([xy, np.full(4, z)])


def _on_wall(product: Product, yaw_deg: float) -> np.ndarray:
    W, H = product.width_mm, product.height_mm
    a = math.radians(yaw_deg)
    xs = np.array([-W / 2, W / 2, W / 2, -W / 2])
    zs = np.array([H / 2, H / 2, -H / 2, -H / 2])
    return np.column_stack([xs * math.cos(a), xs * math.sin(a), zs])


def _fit(quads: list[np.ndarray], w: int, h: int, fill: float) -> list[np.ndarray]:
    """Scale and move projected quads together so they fill `fill` of the frame, centred."""
    pts = np.concatenate(quads)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    scale = min(fill * w / (hi[0] - lo[0]), fill * h / (hi[1] - lo[1]))
    centre = (lo + hi) / 2
    target = np.array([w / 2, h * 0.5])
    return [(q - centre) * scale + target for q in quads]


def _warp(src: np.ndarray, quad: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    h, w = src.shape[:2]
    corners = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    matrix = cv2.getPerspectiveTransform(corners, np.float32(quad))
    return cv2.warpPerspective(
        src, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )


def _over(dst: np.ndarray, colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha[..., None] if alpha.ndim == 2 else alpha
    return dst * (1 - a) + colour * a


def _shadow(dst: np.ndarray, alpha: np.ndarray, offset: tuple[float, float], blur: float, strength: float):
    h, w = alpha.shape
    moved = cv2.warpAffine(alpha, np.float32([[1, 0, offset[0]], [0, 1, offset[1]]]), (w, h))
    soft = _blur(moved, blur)
    return dst * (1 - strength * soft)[..., None]


# -- products -------------------------------------------------------------------------------------
def _flat(design: Design, product: Product, fit: str, w: int, rng) -> tuple[np.ndarray, np.ndarray]:
    h = round(w * ASPECT)
    poster = product.mockup == "poster"
    if poster:
        scene = _surface(w, h, (226, 222, 214), (204, 199, 190), rng, 0.03)  # a plaster wall
    elif product.material == "cloth":
        scene = _room_light(_wood(w, h, rng), rng, 0.03)
    else:
        scene = _surface(w, h, (214, 209, 199), (232, 228, 220), rng, 0.04)  # a linen-grey table

    tex = _texture(design, product, fit, int(max(w, h) * 0.8))
    th, tw = tex.shape[:2]
    mask = _shape_mask(product, (tw, th))
    tex = _lit(
        _material(tex, product, mask, rng), {"cloth": 0.015, "paper": 0.05, "ceramic": 0.1}[product.material]
    )

    if poster:
        project = _camera(4.0, 2600.0, 1000.0)
        (face,) = _fit([project(_on_wall(product, -14.0))], w, h, 0.78)
        face_alpha = _warp(mask, face, (w, h))
        scene = _shadow(scene, face_alpha, (0.012 * w, 0.018 * h), 0.012 * w, 0.45)
        scene = _shadow(scene, face_alpha, (0.002 * w, 0.003 * h), 0.002 * w, 0.25)
    else:
        thickness = 3.0 if product.material == "cloth" else 0.6
        yaw = {"pad": 8.0, "card": -12.0}.get(product.mockup, 0.0)
        project = _camera(52.0, 1500.0, 1000.0)
        face, base = _fit(
            [project(_on_table(product, yaw, thickness)), project(_on_table(product, yaw, 0.0))], w, h, 0.72
        )
        face_alpha = _warp(mask, face, (w, h))
        base_alpha = _warp(mask, base, (w, h))
        scene = _shadow(scene, base_alpha, (0.018 * w, 0.012 * h), 0.02 * w, 0.5)
        scene = _shadow(scene, base_alpha, (0.002 * w, 0.002 * h), 0.003 * w, 0.45)
        side = np.float32((42, 40, 44) if product.material == "cloth" else (228, 225, 218))
        shade = np.linspace(1.0, 0.8, w, dtype=np.float32)[None, :, None]  # the side turns from the light
        scene = _over(scene, side * shade, base_alpha)
    scene = _over(scene, _warp(tex, face, (w, h)), face_alpha)
    if not poster and product.material == "paper":  # the cut edge catches the light
        edge = cv2.morphologyEx(face_alpha, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
        scene = _over(scene, np.float32([250, 250, 250]), np.clip(edge, 0, 1) * 0.35)
    if product.holes and not poster:
        scene = _cord(scene, product, face, (tw, th), rng)
    return _finish(scene, rng), face


def _cord(
    scene: np.ndarray, product: Product, face: np.ndarray, tex_size: tuple[int, int], rng
) -> np.ndarray:
    """A silk cord through the first hole, lying on the table past the top edge, ending in a tassel."""
    h, w = scene.shape[:2]
    tw, th = tex_size
    matrix = cv2.getPerspectiveTransform(np.float32([[0, 0], [tw, 0], [tw, th], [0, th]]), np.float32(face))
    hole = product.holes[0]
    per_mm = tw / product.width_mm
    start = cv2.perspectiveTransform(np.float32([[[hole.x_mm * per_mm, hole.y_mm * per_mm]]]), matrix)[0, 0]
    up = (face[0] + face[1]) / 2 - (face[2] + face[3]) / 2
    length = np.linalg.norm(up)
    up = up / length
    side = np.array([-up[1], up[0]])
    p0 = start
    p1 = start + up * 0.12 * length
    p2 = start + up * 0.22 * length - side * 0.10 * length
    p3 = start + up * 0.16 * length - side * 0.26 * length
    t = np.linspace(0, 1, 240)[:, None]
    curve = (1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * p1 + 3 * (1 - t) * t**2 * p2 + t**3 * p3
    width = max(3, round(0.0045 * w))
    alpha = np.zeros((h, w), np.float32)
    colour = np.zeros((h, w, 3), np.float32)
    red = (36.0, 34.0, 172.0)  # drawn in BGR order by cv2 on an RGB array: swap below
    cv2.polylines(alpha, [np.int32(curve * 4)], False, 1.0, width, cv2.LINE_AA, shift=2)
    cv2.polylines(colour, [np.int32(curve * 4)], False, red, width, cv2.LINE_AA, shift=2)
    # the tassel: threads fanning out along the cord's last direction, from a knot
    end = curve[-1]
    direction = (curve[-1] - curve[-12]) / (np.linalg.norm(curve[-1] - curve[-12]) + 1e-6)
    normal = np.array([-direction[1], direction[0]])
    tassel_len = 0.11 * length
    for _ in range(36):
        spread = rng.uniform(-1, 1)
        tip = end + direction * tassel_len * rng.uniform(0.85, 1.0) + normal * spread * 0.22 * tassel_len
        root = end + normal * spread * width * 0.8
        tone = rng.uniform(0.75, 1.1)
        pts = np.int32(np.stack([root, tip]) * 4)
        cv2.line(alpha, tuple(pts[0]), tuple(pts[1]), 1.0, max(1, width // 3), cv2.LINE_AA, shift=2)
        cv2.line(
            colour,
            tuple(pts[0]),
            tuple(pts[1]),
            tuple(c * tone for c in red),
            max(1, width // 3),
            cv2.LINE_AA,
            shift=2,
        )
    cv2.circle(alpha, tuple(np.int32(end * 4)), int(width * 1.4 * 4), 1.0, -1, cv2.LINE_AA, shift=2)
    cv2.circle(colour, tuple(np.int32(end * 4)), int(width * 1.4 * 4), red, -1, cv2.LINE_AA, shift=2)
    colour = colour[..., ::-1]
    alpha = np.clip(alpha, 0, 1)
    scene = _shadow(scene, alpha, (0.006 * w, 0.005 * h), 0.004 * w, 0.4)
    solid = np.maximum(alpha, 1e-3)[..., None]
    dist = cv2.distanceTransform((alpha > 0.5).astype(np.uint8), cv2.DIST_L2, 3)
    roundness = np.sqrt(np.clip(dist / max(1.0, width / 2), 0, 1))[..., None]
    return _over(scene, colour / solid * (0.6 + 0.5 * roundness), alpha)


def _mug(design: Design, product: Product, fit: str, w: int, rng) -> np.ndarray:
    h = round(w * ASPECT)
    horizon = int(h * 0.62)
    wall = _surface(w, horizon, (222, 219, 212), (200, 196, 188), rng, 0.03)
    table = _surface(w, h - horizon, (176, 160, 140), (206, 190, 168), rng, 0.04)
    scene = np.concatenate([wall, table], axis=0)

    diameter, mug_h = 82.0, 95.0  # an 11 oz mug
    radius_mm = diameter / 2
    k = 0.56 * h / mug_h  # pixels per mm
    R = radius_mm * k
    squash = 0.2  # the camera is a little above: circles are ellipses this flat
    cx, top = w * 0.46, h * 0.2
    bottom = top + mug_h * k
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dx = (xx - cx) / R

    # shadows on the table, the light being on the left: a long soft one and a contact one
    shadow = np.zeros((h, w), np.float32)
    cv2.ellipse(
        shadow, (int(cx + 0.45 * R), int(bottom)), (int(1.3 * R), int(R * squash * 1.6)), 0, 0, 360, 1.0, -1
    )
    scene *= (1 - 0.45 * _blur(shadow, 0.035 * w))[..., None]
    contact = np.zeros((h, w), np.float32)
    cv2.ellipse(contact, (int(cx), int(bottom)), (int(R * 1.01), int(R * squash * 1.05)), 0, 0, 360, 1.0, -1)
    scene *= (1 - 0.5 * _blur(contact, 0.006 * w))[..., None]

    # the handle: a ring on the right, shaded like a tube
    handle = np.zeros((h, w), np.uint8)
    hc = (int(cx + R * 0.97), int(top + mug_h * k * 0.46))
    axes = (int(R * 0.44), int(mug_h * k * 0.27))
    thick = max(4, int(0.15 * R))
    cv2.ellipse(handle, hc, axes, 0, -90, 90, 255, thick, cv2.LINE_AA)
    dist = cv2.distanceTransform((handle > 127).astype(np.uint8), cv2.DIST_L2, 5)
    tube = np.sqrt(np.clip(dist / (thick / 2), 0, 1))
    side_light = np.clip(1.0 - (xx - hc[0]) / (axes[0] * 2.5), 0.6, 1.0)
    handle_rgb = np.float32([246, 245, 241]) * (0.5 + 0.48 * tube * side_light)[..., None]
    scene = _over(scene, handle_rgb, handle.astype(np.float32) / 255)

    # the body: theta around the axis (0 faces the camera), height along it
    theta = np.arcsin(np.clip(dx, -1, 1))
    height_mm = (yy - top - R * squash * np.cos(theta)) / k
    coverage = (
        np.clip((1 - np.abs(dx)) * R + 0.5, 0, 1)
        * np.clip(height_mm * k + 0.5, 0, 1)
        * np.clip((mug_h - height_mm) * k + 0.5, 0, 1)
    )
    tex = _texture(design, product, fit, int(w * 0.9))
    th, tw = tex.shape[:2]
    u_mm = product.width_mm / 2 + theta * radius_mm  # the wrap is centred on the front
    v_mm = height_mm - (mug_h - product.height_mm) / 2
    printed = (
        (coverage > 0) & (u_mm >= 0) & (u_mm <= product.width_mm) & (v_mm >= 0) & (v_mm <= product.height_mm)
    )
    map_x = (u_mm / product.width_mm * tw).astype(np.float32)
    map_y = (v_mm / product.height_mm * th).astype(np.float32)
    sampled = cv2.remap(tex, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    colour = np.empty((h, w, 3), np.float32)
    colour[:] = (247, 246, 242)
    colour[printed] = sampled[printed]
    light = np.array([-0.6, 0.78]) / np.hypot(-0.6, 0.78)
    diffuse = np.clip(np.sin(theta) * light[0] + np.cos(theta) * light[1], 0, 1)
    softbox = 0.32 * np.exp(-(((theta + 0.45) / 0.09) ** 2))  # a studio light reflected in the glaze
    rim = 0.16 * np.clip(np.sin(theta), 0, 1) ** 8  # the bright room at the right edge
    base_ao = 1 - 0.18 * np.exp(-np.clip(mug_h - height_mm, 0, None) / 4)  # near the table, less light
    shade = (0.45 + 0.6 * diffuse) * base_ao
    lit = colour * shade[..., None] + 255 * (softbox + rim)[..., None]
    scene = _over(scene, lit, coverage)

    # the opening: the inside wall (darker towards the front rim) and a bright rim
    opening = np.zeros((h, w), np.uint8)
    cv2.ellipse(opening, (int(cx), int(top)), (int(R), int(R * squash)), 0, 0, 360, 255, -1, cv2.LINE_AA)
    depth = np.clip((yy - (top - R * squash)) / (2 * R * squash), 0, 1)
    inner = np.float32([238, 236, 231]) * (0.97 - 0.4 * depth)[..., None]
    scene = _over(scene, inner, opening.astype(np.float32) / 255)
    rim_mask = np.zeros((h, w), np.uint8)
    cv2.ellipse(
        rim_mask,
        (int(cx), int(top)),
        (int(R), int(R * squash)),
        0,
        0,
        360,
        255,
        max(2, int(0.035 * R)),
        cv2.LINE_AA,
    )
    scene = _over(scene, np.float32([252, 251, 248]), rim_mask.astype(np.float32) / 255 * 0.9)
    return _finish(scene, rng)


def render_mockup(
    design: Design, product: Product, *, width: int = MOCKUP_WIDTH, fit: str = "cover"
) -> Mockup:
    """The mock-up picture (`width` x 3/4 of it) and the design's line warnings for this product."""
    if isinstance(width, bool) or not isinstance(width, int) or not WIDTH_RANGE[0] <= width <= WIDTH_RANGE[1]:
        raise ProductError(
            f"width: {width!r} is out of range; give {WIDTH_RANGE[0]} to {WIDTH_RANGE[1]} pixels"
        )
    placement = place(design, product, dpi=DPI_RANGE[0], bleed_mm=product.bleed_mm, fit=fit)
    warnings = list(design.notes) + line_warnings(design, placement)
    rng = np.random.default_rng(7)
    if product.mockup == "mug":
        return Mockup(_mug(design, product, fit, width, rng), product.name, warnings)
    image, corners = _flat(design, product, fit, width, rng)
    return Mockup(image, product.name, warnings, corners)
