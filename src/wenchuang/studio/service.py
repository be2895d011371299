"""The studio's core, shared by the HTTP API and the UI: engines, models, requests, jobs, gallery.

Nothing here knows about HTTP or Gradio. Every generate/edit goes through `Studio.submit`, i.e. one
bounded `JobQueue`, and every finished result is written to the `Gallery`.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from wenchuang.engines import registry
from wenchuang.engines.base import run_request
from wenchuang.errors import RequestError
from wenchuang.layout.fonts import MIMIC_FONT
from wenchuang.layout.polygons import parse_position
from wenchuang.prompts import quoted_texts
from wenchuang.request import DesignRequest, DesignResult, TextLine
from wenchuang.studio.config import StudioConfig
from wenchuang.studio.gallery import Gallery
from wenchuang.studio.jobs import Job, JobQueue
from wenchuang.studio.security import (
    BlockList,
    RateLimiter,
    SecurityLog,
    ViolationTracker,
    local_host_names,
    parse_network,
)
from wenchuang.studio.uploads import decode_base64, decode_image, mask_from_image

MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
# A font in a request is a registered name, never a path (no user string becomes a path).
FONT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
ANYTEXT_HELP = (
    "Get the AnyText weights with `wenchuang download anytext` in a terminal (they go where the studio "
    "looks; no conversion needed), then restart `wenchuang serve`; for weights already elsewhere start it as "
    "`WENCHUANG_ANYTEXT_MODEL=PATH wenchuang serve`. Other AnyText models (converted folders or .safetensors "
    "files) placed in {models} appear in the model picker."
)
ANYTEXT2_HELP = (
    "Get the AnyText2 weights with `pip install modelscope` and `wenchuang download anytext2` in a terminal "
    "(they go where the studio looks; converted when loaded, or once with `wenchuang convert anytext2`), then "
    "restart `wenchuang serve`; for weights already elsewhere start it as "
    "`WENCHUANG_ANYTEXT2_MODEL=PATH wenchuang serve`. AnyText2 folders written by `wenchuang convert anytext2` "
    "placed in {models} appear in the model picker (choose the anytext2 engine with them)."
)
_ENGINE_HELP = {"anytext": ANYTEXT_HELP, "anytext2": ANYTEXT2_HELP}


class Studio:
    """Engines, models, the job queue, the gallery and the security state of one server."""

    def __init__(self, config: StudioConfig | None = None):
        self.config = config or StudioConfig()
        cfg = self.config
        self.gallery = Gallery(cfg.gallery_dir)
        self.log = SecurityLog(cfg.security_log_path)
        self.blocklist = BlockList(cfg.blocklist_path)
        self.violations = ViolationTracker(
            self.blocklist,
            cfg.ban_threshold,
            cfg.ban_window_s,
            cfg.ban_duration_s,
            self.log,
            cfg.ban_loopback,
        )
        self.limiter = RateLimiter(cfg.rate_per_minute, cfg.rate_burst)
        self.job_limiter = RateLimiter(cfg.jobs_per_minute, cfg.jobs_burst)
        self.queue = JobQueue(cfg.workers, cfg.queue_size, cfg.job_ttl_s)
        self.trusted_proxies = [parse_network(p) for p in cfg.trusted_proxies]
        if cfg.listen and cfg.auth_token:
            # reachable under any name or address; the token (a header, or a cookie that a rebound
            # foreign name never receives) is what keeps other sites out
            self.allowed_hosts = frozenset({"*"})
        else:
            self.allowed_hosts = local_host_names(cfg.listen, cfg.allowed_hosts)
        self._engines: dict[tuple[str, str | None], Any] = {}
        self._engine_lock = threading.Lock()

    # -- models and engines --------------------------------------------------------------------
    def models(self) -> list[str]:
        """Allow-listed models: ``*.safetensors`` files and folders holding safetensors weights in
        the models folder. Nothing else can be chosen (a pickle checkpoint can run code)."""
        root = self.config.models_dir
        if not root.is_dir():
            return []
        names = []
        for path in sorted(root.iterdir()):
            if not MODEL_NAME.match(path.name) or path.is_symlink():
                continue
            if path.is_file() and path.suffix == ".safetensors":
                names.append(path.name)
            elif path.is_dir() and any(path.rglob("*.safetensors")):
                names.append(path.name)
        return names

    def resolve_model(self, name: str | None) -> str | None:
        if name in (None, ""):
            return None
        if not isinstance(name, str) or name not in self.models():
            raise RequestError("model", f"unknown model {name!r}; choose one listed by GET /api/engines")
        return str(self.config.models_dir / name)

    def engines(self) -> list[dict[str, Any]]:
        out = []
        for info in registry.available_engines():
            item = {"name": info.name, "ready": info.ready, "detail": info.detail}
            if info.name in _ENGINE_HELP and not info.ready:
                item["help"] = _ENGINE_HELP[info.name].format(models=self.config.models_dir)
            out.append(item)
        return out

    def default_engine(self) -> str:
        return self.config.default_engine or registry.default_engine_name()

    def engine(self, name: str, model: str | None):
        key = (name, model)
        with self._engine_lock:
            if key not in self._engines:
                if name not in registry.engine_names():
                    raise RequestError("engine", f"unknown engine {name!r}")
                dtype = {"dtype": self.config.dtype} if self.config.dtype and name != "classic" else {}
                self._engines[key] = registry.create_engine(
                    name, model=model, cpu_offload=self.config.cpu_offload, **dtype
                )
            return self._engines[key]

    # -- requests ------------------------------------------------------------------------------
    def decode_upload(self, data: bytes | str | None, what: str) -> np.ndarray | None:
        """bytes (multipart) or base64 text (JSON) -> RGB array, after every check."""
        if data is None or (isinstance(data, str) and not data.strip()):
            return None
        cfg = self.config
        if isinstance(data, str):
            data = decode_base64(data, max_bytes=cfg.max_upload_bytes, what=what)
        return decode_image(data, max_bytes=cfg.max_upload_bytes, max_pixels=cfg.max_upload_pixels, what=what)

    def build_request(
        self, data: dict[str, Any], mode: str, image: np.ndarray | None = None, mask: np.ndarray | None = None
    ) -> tuple[DesignRequest, str, str | None]:
        """JSON fields (+ decoded images) -> validated (request, engine name, model path)."""
        if not isinstance(data, dict):
            raise RequestError("request", "must be a JSON object")
        data = dict(data)
        engine = data.pop("engine", None) or self.default_engine()
        if engine not in registry.engine_names():
            raise RequestError(
                "engine", f"unknown engine {engine!r}; choose one of {registry.engine_names()}"
            )
        model = self.resolve_model(data.pop("model", None))
        data.pop("image", None)
        data.pop("mask", None)
        data["mode"] = mode
        if mask is not None and mask.ndim == 3:
            mask = mask_from_image(mask)
        request = DesignRequest.from_dict(data, image=image, mask=mask)
        for i, line in enumerate(request.lines):
            if line.font is not None and not (isinstance(line.font, str) and FONT_NAME.match(line.font)):
                if isinstance(line.font, str) and line.font.startswith(MIMIC_FONT + ":"):
                    # mimic:x1,y1,x2,y2 (or 8 numbers): numbers only, never a path
                    parse_position(line.font[len(MIMIC_FONT) + 1 :], field_name=f"lines[{i}].font")
                    continue
                raise RequestError(
                    f"lines[{i}].font",
                    "must be a font name (see GET /api/engines) or mimic[:x1,y1,x2,y2], not a path",
                )
        if not request.lines and request.prompt:
            request.lines = [TextLine(text=t) for t in quoted_texts(request.prompt)]
        request.validate()
        return request, engine, model

    def run(
        self, request: DesignRequest, engine: str, model: str | None, source: str = "api"
    ) -> tuple[dict[str, Any], DesignResult]:
        """Run one request now (inside a job) and save it: (JSON summary, the result)."""
        start = time.perf_counter()
        result = run_request(self.engine(engine, model), request)
        result.timings.setdefault("studio_total", round(time.perf_counter() - start, 4))
        records = self.gallery.save(result, source=source)
        return summarize(records, result), result

    def submit(
        self,
        kind: str,
        client: str,
        request: DesignRequest,
        engine: str,
        model: str | None,
        source: str = "api",
        keep: dict | None = None,
    ) -> Job:
        """Queue a job (QueueFull when the queue is full). `keep`, if given, receives the DesignResult."""

        def work() -> dict[str, Any]:
            summary, result = self.run(request, engine, model, source)
            if keep is not None:
                keep["result"] = result
            return summary

        return self.queue.submit(kind, client, work)


def summarize(records: list[dict[str, Any]], result: DesignResult) -> dict[str, Any]:
    images = []
    for rec in records:
        readings = rec.get("readings", [])
        images.append(
            {
                "id": rec["id"],
                "url": f"/api/gallery/{rec['id']}/image",
                "seed": rec["seed"],
                "size": rec["size"],
                "readings": readings,
                "all_passed": all(r["passed"] for r in readings),
            }
            | ({"self_correct": rec["self_correct"]} if "self_correct" in rec else {})
        )
    return {
        "engine": result.engine,
        "model": Path(result.model).name if result.model else None,
        "images": images,
        "timings": dict(result.timings),
        "warnings": list(result.warnings),
    }
