"""Glyph rendering with the default font: shapes, placement, orientation, vertical text, spacing."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from wenchuang.errors import RequestError
from wenchuang.layout.glyphs import (
    TextConditions,
    build_text_conditions,
    draw_glyph_canvas,
    draw_glyph_line,
    draw_position,
    glyph_ink_fraction,
    insert_spaces,
)


def _box(cx, cy, w, h, angle=0.0):
    return cv2.boxPoints(((cx, cy), (w, h), angle)).tolist()


def _ink_rect(image):
    """Rotated rectangle of the ink: centre, (long side, short side), angle of the long side in degrees."""
    ys, xs = np.nonzero(image)
    (cx, cy), (w, h), angle = cv2.minAreaRect(np.stack([xs, ys], 1).astype(np.float32))
    if w < h:
        w, h, angle = h, w, angle + 90
    angle = (angle + 90) % 180 - 90  # long-side direction in [-90, 90)
    return (cx, cy), (w, h), angle


def test_glyph_line_is_centred_and_fitted():
    for text in ["天路", "Hello 世界", "AnyText 2026"]:
        line = draw_glyph_line(text)
        assert line.shape == (80, 512) and line.dtype == np.float32
        assert set(np.unique(line)) == {0.0, 1.0}
        ys, xs = np.nonzero(line)
        assert abs((xs.min() + xs.max()) / 2 - 256) < 8
        assert xs.max() - xs.min() < 512 * 0.92 and ys.max() - ys.min() < 80 * 0.95
        # fitted: it fills 90 % of one dimension (width for long text, height for short)
        assert xs.max() - xs.min() > 512 * 0.8 or ys.max() - ys.min() > 80 * 0.75


def test_horizontal_canvas_latin_and_cjk():
    poly = _box(256, 200, 360, 80)
    glyph = draw_glyph_canvas("Hello 文创", poly, 512, 512)
    assert glyph.shape == (1024, 1024) and glyph.dtype == np.float32
    assert set(np.unique(glyph)) == {0.0, 1.0}
    assert glyph_ink_fraction(glyph, poly, scale=2) > 0.99
    (cx, cy), (long, short), angle = _ink_rect(glyph)
    assert abs(cx - 512) < 20 and abs(cy - 400) < 20
    assert abs(angle) < 3
    assert long > 2 * 360 * 0.6  # the text spans most of the region's length


@pytest.mark.parametrize("angle", [-35, -15, 20, 40])
def test_rotated_canvas_follows_the_region(angle):
    poly = _box(300, 260, 320, 70, angle)
    glyph = draw_glyph_canvas("文创ABC", poly, 640, 512)
    assert glyph.shape == (1024, 1280)
    assert glyph.sum() > 500
    assert glyph_ink_fraction(glyph, poly, scale=2) > 0.98
    (cx, cy), _, ink_angle = _ink_rect(glyph)
    assert abs(cx - 600) < 25 and abs(cy - 520) < 25
    assert abs(ink_angle - angle) < 5


def test_tall_region_gets_vertical_text():
    poly = _box(200, 256, 60, 300)
    text = "文创之美"
    glyph = draw_glyph_canvas(text, poly, 512, 512)
    assert glyph_ink_fraction(glyph, poly, scale=2) > 0.99
    ys, xs = np.nonzero(glyph)
    assert ys.max() - ys.min() > 2.5 * (xs.max() - xs.min())  # characters stacked
    # four separate characters one under the other: ink rows form 4 bands
    rows = glyph.sum(axis=1) > 0
    bands = np.count_nonzero(np.diff(rows.astype(np.int8)) == 1) + int(rows[0])
    assert bands == len(text)
    # the same region turned 30 degrees is read as a rotated horizontal line instead
    tilted = draw_glyph_canvas(text, _box(200, 256, 60, 300, 30), 512, 512)
    _, _, ink_angle = _ink_rect(tilted)
    assert abs(abs(ink_angle) - 60) < 6


def test_long_text_shrinks_to_fit():
    poly = _box(256, 256, 200, 60)
    glyph = draw_glyph_canvas("一二三四五六七八九十", poly, 512, 512)
    # the official rule (85 % of the size that would fit exactly, measured at size 60) may let
    # the ends touch the region's border
    assert glyph_ink_fraction(glyph, poly, scale=2) > 0.95
    ys, xs = np.nonzero(glyph)
    assert 2 * 200 * 0.8 < xs.max() - xs.min() <= 2 * 200 * 1.1
    assert ys.max() - ys.min() < 2 * 60 * 0.6  # much smaller than a short line's 80 % of the height


def test_add_space_spreads_short_text():
    poly = _box(256, 256, 400, 60)
    plain = draw_glyph_canvas("AB", poly, 512, 512)
    spaced = draw_glyph_canvas("AB", poly, 512, 512, add_space=True)
    width = lambda g: np.ptp(np.nonzero(g)[1])  # noqa: E731
    assert width(spaced) > 1.5 * width(plain)
    assert glyph_ink_fraction(spaced, poly, scale=2) > 0.99
    assert insert_spaces("ABC", 2) == "A  B  C" and insert_spaces("ABC", 0) == "ABC"


def test_window_rendering_equals_official_full_canvas_steps():
    """The fast windowed path gives the same pixels as the official draw/rotate/paste/convert steps."""
    rng = np.random.default_rng(7)
    texts = ["文创之美", "Hello World", "天路KEDA", "中秋快乐2026", "福", "gjpqy", "春夏秋冬"]
    cases = [
        ("边缘", _box(10, 10, 120, 40, 25), 256, 256),  # text runs off the canvas corner
        ("竖排文字", _box(240, 128, 40, 200), 256, 256),
        ("Edge", [(0, 0), (256, 0), (256, 60), (0, 60)], 256, 256),
    ]
    for _ in range(25):
        w, h = int(rng.choice([256, 384, 512])), int(rng.choice([256, 512]))
        size = (rng.uniform(20, 300), rng.uniform(16, 120))
        if rng.random() < 0.3:
            size = (size[1] * 0.4, size[0])
        angle = float(rng.choice([0.0, 90.0, rng.uniform(-80, 80)]))
        pts = np.clip(np.array(_box(rng.uniform(0, w), rng.uniform(0, h), *size, angle)), 0, [w, h])
        if rng.random() < 0.5:
            pts = np.round(pts)
        cases.append((str(rng.choice(texts)), pts.tolist(), w, h))
    for text, poly, w, h in cases:
        fast = draw_glyph_canvas(text, poly, w, h)
        full = draw_glyph_canvas(text, poly, w, h, exact_steps=True)
        np.testing.assert_array_equal(fast, full, err_msg=f"{text} {poly} {w}x{h}")


def test_position_and_hint():
    a = [(10, 10), (110, 10), (110, 50), (10, 50)]
    b = [(60, 30), (200, 30), (200, 90), (60, 90)]
    pos = draw_position(a, 256, 128)
    assert pos.shape == (128, 256) and pos.dtype == np.float32
    assert pos.sum() == pytest.approx(101 * 41, rel=0.02)
    cond = build_text_conditions(["甲", "乙"], [a, b], 256, 128)
    assert isinstance(cond, TextConditions)
    assert len(cond.glyphs) == len(cond.gly_lines) == len(cond.positions) == 2
    expected_hint = np.clip(cond.positions[0] + cond.positions[1], 0, 1)
    np.testing.assert_array_equal(cond.hint, expected_hint)
    assert cond.glyphs[0].shape == (256, 512) and cond.gly_lines[1].shape == (80, 512)


def test_conditions_match_single_line_drawing_and_out_is_checked():
    texts = ["文创工作室", "Hello", "山水"]
    polys = [_box(200, 60, 300, 60), _box(250, 200, 300, 60, 25), _box(450, 300, 50, 200)]
    cond = build_text_conditions(texts, polys, 512, 384)
    for text, poly, glyph, position in zip(texts, polys, cond.glyphs, cond.positions):
        np.testing.assert_array_equal(glyph, draw_glyph_canvas(text, poly, 512, 384))
        np.testing.assert_array_equal(position, draw_position(poly, 512, 384))
    out = np.zeros((768, 1024), np.float32)
    assert draw_glyph_canvas("山水", polys[2], 512, 384, out=out) is out and out.sum() > 0
    with pytest.raises(ValueError, match=r"float32 of shape \(768, 1024\)"):
        draw_glyph_canvas("山水", polys[2], 512, 384, out=np.zeros((384, 512), np.float32))


def test_build_text_conditions_errors_and_empty():
    with pytest.raises(RequestError, match="2 texts but 1 polygons"):
        build_text_conditions(["a", "b"], [[(0, 0), (10, 0), (10, 10), (0, 10)]], 64, 64)
    empty = build_text_conditions([], [], 64, 32)
    assert empty.glyphs == [] and empty.hint.shape == (32, 64) and empty.hint.sum() == 0


def test_font_choice_changes_glyphs(wqy_font):
    poly = _box(256, 128, 300, 80)
    noto = draw_glyph_canvas("文创", poly, 512, 256)
    wqy = draw_glyph_canvas("文创", poly, 512, 256, font=wqy_font)
    assert noto.sum() > 0 and wqy.sum() > 0
    assert not np.array_equal(noto, wqy)


def test_drawn_stroke_polygon_and_blank_text():
    mask = np.zeros((256, 256), np.uint8)
    cv2.ellipse(mask, (128, 128), (100, 30), 20, 0, 360, 255, -1)
    from wenchuang.layout.polygons import polygons_from_mask

    (poly,) = polygons_from_mask(mask)
    assert len(poly) > 4  # approxPolyDP keeps the curve
    cond = build_text_conditions(["椭圆形"], [poly], 256, 256)
    assert glyph_ink_fraction(cond.glyphs[0], poly, scale=2) > 0.95
    # the official "no text" line is a single space: empty glyphs, but a position all the same
    blank = build_text_conditions([" "], [poly], 256, 256)
    assert blank.glyphs[0].sum() == 0 and blank.gly_lines[0].sum() == 0 and blank.positions[0].sum() > 0


def test_revise_position_shrinks_to_the_glyphs():
    from wenchuang.layout.glyphs import revise_position
    from wenchuang.layout.polygons import min_area_rect

    poly = _box(256, 256, 400, 120)
    glyph = draw_glyph_canvas("文创", poly, 512, 512)
    revised = revise_position(glyph, 512, 512)
    assert revised is not None
    position, new_poly = revised
    assert position.shape == (512, 512) and position.dtype == np.float32
    assert position.min() == 0.0 and position.max() == 1.0
    # smaller than the drawn region, still around the text, and it holds all of the glyphs' ink
    assert position.sum() < 0.8 * draw_position(poly, 512, 512).sum()
    (cx, cy), _, _ = min_area_rect(new_poly)
    assert abs(cx - 256) < 10 and abs(cy - 256) < 10
    small = cv2.resize(glyph, (512, 512))
    ink = small > 0.5
    # a closing never lowers a pixel: ink the truncated rectangle leaves out keeps its own value
    assert np.all(position[ink] >= np.floor(small[ink] * 255) / 255)
    assert (position[ink] == 1).mean() > 0.99
    # two blobs too far apart to close into one region: no revision
    apart = np.zeros((1024, 1024), np.float32)
    apart[100:140, 100:140] = 1
    apart[800:840, 800:840] = 1
    assert revise_position(apart, 512, 512) is None
