"""Products over the HTTP API: print files and mock-ups of gallery images, kept with the entry."""

from __future__ import annotations

import io

import pikepdf
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from wenchuang.studio.api import create_app
from wenchuang.studio.config import StudioConfig

BASE = "http://127.0.0.1:7860"
EDGE = [[200, 0], [312, 0], [312, 40], [200, 40]]  # a line at the top edge: cut on a bookmark


@pytest.fixture
def client(data_dir, fake_engine):
    return TestClient(
        create_app(StudioConfig(data_dir=data_dir, ui=False)), base_url=BASE, client=("192.0.2.7", 1)
    )


@pytest.fixture
def entry(client) -> str:
    body = {"engine": "fake", "prompt": "p", "seed": 5, "width": 512, "height": 512}
    body["lines"] = [{"text": "书签边缘", "polygon": EDGE}]
    r = client.post("/api/generate?wait=true", json=body)
    assert r.status_code == 200, r.text
    return r.json()["result"]["images"][0]["id"]


def test_products_list(client):
    items = {p["name"]: p for p in client.get("/api/products").json()["items"]}
    assert items["mousepad"]["width_mm"] == 240 and items["bookmark"]["holes"][0]["diameter_mm"] == 5


def test_export_pdf_is_kept_with_the_entry_and_downloadable(client, entry, data_dir):
    r = client.post("/api/products/bookmark/export", json={"id": entry, "format": "pdf", "dpi": 40})
    assert r.status_code == 200, r.text
    record = r.json()
    assert record["product"] == "bookmark" and record["format"] == "pdf" and record["kind"] == "print"
    assert any(
        w.startswith('line 1 "书签边缘" is cut at the bookmark\'s top edge') for w in record["warnings"]
    )
    pdf = client.get(record["url"])
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    with pikepdf.open(io.BytesIO(pdf.content)) as doc:
        trim = [float(v) for v in doc.pages[0].TrimBox]
    assert trim[2] - trim[0] == pytest.approx(50 * 72 / 25.4, abs=0.5)
    mock = client.post("/api/products/bookmark/mockup", json={"id": entry, "width": 1024}).json()
    png = client.get(mock["url"])
    assert png.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(png.content)).size == (1024, 768)
    exports = client.get(f"/api/gallery/{entry}").json()["exports"]
    assert [e["kind"] for e in exports] == ["print", "mockup"]
    assert [e["file"] for e in exports] == [record["file"], mock["file"]]
    assert sorted(p.name for p in (data_dir / "gallery" / "exports").iterdir()) == sorted(
        e["file"] for e in exports
    )


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/api/products/keyring/export", {}, 422, "unknown product 'keyring'"),
        ("/api/products/mug/export", {"dpi": 5000}, 422, "dpi: 5000 is out of range"),
        ("/api/products/mug/export", {"bleed_mm": -1}, 422, "bleed: -1 mm is out of range"),
        ("/api/products/mug/export", {"format": "gif"}, 422, "format: must be one of pdf, png, tiff"),
        ("/api/products/mug/export", {"path": "/etc/passwd"}, 422, "unknown field(s) ['path']"),
        ("/api/products/mug/mockup", {"width": 100}, 422, "width: 100 is out of range"),
        ("/api/products/mug/mockup", {"id": "../../x"}, 404, "no such image"),
        ("/api/products/mug/mockup", {"id": "20250101-120000-0123abcd-0"}, 404, "no such image"),
    ],
)
def test_bad_requests_write_nothing(client, entry, data_dir, path, body, status, message):
    r = client.post(path, json={"id": entry, **body})
    assert r.status_code == status and message in r.text, r.text
    assert not (data_dir / "gallery" / "exports").exists()
    assert "exports" not in client.get(f"/api/gallery/{entry}").json()


def test_export_download_refuses_other_names(client, entry):
    assert client.get(f"/api/gallery/{entry}/exports/..%2F{entry}.json").status_code == 404
    assert client.get(f"/api/gallery/{entry}/exports/{entry}.png").status_code == 404
