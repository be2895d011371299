"""A real server on loopback (uvicorn in a thread): the classic engine end to end, and a flood."""

from __future__ import annotations

import base64
import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import uvicorn
from PIL import Image

from wenchuang.studio.api import create_app
from wenchuang.studio.config import StudioConfig


class LiveServer:
    def __init__(self, config: StudioConfig):
        self.server = uvicorn.Server(
            uvicorn.Config(create_app(config), host="127.0.0.1", port=0, log_level="warning", lifespan="on")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)


BOX = [[64, 160], [448, 160], [448, 288], [64, 288]]


def test_classic_engine_generate_then_edit_over_http(data_dir):
    with LiveServer(StudioConfig(data_dir=data_dir, ui=False)) as url:
        with httpx.Client(base_url=url, timeout=60) as http:
            r = http.post(
                "/api/generate?wait=true",
                json={
                    "engine": "classic",
                    "prompt": '三星堆鼠标垫，写着"三星堆"',
                    "seed": 3,
                    "width": 512,
                    "height": 448,
                    "lines": [{"text": "三星堆", "polygon": BOX, "color": "#c8a050"}],
                },
            )
            assert r.status_code == 200, r.text
            image = r.json()["result"]["images"][0]
            assert image["readings"][0]["expected"] == "三星堆" and image["readings"][0]["passed"] is True
            png = http.get(image["url"]).content
            assert Image.open(io.BytesIO(png)).size == (512, 448)
            # edit: replace the text of the image just made
            r = http.post(
                "/api/edit?wait=true",
                json={
                    "engine": "classic",
                    "image": base64.b64encode(png).decode(),
                    "seed": 3,
                    "lines": [{"text": "金沙", "polygon": BOX}],
                },
            )
            assert r.status_code == 200, r.text
            readings = r.json()["result"]["images"][0]["readings"]
            assert readings[0]["expected"] == "金沙" and readings[0]["passed"] is True


def test_flood_gets_429s_not_errors_or_timeouts(data_dir):
    cfg = StudioConfig(
        data_dir=data_dir,
        ui=False,
        queue_size=2,
        rate_burst=1000,
        rate_per_minute=60000,
        jobs_burst=1000,
        jobs_per_minute=60000,
        ban_threshold=0,
    )
    payload = {
        "engine": "classic",
        "seed": 1,
        "width": 256,
        "height": 256,
        "lines": [{"text": "文创", "polygon": [[32, 64], [224, 64], [224, 160], [32, 160]]}],
    }
    with LiveServer(cfg) as url:
        with httpx.Client(base_url=url, timeout=30, limits=httpx.Limits(max_connections=40)) as http:

            def one(_):
                r = http.post("/api/generate", json=payload)
                return r.status_code, r.headers.get("retry-after")

            with ThreadPoolExecutor(16) as pool:
                results = list(pool.map(one, range(48)))
    codes = [c for c, _ in results]
    assert set(codes) <= {202, 429}, codes
    assert codes.count(429) >= 20  # a queue of 2 + 1 running cannot take 48 at once
    assert all(int(ra) >= 1 for c, ra in results if c == 429)


@pytest.mark.parametrize("ip_entry", ["127.0.0.1", "127.0.0.0/8"])
def test_blocked_loopback_client_refused_by_live_server(data_dir, ip_entry):
    from wenchuang.studio.security import BlockList

    BlockList(data_dir / "security" / "blocklist.json").add(ip_entry)
    with LiveServer(StudioConfig(data_dir=data_dir, ui=False)) as url:
        assert httpx.get(url + "/api/engines").status_code == 403
        assert httpx.get(url + "/healthz").status_code == 403


def test_waiting_clients_do_not_block_the_server(data_dir, fake_engine):
    from .conftest import FakeEngine

    FakeEngine.gate = threading.Event()
    payload = {"engine": "fake", "seed": 1, "prompt": "x", "width": 256, "height": 256}
    with LiveServer(StudioConfig(data_dir=data_dir, ui=False)) as url:
        with ThreadPoolExecutor(3) as pool:
            waiting = [
                pool.submit(httpx.post, url + "/api/generate?wait=true", json=payload, timeout=30)
                for _ in range(2)
            ]
            time.sleep(0.3)
            t0 = time.monotonic()
            assert httpx.get(url + "/api/engines", timeout=10).status_code == 200  # not stuck behind them
            assert time.monotonic() - t0 < 5
            assert not any(f.done() for f in waiting)
            FakeEngine.gate.set()
            assert [f.result().status_code for f in waiting] == [200, 200]
