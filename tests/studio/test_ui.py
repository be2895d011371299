"""The UI's logic (canvas -> regions -> lines, OCR table), its handlers, and the mounted pages."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from wenchuang.errors import RequestError
from wenchuang.request import DesignRequest, DesignResult, LineReading
from wenchuang.studio.config import StudioConfig
from wenchuang.studio.examples import EXAMPLES, ExampleRenderer
from wenchuang.studio.service import Studio
from wenchuang.studio.ui_logic import (
    DRAW_RECTANGLES,
    DRAW_STROKES,
    canvas_with_boxes,
    editor_parts,
    lines_from_rows,
    ocr_markdown,
    regions_from_mask,
    scale_regions,
)

LABELS = {
    "image": "Image",
    "line": "Line",
    "expected": "Expected",
    "read": "Read",
    "confidence": "Conf",
    "erased": "(erased)",
    "no_ocr": "none",
}


def painted_layer(h, w, boxes):
    layer = np.zeros((h, w, 4), np.uint8)
    for x1, y1, x2, y2 in boxes:
        layer[y1:y2, x1:x2] = (255, 59, 48, 255)
    return layer


def test_each_stroke_is_one_region_in_reading_order():
    bg = np.full((256, 384, 3), 255, np.uint8)
    # drawn bottom box first: the order comes from the positions, not the drawing order
    value = {
        "background": bg,
        "layers": [painted_layer(256, 384, [(10, 160, 120, 200), (60, 30, 200, 80)])],
        "composite": None,
    }
    background, mask = editor_parts(value)
    assert background.shape == (256, 384, 3) and mask.sum() == 110 * 40 + 140 * 50
    rects = regions_from_mask(mask, DRAW_RECTANGLES)
    assert len(rects) == 2
    (x1, y1), _, (x2, y2), _ = rects[0]
    assert abs(x1 - 60) <= 1 and abs(y1 - 30) <= 1 and abs(x2 - 199) <= 1 and abs(y2 - 79) <= 1
    assert rects[1][0][1] > 150
    left_right = regions_from_mask(mask, DRAW_RECTANGLES, "left-right")
    assert left_right[0][0][0] < 20  # the bottom box's centre is further left


def test_free_stroke_gives_its_polygon_and_scaling():
    mask = np.zeros((200, 200), bool)
    for i in range(20, 180):  # a thick diagonal stroke
        mask[i - 8 : i + 8, i - 8 : i + 8] = True
    poly = regions_from_mask(mask, DRAW_STROKES)[0]
    rect = regions_from_mask(mask, DRAW_RECTANGLES)[0]
    assert len(poly) >= 4 and poly != rect
    xs = [p[0] for p in rect]
    assert min(xs) <= 13 and max(xs) >= 186
    scaled = scale_regions([rect], (200, 200), (400, 100))[0]
    assert scaled[2] == (rect[2][0] * 2, rect[2][1] * 0.5)


def test_lines_from_rows_and_prompt_quotes():
    regions = [[(0, 0), (100, 0), (100, 40), (0, 40)], [(0, 60), (100, 60), (100, 100), (0, 100)]]
    lines = lines_from_rows(
        ["三星堆", " 古蜀 ", ""],
        ["noto-sans-sc", None, None],
        ["rgba(200, 160, 80, 1)", "#112233", None],
        regions,
    )
    assert [ln.text for ln in lines] == ["三星堆", "古蜀"]
    assert lines[0].color == "#c8a050" and lines[1].color == "#112233"
    assert lines[0].polygon == regions[0] and lines[1].polygon == regions[1]
    quoted = lines_from_rows([], [], [], regions[:1], prompt='一张鼠标垫，写着"太阳神鸟"和“金沙”')
    assert [ln.text for ln in quoted] == ["太阳神鸟", "金沙"]
    assert quoted[0].polygon == regions[0] and quoted[1].polygon is None  # the engine places it
    with pytest.raises(RequestError, match="2 regions are drawn but only 1"):
        lines_from_rows(["一"], [None], [None], regions)


def test_ocr_table_marks_each_line():
    req = DesignRequest(prompt="x")
    result = DesignResult(
        images=[np.zeros((8, 8, 3), np.uint8)],
        seeds=[1],
        request=req,
        engine="classic",
        readings=[[LineReading("三星堆", "三星堆", 0.98, True), LineReading("古蜀", "古", 0.5, False)]],
    )
    md = ocr_markdown(result, LABELS)
    rows = md.splitlines()[2:]
    assert rows[0].endswith("| ✓ |") and "三星堆" in rows[0]
    assert rows[1].endswith("| ✗ |") and "| 古 |" in rows[1]


def test_ui_handler_runs_through_the_queue_into_the_gallery(data_dir, fake_engine):
    from wenchuang.studio.ui import MAX_ROWS, StudioUI

    studio = Studio(StudioConfig(data_dir=data_dir))
    ui = StudioUI(studio, "en", ExampleRenderer(data_dir / "examples"))
    canvas = canvas_with_boxes(512, 512, [[(50, 40), (300, 40), (300, 120), (50, 120)]])
    texts = ["文创"] + [""] * (MAX_ROWS - 1)
    params = ["fake", "__default__", 2, 20, 9.0, 1.0, 0.0, 123, 512, 512, "", "", "top-down", False]
    gallery, ocr, info, debug = ui.generate(
        None,
        "",
        "",
        canvas,
        DRAW_RECTANGLES,
        1,
        *texts,
        *([None] * MAX_ROWS),
        *(["#000000"] * MAX_ROWS),
        *params,
    )
    assert [caption for _, caption in gallery] == ["seed 123", "seed 124"]
    assert "✓" in ocr and "✗" not in ocr
    saved = studio.gallery.list()
    assert len(saved) == 2 and saved[0]["source"] == "ui"
    assert saved[0]["request"]["lines"][0]["polygon"] == [
        [50.0, 40.0],
        [300.0, 40.0],
        [300.0, 120.0],
        [50.0, 120.0],
    ]
    shown, ids = ui.history()
    assert ids == [m["id"] for m in saved] and len(shown) == 2


def test_mounted_ui_in_both_languages(data_dir):
    from wenchuang.studio.api import create_app

    app = create_app(StudioConfig(data_dir=data_dir, render_examples=False))
    client = TestClient(app, base_url="http://127.0.0.1:7860", client=("127.0.0.1", 5000))
    r = client.get("/", headers={"Accept-Language": "en-GB,en;q=0.9"}, follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/en/"
    assert (
        client.get("/", headers={"Accept-Language": "zh-CN"}, follow_redirects=False).headers["location"]
        == "/zh/"
    )
    zh = client.get("/zh/config").text
    en = client.get("/en/config").text
    assert "改字" in zh and "去字" in zh and "Edit text" in en and "Remove text" in en
    assert client.get("/zh/").status_code == 200
    assert client.get("/zh/monitoring").status_code != 200
    assert client.get("/zh/monitoring").status_code in (403, 404)  # monitoring is off: refused, not an error
    assert client.get("/api/engines").status_code == 200
    # Gradio's own files go inside the data folder
    assert (data_dir / "cache" / "gradio").is_dir()


def test_examples_are_rendered_by_the_classic_engine(tmp_path):
    assert len(EXAMPLES) == 12 and len({ex.key for ex in EXAMPLES}) == 12
    for ex in EXAMPLES:
        ex.request().validate()
    renderer = ExampleRenderer(tmp_path)
    image = renderer.render_one(EXAMPLES[0])
    assert image.shape == (EXAMPLES[0].height, EXAMPLES[0].width, 3)
    assert [ex.key for ex, _ in renderer.ready()] == [EXAMPLES[0].key]


def test_files_uploaded_through_gradio_are_never_rendered_as_pages(data_dir):
    from wenchuang.studio.api import create_app

    app = create_app(StudioConfig(data_dir=data_dir, render_examples=False))
    client = TestClient(app, base_url="http://127.0.0.1:7860", client=("127.0.0.1", 5000))
    html = b"<html><script>alert(1)</script></html>"
    path = client.post("/zh/gradio_api/upload", files={"files": ("x.html", html, "text/html")}).json()[0]
    assert path.startswith(str(data_dir))  # inside the data folder
    r = client.get("/zh/gradio_api/file=" + path)
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["content-disposition"] == "attachment"
    assert r.headers["content-security-policy"] == "sandbox"
    assert r.headers["x-content-type-options"] == "nosniff"


def test_gradio_file_route_refuses_paths_outside_the_data_folder(data_dir, tmp_path):
    from wenchuang.studio.api import create_app

    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    app = create_app(StudioConfig(data_dir=data_dir, render_examples=False))
    client = TestClient(app, base_url="http://127.0.0.1:7860", client=("127.0.0.1", 5000))
    gallery = data_dir / "gallery"
    for target in (
        str(secret),
        f"{gallery}/../../secret.txt",
        f"{gallery}/%2e%2e/%2e%2e/secret.txt",
        "/etc/passwd",
    ):
        for lang in ("zh", "en"):
            r = client.get(f"/{lang}/gradio_api/file={target}")
            assert r.status_code in (403, 404), (target, r.status_code)
            assert "top secret" not in r.text and "root:" not in r.text


def test_ui_gallery_rerun_zip_and_example_loading(data_dir, fake_engine):
    import zipfile
    from types import SimpleNamespace

    from wenchuang.studio.ui import MAX_ROWS, StudioUI

    studio = Studio(StudioConfig(data_dir=data_dir))
    renderer = ExampleRenderer(data_dir / "examples")
    ui = StudioUI(studio, "zh", renderer)
    canvas = canvas_with_boxes(512, 512, [[(50, 40), (300, 40), (300, 120), (50, 120)]])
    texts = ["文创"] + [""] * (MAX_ROWS - 1)
    params = ["fake", "__default__", 1, 20, 9.0, 1.0, 0.0, 77, 512, 512, "", "", "top-down", False]
    ui.generate(
        None, "", "", canvas, DRAW_RECTANGLES, 1, *texts, *([None] * MAX_ROWS), *([None] * MAX_ROWS), *params
    )
    _, ids = ui.history()
    entry_id, meta, path = ui.select(ids, SimpleNamespace(index=0))
    assert entry_id == ids[0] and meta["seed"] == 77 and path.endswith(f"{entry_id}.png")
    gallery, ocr, info, _ = ui.rerun(None, entry_id)
    assert [c for _, c in gallery] == ["seed 77"] and "✓" in ocr
    first, again = (studio.gallery.image_path(i) for i in (ids[0], ui.history()[1][0]))
    assert first.read_bytes() == again.read_bytes()  # same settings, same image
    zpath = ui.zip_shown(ui.history()[1])
    assert zpath.startswith(str(data_dir)) and len(zipfile.ZipFile(zpath).namelist()) == 4
    shown = ui.history()[1]
    assert sorted(zipfile.ZipFile(zpath).namelist()) == sorted(
        f"{i}{e}" for i in shown for e in (".png", ".json")
    )
    # an example fills the generate tab: prompt, canvas with its boxes, shape, line count, size, rows
    renderer.render_one(EXAMPLES[0])
    values = ui.load_example(SimpleNamespace(index=0))
    assert len(values) == 8 + 3 * MAX_ROWS and values[-2:] == ["", ""]  # English box emptied
    prompt, canvas, mode, n, width, height = values[:6]
    assert prompt == EXAMPLES[0].prompt and (width, height, n) == (768, 512, 2)
    assert values[6:8] == ["三星堆", "古蜀文明"] and canvas["layers"][0].shape == (512, 768, 4)


def test_ui_text_has_both_languages_for_every_label():
    from wenchuang.studio.ui_text import LANGS, STRINGS, texts, translation_labels

    assert LANGS == ("zh", "en")
    zh, en = texts("zh"), texts("en")
    assert set(zh) == set(en) == set(STRINGS)
    assert all(zh[k].strip() and en[k].strip() for k in STRINGS)
    assert (zh["tab_edit"], en["tab_edit"]) == ("改字", "Edit text")
    assert translation_labels(en) == {
        "model": "translated by {}",
        "glossary_only": en["tr_glossary_only"],
        "terms": "glossary",
    }
    with pytest.raises(ValueError, match="unknown UI language 'fr'"):
        texts("fr")


def saved_polygon(studio: Studio, seed: int) -> list:
    (entry,) = [m for m in studio.gallery.list() if m["seed"] == seed]
    return entry["request"]["lines"][0]["polygon"]


def test_generate_and_edit_share_one_handler(data_dir, fake_engine):
    import gradio as gr

    from wenchuang.studio.ui import MAX_ROWS, StudioUI

    from .conftest import FakeEngine

    studio = Studio(StudioConfig(data_dir=data_dir))
    ui = StudioUI(studio, "en", ExampleRenderer(data_dir / "examples"))
    rows = ["文创"] + [""] * (MAX_ROWS - 1), [None] * MAX_ROWS, [None] * MAX_ROWS
    params = ["fake", "__default__", 1, 20, 9.0, 1.0, 0.0, 3, 512, 384, "", "", "top-down", False]
    # generate: the regions drawn on a 256x256 canvas are scaled to the 512x384 image; no base image
    canvas = canvas_with_boxes(256, 256, [[(10, 20), (110, 20), (110, 60), (10, 60)]])
    ui.generate(None, "", "", canvas, DRAW_RECTANGLES, 1, *rows[0], *rows[1], *rows[2], *params)
    polygon = saved_polygon(studio, seed=3)
    assert polygon[0] == pytest.approx([20, 30], abs=3) and polygon[2] == pytest.approx([220, 90], abs=3)
    assert FakeEngine.seen[-1] is None
    # edit: the same rows and canvas, but the canvas image is the one edited, at its own size
    photo = np.full((256, 256, 3), 90, np.uint8)
    value = {**canvas, "background": photo}
    edit_params = [*params[:7], 4, *params[8:]]  # seed 4
    ui.edit(None, "", "", value, DRAW_RECTANGLES, 1, *rows[0], *rows[1], *rows[2], *edit_params)
    np.testing.assert_array_equal(FakeEngine.seen[-1], photo)
    polygon = saved_polygon(studio, seed=4)
    assert polygon[0] == pytest.approx([10, 20], abs=3) and polygon[2] == pytest.approx([110, 60], abs=3)
    # edit and remove need an image; more regions than lines is a clear error
    for run in (
        lambda: ui.edit(None, "", "", None, DRAW_RECTANGLES, 1, *rows[0], *rows[1], *rows[2], *params),
        lambda: ui.remove(None, None, DRAW_RECTANGLES, True, *params),
    ):
        with pytest.raises(gr.Error, match="Upload an image first"):
            run()
    two = canvas_with_boxes(
        256, 256, [[(10, 20), (110, 20), (110, 60), (10, 60)], [(10, 150), (110, 150), (110, 190), (10, 190)]]
    )
    with pytest.raises(gr.Error, match="2 regions are drawn but only 1"):
        ui.generate(None, "", "", two, DRAW_RECTANGLES, 1, *rows[0], *rows[1], *rows[2], *params)
    assert len(FakeEngine.seen) == 2
