"""The studio's per-line font menu: the "no font" entry, a typed mimic:REGION in the Edit tab, and
the engines table's how-to-get-weights note for anytext2 (no browser, no model weights)."""

from __future__ import annotations

import gradio as gr
import numpy as np
import pytest

from wenchuang.errors import RequestError
from wenchuang.studio.config import StudioConfig
from wenchuang.studio.examples import ExampleRenderer
from wenchuang.studio.service import Studio
from wenchuang.studio.ui_logic import DRAW_RECTANGLES, NO_FONT, canvas_with_boxes, line_font, lines_from_rows
from wenchuang.studio.ui_text import texts

TOP = [(20, 20), (200, 20), (200, 80), (20, 80)]
BOTTOM = [(20, 120), (200, 120), (200, 180), (20, 180)]


def test_no_font_entry_gives_a_line_without_font_whatever_the_default():
    lines = lines_from_rows(
        ["文创", "ART", "古蜀"],
        [NO_FONT, None, "noto-sans-tc"],
        [None, None, None],
        [TOP, BOTTOM],
        default_font="noto-sans-sc",
    )
    assert [ln.font for ln in lines] == [None, "noto-sans-sc", "noto-sans-tc"]
    assert [ln.polygon is not None for ln in lines] == [True, True, False]
    # without a default an empty menu is no font too
    assert lines_from_rows(["A"], [None], [None], [])[0].font is None


def test_typed_mimic_region_is_checked_and_written_canonically():
    assert line_font("mimic", 1) == "mimic"
    assert line_font(" mimic: 10, 20 200,80 ", 1, image_size=(256, 256)) == "mimic:10,20,200,80"
    assert line_font("MIMIC:10,20,200,80", 1) == "mimic:10,20,200,80"
    quad = "mimic:10,20,200,30,190,90,5,80"
    assert line_font(quad, 1) == quad
    with pytest.raises(RequestError, match=r"^line 2 font: expected 4 numbers .* got 2"):
        line_font("mimic:10,20", 2)
    with pytest.raises(RequestError, match=r"^line 1 font: .*x2 > x1"):
        line_font("mimic:200,20,10,80", 1)
    with pytest.raises(RequestError, match=r"^line 1 font: .*outside the 256x128 image"):
        line_font("mimic:10,20,200,180", 1, image_size=(256, 128))
    with pytest.raises(RequestError, match=r"^line 3 font: unknown font 'comic-sans'.*mimic:x1,y1,x2,y2"):
        line_font("comic-sans", 3, known={"noto-sans-sc", "mimic"})
    assert line_font("noto-sans-sc", 1, known={"noto-sans-sc"}) == "noto-sans-sc"


def test_the_service_accepts_a_mimic_region_but_no_path(data_dir):
    studio = Studio(StudioConfig(data_dir=data_dir))
    image = np.full((128, 256, 3), 200, np.uint8)

    def edit(font):
        line = {"text": "OPEN", "polygon": [list(p) for p in TOP], "font": font}
        return studio.build_request({"engine": "classic", "lines": [line]}, "edit", image=image)

    request, engine, _ = edit("mimic:10,20,200,80")
    assert engine == "classic" and request.lines[0].font == "mimic:10,20,200,80"
    assert edit(None)[0].lines[0].font is None
    for bad in ("/usr/share/fonts/x.ttf", "mimic:../../etc/passwd", "mimic:1,2"):
        with pytest.raises(RequestError) as err:
            edit(bad)
        assert err.value.field == "lines[0].font"


def _params(engine="fake"):
    return [engine, "__default__", 1, 20, 9.0, 1.0, 0.0, 7, 256, 128, "", "", "top-down", False]


def test_edit_tab_sends_no_font_and_a_typed_mimic_region(data_dir, fake_engine):
    from wenchuang.studio.ui import MAX_ROWS, StudioUI

    studio = Studio(StudioConfig(data_dir=data_dir))
    ui = StudioUI(studio, "en", ExampleRenderer(data_dir / "examples"))
    canvas = canvas_with_boxes(256, 128, [TOP])
    canvas["background"] = np.full((128, 256, 3), 180, np.uint8)
    rows = ["文创", "ART"] + [""] * (MAX_ROWS - 2)
    fonts = [NO_FONT, "mimic: 30,90,220,120"] + [None] * (MAX_ROWS - 2)
    ui.edit(None, "", "", canvas, DRAW_RECTANGLES, 2, *rows, *fonts, *([None] * MAX_ROWS), *_params())
    saved = studio.gallery.list()[0]["request"]["lines"]
    assert [(x["text"], x["font"]) for x in saved] == [("文创", None), ("ART", "mimic:30,90,220,120")]

    bad = [NO_FONT, "mimic:30,90,300,120"] + [None] * (MAX_ROWS - 2)
    with pytest.raises(gr.Error, match=r"line 2 font: point \(300, 90\) lies outside the 256x128 image"):
        ui.edit(None, "", "", canvas, DRAW_RECTANGLES, 2, *rows, *bad, *([None] * MAX_ROWS), *_params())
    typo = ["noto-sans-zz"] + [None] * (MAX_ROWS - 1)
    with pytest.raises(gr.Error, match=r"line 1 font: unknown font 'noto-sans-zz'"):
        ui.edit(None, "", "", canvas, DRAW_RECTANGLES, 1, *rows, *typo, *([None] * MAX_ROWS), *_params())
    assert len(studio.gallery.list()) == 1  # refused before any job ran


def test_font_menus_offer_no_font_and_only_edit_takes_typed_values(data_dir):
    from wenchuang.layout.fonts import DEFAULT_FONT, MIMIC_FONT, available_fonts
    from wenchuang.studio.ui import StudioUI

    for lang in ("zh", "en"):
        ui = StudioUI(Studio(StudioConfig(data_dir=data_dir)), lang, ExampleRenderer(data_dir / "examples"))
        with gr.Blocks():
            g = ui._line_rows("g")[2]
            e = ui._line_rows("e")[2]
        label = texts(lang)["no_font"]
        assert label == {"zh": "不指定字体", "en": "no font"}[lang]
        for box in (*g, *e):
            assert box.choices[0] == (label, NO_FONT)
            assert box.value == (DEFAULT_FONT if DEFAULT_FONT in available_fonts() else NO_FONT)
        assert all(not b.allow_custom_value and (MIMIC_FONT, MIMIC_FONT) not in b.choices for b in g)
        assert all(b.allow_custom_value and b.choices[-1] == (MIMIC_FONT, MIMIC_FONT) for b in e)
        assert "mimic:x1,y1,x2,y2" in e[0].info


def test_engines_table_says_how_to_get_anytext2_weights(data_dir, tmp_path, monkeypatch):
    from wenchuang.studio.ui import engines_markdown

    monkeypatch.setenv("WENCHUANG_ANYTEXT2_MODEL", str(tmp_path / "empty"))
    (tmp_path / "empty").mkdir()
    studio = Studio(StudioConfig(data_dir=data_dir))
    anytext2 = next(e for e in studio.engines() if e["name"] == "anytext2")
    assert not anytext2["ready"]
    assert "wenchuang download anytext2" in anytext2["help"]
    assert "WENCHUANG_ANYTEXT2_MODEL=PATH wenchuang serve" in anytext2["help"]
    assert str(studio.config.models_dir) in anytext2["help"]
    table = engines_markdown(studio, texts("en"))
    assert f"| | | {anytext2['help']} |" in table.splitlines()
    classic = next(e for e in studio.engines() if e["name"] == "classic")
    assert "help" not in classic
