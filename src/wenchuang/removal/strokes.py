"""Stroke masks: which pixels of a text region are the text (glyphs, anti-aliasing, outlines,
shadows), so that only they are filled and the picture around them is spared.

`segment(image, region)` tries, in order:

1. background model: a smooth surface (quadratic per channel) fitted to a ring of pixels just outside
   the region; pixels that differ from it by more than an Otsu threshold (never below the ring's own
   noise) are strokes. Exact on flat and graded backgrounds.
2. colour clusters (when the ring is busy, e.g. fur, bark, foliage, or the first method marks too
   much): k-means in CIE Lab over the region and its ring; clusters common inside the region and rare
   in the ring are the text's colours (the ring is the local background).
   On a busy ring the text is not always what differs most from the background model (a saucer's
   bright rim under low-contrast dark text): when the colour clusters find other pixels, they win if
   they form pen strokes of even width (`_even_strokes`: the half-width along the ridges of the
   distance transform is steady and plausible for the text's height) with more glyph-sized parts
   (`_glyph_count`) than the background model's pixels, or when those are not even strokes. Among
   the clusters the same test picks a colour of even strokes over the rare colours when it has more
   glyph-sized parts, or when no colour is rare enough in the ring (low contrast).
3. tighter (when the mask still covers more than text strokes can, `MAX_CORE_FRACTION` of the region):
   only the single most text-like colour cluster, and if even that is too much, nothing: a mask that
   would eat the subject is refused rather than filled.

Then the mask is made exact (`_refine`), with no blanket dilation: each pixel's share of the text
colour is estimated against the background (the quadratic surface on calm backgrounds, a local
normalised blur of the non-stroke pixels on busy ones); stroke pixels must lean towards the text colour,
on busy backgrounds a text painted in one flat colour (`_flat_core`), or in a fill and an outline of two
(`_outlined`), keeps only its colour(s) and their soft edge (the picture's shapes its strokes touch are dropped),
parts much thicker than the typical stroke (a highlight of the text's colour) are dropped, anti-aliasing
(a small share of the text colour above the noise, the noise measured around each pixel on a busy
background) is added next to the strokes, then JPEG ringing (off the background, within 2 px: only where
the picture shows JPEG quantisation on its 8x8 grid, `_jpeg_compressed`; elsewhere that band is kept in
`StrokeMask.wide` for a retry), and a shadow or outline: on a calm background anything that differs from
it next to the strokes, on a busy one a shade towards black or white that clings to the strokes (far
more common next to them than in the ring). Only the shadow part is widened (3 % of the text height).
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
# the exact mask (`_refine`); fractions are of the text's height (the region's short side)
FAINT_K, FAINT_C, FAINT_MIN = 2.0, 3.0, 6.0  # "differs from the background": > K * noise + C (and MIN)
CALM_RING = 4.0  # ring noise under which the quadratic background model is trusted pixel by pixel
BG_SIGMA = 0.08  # Gaussian sigma of the local background estimate on busy backgrounds
OFF_LINE = 0.45  # a text pixel lies near the line background -> text colour (times the contrast)
ALPHA_CORE, ALPHA_SOFT = 0.5, 0.02  # share of the text colour: strokes / anti-aliasing (above the noise)
SOFT_NOISE, SOFT_REACH = 2.0, 0.04  # anti-aliasing: above SOFT_NOISE * noise, this far from the strokes
LOCAL_NOISE_SIGMA = 0.06  # busy backgrounds: the noise around each pixel, Gaussian window (of the height)
# busy backgrounds: the strokes' rim (`_unexplained`): a pixel touching the mask that no picture pixel near it
# (RIM_GAP..RIM_RADIUS px from the mask) explains alone: under every such background, within RIM_TOL of the
# line from it to the text's colour, it holds at least RIM_ALPHA of the text's colour
RIM_RADIUS, RIM_GAP, RIM_TOL, RIM_ALPHA = 6, 3, 8.0, 0.2
# a flat-coloured text (busy backgrounds, `_flat_core`): one colour inside its strokes, up to noise
FLAT_TOL, FLAT_K = 10.0, 3.0  # within this RGB distance of that colour (or K times the pixels' spread around it)
FLAT_MAX_TOL = 20.0  # ... a wider spread is no painted colour (a JPEG's, or a filled remnant's): not judged
FLAT_SHARE = 0.5  # ... holding at least this share of the strokes' inside pixels
# ... and not the picture's colour next to the strokes: pixels of that colour joined to the strokes' pure inside
# and lying outside the strokes, at most this share of that inside (else colour cannot tell text from picture)
FLAT_JOINED = 0.12
FLAT_MIN_PIXELS, FLAT_KEEP = 30, 0.5  # judged only with this many inside pixels; never keeps less than this share
# a fill and an outline of two flat colours (`_outlined`): together this share of the strokes, each at least
# OUTLINE_MIN, and the outline bordering this share of the fill's edge
OUTLINE_SHARE, OUTLINE_MIN, OUTLINE_AROUND = 0.6, 0.15, 0.6
FLAT_PART = 0.25  # a part of a flat-coloured text's strokes holds at least this share of pixels of its colour
FLAT_EDGE = 2  # a flat-coloured text reaches this far from its pixels of that colour (its soft edge)
THICK_RATIO = 2.0  # a part much thicker than the typical stroke (a highlight) is not text
SHADOW = True
SHADOW_MIN, SHADOW_NOISE = 0.08, 2.0  # a shade: this much towards black/white, and above the noise
SHADOW_REACH, SHADOW_MAX, SHADOW_RATIO = 0.15, 1.5, 2.0  # how far, how big, how specific to the strokes
SHADOW_PAD = 0.03  # the shadow part only is widened by this (its faint tail)
FRINGE_REACH, FRINGE_K = 2, 2.0  # JPEG ringing: off the background by K * noise, within 2 px
JPEG_ON_GRID, JPEG_MARGIN = 0.5, 0.3  # quantised DCT coefficients: on the 8x8 grid, and more than off it
# a colour that is not rare in the ring may still be the text when its pixels form even strokes:
EVEN_MIN_SHARE, EVEN_MAX_RATIO = 0.02, 0.6  # of the region; its share of the ring / of the region
EVEN_MIN_WIDTH, EVEN_MAX_WIDTH = 1.5, 0.15  # stroke half-width: pixels / of the text's height
EVEN_MAX_CV = 0.6  # spread (std / mean) of the half-widths along the strokes' ridges
SAME_STROKES = 0.5  # two masks sharing this much of the smaller one find the same strokes
GLYPH_MIN, GLYPH_MAX = 0.3, 1.5  # a glyph-sized part: its longer side, of the text's height


@dataclass
class StrokeMask:
    """One region's stroke mask.

    mask: uint8 {0, 1} image-sized, the exact mask (what is filled);
    color: the strokes' (r, g, b), or None when none were found;
    fraction: undilated stroke pixels / region pixels;
    blob_fraction: the share of the strokes that survive a morphological opening by a disk a third of
      the text's height across: near 0 for strokes, high for solid shapes (an eye, a coin);
    method: "background", "colour", "tight", "refused" or "empty";
    wide: the mask with the band of pixels off the background next to the strokes (within
      `FRINGE_REACH`), which `mask` leaves out where the picture is not JPEG-compressed: what a retry
      widens when text is still read after the first fill (None: the same as `mask`).
    """

    mask: np.ndarray
    color: tuple[int, int, int] | None
    fraction: float
    blob_fraction: float
    method: str
    wide: np.ndarray | None = None


def segment_strokes(image: np.ndarray, region: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int] | None]:
    """The glyph strokes inside `region` (uint8 {0,1} H x W, the mask that is filled), and their colour
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
    noise = robust_sigma(ring_d) if ring_d.size else 2.0
    threshold = max(_otsu(distance[inside_b]), stands_out(noise))
    strokes = (distance > threshold) & inside_b
    method = "background"
    clusters = None
    share = strokes.sum() / area
    if noise > NOISY_RING or share > 0.45 or share < MIN_BACKGROUND_FRACTION:  # busy, or found little
        clusters = _colour_clusters(crop, inside_b, ring_b, short_side)
        if clusters is not None:
            found = clusters[0].sum()
            # too much: the colours; too little: the colours when they find more; a busy ring with a
            # plausible share: the colours only when they are the tighter of the two
            if share > 0.45 or (found > strokes.sum() if share < MIN_BACKGROUND_FRACTION else found <= strokes.sum()):
                strokes, method = clusters[0], "colour"
    if method == "background" and noise > CALM_RING:
        # a varied background (on a calm one the model is exact, outlines and shadows included): what
        # differs from it may be the picture (a bright rim, a highlight) rather than the text. When the
        # colour clusters' strokes are other pixels (not mostly the same), they are the text when they
        # are even and have more glyph-sized parts than the background's, or when those are not even
        # strokes.
        clusters = clusters if clusters is not None else _colour_clusters(crop, inside_b, ring_b, short_side)
        pen = clusters[0] if clusters is not None else None
        if pen is not None and (pen & strokes).sum() < SAME_STROKES * min(pen.sum(), strokes.sum()) and _even_strokes(pen, short_side):
            glyphs = _glyph_count(pen, short_side)
            if glyphs > _glyph_count(strokes, short_side) or (glyphs and not _even_strokes(strokes, short_side)):
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

    calm = method == "background" and noise <= CALM_RING
    # JPEG ringing is filled at once only where the picture was JPEG-compressed: elsewhere the same band
    # is mostly picture (brick mortar, a backdrop's edge next to the strokes) and filling it costs PSNR
    jpeg = _jpeg_compressed(image[y0 - y0 % 8:y1, x0 - x0 % 8:x1])
    grown, wide = _refine(crop, strokes, halo_b, ring_b, background if calm else None, noise, short_side, color,
                          local_noise=method == "background", jpeg=jpeg)
    masks = []
    for pixels in (grown, wide):
        dilated = (cv2.dilate(pixels.astype(np.uint8), _disk(widen)) if widen else pixels.astype(np.uint8)) & halo
        full = np.zeros((height, width), np.uint8)
        full[y0:y1, x0:x1] = dilated
        masks.append(full)
    return StrokeMask(masks[0], color, fraction, blob_fraction, method, wide=masks[1])


def _refine(crop, strokes, halo, ring, surface, noise, short_side, colour, local_noise=False, jpeg=True):
    """The strokes made exact: each pixel's share of the text colour (alpha matting against a local
    background estimate), stray pixels dropped, anti-aliasing and a shadow added next to the strokes.
    Returns (mask, wide): `wide` adds the pixels off the background next to the strokes (JPEG ringing,
    colour fringes), which `mask` has only when `jpeg`."""
    valid = (cv2.dilate(strokes.astype(np.uint8), _disk(2)) == 0).astype(np.float32)
    if surface is None:
        sigma = max(2.0, short_side * BG_SIGMA)
        weight = cv2.GaussianBlur(valid, (0, 0), sigma)
        local = cv2.GaussianBlur(crop * valid[..., None], (0, 0), sigma) / np.maximum(weight, 1e-3)[..., None]
        if local_noise and ring.any():  # the texture's noise around the local model, not the surface's
            noise = robust_sigma(np.linalg.norm(crop - local, axis=2)[ring])
    else:
        local = surface
    offset = crop - local
    outlined = _outlined(crop, strokes) if surface is None else None
    if outlined is not None:
        # a fill and an outline of two colours: the outline is the colour the picture meets
        colour = outlined[1]
    text = np.asarray(colour, np.float32)
    towards = text - local
    contrast2 = np.maximum((towards**2).sum(axis=2), 1.0)
    alpha = (offset * towards).sum(axis=2) / contrast2
    off_line = np.linalg.norm(offset - alpha[..., None] * towards, axis=2)
    contrast = np.sqrt(contrast2)
    fits = off_line < OFF_LINE * contrast + 2.0 * noise + 2.0
    if outlined is not None:
        # (the one-colour test below would keep only the outline, or only the fill)
        core, flat = strokes, outlined
    else:
        core = strokes & (alpha > ALPHA_CORE) & fits
        if core.sum() < 0.3 * strokes.sum():
            core = strokes
        flat = _flat_core(crop, core) if surface is None else None  # (a calm background's model is exact)
    if flat is not None:
        # what the flat colour left out is the picture: no later step (anti-aliasing, ringing, shadow)
        # grows into it. Only sizeable parts: a speck inside a stroke left unmasked would seed the fill
        # with the text's colour (one such pixel cost a line 3 dB)
        dropped = (core & ~flat[0]).astype(np.uint8)
        _, labels, stats, _ = cv2.connectedComponentsWithStats(dropped, connectivity=8)
        parts = np.flatnonzero(stats[:, cv2.CC_STAT_AREA] >= FLAT_MIN_PIXELS)
        closed = np.isin(labels, parts[parts > 0])
        halo = halo & ~closed
        core = flat[0]
    core = _stroke_components(core)
    noise_here = noise
    if surface is None:
        # the noise where each pixel is (RMS of the picture around the local background, away from the
        # strokes), where that is calmer than the ring as a whole: a smooth backdrop beside a busy
        # one (the astronaut's "太空" next to a rocket) keeps the strokes' faint anti-aliased edge
        sigma_here = max(3.0, short_side * LOCAL_NOISE_SIGMA)
        weight_here = cv2.GaussianBlur(valid, (0, 0), sigma_here)
        rms = cv2.GaussianBlur((offset**2).sum(axis=2) * valid, (0, 0), sigma_here) / np.maximum(weight_here, 1e-3)
        noise_here = np.minimum(noise, np.sqrt(rms))
    # anti-aliasing: a share of the text colour above the noise, next to the core
    floor = np.maximum(ALPHA_SOFT, (SOFT_NOISE * noise_here + 2.0) / contrast)
    soft = (alpha > floor) & fits & halo
    if flat is not None:
        # a flat-coloured text's anti-aliasing is a mixture of that colour and the background: never
        # beyond the text's colour (a highlight brighter than white letters beside them)
        towards_flat = flat[1] - local
        contrast_flat2 = np.maximum((towards_flat**2).sum(axis=2), 1.0)
        share = (offset * towards_flat).sum(axis=2) / contrast_flat2
        soft &= share <= 1.0 + flat[2] / np.sqrt(contrast_flat2)
    grown = _reconstruct(core, soft | core, max(2, int(round(short_side * SOFT_REACH))))
    if surface is None:
        # the strokes' faint rim where the picture beside them has an edge (the rocket's white body against
        # a brown tower): the blurred local background mixes the two sides and the edge counts as noise,
        # so the anti-aliasing test above misses it; judged against each nearby picture pixel instead
        grown = grown | _unexplained(crop, text, grown, halo)
    if flat is not None and closed.any():
        # after the rim: beside a dropped picture shape its own blurred edge holds the text's colour too
        grown = _first_pixel_near(grown, core, closed)
    shaded = np.zeros_like(grown)
    # compression ringing and colour fringes: pixels off the local background (any direction) that
    # touch the strokes, within `FRINGE_REACH` pixels. In a picture that is not JPEG-compressed this
    # band is mostly the picture's own detail next to the strokes (brick mortar: 4 dB per box on the
    # benchmark), so it is left out of the first fill there and kept for a retry (`StrokeMask.wide`)
    off = np.linalg.norm(offset, axis=2) > FRINGE_K * noise + FAINT_C
    before = grown
    grown = _reconstruct(grown, (off & halo) | grown, FRINGE_REACH)
    fringe = grown & ~before
    if surface is not None and noise <= CALM_RING:
        # a calm background modelled exactly: anything that differs from it next to the strokes
        # (outlines, shadows, glows of any colour) is the text's
        faint = np.linalg.norm(offset, axis=2) > max(FAINT_K * noise + FAINT_C, FAINT_MIN)
        reach = max(2, int(round(short_side * SHADOW_REACH)))
        # (the background model's strokes are exact here: an outline of another colour is kept)
        grown = grown | strokes
        extra = _reconstruct(grown, (faint & halo) | grown, reach)
        shaded = shaded | (extra & ~grown)
        grown = extra
    if SHADOW:
        # a shadow (or an outline): darker or lighter than the background next to the strokes, in
        # the direction that clings to them and not to the background's own texture
        reach = max(2, int(round(short_side * SHADOW_REACH)))
        band = (cv2.dilate(grown.astype(np.uint8), _disk(reach)) > 0) & ~grown & halo
        best, best_gain = None, 0.0
        for target in (0.0, 255.0):
            way = target - local
            way2 = np.maximum((way**2).sum(axis=2), 1.0)
            beta = (offset * way).sum(axis=2) / way2
            shade = beta > np.maximum(SHADOW_MIN, (SHADOW_NOISE * noise + 2.0) / np.sqrt(way2))
            near_share = float(shade[band].mean()) if band.any() else 0.0
            far_share = float(shade[ring].mean()) if ring.any() else 1.0
            gain = near_share - SHADOW_RATIO * far_share - 0.05
            if gain > best_gain:
                best, best_gain = shade, gain
        if best is not None:
            shadow = _reconstruct(grown, (best & halo) | grown, reach) & ~grown
            if shadow.sum() <= SHADOW_MAX * max(int(grown.sum()), 1):
                shaded = shaded | shadow
                grown = grown | shadow
    if shaded.any():
        # a soft shadow or glow fades out over a few pixels; its faint tail, left behind, still
        # outlines the glyphs for a reader: the shadow part (only) is widened by 3 % of the text height
        shaded = (cv2.dilate(shaded.astype(np.uint8), _disk(max(1, int(round(short_side * SHADOW_PAD))))) > 0) & halo
        grown = grown | shaded
    # (a fringe pixel that a shadow or outline also took stays: it is that shadow's edge)
    # (on a calm background the band is what differs from the exact model there: kept)
    keep = jpeg or (surface is not None and noise <= CALM_RING)
    return (grown if keep else grown & ~(fringe & ~shaded)), grown


def _first_pixel_near(grown: np.ndarray, core: np.ndarray, closed: np.ndarray) -> np.ndarray:
    """`grown` (the strokes `core` and their anti-aliasing) with only the strokes' first pixel beside them
    within `FLAT_EDGE` px of `closed` (a shape of the picture the strokes touched, dropped by the flat-colour
    test): a pixel there is as likely that shape's own blurred edge as the letter's soft edge (the rim of the
    astronaut's helmet highlight around the "9" of "HERITAGE 1905")."""
    near = cv2.dilate(closed.astype(np.uint8), _disk(FLAT_EDGE)) > 0
    first = cv2.dilate(core.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    return grown & (~near | first)


def _unexplained(crop: np.ndarray, text: np.ndarray, grown: np.ndarray, halo: np.ndarray) -> np.ndarray:
    """The pixels touching `grown` (8-connected, inside `halo`) that hold some of the text's colour under
    every picture background near them: each picture pixel `RIM_GAP` to `RIM_RADIUS` px from the mask is a
    candidate background b, and a pixel p is explained by b with a share a of the text colour t when p lies
    within `RIM_TOL` of b + a (t - b). A pixel is taken when every candidate that explains it needs
    a >= `RIM_ALPHA` (and a candidate does). The picture explains its own pixels, texture included: fur or
    brick beside the strokes has a pixel of its own colour nearby (a = 0); an anti-aliased rim needs the text's
    colour whichever side of a picture edge its background is taken from."""
    height, width = grown.shape
    band = (cv2.dilate(grown.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0) & ~grown & halo
    ys, xs = np.nonzero(band)
    if not len(ys):
        return band
    picture = cv2.dilate(grown.astype(np.uint8), _disk(RIM_GAP - 1)) == 0
    pixels = crop[ys, xs]
    least = np.full(len(ys), np.inf, np.float32)
    for dy in range(-RIM_RADIUS, RIM_RADIUS + 1):
        for dx in range(-RIM_RADIUS, RIM_RADIUS + 1):
            if dy * dy + dx * dx > RIM_RADIUS * RIM_RADIUS:
                continue
            yy, xx = ys + dy, xs + dx
            inside = (yy >= 0) & (yy < height) & (xx >= 0) & (xx < width)
            yy, xx = np.clip(yy, 0, height - 1), np.clip(xx, 0, width - 1)
            inside &= picture[yy, xx]
            back = crop[yy, xx]
            towards = text - back
            share = np.clip(((pixels - back) * towards).sum(axis=1) / np.maximum((towards**2).sum(axis=1), 1.0), 0.0, 1.0)
            explains = inside & (np.linalg.norm(pixels - back - share[:, None] * towards, axis=1) <= RIM_TOL)
            least = np.where(explains, np.minimum(least, share), least)
    taken = np.zeros_like(band)
    taken[ys, xs] = np.isfinite(least) & (least >= RIM_ALPHA)
    return taken


def _flat_colour(pixels: np.ndarray, share: float = FLAT_SHARE) -> tuple[np.ndarray, float] | None:
    """The one colour most of `pixels` (N x 3, RGB) share, and its tolerance, or None: the peak of a
    coarse colour histogram (bins of 8, each summed with its 3x3x3 neighbours), refined to the median of
    the pixels near it; the tolerance is `FLAT_TOL` or `FLAT_K` times their robust spread around it, and
    the pixels within it must be `share` of all (`FLAT_SHARE`; 0: the most common colour, whatever its share)."""
    values = pixels.astype(np.float32)
    bins = np.clip(values // 8, 0, 31).astype(np.int64) + 1
    hist = np.zeros((34, 34, 34), np.float32)
    np.add.at(hist, (bins[:, 0], bins[:, 1], bins[:, 2]), 1)
    box = sum(np.roll(hist, (a, b, c), axis=(0, 1, 2)) for a in (-1, 0, 1) for b in (-1, 0, 1) for c in (-1, 0, 1))
    centre = (np.array(np.unravel_index(int(np.argmax(box)), box.shape), np.float32) - 1) * 8 + 4
    for _ in range(2):
        near = np.linalg.norm(values - centre, axis=1) < 16
        if not near.any():
            return None
        centre = np.median(values[near], axis=0)
    distance = np.linalg.norm(values - centre, axis=1)
    tolerance = max(FLAT_TOL, FLAT_K * robust_sigma(distance[distance < 24]))
    if tolerance > FLAT_MAX_TOL:
        return None
    return (centre, tolerance) if (distance <= tolerance).mean() >= share else None


def _flat_core(crop: np.ndarray, core: np.ndarray):
    """(core, colour, tolerance) without the picture's pixels that a flat-coloured text's strokes touch
    (a silver ring, a white strap, a saucer's rim, a highlight), or None when the text is not flat.
    Text laid over a photograph is usually painted in one colour: inside its strokes (pixels not on
    the mask's edge) the colour is one value up to noise, while the picture's shapes vary. When one
    colour holds most of those inside pixels (`_flat_colour`), inside pixels far from it are dropped;
    next to them, what is left is kept only within `FLAT_EDGE` pixels of a pure inside pixel of what is
    left (the soft edge of a dropped highlight passes through the text's colour, in a thin band).
    Anywhere, only what lies within `FLAT_EDGE` pixels of a pixel of the text's colour stays: a thin
    shape the strokes touch (a strap's edge, too thin to have an inside) is not the text. Not judged when the text's colour spreads
    from the strokes into the picture (`_joined_share` over `FLAT_JOINED`: light letters crossing a white
    cup, whose pixels are as pure as the letters') or is spread wider than `FLAT_MAX_TOL` (no painted
    colour)."""
    deep = cv2.distanceTransform(core.astype(np.uint8), cv2.DIST_L2, 3) >= 1.5
    if deep.sum() < FLAT_MIN_PIXELS:
        return None
    found = _flat_colour(crop[deep])
    if found is None:
        return None
    colour, tolerance = found
    pure = np.linalg.norm(crop - colour, axis=2) <= tolerance
    if _joined_share(pure, deep, core) > FLAT_JOINED:
        return None
    impure = deep & ~pure
    kept = core & ~impure
    inner = cv2.distanceTransform(kept.astype(np.uint8), cv2.DIST_L2, 3) >= 1.5
    near = cv2.dilate(impure.astype(np.uint8), _disk(FLAT_EDGE + 1)) > 0
    kept = kept & ~(near & ~_reconstruct(inner & pure, kept, FLAT_EDGE))
    # every pixel of a flat-coloured text lies within its soft edge of a pixel of that colour: a thin shape
    # of the picture with no pixel of the text's colour (a strap's edge, a ring's rim) is not the text
    kept = kept & _reconstruct(pure & kept, kept, FLAT_EDGE)
    kept = _painted_parts(kept, pure)
    return (kept, colour, tolerance) if kept.sum() >= FLAT_KEEP * core.sum() else None


def _painted_parts(kept: np.ndarray, pure: np.ndarray) -> np.ndarray:
    """`kept` without its connected parts of which under `FLAT_PART` are of the text's colour (`pure`)."""
    count, labels = cv2.connectedComponents(kept.astype(np.uint8), connectivity=8)
    if count <= 2:
        return kept
    size = np.bincount(labels.ravel(), minlength=count)
    painted = np.bincount(labels[pure & kept], minlength=count)
    drop = np.flatnonzero(painted < FLAT_PART * size)
    drop = drop[drop > 0]
    return kept & ~np.isin(labels, drop) if len(drop) else kept


def _outlined(crop: np.ndarray, strokes: np.ndarray):
    """(strokes, outline colour, tolerance) of a text painted in two flat colours, a fill and an outline
    around it, without the picture's pixels of the outline's colour beyond the outline's band; or None.
    Two colours (`_flat_colour`'s peak, then its peak among the pixels far from the first) must hold most
    of the strokes (`OUTLINE_SHARE`, each at least `OUTLINE_MIN`), and one of them (the outline: the
    shallower of the two in the mask) must border most of the other's edge (`OUTLINE_AROUND`, within
    2 px: an anti-aliased pixel lies between them). An outline is an even band around the fill: the
    strokes within about twice the outline's median distance from the fill (+1 px) are kept, the rest of
    its colour is the picture (a light flare, a white body the outline runs into). The one-colour test
    (`_flat_core`) would keep only one of the two (the rocket's "LAUNCH" lost its yellow "N" over the
    white body)."""
    pixels = crop[strokes]
    if len(pixels) < 2 * FLAT_MIN_PIXELS:
        return None
    first = _flat_colour(pixels, share=0.0)
    if first is None:
        return None
    rest = pixels[np.linalg.norm(pixels - first[0], axis=1) > 2 * first[1]]
    second = _flat_colour(rest, share=0.0) if len(rest) >= FLAT_MIN_PIXELS else None
    if second is None:
        return None
    near = [strokes & (np.linalg.norm(crop - c, axis=2) <= t) for c, t in (first, second)]
    shares = [float(n.sum()) / len(pixels) for n in near]
    if min(shares) < OUTLINE_MIN or sum(shares) < OUTLINE_SHARE:
        return None
    depth = cv2.distanceTransform(strokes.astype(np.uint8), cv2.DIST_L2, 3)
    inner, outer = sorted(range(2), key=lambda i: -float(depth[near[i]].mean()))
    fill, line = near[inner], near[outer]
    edge = fill & (cv2.dilate((~fill).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)
    touching = edge & (cv2.dilate(line.astype(np.uint8), _disk(2)) > 0)  # (an anti-aliased pixel between)
    if touching.sum() < OUTLINE_AROUND * max(1, int(edge.sum())):
        return None
    away = cv2.distanceTransform((~fill).astype(np.uint8), cv2.DIST_L2, 3)
    band = away <= 2.0 * float(np.median(away[line])) + 1.0
    # (with the anti-aliased boundary between fill and outline, a mixture in neither colour that the
    # strokes may lack)
    between = (cv2.dilate(fill.astype(np.uint8), _disk(2)) > 0) & (cv2.dilate((line & band).astype(np.uint8), _disk(2)) > 0)
    kept = fill | ((between | strokes) & band)
    colour, tolerance = (first, second)[outer]
    return kept, colour, tolerance


def _joined_share(pure: np.ndarray, deep: np.ndarray, core: np.ndarray) -> float:
    """How far the text's colour (`pure`) runs from the strokes into the picture: the pixels of that colour
    connected (8-connected, through that colour) to the strokes' pure inside (`deep`), more than 2 px from
    the strokes (`core`), over the strokes' pure pixels. A white cup the light letters cross is one piece
    with them (coffee's "咖啡时光": 0.17-0.26); a patch of that colour elsewhere around the line counts only
    where it touches them (coffee's "Latte 2024": 0.09, all of it the upright of the "L" its detected box
    cut off; every other line of the benchmark and its held-out scenes 0.00-0.08)."""
    count, labels = cv2.connectedComponents(pure.astype(np.uint8), connectivity=8)
    if count <= 1:
        return 0.0
    joined = np.zeros(count, bool)
    joined[labels[deep & pure]] = True
    joined[0] = False
    outside = joined[labels] & ~(cv2.dilate(core.astype(np.uint8), _disk(2)) > 0)
    return float(outside.sum()) / max(1, int((pure & core).sum()))


def _stroke_components(core: np.ndarray) -> np.ndarray:
    """`core` without the connected parts that are much thicker than the text's strokes (a highlight,
    a patch of the text's colour in the picture): a part is dropped when its thickest point is more
    than `THICK_RATIO` times the typical stroke's."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(core.astype(np.uint8), connectivity=8)
    if count <= 2:
        return core
    depth = cv2.distanceTransform(core.astype(np.uint8), cv2.DIST_L2, 3)
    thickest = np.zeros(count, np.float32)
    np.maximum.at(thickest, labels.ravel(), depth.ravel())
    areas = stats[:, cv2.CC_STAT_AREA].astype(np.float64)
    parts = np.arange(1, count)
    # the typical stroke: the area-weighted median of the parts' thickness
    order = parts[np.argsort(thickest[parts])]
    cumulative = np.cumsum(areas[order])
    typical = float(thickest[order[np.searchsorted(cumulative, cumulative[-1] / 2)]])
    drop = parts[thickest[parts] > THICK_RATIO * max(typical, 1.0)]
    if not len(drop):
        return core
    return core & ~np.isin(labels, drop)


def _even_strokes(pixels: np.ndarray, short_side: int) -> bool:
    """Whether `pixels` look like pen strokes: along their ridges (local maxima of the distance to the
    edge) the half-width is at least `EVEN_MIN_WIDTH` pixels (not speckle or a thin highlight), at most
    `EVEN_MAX_WIDTH` of the text's height (not a solid patch), and about the same everywhere."""
    depth = cv2.distanceTransform(pixels.astype(np.uint8), cv2.DIST_L2, 3)
    ridge = (depth > 0) & (depth >= cv2.dilate(depth, np.ones((3, 3), np.uint8)))
    widths = depth[ridge]
    if widths.size < 8:
        return False
    middle = float(np.median(widths))
    spread = float(widths.std() / max(widths.mean(), 1e-6))
    return EVEN_MIN_WIDTH <= middle <= EVEN_MAX_WIDTH * short_side and spread < EVEN_MAX_CV


def _glyph_count(pixels: np.ndarray, short_side: int) -> int:
    """How many connected parts of `pixels` are glyph-sized: at least `GLYPH_MIN` of the text's height
    tall or wide, at most `GLYPH_MAX` of it in either direction (not speckle, not a rim along the line)."""
    count, _, stats, _ = cv2.connectedComponentsWithStats(pixels.astype(np.uint8), connectivity=8)
    sides = stats[1:, [cv2.CC_STAT_WIDTH, cv2.CC_STAT_HEIGHT]]
    if not len(sides):
        return 0
    longest = sides.max(axis=1)
    return int(((longest >= GLYPH_MIN * short_side) & (longest <= GLYPH_MAX * short_side)).sum())


def _reconstruct(seed: np.ndarray, allowed: np.ndarray, steps: int) -> np.ndarray:
    """`seed` grown into the connected `allowed` pixels, at most `steps` pixels (8-connected)."""
    current = seed.astype(np.uint8)
    allowed_u8 = allowed.astype(np.uint8)
    kernel = np.ones((3, 3), np.uint8)
    for _ in range(steps):
        grown = cv2.dilate(current, kernel) & allowed_u8
        if np.array_equal(grown, current):
            break
        current = grown
    return current.astype(bool)


def _colour_clusters(crop: np.ndarray, inside: np.ndarray, ring: np.ndarray, short_side: int):
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
    # the colour whose pixels form pen strokes of even width with the most glyph-sized parts, among
    # those not common in the ring: the text when the rare colours are something else (the bright rim
    # of a saucer under dark text) or when, at low contrast against a varied background, no colour is
    # rare enough in the ring
    pen, pen_glyphs, pen_c = None, 0, -1
    for c in np.argsort(ratio):
        if p_in[c] < EVEN_MIN_SHARE or ratio[c] >= EVEN_MAX_RATIO:
            continue
        pixels = (labels == c) & inside
        glyphs = _glyph_count(pixels, short_side)
        if glyphs > pen_glyphs and _even_strokes(pixels, short_side):
            pen, pen_glyphs, pen_c = pixels, glyphs, c
    if not text:
        return None if pen is None else (pen, pen)
    chosen, total = [], 0.0
    for c in text:
        if total + p_in[c] > MAX_CORE_FRACTION and chosen:
            break
        chosen.append(c)
        total += p_in[c]
    union = np.isin(labels, chosen) & inside
    if pen is not None and pen_c not in chosen and pen_glyphs > _glyph_count(union, short_side):
        return pen, pen
    return union, (labels == text[0]) & inside


def _dct_matrix() -> np.ndarray:
    k = np.arange(8)
    matrix = np.cos(np.pi * (2 * k[None, :] + 1) * k[:, None] / 16) * np.sqrt(2 / 8)
    matrix[0] /= np.sqrt(2)
    return matrix


_DCT8 = _dct_matrix()


def _quantised(luma: np.ndarray) -> float:
    """How strongly the 8x8 block DCT coefficients of `luma` (starting at its top-left corner) cluster
    at multiples of one step: the mean cosine of coefficient / step for the best step (3..39), over
    five low frequencies (only coefficients > 2 in size, so flat blocks say nothing, and only when they
    fall on at least three different multiples, none holding half of them). JPEG quantises
    exactly these coefficients: near 1 on the grid of a JPEG-compressed picture, low elsewhere."""
    h, w = (luma.shape[0] // 8) * 8, (luma.shape[1] // 8) * 8
    if h < 16 or w < 16:
        return 0.0
    blocks = luma[:h, :w].reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3).reshape(-1, 8, 8)
    coef = _DCT8 @ blocks @ _DCT8.T
    steps = np.arange(3, 40, dtype=np.float64)
    best = 0.0
    for u, v in ((0, 1), (1, 0), (1, 1), (0, 2), (2, 0)):
        c = coef[:, u, v]
        c = c[np.abs(c) > 2.0]
        if c.size < 30:
            continue
        scores = np.cos(2 * np.pi * c[None, :] / steps[:, None]).mean(axis=1)
        step = steps[int(np.argmax(scores))]
        # a smooth gradient repeats one coefficient in every block: evidence only from varied values
        _, counts = np.unique(np.round(c / step), return_counts=True)
        if len(counts) >= 3 and counts.max() <= 0.5 * c.size:
            best = max(best, float(scores.max()))
    return best


def _jpeg_compressed(window: np.ndarray) -> bool:
    """Whether `window` (RGB, its top-left corner on the image's 8x8 grid) shows JPEG quantisation:
    its block DCT coefficients cluster at multiples of a step on the grid (`JPEG_ON_GRID`) and clearly
    more than off it (`JPEG_MARGIN`; a flat or synthetic gradient clusters everywhere). A resized or
    lightly compressed (quality ~95) JPEG is not seen as one; its ringing is faint too."""
    luma = window.astype(np.float64) @ np.array([0.299, 0.587, 0.114]) - 128.0
    on = _quantised(luma)
    return on >= JPEG_ON_GRID and on - max(_quantised(luma[4:, 4:]), _quantised(luma[3:, 5:])) >= JPEG_MARGIN


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


def robust_sigma(values: np.ndarray) -> float:
    """The noise level of colour distances to a background model: their median scaled to a Gaussian's
    standard deviation (1.4826), untouched by the few strokes among them."""
    return float(np.median(values)) * 1.4826


def stands_out(noise: float) -> float:
    """The colour distance above which a pixel differs from its background: 3 noise levels + 4, at least 12."""
    return max(3.0 * noise + 4.0, 12.0)


def _disk(radius: int) -> np.ndarray:
    size = 2 * int(radius) + 1
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))


# strokes against their own local background (a read-back retry, `local_strokes`); fractions of the line's height
LOCAL_KERNEL = 0.4  # the local background: a median filter this wide (strokes and shadow are under half of it)
LOCAL_REACH = 0.15  # a shadow may reach this far beyond the window
LOCAL_CLOSE = 0.04  # the parts found are closed by a disk this wide (a light letter between its shadow's edges)


def local_strokes(image: np.ndarray, window: np.ndarray, line_height: float) -> np.ndarray:
    """The thin structures inside `window` (uint8 {0,1} H x W) that differ from their own local
    background: each pixel against the per-channel median of a square `LOCAL_KERNEL` line heights wide.
    Strokes and their shadow are thinner than half of it, so the median is the picture under them
    where the line crosses it (a white cup), not the line's average background, which a light letter
    over a white cup hardly differs from. Returns a uint8 {0,1} H x W mask."""
    height, width = window.shape
    ys, xs = np.nonzero(window)
    empty = np.zeros((height, width), np.uint8)
    if len(ys) == 0:
        return empty
    size = max(7, int(round(line_height * LOCAL_KERNEL)) | 1)
    reach = max(2, int(round(line_height * LOCAL_REACH)))
    margin = size + reach
    y0, y1 = max(0, ys.min() - margin), min(height, ys.max() + margin + 1)
    x0, x1 = max(0, xs.min() - margin), min(width, xs.max() + margin + 1)
    crop = np.ascontiguousarray(image[y0:y1, x0:x1])
    background = np.stack([cv2.medianBlur(np.ascontiguousarray(crop[..., c]), size) for c in range(3)], axis=-1)
    residual = np.linalg.norm(crop.astype(np.float32) - background.astype(np.float32), axis=2)
    found = (residual > stands_out(robust_sigma(residual))).astype(np.uint8)
    found = cv2.morphologyEx(found, cv2.MORPH_CLOSE, _disk(max(1, int(round(line_height * LOCAL_CLOSE)))))
    full = empty.copy()
    full[y0:y1, x0:x1] = found & cv2.dilate(window[y0:y1, x0:x1], _disk(reach))
    return full
