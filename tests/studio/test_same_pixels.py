"""One transparent PNG gives the same pixels on every route: the CLI (`edit`/`generate --image`), the
HTTP API (JSON and multipart, edit and generate) and the UI's handlers (through Gradio's own editor
preprocessing). Every route decodes with `wenchuang.images` and composites transparency onto white."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from fastapi.testclient import TestClient
from gradio.components.image_editor import EditorData
from gradio.data_classes import FileData
from PIL import Image

from wenchuang.cli import main
from wenchuang.images import load_image
from wenchuang.studio.api import create_app
from wenchuang.studio.config import StudioConfig
from wenchuang.studio.examples import ExampleRenderer
from wenchuang.studio.service import Studio
from wenchuang.studio.ui import MAX_ROWS, StudioUI
from wenchuang.studio.ui_logic import DRAW_STROKES

from .conftest import FakeEngine

H, W = 40, 56
UI_PARAMS = ["fake", "__default__", 1, 20, 9.0, 1.0, 0.0, 5, 512, 512, "", "", "top-down", False]


def rgba_png() -> tuple[bytes, np.ndarray, np.ndarray]:
    """An RGBA PNG with opaque, fully transparent (a dark colour under alpha 0) and half-transparent
    pixels; returns (file, RGB, alpha)."""
    rng = np.random.default_rng(13)
    rgba = rng.integers(0, 256, (H, W, 4), dtype=np.uint8)
    rgba[:, : W // 3, 3] = 255
    rgba[:, W // 3 : 2 * W // 3, 3] = 0
    rgba[:, W // 3 : 2 * W // 3, :3] = 20
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG")
    return buffer.getvalue(), rgba[..., :3], rgba[..., 3]


def palette_png() -> tuple[bytes, np.ndarray, np.ndarray]:
    """A palette PNG whose tRNS chunk makes entry 0 transparent and entry 1 half-transparent."""
    colours = np.array([[30, 40, 50], [200, 0, 0], [0, 160, 90], [250, 250, 0]], np.uint8)
    alphas = np.array([0, 128, 255, 255], np.uint8)
    index = (np.arange(H)[:, None] // 10 + np.arange(W)[None, :] // 14) % 4
    image = Image.fromarray(index.astype(np.uint8), "P")
    image.putpalette(colours.flatten().tolist())
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", transparency=bytes(alphas))
    assert Image.open(io.BytesIO(buffer.getvalue())).mode == "P"
    return buffer.getvalue(), colours[index], alphas[index]


@pytest.fixture(params=["rgba", "palette"])
def transparent_png(request, tmp_path):
    data, rgb, alpha = rgba_png() if request.param == "rgba" else palette_png()
    path = tmp_path / f"{request.param}.png"
    path.write_bytes(data)
    return path, rgb, alpha


def expect_white_composite(decoded: np.ndarray, rgb: np.ndarray, alpha: np.ndarray) -> None:
    a = alpha[..., None].astype(np.float64) / 255.0
    ideal = rgb * a + 255.0 * (1.0 - a)
    assert decoded.shape == (H, W, 3) and decoded.dtype == np.uint8
    assert np.abs(decoded - ideal).max() <= 1.0  # rounding only
    assert (decoded[alpha == 0] == 255).all()  # transparent = white, whatever colour lies under it
    np.testing.assert_array_equal(decoded[alpha == 255], rgb[alpha == 255])


def last_image() -> np.ndarray:
    assert FakeEngine.seen, "the engine received no request"
    return FakeEngine.seen[-1]


def test_one_transparent_png_same_pixels_through_cli_api_and_ui(
    transparent_png, data_dir, fake_engine, tmp_path, capsys
):
    path, rgb, alpha = transparent_png
    reference = load_image(path)
    expect_white_composite(reference, rgb, alpha)
    routes: dict[str, np.ndarray] = {}

    # the CLI: wenchuang edit / generate --image
    common = ["--engine", "fake", "--image", str(path)]
    assert main(["edit", *common, "--remove-all-text", "--out", str(tmp_path / "e")]) == 0, (
        capsys.readouterr().err
    )
    routes["cli edit"] = last_image()
    assert main(["generate", *common, "--text", "文创", "--out", str(tmp_path / "g")]) == 0, (
        capsys.readouterr().err
    )
    routes["cli generate"] = last_image()

    # the HTTP API: base64 in JSON, and a multipart file
    client = TestClient(
        create_app(StudioConfig(data_dir=data_dir, ui=False)),
        base_url="http://127.0.0.1:7860",
        client=("192.0.2.20", 40000),
    )
    b64 = base64.b64encode(path.read_bytes()).decode()
    r = client.post("/api/edit?wait=true", json={"engine": "fake", "image": b64, "remove_all_text": True})
    assert r.status_code == 200, r.text
    routes["api edit json"] = last_image()
    r = client.post(
        "/api/generate?wait=true",
        json={"engine": "fake", "image": b64, "lines": [{"text": "文创"}], "seed": 1},
    )
    assert r.status_code == 200, r.text
    routes["api generate json"] = last_image()
    r = client.post(
        "/api/edit?wait=true",
        data={"request": json.dumps({"engine": "fake", "remove_all_text": True})},
        files={"image": ("upload.bin", path.read_bytes(), "application/octet-stream")},
    )
    assert r.status_code == 200, r.text
    routes["api edit multipart"] = last_image()

    # the UI: Gradio's editor preprocessing (as configured in ui.py), then the tab handlers
    ui = StudioUI(Studio(StudioConfig(data_dir=data_dir)), "en", ExampleRenderer(data_dir / "examples"))
    editor = ui._editor("upload", False, "test-canvas")
    value = editor.preprocess(EditorData(background=FileData(path=str(path)), layers=[], composite=None))
    ui.remove(None, value, DRAW_STROKES, True, *UI_PARAMS)
    routes["ui remove"] = last_image()
    rows = ["文创"] + [""] * (MAX_ROWS - 1), [None] * MAX_ROWS, [None] * MAX_ROWS
    ui.edit(None, "", "", value, DRAW_STROKES, 1, *rows[0], *rows[1], *rows[2], *UI_PARAMS)
    routes["ui edit"] = last_image()

    assert len(FakeEngine.seen) == len(routes)
    for route, image in routes.items():
        np.testing.assert_array_equal(image, reference, err_msg=route)
