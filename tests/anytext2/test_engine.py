"""The anytext2 engine: a tiny random AnyText2 pipeline saved as a folder, through the engine, the
registry's default choice, the CLI (per-line --font/--color) and the HTTP API."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from wenchuang.engines import anytext2_engine, registry
from wenchuang.engines.base import run_request
from wenchuang.errors import FontError, ModelError, RequestError
from wenchuang.layout.fonts import available_fonts
from wenchuang.request import DesignRequest, TextLine

pytestmark = pytest.mark.skipif("noto-sans-sc" not in available_fonts(), reason="the default CJK font is missing")

TOP = [(30, 30), (226, 30), (226, 100), (30, 100)]
BOTTOM = [(30, 150), (226, 150), (226, 220), (30, 220)]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from wenchuang.anytext.random_models import write_byte_tokenizer
    from wenchuang.anytext2.random_models import build_random_pipeline, tiny_config

    pipe = build_random_pipeline(tiny_config(), write_byte_tokenizer(tmp_path_factory.mktemp("tok")), seed=0)
    folder = tmp_path_factory.mktemp("anytext2_tiny")
    pipe.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def engine(model_dir):
    return anytext2_engine.create_engine(model=str(model_dir))


def _request(**kwargs) -> DesignRequest:
    base = dict(
        prompt="a poster",
        lines=[TextLine("文创", TOP), TextLine("AB", BOTTOM)],
        width=256,
        height=256,
        steps=2,
        seed=5,
    )
    base.update(kwargs)
    return DesignRequest(**base)


def test_status_without_loading_and_the_default_engine(model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("WENCHUANG_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("WENCHUANG_ANYTEXT_MODEL", raising=False)
    monkeypatch.delenv("WENCHUANG_ANYTEXT2_MODEL", raising=False)
    ready, detail = anytext2_engine.engine_status(str(tmp_path / "nowhere"))
    assert not ready and "wenchuang download anytext2" in detail
    ready, detail = anytext2_engine.engine_status(str(model_dir))
    assert ready and "converted pipeline" in detail and str(model_dir) in detail
    # an AnyText (v1) folder or checkpoint is not AnyText2's
    v1 = tmp_path / "v1"
    v1.mkdir()
    (v1 / "model_index.json").write_text(json.dumps({"_class_name": "AnyTextPipeline"}))
    ready, detail = anytext2_engine.engine_status(str(v1))
    assert not ready and "AnyTextPipeline pipeline, not AnyText2" in detail
    ckpt = tmp_path / "anytext_v1.1.ckpt"
    ckpt.write_bytes(b"")
    ready, detail = anytext2_engine.engine_status(str(ckpt))
    assert not ready and "use the anytext engine" in detail
    # the default engine is the best ready one: anytext2, then anytext, then classic
    assert registry.default_engine_name(str(model_dir)) == "anytext2"
    assert registry.default_engine_name(str(v1)) == "anytext"
    assert registry.default_engine_name(str(tmp_path / "nowhere")) == "classic"
    assert registry.default_engine_name() == "classic"
    assert "anytext2" in registry.engine_names()


def test_generate_honours_each_lines_font_and_colour(engine):
    plain = run_request(engine, _request(image_count=2))
    assert plain.engine == "anytext2" and plain.seeds == [5, 6]
    assert len(plain.images) == 2 and all(im.shape == (256, 256, 3) for im in plain.images)
    assert [r.expected for r in plain.readings[0]] == ["文创", "AB"]
    assert not plain.debug["font_hint"].any()  # no font given: no font hint
    lines = [TextLine("文创", TOP, font="noto-sans-tc", color="#ff0000"), TextLine("AB", BOTTOM, color="#0000ff")]
    styled = run_request(engine, _request(lines=lines))
    assert styled.debug["font_hint"].any()  # hollow: outlines over a noise texture
    solid = anytext2_engine.AnyText2Engine(pipeline=engine.pipeline, font_hollow=False)
    hint = run_request(solid, _request(lines=lines)).debug["font_hint"]
    assert hint[30:100, 30:226].any() and not hint[150:220, 30:226].any()  # only line 0 has a font
    assert not hint[:25].any()
    glyphs = styled.debug["glyphs"].astype(int)
    top, bottom = glyphs[30:100, 30:226].reshape(-1, 3), glyphs[150:220, 30:226].reshape(-1, 3)
    assert top[:, 0].max() == 255 and top[:, 0].sum() > 20 * top[:, 2].sum()  # red ink
    assert bottom[:, 2].max() == 255 and bottom[:, 2].sum() > 20 * bottom[:, 0].sum()  # blue ink
    assert not np.array_equal(styled.images[0], plain.images[0])
    assert styled.extra["lines"][0]["font"] == "noto-sans-tc" and styled.extra["lines"][1]["color"] == "#0000ff"
    # image k is reproducible on its own with seed + k (one image per pipeline call)
    alone = run_request(engine, _request(seed=6))
    assert np.array_equal(alone.images[0], plain.images[1])


def test_edit_mimics_the_lettering_of_the_picture(engine):
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, size=(256, 320, 3), dtype=np.uint8)
    base = dict(mode="edit", image=image, lines=[TextLine("OPEN", TOP)])
    plain = run_request(engine, _request(**base))
    own = run_request(engine, _request(**base | {"lines": [TextLine("OPEN", TOP, font="mimic")]}))
    other = run_request(engine, _request(**base | {"lines": [TextLine("OPEN", TOP, font="mimic:40,150,300,230")]}))
    for result in (plain, own, other):
        out = result.images[0]
        assert out.shape == image.shape
        assert np.array_equal(out[160:, :], image[160:, :])  # far from the edited box
    assert not np.array_equal(own.images[0], plain.images[0])
    assert not np.array_equal(other.images[0], own.images[0])
    assert not own.debug["font_hint"].any()  # mimic replaces the font hint with the picture's crop


def test_what_the_engine_cannot_do_is_a_clear_error(engine):
    with pytest.raises(RequestError, match=r"lines\[0\]\.font.*edit an image"):
        run_request(engine, _request(lines=[TextLine("OPEN", TOP, font="mimic")]))
    image = np.zeros((256, 256, 3), np.uint8)
    with pytest.raises(RequestError, match=r"lines\[0\]\.font.*outside the 256x256 image"):
        run_request(engine, _request(mode="edit", image=image, lines=[TextLine("OPEN", TOP, font="mimic:0,0,300,50")]))
    with pytest.raises(RequestError, match="classic engine"):
        run_request(engine, _request(mode="edit", image=image, lines=[], remove_all_text=True))
    classic = registry.create_engine("classic")
    with pytest.raises(FontError, match="'mimic'.*needs the anytext2 engine"):
        run_request(classic, _request(mode="edit", image=image, lines=[TextLine("OPEN", TOP, font="mimic")]))
    missing = anytext2_engine.create_engine(model=str(image.shape))  # a path that does not exist
    with pytest.raises(ModelError, match="wenchuang download anytext2"):
        run_request(missing, _request())


def _cli(capsys, *argv) -> tuple[int, str]:
    from wenchuang.cli import main

    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out + err


def test_cli_generate_and_edit_with_per_line_font_and_colour(model_dir, tmp_path, capsys):
    out = tmp_path / "gen"
    code, text = _cli(capsys, "generate", "--engine", "anytext2", "--model", model_dir, "--prompt", "a poster",
                      "--text", "文创", "--position", "30,30,226,100", "--font", "noto-sans-tc", "--color", "#ff0000",
                      "--text", "AB", "--position", "30,150,226,220", "--font", "noto-sans-sc", "--color", "#0000ff",
                      "--size", "256x256", "--steps", "2", "--seed", "4", "--out", out)
    assert code == 0, text
    meta = json.loads(next(out.glob("*.json")).read_text(encoding="utf-8"))
    assert meta["engine"] == "anytext2" and meta["seed"] == 4
    assert [(x["font"], x["color"]) for x in meta["request"]["lines"]] == [("noto-sans-tc", "#ff0000"),
                                                                          ("noto-sans-sc", "#0000ff")]
    png = next(out.glob("*.png"))
    code, text = _cli(capsys, "edit", "--engine", "anytext2", "--model", model_dir, "--image", png,
                      "--text", "OPEN", "--position", "30,30,226,100", "--font", "mimic", "--steps", "2",
                      "--seed", "4", "--out", tmp_path / "edit")
    assert code == 0, text
    meta = json.loads(next((tmp_path / "edit").glob("*.json")).read_text(encoding="utf-8"))
    assert meta["request"]["lines"][0]["font"] == "mimic" and meta["engine"] == "anytext2"
    edited = np.asarray(Image.open(next((tmp_path / "edit").glob("*.png"))).convert("RGB"))
    original = np.asarray(Image.open(png).convert("RGB"))
    assert np.array_equal(edited[160:], original[160:])


def test_api_generate_and_edit_with_a_model_from_the_models_folder(model_dir, tmp_path):
    import shutil

    from fastapi.testclient import TestClient

    from wenchuang.studio.api import create_app
    from wenchuang.studio.config import StudioConfig

    data_dir = tmp_path / "data"
    shutil.copytree(model_dir, data_dir / "models" / "tiny-anytext2")
    app = create_app(StudioConfig(data_dir=data_dir, ui=False, render_examples=False))
    client = TestClient(app, base_url="http://127.0.0.1:7860", client=("127.0.0.1", 9))
    lines = [{"text": "文创", "polygon": [list(p) for p in TOP], "font": "noto-sans-tc", "color": "#ff0000"},
             {"text": "AB", "polygon": [list(p) for p in BOTTOM], "color": "#0000ff"}]
    job = {"engine": "anytext2", "model": "tiny-anytext2", "prompt": "a poster", "width": 256, "height": 256,
           "steps": 2, "seed": 7}
    r = client.post("/api/generate?wait=true", json=job | {"lines": lines})
    assert r.status_code == 200, r.text
    result = r.json()["result"]
    assert result["engine"] == "anytext2" and result["images"][0]["seed"] == 7
    assert [x["expected"] for x in result["images"][0]["readings"]] == ["文创", "AB"]
    png = client.get(result["images"][0]["url"]).content
    saved = json.loads(next((data_dir / "gallery").glob("*.json")).read_text(encoding="utf-8"))
    assert [(x["font"], x["color"]) for x in saved["request"]["lines"]] == [("noto-sans-tc", "#ff0000"),
                                                                           (None, "#0000ff")]
    edit = {k: v for k, v in job.items() if k not in ("width", "height")}
    r = client.post("/api/edit?wait=true", json=edit | {"image": base64.b64encode(png).decode(),
                                                        "lines": [{"text": "OPEN", "polygon": lines[0]["polygon"],
                                                                   "font": "mimic", "color": "#00ff00"}]})
    assert r.status_code == 200, r.text
    edited = r.json()["result"]["images"][0]
    assert edited["size"] == [256, 256] and edited["readings"][0]["expected"] == "OPEN"
    after = np.asarray(Image.open(io.BytesIO(client.get(edited["url"]).content)).convert("RGB"))
    before = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    assert np.array_equal(after[160:], before[160:])
