"""Auto layout: free space, no overlap, reading order, text aspect, determinism, errors."""

from __future__ import annotations

import numpy as np
import pytest

from wenchuang.errors import RequestError
from wenchuang.layout.auto import auto_layout, text_aspect
from wenchuang.layout.glyphs import draw_glyph_canvas, glyph_ink_fraction
from wenchuang.layout.polygons import validate_polygon
from wenchuang.request import TextLine


def _rect(poly):
    xs, ys = [p[0] for p in poly], [p[1] for p in poly]
    return min(xs), min(ys), max(xs), max(ys)


def _overlap(a, b):
    ax0, ay0, ax1, ay1 = _rect(a)
    bx0, by0, bx1, by1 = _rect(b)
    return max(0.0, min(ax1, bx1) - max(ax0, bx0)) * max(0.0, min(ay1, by1) - max(ay0, by0))


def test_lines_get_free_non_overlapping_boxes_in_reading_order():
    fixed = [(180, 220), (330, 220), (330, 300), (180, 300)]
    occupied = [[(0, 400), (512, 400), (512, 512), (0, 512)]]
    lines = [
        TextLine("中秋快乐"),
        TextLine("Mid-Autumn 2026"),
        TextLine("月", polygon=fixed),
        TextLine("团圆"),
    ]
    placed = auto_layout(lines, 512, 512, occupied=occupied)
    assert [line.text for line in placed] == [line.text for line in lines]
    assert lines[0].polygon is None  # the input is not modified
    assert placed[2].polygon == fixed
    polys = [line.polygon for line in placed]
    for i, poly in enumerate(polys):
        validate_polygon(poly, 512, 512, f"lines[{i}].polygon")
        assert _overlap(poly, occupied[0]) == 0
        for j in range(i):
            assert _overlap(poly, polys[j]) == 0, (i, j)
    # reading order among the placed lines: each starts at or below the previous one's bottom
    new = [polys[i] for i in (0, 1, 3)]
    for a, b in zip(new, new[1:]):
        assert _rect(b)[1] >= _rect(a)[3]


@pytest.mark.parametrize("text", ["福", "文创", "Hello World", "2026 中秋 Festival"])
def test_box_follows_text_aspect_and_holds_the_glyphs(text):
    (line,) = auto_layout([TextLine(text)], 512, 384)
    x0, y0, x1, y1 = _rect(line.polygon)
    ratio = (x1 - x0) / (y1 - y0)
    assert ratio == pytest.approx(text_aspect(text) * 1.15, rel=0.1)
    glyph = draw_glyph_canvas(text, line.polygon, 512, 384)
    assert glyph.sum() > 0 and glyph_ink_fraction(glyph, line.polygon, scale=2) > 0.99
    # horizontal text in an upright box: the glyphs are wider than tall (for more than one char)
    ys, xs = np.nonzero(glyph)
    if len(text) > 1:
        assert np.ptp(xs) > np.ptp(ys)


def test_many_lines_shrink_to_fit_and_are_deterministic():
    lines = [TextLine(f"第{i}行 line {i}") for i in range(8)]
    first = auto_layout(lines, 256, 256)
    second = auto_layout(lines, 256, 256)
    assert [line.polygon for line in first] == [line.polygon for line in second]
    tops = [_rect(line.polygon)[1] for line in first]
    assert tops == sorted(tops)
    # with nothing in the way the block of lines sits in the middle of the image
    bottom = max(_rect(line.polygon)[3] for line in first)
    assert abs((tops[0] + bottom) / 2 - 128) <= 2
    for i, a in enumerate(first):
        for b in first[:i]:
            assert _overlap(a.polygon, b.polygon) == 0


def test_no_space_left_names_the_line():
    full = [[(0, 0), (256, 0), (256, 256), (0, 256)]]
    with pytest.raises(RequestError) as info:
        auto_layout(
            [TextLine("有", polygon=[(10, 10), (60, 10), (60, 60), (10, 60)]), TextLine("满")],
            256,
            256,
            occupied=full,
        )
    assert info.value.field == "lines[1].polygon"
    assert "no free space" in info.value.message


def test_nothing_to_place_returns_copies():
    line = TextLine("在", polygon=[(10, 10), (60, 10), (60, 60), (10, 60)])
    (copy,) = auto_layout([line], 256, 256)
    assert copy == line and copy is not line
