"""Classic engine, edit: stroke-level text removal on synthetic textured backgrounds, replacement."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from wenchuang.engines.classic import ClassicEngine, TextStyle, draw_line
from wenchuang.errors import RequestError
from wenchuang.layout.polygons import polygon_mask
from wenchuang.ocr import normalize_text, read_lines
from wenchuang.removal import segment_strokes
from wenchuang.removal.detect import is_readable
from wenchuang.request import DesignRequest, TextLine


def rect(x, y, w, h):
    return [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]


def textured_background(kind: str, size=512, seed=0) -> np.ndarray:
    """Gradients with low-amplitude noise or patterns (no text in them)."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size
    if kind == "warm-gradient":
        base = np.stack([235 - 40 * ys, 220 - 30 * xs, 190 - 20 * (xs + ys)], axis=-1)
        texture = rng.normal(0, 2.0, (size, size, 1))
    elif kind == "dark-weave":
        base = np.stack([40 + 30 * xs, 50 + 20 * ys, 90 + 25 * xs], axis=-1)
        texture = (3.0 * np.sin(xs * size / 3.1) * np.sin(ys * size / 2.7))[..., None] + rng.normal(
            0, 1.5, (size, size, 1)
        )
    elif kind == "paper-grain":
        base = np.stack([245 - 25 * xs * ys, 240 - 15 * ys, 228 - 20 * xs], axis=-1)
        grain = rng.normal(0, 4.0, (size // 4, size // 4, 1)).repeat(4, 0).repeat(4, 1)
        texture = grain * 0.6 + rng.normal(0, 1.0, (size, size, 1))
    elif kind == "blotches":  # large soft light and dark patches, like an out-of-focus photo
        field = cv2.GaussianBlur(rng.normal(0, 1, (size, size, 3)).astype(np.float32), (0, 0), 40)
        base = 180 + field / field.std() * 20
        texture = rng.normal(0, 2.0, (size, size, 1))
    else:
        raise ValueError(kind)
    return np.clip(base + texture, 0, 255).astype(np.uint8)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def reads_nothing(text: str, score: float) -> bool:
    """No letter, digit or CJK character is read, at any confidence (a lone '#' or '.' is the
    recogniser's guess at texture, not text)."""
    return not is_readable(text, score, floor=0.0)


SCENES = [
    (
        "warm-gradient",
        [
            ("故宫文创礼品", rect(50, 60, 410, 80), (40, 30, 30)),
            ("Summer Sale", rect(80, 300, 330, 70), (120, 20, 20)),
        ],
    ),
    (
        "blotches",
        [
            ("大字标题", rect(40, 60, 430, 100), (20, 20, 20)),
            ("Small caption", rect(60, 300, 300, 60), (250, 250, 250)),
            ("竖排文字", rect(380, 200, 80, 290), (120, 20, 20)),
        ],
    ),
    (
        "dark-weave",
        [
            ("熊猫 Panda", rect(60, 120, 380, 90), (250, 240, 210)),
            ("限量", rect(320, 360, 150, 70), (230, 200, 90)),
        ],
    ),
    (
        "paper-grain",
        [
            ("山水之间", rect(40, 40, 300, 80), (30, 30, 30)),
            ("Tea House", rect(60, 220, 300, 60), (60, 90, 60)),
            ("2024", rect(300, 380, 160, 60), (160, 30, 30)),
        ],
    ),
]


@pytest.mark.parametrize(("kind", "texts"), SCENES, ids=[s[0] for s in SCENES])
def test_remove_regions_leaves_clean_background(kind, texts):
    background = textured_background(kind)
    image = background.copy()
    polygons = [poly for _, poly, _ in texts]
    for text, poly, color in texts:
        draw_line(image, text, poly, None, TextStyle(color))
    # the text is there and legible before, and the bare background reads as nothing
    assert [normalize_text(t) for t, _ in read_lines(image, polygons)] == [
        normalize_text(t) for t, _, _ in texts
    ]
    assert all(reads_nothing(*r) for r in read_lines(background, polygons))

    result = ClassicEngine().edit(DesignRequest(mode="edit", image=image, remove_regions=polygons, seed=1))
    out = result.images[0]
    for text, score in read_lines(out, polygons):
        assert reads_nothing(text, score), (text, score)
    for poly in polygons:
        inside = polygon_mask(poly, 512, 512).astype(bool)
        assert psnr(out[inside], background[inside]) >= 30.0, psnr(out[inside], background[inside])
    # only stroke pixels were changed: away from the regions (more than the few pixels a shadow
    # may spill) the image is untouched ...
    regions = np.zeros((512, 512), np.uint8)
    for poly in polygons:
        regions |= polygon_mask(poly, 512, 512)
    near = cv2.dilate(regions, np.ones((17, 17), np.uint8)).astype(bool)
    assert np.array_equal(out[~near], image[~near])
    # ... and the erase mask is strokes, a small part of each box, not the whole box
    mask = result.debug["mask"] > 0
    for poly in polygons:
        inside = polygon_mask(poly, 512, 512).astype(bool)
        assert 0.03 < mask[inside].mean() < 0.6
    assert all(r.passed and r.expected == "" for r in result.readings[0])


def test_whole_box_inpainting_would_be_worse():
    """The reason for stroke-level masks: inpainting the whole box smears the texture."""
    background = textured_background("paper-grain", seed=3)
    image = background.copy()
    poly = rect(60, 180, 390, 110)
    draw_line(image, "文创市集", poly, None, TextStyle((20, 20, 20)))
    inside = polygon_mask(poly, 512, 512)
    whole = cv2.inpaint(image, inside, 4, cv2.INPAINT_TELEA)
    strokes = ClassicEngine().edit(DesignRequest(mode="edit", image=image, remove_regions=[poly])).images[0]
    m = inside.astype(bool)
    assert psnr(strokes[m], background[m]) > psnr(whole[m], background[m]) + 3


def test_remove_with_a_drawn_mask():
    background = textured_background("warm-gradient", seed=5)
    image = background.copy()
    poly = rect(100, 200, 300, 80)
    draw_line(image, "擦除我", poly, None, TextStyle((30, 30, 60)))
    mask = np.zeros((512, 512), np.uint8)
    mask[190:290, 90:410] = 255  # a rough brush over the text
    result = ClassicEngine().edit(DesignRequest(mode="edit", image=image, mask=mask))
    out = result.images[0]
    assert reads_nothing(*read_lines(out, [poly])[0])
    inside = polygon_mask(poly, 512, 512).astype(bool)
    assert psnr(out[inside], background[inside]) >= 30.0
    assert len(result.readings[0]) == 1 and result.readings[0][0].passed


def test_remove_all_text_uses_the_detector():
    background = textured_background("paper-grain", seed=7)
    image = background.copy()
    texts = [("文创工作室", rect(40, 50, 380, 80)), ("Open Daily", rect(120, 330, 300, 70))]
    for text, poly in texts:
        draw_line(image, text, poly, None, TextStyle((25, 25, 25)))
    result = ClassicEngine().edit(DesignRequest(mode="edit", image=image, remove_all_text=True))
    out = result.images[0]
    assert result.extra["erased_regions"] >= 2
    for text, score in read_lines(out, [poly for _, poly in texts]):
        assert reads_nothing(text, score), (text, score)
    for _, poly in texts:
        inside = polygon_mask(poly, 512, 512).astype(bool)
        assert psnr(out[inside], background[inside]) >= 30.0
    assert result.timings["detect"] > 0


def test_replace_text_keeps_the_colour_and_reads_back():
    background = textured_background("warm-gradient", seed=2)
    image = background.copy()
    poly = rect(60, 160, 400, 90)
    ink = (150, 30, 40)
    draw_line(image, "旧的文字", poly, None, TextStyle(ink))
    result = ClassicEngine().edit(DesignRequest(mode="edit", image=image, lines=[TextLine("新品上市", poly)]))
    out = result.images[0]
    reading = result.readings[0][0]
    assert reading.expected == "新品上市" and reading.passed, reading
    glyphs = result.debug["glyphs"] == 255
    assert glyphs.sum() > 500
    assert np.abs(np.median(out[glyphs], axis=0) - ink).max() <= 12  # the original stroke colour


def test_replace_rotated_text_with_an_explicit_colour():
    background = textured_background("dark-weave", seed=4)
    image = background.copy()
    quad = [(80, 220), (420, 160), (432, 230), (92, 290)]
    draw_line(image, "OLD TEXT", quad, None, TextStyle((240, 240, 240)))
    line = TextLine("New 新", quad, color="#FFD54F")
    result = ClassicEngine().edit(DesignRequest(mode="edit", image=image, lines=[line]))
    assert result.readings[0][0].passed, result.readings[0]
    glyphs = result.debug["glyphs"] == 255
    assert np.abs(np.median(result.images[0][glyphs], axis=0) - (0xFF, 0xD5, 0x4F)).max() <= 2


def test_segment_strokes_finds_nothing_in_plain_texture():
    background = textured_background("paper-grain", seed=9)
    strokes, _ = segment_strokes(background, polygon_mask(rect(100, 100, 200, 80), 512, 512))
    assert strokes.sum() < 0.01 * 200 * 80


def test_edit_needs_an_image_and_something_to_do():
    with pytest.raises(RequestError, match="image"):
        ClassicEngine().edit(DesignRequest(mode="edit", remove_all_text=True))
    with pytest.raises(RequestError, match="nothing to edit"):
        ClassicEngine().edit(DesignRequest(mode="edit", image=np.zeros((64, 64, 3), np.uint8)))
    with pytest.raises(RequestError, match="outside"):
        ClassicEngine().edit(
            DesignRequest(
                mode="edit", image=np.zeros((64, 64, 3), np.uint8), remove_regions=[rect(10, 10, 100, 20)]
            )
        )


@pytest.mark.parametrize("stroke", [0.0, 0.08])
def test_generated_text_with_shadow_and_outline_is_removed_cleanly(stroke):
    """Round trip: text the engine drew (soft shadow/glow, optional outline) is erased completely."""
    from wenchuang.engines.classic import make_background

    polygons = [rect(40, 60, 300, 80), rect(60, 300, 400, 70)]
    lines = [TextLine("你好文创", polygons[0]), TextLine("Shadow Test", polygons[1], color="#F0E0A0")]
    engine = ClassicEngine(stroke=stroke, shadow=True)
    background = make_background(512, 512, 21)
    drawn = engine.generate(DesignRequest(lines=lines, image=background, seed=21))
    assert all(r.passed for r in drawn.readings[0])
    result = engine.edit(DesignRequest(mode="edit", image=drawn.images[0], remove_regions=polygons))
    out = result.images[0]
    for text, score in read_lines(out, polygons):
        assert reads_nothing(text, score), (text, score)
    for poly in polygons:
        inside = polygon_mask(poly, 512, 512).astype(bool)
        assert psnr(out[inside], background[inside]) >= 30.0


@pytest.mark.parametrize("seed", [5, 28, 41])
def test_remove_all_text_leaves_no_readable_shadow_ghost(seed):
    """Thick strokes with a soft shadow (the README example): the shadow's faint tail must go too,
    or inpainting spreads it into a ghost of the text that the recogniser still reads in the
    detected box (these seeds did with a 2 px mask dilation)."""
    from wenchuang.engines.classic import make_background

    polygon = rect(96, 160, 320, 128)
    engine = ClassicEngine()
    drawn = engine.generate(DesignRequest(lines=[TextLine("三星堆", polygon)], seed=seed))
    assert all(r.passed for r in drawn.readings[0])
    result = engine.edit(DesignRequest(mode="edit", image=drawn.images[0], remove_all_text=True))
    assert len(result.readings[0]) == 1 and result.readings[0][0].passed, result.readings
    inside = polygon_mask(polygon, 512, 512).astype(bool)
    assert psnr(result.images[0][inside], make_background(512, 512, seed)[inside]) >= 35.0


def test_new_line_without_position_is_placed_clear_of_remaining_text():
    background = textured_background("warm-gradient", seed=8)
    image = background.copy()
    existing = rect(40, 40, 430, 110)
    draw_line(image, "原有文字", existing, None, TextStyle((30, 30, 30)))
    result = ClassicEngine().edit(DesignRequest(mode="edit", image=image, lines=[TextLine("新加一行")]))
    (placed,) = result.extra["lines"]
    new_mask = polygon_mask(placed["polygon"], 512, 512).astype(bool)
    assert not (new_mask & polygon_mask(existing, 512, 512).astype(bool)).any()
    assert result.readings[0][0].passed, result.readings
    assert normalize_text(read_lines(result.images[0], [existing])[0][0]) == "原有文字"


@pytest.mark.parametrize("kind", ["blotches", "paper-grain"])
def test_removal_survives_jpeg_compression(kind):
    """Real uploads are JPEGs: ringing around the strokes must be erased too."""
    import io

    from PIL import Image

    from wenchuang.images import load_image

    texts = dict(SCENES)[kind]
    background = textured_background(kind, seed=11)
    image = background.copy()
    for text, poly, color in texts:
        draw_line(image, text, poly, None, TextStyle(color))
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=80)
    polygons = [poly for _, poly, _ in texts]
    result = ClassicEngine().edit(
        DesignRequest(mode="edit", image=load_image(buffer.getvalue()), remove_regions=polygons)
    )
    out = result.images[0]
    assert all(reads_nothing(*r) for r in read_lines(out, polygons))
    for poly in polygons:
        inside = polygon_mask(poly, 512, 512).astype(bool)
        assert psnr(out[inside], background[inside]) >= 30.0


@pytest.mark.parametrize("palette_seed", [1, 4])
def test_text_added_to_an_empty_region_is_legible(palette_seed):
    """Where the region holds no text to take the colour from, the ink contrasts with the picture
    (a light background's faint grain once gave a near-background 'stroke colour': invisible text)."""
    from wenchuang.engines.classic import contrast_ratio, make_background

    image = make_background(512, 512, palette_seed)
    box = [(40.0, 40.0), (472.0, 40.0), (472.0, 130.0), (40.0, 130.0)]
    result = ClassicEngine().edit(
        DesignRequest(mode="edit", prompt="", lines=[TextLine(text="三星堆", polygon=box)], image=image, seed=3)
    )
    assert [r.passed for r in result.readings[0]] == [True], result.readings
    inside = polygon_mask(box, 512, 512).astype(bool)
    changed = np.abs(result.images[0].astype(int) - image.astype(int)).max(axis=2) > 40
    ink = np.median(result.images[0][inside & changed], axis=0)
    paper = np.median(image[inside], axis=0)
    assert contrast_ratio(ink, paper) >= 3.0


def _extent_across(coverage: np.ndarray, axis: int) -> int:
    """Rows (axis 0) or columns (axis 1) holding any of the coverage: the text's extent across its line."""
    held = np.nonzero((coverage > 0.5).any(axis=1 - axis))[0]
    return int(held[-1] - held[0] + 1)


@pytest.mark.parametrize("vertical", [False, True], ids=["horizontal", "vertical"])
def test_replaced_font_size_measures_the_erased_text(vertical):
    from wenchuang.engines.classic import replaced_font_size

    poly = rect(200, 60, 110, 400) if vertical else rect(40, 180, 430, 150)  # far larger than the text
    for size in (28, 44, 60):
        image = np.zeros((512, 512, 3), np.uint8)
        coverage = draw_line(image, "旧的文字", poly, None, TextStyle((255, 255, 255), shadow=False), size=size)
        estimated = replaced_font_size(coverage > 0.5, poly, "旧的文字", None)
        assert abs(estimated - size) <= 0.08 * size, (size, estimated)
    assert replaced_font_size(coverage > 0.5, poly, "", None) is None  # nothing read: unknown
    assert replaced_font_size(np.zeros((512, 512), bool), poly, "旧的文字", None) is None  # nothing erased


def test_replacement_keeps_the_size_of_the_text_it_replaces():
    """A box drawn loosely around a line: the new line matches the old one's size instead of filling the box."""
    background = textured_background("warm-gradient", seed=5)
    image = background.copy()
    poly = rect(40, 170, 430, 170)
    old = draw_line(image, "旧的文字", poly, None, TextStyle((40, 40, 110)), size=44)
    result = ClassicEngine().edit(DesignRequest(mode="edit", image=image, lines=[TextLine("新品上市", poly)]))
    assert result.readings[0][0].passed, result.readings[0]
    new = result.debug["glyphs"] / 255.0
    old_h, new_h = _extent_across(old, 0), _extent_across(new, 0)
    assert abs(new_h - old_h) <= 0.12 * old_h, (old_h, new_h)  # filling the box would give ~120 px
    assert not result.warnings, result.warnings


def test_replacement_is_level_with_the_text_it_replaces():
    """A detector box leaning 6° over a level line: the new line is drawn level, as the old one was."""
    from wenchuang.engines.classic import level_with_strokes

    background = textured_background("blotches", seed=3)
    image = background.copy()
    old = draw_line(image, "Chelsea 1905", rect(110, 220, 300, 60), None, TextStyle((30, 20, 20)))
    turn = np.radians(6.0)
    centre = np.array([260.0, 250.0])
    rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    leaning = [tuple((np.array(p) - centre) @ rotation.T + centre) for p in rect(100, 215, 320, 70)]

    levelled = np.asarray(level_with_strokes(old > 0.5, leaning))
    top = levelled[1] - levelled[0]
    assert abs(np.degrees(np.arctan2(top[1], top[0]))) <= 0.5, levelled

    result = ClassicEngine().edit(DesignRequest(mode="edit", image=image, lines=[TextLine("Palace 2025", leaning)]))
    assert result.readings[0][0].passed, result.readings[0]
    new = result.debug["glyphs"] / 255.0
    # drawn at 6° over ~280 px the line would reach ~30 px further across than the level one it replaces
    assert _extent_across(new, 0) <= _extent_across(old, 0) + 6, (_extent_across(old, 0), _extent_across(new, 0))
