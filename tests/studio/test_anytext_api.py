"""Generate and edit through the API with the anytext engine on a tiny random-weight pipeline."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from wenchuang.anytext.random_models import build_random_pipeline, tiny_config, write_byte_tokenizer
from wenchuang.engines.anytext_engine import AnyTextEngine
from wenchuang.studio.api import create_app
from wenchuang.studio.config import StudioConfig


@pytest.fixture(scope="module")
def tiny_engine(tmp_path_factory):
    tokenizer = write_byte_tokenizer(tmp_path_factory.mktemp("tokenizer"))
    pipe = build_random_pipeline(tiny_config(), tokenizer, seed=0)
    pipe.set_progress_bar_config(disable=True)
    return AnyTextEngine(pipeline=pipe, device="cpu", fp16=False)


def test_generate_and_edit_with_tiny_anytext(data_dir, tiny_engine):
    app = create_app(StudioConfig(data_dir=data_dir, ui=False))
    app.state.studio._engines[("anytext", None)] = tiny_engine  # the engine the studio would load
    client = TestClient(app, base_url="http://127.0.0.1:7860", client=("127.0.0.1", 9))
    box = [[32, 96], [224, 96], [224, 160], [32, 160]]
    r = client.post(
        "/api/generate?wait=true",
        json={
            "engine": "anytext",
            "prompt": "a bookmark",
            "width": 256,
            "height": 256,
            "steps": 2,
            "seed": 9,
            "lines": [{"text": "神鸟", "polygon": box}],
        },
    )
    assert r.status_code == 200, r.text
    result = r.json()["result"]
    assert result["engine"] == "anytext" and result["images"][0]["seed"] == 9
    assert [x["expected"] for x in result["images"][0]["readings"]] == ["神鸟"]  # random weights: not passed
    png = client.get(result["images"][0]["url"]).content
    assert Image.open(io.BytesIO(png)).size == (256, 256)
    r = client.post(
        "/api/edit?wait=true",
        json={
            "engine": "anytext",
            "image": base64.b64encode(png).decode(),
            "steps": 2,
            "seed": 9,
            "lines": [{"text": "金沙", "polygon": box}],
        },
    )
    assert r.status_code == 200, r.text
    edited = r.json()["result"]["images"][0]
    assert edited["size"] == [256, 256] and edited["readings"][0]["expected"] == "金沙"
    # the re-run reproduces the image bit for bit
    again = client.post(f"/api/gallery/{edited['id']}/rerun?wait=true").json()["result"]["images"][0]
    a = np.asarray(Image.open(io.BytesIO(client.get(edited["url"]).content)))
    b = np.asarray(Image.open(io.BytesIO(client.get(again["url"]).content)))
    assert np.array_equal(a, b)
    # what the anytext engine cannot do is a clear 422, not a crash
    r = client.post(
        "/api/edit?wait=true",
        json={"engine": "anytext", "image": base64.b64encode(png).decode(), "remove_all_text": True},
    )
    assert r.status_code == 422 and "classic" in r.json()["error"]["message"]
