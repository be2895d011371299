"""Load test of the studio's HTTP API: N concurrent clients on loopback against the classic engine.

    python benchmarks/studio_load.py --clients 200            # prints a JSON summary and a Markdown row

The server runs in a separate process (`create_app`, API only, a temporary data folder). Every client
sends one `POST /api/generate?wait=true` (256x256, one line) at the same moment. Expected: 0 server
errors (5xx) and 0 timeouts; requests the bounded queue cannot take get 429 with Retry-After at once.

Profiles: `open` raises the per-client rate limits (all clients share 127.0.0.1, so the per-IP limits
would otherwise answer nearly everything with 429 before the queue is reached); `defaults` keeps the
limits of `wenchuang serve`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import socket
import statistics
import tempfile
import time

import httpx

PAYLOAD = {
    "engine": "classic",
    "seed": 1,
    "width": 256,
    "height": 256,
    "lines": [{"text": "三星堆", "polygon": [[32, 80], [224, 80], [224, 176], [32, 176]]}],
}


def _serve(port: int, home: str, profile: str, queue_size: int) -> None:
    import uvicorn

    from wenchuang.studio.api import create_app
    from wenchuang.studio.config import StudioConfig

    limits = {}
    if profile == "open":
        limits = dict(rate_per_minute=1e6, rate_burst=10_000, jobs_per_minute=1e6, jobs_burst=10_000)
    cfg = StudioConfig(data_dir=home, ui=False, queue_size=queue_size, **limits)
    uvicorn.run(create_app(cfg), host="127.0.0.1", port=port, log_level="error", backlog=2048)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(round(q * (len(values) - 1))))], 3)


async def _run_clients(url: str, clients: int, timeout: float) -> list[tuple[str, float, str | None]]:
    start = asyncio.Event()

    async def one() -> tuple[str, float, str | None]:
        async with httpx.AsyncClient(base_url=url, timeout=timeout) as http:
            await start.wait()
            t0 = time.perf_counter()
            try:
                r = await http.post("/api/generate?wait=true", json=PAYLOAD)
                return str(r.status_code), time.perf_counter() - t0, r.headers.get("retry-after")
            except httpx.TimeoutException:
                return "timeout", time.perf_counter() - t0, None
            except httpx.HTTPError as exc:
                return f"error:{type(exc).__name__}", time.perf_counter() - t0, None

    tasks = [asyncio.create_task(one()) for _ in range(clients)]
    await asyncio.sleep(0.5)  # let every client get ready
    start.set()
    return await asyncio.gather(*tasks)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--profile", choices=["open", "defaults"], default="open")
    parser.add_argument("--queue-size", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()

    port, home = _free_port(), tempfile.mkdtemp(prefix="wenchuang-load-")
    server = mp.get_context("spawn").Process(target=_serve, args=(port, home, args.profile, args.queue_size))
    server.start()
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                httpx.get(url + "/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        httpx.post(url + "/api/generate?wait=true", json=PAYLOAD, timeout=60)  # warm-up: fonts, OCR model
        t0 = time.perf_counter()
        results = asyncio.run(_run_clients(url, args.clients, args.timeout))
        wall = time.perf_counter() - t0
    finally:
        server.terminate()
        server.join(10)

    by_status: dict[str, list[float]] = {}
    for status, latency, _ in results:
        by_status.setdefault(status, []).append(latency)
    retry_after = [int(ra) for s, _, ra in results if s == "429" and ra]
    summary = {
        "clients": args.clients,
        "profile": args.profile,
        "queue_size": args.queue_size,
        "wall_s": round(wall, 2),
        "counts": {k: len(v) for k, v in sorted(by_status.items())},
        "server_errors": sum(len(v) for k, v in by_status.items() if k.startswith("5")),
        "timeouts_or_errors": sum(len(v) for k, v in by_status.items() if not k.isdigit()),
        "latency_all": {
            "p50": _pct([x for _, x, _ in results], 0.5),
            "p95": _pct([x for _, x, _ in results], 0.95),
        },
        "latency_200": {
            "p50": _pct(by_status.get("200", []), 0.5),
            "p95": _pct(by_status.get("200", []), 0.95),
        },
        "latency_429": {
            "p50": _pct(by_status.get("429", []), 0.5),
            "p95": _pct(by_status.get("429", []), 0.95),
        },
        "retry_after_s": {"min": min(retry_after), "median": statistics.median(retry_after)}
        if retry_after
        else None,
    }
    print(json.dumps(summary, indent=1))
    c = summary["counts"]
    print(
        f"| {args.clients} | {args.profile} | {args.queue_size} | {c.get('200', 0)} | {c.get('429', 0)} | "
        f"{summary['server_errors']} | {summary['timeouts_or_errors']} | {summary['latency_all']['p50']} | "
        f"{summary['latency_all']['p95']} | {summary['latency_200']['p95']} | {summary['wall_s']} |"
    )
    return 0 if summary["server_errors"] == 0 and summary["timeouts_or_errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
