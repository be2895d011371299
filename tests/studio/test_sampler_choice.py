"""The sampler travels from the studio (UI picker, HTTP API, serve options) into the request."""

from __future__ import annotations

from fastapi.testclient import TestClient

from wenchuang.request import SAMPLERS
from wenchuang.studio.config import StudioConfig
from wenchuang.studio.examples import ExampleRenderer
from wenchuang.studio.service import Studio
from wenchuang.studio.ui_logic import DRAW_RECTANGLES, canvas_with_boxes


def test_ui_offers_every_sampler_and_sends_the_choice(data_dir, fake_engine):
    from wenchuang.studio.ui import MAX_ROWS, StudioUI

    studio = Studio(StudioConfig(data_dir=data_dir))
    ui = StudioUI(studio, "en", ExampleRenderer(data_dir / "examples"))
    demo = ui.build()
    pickers = [b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "sampler"]
    assert len(pickers) == 1
    assert [value for _, value in pickers[0].choices] == list(SAMPLERS) and pickers[0].value == "ddim"

    canvas = canvas_with_boxes(512, 512, [[(50, 40), (300, 40), (300, 120), (50, 120)]])
    texts = ["文创"] + [""] * (MAX_ROWS - 1)
    params = ["fake", "__default__", 1, 10, 9.0, 1.0, 0.0, 5, 512, 512, "", "", "top-down", False, False, 3, "dpmpp_2m"]
    ui.generate(None, "", "", canvas, DRAW_RECTANGLES, 1, *texts, *([None] * MAX_ROWS),
                *(["#000000"] * MAX_ROWS), *params)
    saved = studio.gallery.list()
    assert saved[0]["request"]["sampler"] == "dpmpp_2m" and saved[0]["request"]["steps"] == 10


def test_api_takes_a_sampler_and_its_default_steps(data_dir, fake_engine):
    from wenchuang.studio.api import create_app

    client = TestClient(
        create_app(StudioConfig(data_dir=data_dir, ui=False)), base_url="http://127.0.0.1:7860", client=("127.0.0.1", 9)
    )
    body = {"engine": "fake", "prompt": "x", "lines": [{"text": "AB", "polygon": [[10, 10], [200, 10], [200, 80], [10, 80]]}],
            "sampler": "unipc", "seed": 3}
    response = client.post("/api/generate?wait=true", json=body)
    assert response.status_code == 200, response.text
    request = client.get("/api/gallery").json()["items"][0]["request"]
    assert request["sampler"] == "unipc" and request["steps"] == 10  # UniPC's default step count
    bad = client.post("/api/generate?wait=true", json={**body, "sampler": "plms"})
    assert bad.status_code in (400, 422) and "sampler" in bad.text


def test_serve_dtype_reaches_the_model_engines(data_dir, monkeypatch):
    from wenchuang.cli import build_parser
    from wenchuang.engines import registry

    args = build_parser().parse_args(["serve", "--dtype", "bfloat16"])
    assert args.dtype == "bfloat16"
    seen = []
    monkeypatch.setattr(registry, "create_engine", lambda name, model=None, **o: seen.append((name, o)))
    studio = Studio(StudioConfig(data_dir=data_dir, dtype="bfloat16", ui=False, render_examples=False))
    studio.engine("classic", None)
    studio.engine("anytext", None)
    assert seen == [("classic", {"cpu_offload": None}), ("anytext", {"cpu_offload": None, "dtype": "bfloat16"})]
