"""The HTTP API through FastAPI's TestClient: round trips, queue, rate limits, bans, guards, gallery."""

from __future__ import annotations

import base64
import io
import json
import threading
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from wenchuang.studio.api import create_app
from wenchuang.studio.config import StudioConfig
from wenchuang.studio.security import BlockList

from .conftest import FakeEngine

BASE = "http://127.0.0.1:7860"
BOX = [[64, 96], [448, 96], [448, 192], [64, 192]]


def make_client(data_dir, ip="192.0.2.10", **overrides) -> TestClient:
    cfg = StudioConfig(data_dir=data_dir, ui=False, **overrides)
    return TestClient(create_app(cfg), base_url=BASE, client=(ip, 40000))


def png_b64(arr: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def body(**kw):
    data = {
        "engine": "fake",
        "prompt": "a bronze mask mouse pad",
        "seed": 42,
        "width": 512,
        "height": 384,
        "lines": [{"text": "三星堆", "polygon": BOX, "color": "#c8a050"}],
    }
    data.update(kw)
    return data


def test_generate_wait_returns_result_and_gallery_keeps_it(data_dir, fake_engine):
    client = make_client(data_dir)
    r = client.post("/api/generate?wait=true", json=body(image_count=2))
    assert r.status_code == 200, r.text
    job = r.json()
    assert job["status"] == "done"
    images = job["result"]["images"]
    assert [im["seed"] for im in images] == [42, 43]
    assert images[0]["readings"][0] == {
        "expected": "三星堆",
        "read": "三星堆",
        "confidence": 0.99,
        "passed": True,
    }
    png = client.get(images[0]["url"])
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(png.content)).size == (512, 384)
    meta = client.get(f"/api/gallery/{images[1]['id']}").json()
    assert (
        meta["seed"] == 43
        and meta["engine"] == "fake"
        and meta["request"]["prompt"] == "a bronze mask mouse pad"
    )
    assert meta["request"]["lines"][0]["polygon"] == BOX and "render" in meta["timings"]
    # files on disk: the generated names only, inside the data folder
    files = sorted(p.name for p in (data_dir / "gallery").glob("*") if p.is_file())
    assert files == sorted(f"{im['id']}{ext}" for im in images for ext in (".json", ".png"))
    assert not list((data_dir / "gallery").glob(".*.tmp"))  # no temporary leftovers
    listing = client.get("/api/gallery").json()["items"]
    assert {m["id"] for m in listing} == {im["id"] for im in images}


def test_job_polling_without_wait(data_dir, fake_engine):
    client = make_client(data_dir)
    r = client.post("/api/generate", json=body())
    assert r.status_code == 202
    job_id = r.json()["id"]
    assert r.headers["location"] == f"/api/jobs/{job_id}"
    job = client.app.state.studio.queue.get(job_id)
    assert job.done_event.wait(10)
    polled = client.get(f"/api/jobs/{job_id}").json()
    assert polled["status"] == "done" and polled["result"]["images"][0]["seed"] == 42
    assert client.get("/api/jobs/" + "0" * 32).status_code == 404
    assert client.get("/api/jobs/../../etc/passwd").status_code == 404


def test_edit_json_base64_and_multipart(data_dir, fake_engine):
    client = make_client(data_dir)
    base = np.full((256, 320, 3), 180, np.uint8)
    mask = np.zeros((256, 320, 3), np.uint8)
    mask[50:100, 60:200] = 255
    req = {
        "engine": "fake",
        "lines": [{"text": "文创", "polygon": [[60, 50], [200, 50], [200, 100], [60, 100]]}],
        "seed": 5,
    }
    r = client.post("/api/edit?wait=true", json={**req, "image": png_b64(base), "mask": png_b64(mask)})
    assert r.status_code == 200, r.text
    entry = r.json()["result"]["images"][0]
    assert entry["size"] == [320, 256]
    # the engine got the uploaded picture: the fake engine paints its lines onto a copy of it
    edited = np.asarray(Image.open(io.BytesIO(client.get(entry["url"]).content)).convert("RGB"))
    assert (edited[:40] == 180).all() and (edited[120:] == 180).all()  # untouched away from the line
    assert tuple(edited[50, 130]) == (255, 0, 0)  # the line's outline
    meta = client.get(f"/api/gallery/{entry['id']}").json()
    assert meta["request"]["mode"] == "edit" and meta["request"]["mask"] == {"shape": [256, 320]}
    assert set(meta["inputs"]) == {"image", "mask"}
    buf = io.BytesIO()
    Image.fromarray(base).save(buf, format="JPEG")
    r2 = client.post(
        "/api/edit?wait=true",
        data={"request": json.dumps(req)},
        files={"image": ("anything.exe", buf.getvalue(), "application/octet-stream")},
    )
    assert r2.status_code == 200, r2.text
    assert r2.json()["result"]["images"][0]["size"] == [320, 256]
    jpeg_edit = client.get(r2.json()["result"]["images"][0]["url"]).content
    corner = np.asarray(Image.open(io.BytesIO(jpeg_edit)).convert("RGB"))[:40, :40].astype(int)
    assert np.abs(corner - 180).max() <= 3  # the multipart JPEG decoded (lossy, so nearly 180)


def test_validation_errors_are_422_with_the_field(data_dir, fake_engine):
    client = make_client(data_dir)
    r = client.post("/api/generate?wait=true", json=body(width=500))
    assert r.status_code == 422 and r.json()["field"] == "width"
    r = client.post("/api/generate", json=body(model="../../../etc/passwd"))
    assert r.status_code == 422 and r.json()["field"] == "model"
    r = client.post("/api/generate", json=body(lines=[{"text": "字", "polygon": BOX, "font": "/etc/passwd"}]))
    assert r.status_code == 422 and r.json()["field"] == "lines[0].font"
    r = client.post("/api/edit", json={"engine": "fake", "lines": [{"text": "字", "polygon": BOX}]})
    assert r.status_code == 422 and r.json()["field"] == "image"
    r = client.post("/api/generate", json=body(engine="nope"))
    assert r.status_code == 422 and r.json()["field"] == "engine"


def test_bad_uploads_get_4xx(data_dir, fake_engine, png_bomb):
    client = make_client(data_dir, max_upload_bytes=200_000, max_upload_pixels=1_000_000)
    req = {"engine": "fake", "remove_all_text": True}
    cases = {
        "bomb": base64.b64encode(png_bomb(3000, 3000)).decode(),
        "magic": base64.b64encode(b"MZ\x90\x00" + b"\x00" * 100).decode(),
        "polyglot": base64.b64encode(
            base64.b64decode(png_b64(np.zeros((16, 16, 3), np.uint8))) + b"<html><script>x</script>"
        ).decode(),
        "big": base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 300_000).decode(),
    }
    expected = {
        "bomb": (413, "image: 3000x3000 = 9000000 pixels; at most 1000000 (1.0 megapixels)"),
        "magic": (400, "image: not a PNG, JPEG or WebP image"),
        "polyglot": (400, "image: the file contains markup or script text"),
        "big": (413, "image: the encoded file is larger than 200000 bytes"),
    }
    for name, image in cases.items():
        r = client.post("/api/edit", json={**req, "image": image})
        assert 400 <= r.status_code < 500, (name, r.status_code, r.text)
        assert r.status_code == expected[name][0], (name, r.text)
        assert r.json()["error"].startswith(expected[name][1]), (name, r.text)
    assert client.post("/api/edit", json={**req, "image": cases["big"]}).status_code == 413
    records = [json.loads(x) for x in (data_dir / "security" / "security.log").read_text().splitlines()]
    events = [record["event"] for record in records]
    assert events.count("refused_upload") == 5
    refused = [r for r in records if r["event"] == "refused_upload"]
    assert {r["client"] for r in refused} == {"192.0.2.10"} and {r["path"] for r in refused} == {"/api/edit"}
    assert [r["detail"].split(";")[0] for r in refused[:2]] == [
        "image: 3000x3000 = 9000000 pixels", "image: not a PNG, JPEG or WebP image (checked by content, not by name)"
    ]
    gallery = data_dir / "gallery"
    assert not gallery.exists() or not any(gallery.iterdir())  # nothing refused reached an engine


def test_full_queue_answers_429_with_retry_after(data_dir, fake_engine):
    FakeEngine.gate = threading.Event()
    client = make_client(data_dir, queue_size=2, workers=1, jobs_burst=50, ban_threshold=0)
    codes = [client.post("/api/generate", json=body()).status_code for _ in range(8)]
    # one running + two waiting; the rest are refused at once
    assert codes[:3] == [202, 202, 202] and codes[3:] == [429] * 5
    r = client.post("/api/generate", json=body())
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    FakeEngine.gate.set()


def test_rate_limit_429_then_automatic_ban_survives_restart(data_dir, fake_engine):
    client = make_client(data_dir, ip="198.51.100.23", rate_per_minute=60, rate_burst=5, ban_threshold=4)
    codes = [client.get("/api/engines").status_code for _ in range(12)]
    assert codes[:5] == [200] * 5
    assert 429 in codes and 403 in codes and set(codes) <= {200, 429, 403}
    assert codes[-1] == 403
    r = client.get("/api/engines")
    assert r.status_code == 403 and "blocked" in r.json()["error"]
    # a restart: a new app on the same data folder still refuses the client
    again = make_client(data_dir, ip="198.51.100.23")
    assert again.get("/healthz").status_code == 403
    assert make_client(data_dir, ip="198.51.100.24").get("/api/engines").status_code == 200
    assert BlockList(data_dir / "security" / "blocklist.json").match("198.51.100.23").expires is not None
    ban = BlockList(data_dir / "security" / "blocklist.json").match("198.51.100.23")
    assert ban.expires == pytest.approx(time.time() + StudioConfig().ban_duration_s, abs=30)
    assert ban.reason.startswith("automatic: 4 violations")


def test_block_list_cidr_applies_to_the_server(data_dir, fake_engine):
    BlockList(data_dir / "security" / "blocklist.json").add("203.0.113.0/24")
    assert make_client(data_dir, ip="203.0.113.77").get("/api/engines").status_code == 403
    assert make_client(data_dir, ip="203.0.114.1").get("/api/engines").status_code == 200


def test_forwarded_for_only_from_trusted_proxy(data_dir, fake_engine):
    BlockList(data_dir / "security" / "blocklist.json").add("198.51.100.66")
    spoof = {"X-Forwarded-For": "198.51.100.1"}
    # untrusted peer: the header is ignored, so a blocked client cannot hide behind it ...
    assert make_client(data_dir, ip="198.51.100.66").get("/api/engines", headers=spoof).status_code == 403
    # ... and behind a trusted proxy the forwarded address is the client
    proxy = make_client(data_dir, ip="10.1.2.3", trusted_proxies=("10.0.0.0/8",))
    assert proxy.get("/api/engines", headers={"X-Forwarded-For": "198.51.100.66"}).status_code == 403
    assert proxy.get("/api/engines", headers=spoof).status_code == 200


def test_host_and_origin_guards(data_dir, fake_engine):
    client = make_client(data_dir, ban_threshold=0)
    assert client.get("/api/engines", headers={"Host": "evil.example"}).status_code == 421
    for origin in ("http://evil.example", "null", "http://127.0.0.1:9999"):
        r = client.post("/api/generate", json=body(), headers={"Origin": origin})
        assert r.status_code == 403, origin
    r = client.post("/api/generate", json=body(), headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403
    r = client.post("/api/generate?wait=true", json=body(), headers={"Origin": BASE})
    assert r.status_code == 200
    assert "access-control-allow-origin" not in r.headers  # no CORS grants
    pre = client.options(
        "/api/generate", headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in pre.headers


def test_auth_token_header_or_cookie(data_dir, fake_engine):
    client = make_client(data_dir, auth_token="s3cret", ban_threshold=0)
    assert client.get("/api/engines").status_code == 401
    assert client.get("/api/engines", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/api/engines", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    first = client.get("/healthz?token=s3cret")
    assert "wenchuang_token=s3cret" in first.headers["set-cookie"]
    assert "SameSite=Strict" in first.headers["set-cookie"]
    assert client.get("/api/engines").status_code == 200  # the cookie now
    assert client.get("/healthz").status_code == 200


def test_traversal_attempts_never_leave_the_data_folder(data_dir, fake_engine, tmp_path):
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"top secret")
    client = make_client(data_dir, ban_threshold=0)
    attempts = [
        "../secret",
        "..%2F..%2Fsecret",
        "%2e%2e%2fsecret",
        "20260101-000000-abcdef12-0/../../secret",
        "..\\..\\secret",
        "/etc/passwd",
        "20260101-000000-abcdef12-0",
    ]
    for name in attempts:
        for url in (f"/api/gallery/{name}", f"/api/gallery/{name}/image", f"/api/gallery.zip?ids={name}"):
            r = client.get(url)
            assert r.status_code == 404, (url, r.status_code)
            assert b"top secret" not in r.content
        r = client.post(f"/api/gallery/{name}/rerun")
        assert r.status_code in (404, 405), (name, r.status_code)
    assert not (data_dir / "gallery").exists() or not any((data_dir / "gallery").iterdir())


def test_rerun_reproduces_the_image_and_zip_download(data_dir, fake_engine):
    client = make_client(data_dir)
    first = client.post("/api/generate?wait=true", json=body(seed=-1, image_count=2)).json()["result"][
        "images"
    ]
    second = first[1]
    rerun = client.post(f"/api/gallery/{second['id']}/rerun?wait=true")
    assert rerun.status_code == 200, rerun.text
    again = rerun.json()["result"]["images"]
    assert len(again) == 1 and again[0]["seed"] == second["seed"]
    a = client.get(second["url"]).content
    b = client.get(again[0]["url"]).content
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(a))), np.asarray(Image.open(io.BytesIO(b))))
    r = client.get(f"/api/gallery.zip?ids={first[0]['id']},{again[0]['id']}")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    import zipfile

    names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
    assert sorted(names) == sorted(
        f"{i}{e}" for i in (first[0]["id"], again[0]["id"]) for e in (".png", ".json")
    )


def test_engines_lists_models_from_the_models_folder_only(data_dir, fake_engine):
    models = data_dir / "models"
    (models / "anytext-v1.1").mkdir(parents=True)
    (models / "anytext-v1.1" / "unet.safetensors").write_bytes(b"\x00")
    (models / "style.safetensors").write_bytes(b"\x00")
    (models / "evil.ckpt").write_bytes(b"\x00")
    (models / "pickles").mkdir()
    (models / "pickles" / "model.bin").write_bytes(b"\x00")
    client = make_client(data_dir)
    info = client.get("/api/engines").json()
    assert info["models"] == ["anytext-v1.1", "style.safetensors"]
    names = {e["name"] for e in info["engines"]}
    assert {"classic", "anytext", "fake"} <= names
    anytext = next(e for e in info["engines"] if e["name"] == "anytext")
    if not anytext["ready"]:
        assert "wenchuang download anytext" in anytext["help"] and str(models) in anytext["help"]
    r = client.post("/api/generate", json=body(model="evil.ckpt"))
    assert r.status_code == 422 and r.json()["field"] == "model"
    r = client.post("/api/generate?wait=true", json=body(model="style.safetensors"))
    assert r.status_code == 200 and r.json()["result"]["model"] == "style.safetensors"


def test_openapi_docs(data_dir):
    client = make_client(data_dir)
    spec = client.get("/openapi.json").json()
    assert {"/api/generate", "/api/edit", "/api/jobs/{job_id}", "/api/engines"} <= set(spec["paths"])
    assert "multipart/form-data" in spec["paths"]["/api/edit"]["post"]["requestBody"]["content"]
    page = client.get("/docs")
    assert page.status_code == 200 and "/api/generate" in page.text and "三星堆" in page.text
    assert "<script" not in page.text and "cdn" not in page.text.lower()  # nothing loaded from elsewhere
    assert client.get("/redoc").status_code == 404


@pytest.mark.parametrize("length", ["999999999999", "abc"])
def test_declared_body_too_large_is_413(data_dir, length):
    client = make_client(data_dir)
    r = client.post(
        "/api/generate", content=b"{}", headers={"Content-Length": length, "Content-Type": "application/json"}
    )
    assert r.status_code == 413


def test_static_files_are_not_rate_limited_and_loopback_is_never_banned(data_dir):
    client = make_client(data_dir, ip="127.0.0.1", rate_per_minute=60, rate_burst=3, ban_threshold=2)
    codes = [client.get(f"/zh/assets/Index-{i}.css").status_code for i in range(20)]
    assert 429 not in codes  # a page load fetches many assets
    codes = [client.get("/api/engines").status_code for _ in range(10)]
    assert codes[:3] == [200] * 3 and codes[3:] == [429] * 7  # limited, but not banned: no 403
    assert BlockList(data_dir / "security" / "blocklist.json").entries() == []


def test_listen_host_rules(data_dir):
    from wenchuang.studio.security import local_host_names

    lan = sorted(local_host_names(True) - local_host_names(False))
    open_lan = make_client(data_dir, listen=True, ban_threshold=0)
    assert open_lan.get("/api/engines", headers={"Host": "evil.example"}).status_code == 421
    if lan:  # this machine's own names and addresses are accepted
        assert open_lan.get("/api/engines", headers={"Host": f"{lan[0]}:7860"}).status_code == 200
    # with a token, any name works (e.g. a LAN name), but only with the token
    guarded = make_client(data_dir, listen=True, auth_token="t0k", ban_threshold=0)
    headers = {"Host": "studio.lan:7860"}
    assert guarded.get("/api/engines", headers=headers).status_code == 401
    assert guarded.get("/api/engines", headers={**headers, "Authorization": "Bearer t0k"}).status_code == 200
