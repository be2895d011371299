"""Self-correction through the studio: the API's ``self_correct`` field, the tries in the answer and
the gallery, a re-run reproducing the corrected image, the OCR table's tries column."""

from __future__ import annotations

import io
import sys
import types

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from wenchuang.engines import registry
from wenchuang.engines.garbling import GarblingEngine
from wenchuang.request import MAX_SELF_CORRECT
from wenchuang.studio.api import create_app
from wenchuang.studio.config import StudioConfig
from wenchuang.studio.gallery import caption
from wenchuang.studio.ui_logic import ocr_markdown
from wenchuang.studio.ui_text import texts

GARBLING_MODULE = "wenchuang_studio_test_garbling_engine"
BASE = "http://127.0.0.1:7860"
BOXES = [
    [[40, 40], [472, 40], [472, 130], [40, 130]],
    [[40, 200], [472, 200], [472, 290], [40, 290]],
]


@pytest.fixture
def garbling_engine(monkeypatch):
    """Registers "garbling": the classic engine whose first attempt writes every line wrong and whose
    repairs always succeed (p = 1 for generate, 0 for edit)."""
    module = types.ModuleType(GARBLING_MODULE)
    module.engine_status = lambda model=None: (True, "garbling classic engine for tests")
    module.create_engine = lambda model=None, **options: GarblingEngine(p=1.0, edit_p=0.0)
    monkeypatch.setitem(sys.modules, GARBLING_MODULE, module)
    monkeypatch.setitem(registry._ENGINES, "garbling", GARBLING_MODULE)
    yield "garbling"


def client_for(data_dir) -> TestClient:
    return TestClient(create_app(StudioConfig(data_dir=data_dir, ui=False)), base_url=BASE)


def body(**kw):
    data = {
        "engine": "garbling",
        "seed": 5,
        "width": 512,
        "height": 512,
        "lines": [{"text": "三星堆", "polygon": BOXES[0]}, {"text": "文创 2025", "polygon": BOXES[1]}],
    }
    data.update(kw)
    return data


def image_of(client, url) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(client.get(url).content)).convert("RGB"))


def test_api_self_correct_repairs_records_tries_and_reruns_identically(data_dir, garbling_engine):
    client = client_for(data_dir)
    r = client.post("/api/generate?wait=true", json=body(self_correct=2))
    assert r.status_code == 200, r.text
    image = r.json()["result"]["images"][0]
    assert image["all_passed"], image["readings"]
    record = image["self_correct"]
    assert record["seed"] == 5 and record["rounds"] == 1 and record["repairs"] == 2
    for line, expected in zip(record["lines"], ("三星堆", "文创 2025")):
        first, repair = line["attempts"]
        assert not first["passed"] and first["read"] != expected and first["seed"] == 5
        assert repair["passed"] and repair["attempt"] == 1
    saved = client.get(f"/api/gallery/{image['id']}").json()
    assert saved["self_correct"]["lines"] == record["lines"]
    assert saved["request"]["self_correct"] == 2
    assert "2 line(s) fixed in 2 tries" in caption(saved)

    rerun = client.post(f"/api/gallery/{image['id']}/rerun?wait=true")
    assert rerun.status_code == 200, rerun.text
    again = rerun.json()["result"]["images"][0]
    assert again["self_correct"]["lines"] == record["lines"]
    np.testing.assert_array_equal(image_of(client, image["url"]), image_of(client, again["url"]))


def test_api_without_self_correct_keeps_the_wrong_lines(data_dir, garbling_engine):
    client = client_for(data_dir)
    image = client.post("/api/generate?wait=true", json=body()).json()["result"]["images"][0]
    assert "self_correct" not in image
    # the engine believes its own (garbled) text: its readings pass, as before this feature
    assert [r["expected"] for r in image["readings"]] != ["三星堆", "文创 2025"]


def test_api_refuses_too_many_rounds(data_dir, garbling_engine):
    r = client_for(data_dir).post("/api/generate?wait=true", json=body(self_correct=MAX_SELF_CORRECT + 1))
    assert r.status_code == 422
    assert r.json()["field"] == "self_correct" and "between 0 and 10" in r.json()["error"]


def test_ocr_table_shows_the_tries():
    from wenchuang.engines.base import run_request
    from wenchuang.request import DesignRequest, TextLine

    lines = [TextLine("三星堆", [tuple(p) for p in BOXES[0]])]
    result = run_request(GarblingEngine(p=1.0, edit_p=0.0), DesignRequest(lines=lines, seed=5, self_correct=3))
    table = ocr_markdown(result, texts("en"))
    header, _, row = table.splitlines()
    assert header.rstrip().endswith("| Tries |")
    wrong = result.extra["self_correct"]["images"][0]["lines"][0]["attempts"][0]["read"]
    assert row.endswith(f"| 2: {wrong} ✗ → 三星堆 ✓ |"), row
    # without self-correction the table has no tries column
    plain = run_request(GarblingEngine(p=1.0), DesignRequest(lines=lines, seed=5))
    assert "Tries" not in ocr_markdown(plain, texts("en"))


def test_ui_control_is_on_with_3_tries_and_the_handler_sends_it(data_dir, garbling_engine):
    from wenchuang.studio.examples import ExampleRenderer
    from wenchuang.studio.service import Studio
    from wenchuang.studio.ui import MAX_ROWS, StudioUI
    from wenchuang.studio.ui_logic import DRAW_RECTANGLES, canvas_with_boxes

    studio = Studio(StudioConfig(data_dir=data_dir, render_examples=False))
    ui = StudioUI(studio, "en", ExampleRenderer(data_dir / "examples"))
    blocks = ui.build()
    controls = {c.elem_id: c for c in blocks.blocks.values() if getattr(c, "elem_id", None)}
    assert controls["self-correct"].value is True and controls["self-correct-n"].value == 3
    assert controls["self-correct-n"].maximum == MAX_SELF_CORRECT

    canvas = canvas_with_boxes(512, 512, [[tuple(p) for p in BOXES[0]]])
    rows = ["三星堆"] + [""] * (MAX_ROWS - 1), [None] * MAX_ROWS, [""] * MAX_ROWS
    params = ["garbling", "__default__", 1, 20, 9.0, 1.0, 0.0, 5, 512, 512, "", "", "top-down", False]
    _, table, _, _ = ui.generate(None, "", "", canvas, DRAW_RECTANGLES, 1, *rows[0], *rows[1], *rows[2],
                                 *params, True, 3)  # fmt: skip
    assert "| Tries |" in table and "→ 三星堆 ✓" in table, table
    _, table, _, _ = ui.generate(None, "", "", canvas, DRAW_RECTANGLES, 1, *rows[0], *rows[1], *rows[2],
                                 *params, False, 3)  # fmt: skip
    assert "Tries" not in table and "✗" not in table  # the engine's own (believed) reading
    assert sorted(m["request"]["self_correct"] for m in studio.gallery.list()) == [0, 3]
