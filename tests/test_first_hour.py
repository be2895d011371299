"""What a new user meets in the first hour (issue 15): camera photos through the API, the UI handler
and the CLI; the classic engine's background against the chosen ink; advice that names a command
that works; `edit --text` without a position; text too small to read; gallery query errors."""

from __future__ import annotations

import base64
import io
import json
import warnings

import numpy as np
import pytest
from PIL import Image

from wenchuang.cli import main
from wenchuang.images import load_image
from wenchuang.ocr import check_lines
from wenchuang.request import TextLine

PHOTO_W, PHOTO_H = 6000, 4000  # 24 MP: a camera photo
BOX = (1000, 1000, 3000, 1600)  # where the new text goes, in the photo's pixels
POLYGON = [(BOX[0], BOX[1]), (BOX[2], BOX[1]), (BOX[2], BOX[3]), (BOX[0], BOX[3])]


def _jpeg(width: int, height: int, quality: int = 85) -> bytes:
    """A flat-coloured photo with a gradient (compresses to a few hundred kB even at 64 MP)."""
    image = np.empty((height, width, 3), np.uint8)
    image[..., 0] = 205
    image[..., 1] = np.linspace(150, 200, height, dtype=np.uint8)[:, None]
    image[..., 2] = np.linspace(100, 190, width, dtype=np.uint8)[None, :]
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


@pytest.fixture(scope="module")
def photo() -> bytes:
    return _jpeg(PHOTO_W, PHOTO_H)


@pytest.fixture(scope="module")
def huge_photo() -> bytes:
    return _jpeg(8000, 8000, quality=40)  # 64 MP: over the 60 MP limit


def _check_pasted_back(original: np.ndarray, result: np.ndarray) -> None:
    """The result is the full-resolution original with only the text box changed, and the new
    text reads back at full resolution where it was asked for."""
    assert result.shape == original.shape == (PHOTO_H, PHOTO_W, 3)
    changed = np.abs(result.astype(np.int16) - original.astype(np.int16)).max(axis=2) > 0
    ys, xs = np.nonzero(changed)
    assert len(ys) > 1000
    margin = 40  # feathering and the text's shadow
    assert BOX[0] - margin <= xs.min() and xs.max() <= BOX[2] + margin
    assert BOX[1] - margin <= ys.min() and ys.max() <= BOX[3] + margin
    (reading,) = check_lines(result, [TextLine("金沙", POLYGON)])
    assert reading.passed, reading


def test_load_image_reduces_a_jpeg_in_draft_mode(photo):
    full = load_image(photo)
    assert full.shape == (PHOTO_H, PHOTO_W, 3)
    small = load_image(photo, reduce_to=1_000_000)
    assert small.shape[0] * small.shape[1] <= 1_000_000
    assert small.shape[1] / small.shape[0] == pytest.approx(1.5, abs=0.01)
    # the same picture: compare with the full decode reduced the ordinary way
    from wenchuang.images import resize_image

    reference = resize_image(full, (small.shape[1], small.shape[0]))
    assert np.abs(small.astype(int) - reference.astype(int)).mean() < 2
    # draft mode: the decoder itself hands over a reduced image (1/4 here), not the 24 MP one
    image = Image.open(io.BytesIO(photo))
    image.draft("RGB", (1224, 816))
    assert image.size == (1500, 1000)


def test_paste_back_keeps_every_untouched_pixel():
    from wenchuang.images import paste_back, resize_image

    rng = np.random.default_rng(0)
    original = rng.integers(0, 256, (900, 1200, 3), dtype=np.uint8)
    before = resize_image(original, (400, 300))
    after = before.copy()
    after[100:140, 200:260] = (255, 0, 0)
    out = paste_back(original, before, after)
    changed = np.abs(out.astype(int) - original.astype(int)).max(axis=2) > 0
    ys, xs = np.nonzero(changed)
    assert 280 <= xs.min() and xs.max() <= 800 and 280 <= ys.min() and ys.max() <= 440
    # the painted block arrives enlarged three times, solid red inside
    np.testing.assert_array_equal(out[320:400, 620:760], np.broadcast_to((255, 0, 0), (80, 140, 3)))
    np.testing.assert_array_equal(paste_back(original, before, before.copy()), original)


def test_api_accepts_a_24_mp_photo_and_pastes_the_edit_back(tmp_path, photo, huge_photo, monkeypatch):
    from fastapi.testclient import TestClient

    import wenchuang.images
    from wenchuang.studio.api import create_app
    from wenchuang.studio.config import StudioConfig

    monkeypatch.setattr(wenchuang.images, "WORK_PIXELS", 3_000_000)  # a smaller working size: faster
    client = TestClient(create_app(StudioConfig(data_dir=tmp_path, ui=False)), base_url="http://127.0.0.1:7860")
    body = {
        "engine": "classic",
        "seed": 1,
        "lines": [{"text": "金沙", "polygon": [list(p) for p in POLYGON]}],
        "image": base64.b64encode(photo).decode(),
    }
    r = client.post("/api/edit?wait=true", json=body)
    assert r.status_code == 200, r.text
    job = r.json()
    summary = job["result"]
    assert any("pasted back into the full-resolution original" in w for w in summary["warnings"])
    (image,) = summary["images"]
    assert image["size"] == [PHOTO_W, PHOTO_H] or image["size"] == [PHOTO_H, PHOTO_W]
    png = client.get(image["url"])
    assert png.status_code == 200
    result = np.asarray(Image.open(io.BytesIO(png.content)).convert("RGB"))
    _check_pasted_back(load_image(photo), result)
    meta = client.get(f"/api/gallery/{image['id']}").json()
    assert meta["request"]["image"]["shape"] == [PHOTO_H, PHOTO_W, 3]  # the original is what re-runs
    # beyond the limit: a JSON 413 naming the limit, for JSON and multipart alike; never a 5xx
    r = client.post("/api/edit", json={**body, "image": base64.b64encode(huge_photo).decode()})
    assert r.status_code == 413, r.text
    assert r.json() == {
        "error": "image: 8000x8000 = 64000000 pixels; at most 60000000 (60.0 megapixels)",
        "field": "image",
    }
    request_part = json.dumps({k: v for k, v in body.items() if k != "image"})
    r = client.post(
        "/api/edit",
        data={"request": request_part},
        files={"image": ("huge.jpg", huge_photo, "image/jpeg")},
    )
    assert r.status_code == 413 and "at most 60000000" in r.json()["error"], r.text


def test_ui_handler_accepts_a_24_mp_photo_and_refuses_64_mp_clearly(tmp_path, photo, huge_photo, monkeypatch):
    import gradio as gr
    from gradio.components.image_editor import EditorData
    from gradio.data_classes import FileData

    import wenchuang.images
    from wenchuang.commands.studio import _guard_pillow
    from wenchuang.studio.config import StudioConfig
    from wenchuang.studio.examples import ExampleRenderer
    from wenchuang.studio.service import Studio
    from wenchuang.studio.ui import MAX_ROWS, StudioUI, photo_editor
    from wenchuang.studio.ui_logic import DRAW_RECTANGLES, canvas_with_boxes

    monkeypatch.setattr(wenchuang.images, "WORK_PIXELS", 3_000_000)
    studio = Studio(StudioConfig(data_dir=tmp_path, ui=False))
    ui = StudioUI(studio, "en", ExampleRenderer(tmp_path / "examples"))
    original = load_image(photo)
    value = {**canvas_with_boxes(PHOTO_W, PHOTO_H, [POLYGON]), "background": original}
    texts = ["金沙"] + [""] * (MAX_ROWS - 1)
    params = ["classic", "__default__", 1, 20, 9.0, 1.0, 0.0, 5, 512, 512, "", "", "top-down", False, False, 1]
    gallery, ocr, info, _ = ui.edit(
        None, "", "", value, DRAW_RECTANGLES, 1, *texts, *([None] * MAX_ROWS), *([None] * MAX_ROWS), *params
    )
    assert "pasted back" in info and "✓" in ocr
    _check_pasted_back(original, np.asarray(gallery[0][0]))

    # 64 MP: what `wenchuang serve` does to Pillow makes Gradio's own decoding refuse it; the editor
    # turns that into the studio's message naming the limit (no "decompression bomb")
    path = tmp_path / "huge.jpg"
    path.write_bytes(huge_photo)
    editor = photo_editor(studio.config.max_upload_pixels, type="numpy")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)  # restored afterwards
    with warnings.catch_warnings():
        _guard_pillow(studio.config.max_upload_pixels)
        with pytest.raises(gr.Error) as caught:
            editor.preprocess(EditorData(background=FileData(path=str(path)), layers=[], composite=None))
    message = str(caught.value.message)
    assert message.startswith("image: 64000000 pixels; at most 60000000 (60.0 megapixels)"), message
    assert "bomb" not in message


def test_cli_edits_a_24_mp_photo_at_full_resolution_and_refuses_64_mp(tmp_path, photo, huge_photo, capsys):
    source = tmp_path / "photo.jpg"
    source.write_bytes(photo)
    out = tmp_path / "out"
    box = ",".join(map(str, BOX))
    code = main(["edit", "--engine", "classic", "--image", str(source), "--text", "金沙", "--position", box,
                 "--seed", "2", "--out", str(out)])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    assert "OCR 1/1 ok" in stdout
    assert "the 6000x4000 photo was worked on at" in stderr and "pasted back" in stderr
    (png,) = sorted(out.glob("*.png"))
    _check_pasted_back(load_image(source), load_image(png))
    meta = json.loads(png.with_suffix(".json").read_text(encoding="utf-8"))
    assert meta["extra"]["resized"]["original"] == [PHOTO_W, PHOTO_H]
    assert meta["extra"]["lines"][0]["polygon"][0] == pytest.approx(list(POLYGON[0]), abs=1)
    assert meta["request"]["lines"][0]["polygon"][0] == pytest.approx(list(POLYGON[0]), abs=1)

    huge = tmp_path / "huge.jpg"
    huge.write_bytes(huge_photo)
    code = main(["edit", "--engine", "classic", "--image", str(huge), "--text", "金沙", "--position", box,
                 "--out", str(out)])
    stdout, stderr = capsys.readouterr()
    assert code == 2
    assert stderr.strip().endswith("8000x8000 = 64000000 pixels; at most 60000000 (60.0 megapixels)")
    assert len(stderr.strip().splitlines()) == 1 and len(list(out.glob("*.png"))) == 1
