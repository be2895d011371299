"""Classic engine, generate: 20 fixed rendering cases read back by the real PP-OCRv4 recogniser."""

from __future__ import annotations

import math

import numpy as np
import pytest

from wenchuang.engines import registry
from wenchuang.engines.base import run_request
from wenchuang.engines.classic import ClassicEngine, create_engine, engine_status, make_background
from wenchuang.errors import FontError, RequestError
from wenchuang.layout.fonts import available_fonts
from wenchuang.ocr import normalize_text
from wenchuang.request import DesignRequest, TextLine


def rect(x, y, w, h):
    return [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]


def rotated(cx, cy, w, h, degrees):
    """A w x h rectangle centred on (cx, cy), turned by `degrees` (positive = clockwise on screen)."""
    a = math.radians(degrees)
    ux, uy = math.cos(a), math.sin(a)
    vx, vy = -uy, ux
    return [
        (cx + sx * w / 2 * ux + sy * h / 2 * vx, cy + sx * w / 2 * uy + sy * h / 2 * vy)
        for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1))
    ]


# (case id, [(text, polygon, colour)], options) -- polygons on a 512 x 512 canvas
CASES = [
    ("zh-1", [("文创工作室", rect(60, 200, 390, 90), None)], {}),
    ("en-1", [("Hello World", rect(60, 60, 390, 80), None)], {}),
    ("mixed-1", [("故宫 Museum 2024", rect(30, 380, 450, 70), None)], {}),
    (
        "zh-en-2",
        [("长城礼物", rect(80, 80, 300, 80), None), ("Great Wall", rect(80, 300, 340, 70), None)],
        {},
    ),
    ("rot-zh", [("敦煌飞天", rotated(256, 256, 320, 80, 15), None)], {}),
    ("rot-en", [("Summer Sale", rotated(256, 200, 360, 70, -20), None)], {}),
    ("rot-mixed", [("茶 Tea 2025", rotated(250, 260, 330, 72, 30), "#8B1A1A")], {}),
    ("vertical-zh", [("山水有清音", rect(220, 40, 72, 420), None)], {}),
    (
        "three-colours",
        [
            ("青花瓷", rect(40, 40, 260, 80), "#1B3A6B"),
            ("Blue and White", rect(40, 200, 420, 64), "#2E7D32"),
            ("限量 100 件", rect(40, 360, 300, 70), "#B71C1C"),
        ],
        {},
    ),
    (
        "four-lines",
        [
            ("春", rect(40, 30, 90, 90), None),
            ("Spring Tea", rect(160, 40, 300, 70), None),
            ("明前龙井", rect(40, 200, 320, 80), None),
            ("West Lake 西湖", rect(40, 360, 420, 70), None),
        ],
        {},
    ),
    (
        "five-lines",
        [
            ("福", rect(30, 20, 200, 70), None),  # (a lone "一" is honestly ambiguous with a dash "—")
            ("二月春风", rect(250, 20, 240, 70), None),
            ("ABC", rect(30, 130, 200, 70), None),
            ("似剪刀", rect(250, 130, 240, 70), None),
            ("Scissors 2024", rotated(256, 380, 380, 70, 10), None),
        ],
        {},
    ),
    ("perspective-quad", [("熊猫文创", [(80, 160), (440, 120), (450, 260), (70, 250)], None)], {}),
    ("outline", [("红色印章", rect(60, 180, 380, 100), "#C62828")], {"stroke": 0.06}),
    ("no-shadow", [("Museum Shop", rect(50, 200, 410, 80), "#333333")], {"shadow": False}),
    pytest.param(
        "wqy-font",
        [("书法艺术 Art", rect(40, 200, 430, 80), None)],
        {"font": "wqy-zenhei"},
        marks=pytest.mark.skipif(
            "wqy-zenhei" not in available_fonts(),
            reason="needs WenQuanYi Zen Hei (Debian: apt-get install fonts-wqy-zenhei)",
        ),
    ),
    ("small-text", [("小字也清楚", rect(150, 240, 200, 32), None)], {}),
    ("twenty-chars", [("一二三四五六七八九十ABCDEFGHIJ", rect(10, 230, 490, 44), None)], {}),
    ("digits", [("NO.1 文创 2024", rect(60, 220, 390, 70), None)], {}),
    (
        "vertical-and-rotated",
        [("福禄寿", rect(420, 60, 70, 260), None), ("好运 Luck", rotated(200, 300, 300, 70, -12), None)],
        {},
    ),
    ("over-base-image", [("照片上的字", rect(100, 220, 320, 80), None)], {"base": True}),
]


def _is_vertical(polygon) -> bool:
    xs, ys = [p[0] for p in polygon], [p[1] for p in polygon]
    return (max(ys) - min(ys)) >= 1.5 * (max(xs) - min(xs))


CASE_NAMES = [c.values[0] if hasattr(c, "values") else c[0] for c in CASES]


@pytest.mark.parametrize(("case", "spec", "options"), CASES, ids=CASE_NAMES)
def test_rendering_cases_read_back_exactly(case, spec, options):
    engine = ClassicEngine(stroke=options.get("stroke", 0.0), shadow=options.get("shadow", True))
    lines = [
        TextLine(text, polygon=poly, color=color, font=options.get("font")) for text, poly, color in spec
    ]
    base = make_background(512, 512, 99)[::-1].copy() if options.get("base") else None
    seed = 100 + CASE_NAMES.index(case)  # a different background for each case
    request = DesignRequest(prompt="文创海报", lines=lines, seed=seed, image=base)
    result = run_request(engine, request)

    assert len(result.images) == 1 and result.images[0].shape == (512, 512, 3)
    assert result.images[0].dtype == np.uint8
    readings = result.readings[0]
    assert [r.expected for r in readings] == [text for text, _, _ in spec]
    # every line reads back exactly: horizontal, rotated, and the (all-Chinese) vertical ones too,
    # whose rectified crop is turned 90° before recognition
    for (text, _, _), reading in zip(spec, readings):
        assert normalize_text(reading.read) == normalize_text(text), (case, reading)
        assert reading.passed
    # the glyphs stay inside their polygons (allowing the shadow's spill of a few pixels)
    glyphs = result.debug["glyphs"] > 64
    positions = result.debug["positions"] > 0
    assert glyphs.any()
    assert (glyphs & ~positions).sum() <= 0.02 * glyphs.sum()
    for _text, poly, _ in spec:
        if _is_vertical(poly):
            xs = [int(p[0]) for p in poly]
            ys = [int(p[1]) for p in poly]
            ink_rows, ink_cols = np.nonzero(glyphs[min(ys) : max(ys), min(xs) : max(xs)])
            assert np.ptp(ink_rows) > 2 * np.ptp(ink_cols)  # laid out top to bottom
    if base is not None:  # drawn over the base image: pixels away from the text are untouched
        np.testing.assert_array_equal(result.images[0][:150], base[:150])


def test_given_colour_is_used():
    line = TextLine("Colour", polygon=rect(60, 200, 390, 100), color="#C62828")
    result = ClassicEngine(shadow=False).generate(DesignRequest(lines=[line], seed=5))
    image, glyphs = result.images[0], result.debug["glyphs"] == 255
    assert np.abs(image[glyphs].astype(int) - [0xC6, 0x28, 0x28]).max() <= 1


def test_seeds_and_count_make_different_reproducible_backgrounds():
    engine = ClassicEngine()
    request = DesignRequest(lines=[TextLine("文创", rect(100, 200, 300, 100))], seed=10, image_count=3)
    first = engine.generate(request)
    again = engine.generate(
        DesignRequest(lines=[TextLine("文创", rect(100, 200, 300, 100))], seed=10, image_count=3)
    )
    assert first.seeds == [10, 11, 12]
    for a, b in zip(first.images, again.images):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first.images[0], first.images[1])
    assert all(r.passed for per_image in first.readings for r in per_image)
    assert set(first.timings) >= {"render", "ocr", "total"}


def test_auto_layout_places_lines_without_positions():
    lines = [TextLine("自动排版"), TextLine("Auto Layout"), TextLine("文创 2024")]
    result = ClassicEngine().generate(DesignRequest(lines=lines, seed=3))
    placed = result.extra["lines"]
    assert all(line["polygon"] for line in placed)
    assert all(r.passed for r in result.readings[0]), result.readings


def test_missing_characters_are_named():
    with pytest.raises(FontError, match=r"lines\[1\]\.text.*'😀'"):
        ClassicEngine().generate(
            DesignRequest(
                lines=[TextLine("好", rect(0, 0, 100, 100)), TextLine("a😀b", rect(0, 200, 200, 100))]
            )
        )


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([TextLine("   ", rect(10, 10, 100, 50))], r"lines\[0\]\.text: is empty"),
        ([TextLine("好", rect(400, 10, 200, 50))], "outside the 512x512 image"),
        ([TextLine("好", [(10, 10), (200, 10), (200, 12), (10, 12)])], "degenerate or too small"),
        ([TextLine("好", [(10, 10), (100, 10), (50, 50)])], "at least 4 points"),
        ([TextLine("好", rect(10, 10 + 40 * i, 100, 30)) for i in range(9)], "at most 8"),
        ([TextLine("字" * 21, rect(10, 10, 490, 50))], "21 characters; at most 20"),
    ],
)
def test_bad_requests_are_refused(lines, message):
    with pytest.raises(RequestError, match=message):
        ClassicEngine().generate(DesignRequest(lines=lines))


def test_engine_status_and_registry():
    assert engine_status() == (True, engine_status()[1]) and engine_status()[0]
    assert registry.engine_status("classic").ready
    engine = registry.create_engine("classic")
    assert engine.name == "classic" and isinstance(engine, ClassicEngine)
    assert create_engine(model="ignored", stroke=0.1).stroke == 0.1
    with pytest.raises(RequestError, match="stroke"):
        create_engine(stroke=2)
