"""The gallery: every result image with its metadata, written atomically into the data folder.

Layout (all names generated here; no user string ever becomes a path)::

    gallery/<id>.png          the image
    gallery/<id>.json         metadata: request, seed, engine, model, OCR readings, timings
    gallery/inputs/<run>-image.png, <run>-mask.png   an edit's inputs, so it can be re-run
    gallery/exports/<id>-<product>-<print|mockup>-<stamp>.<ext>   print files and mock-ups
                              (studio.products), listed in the entry's metadata under "exports"

An id is ``YYYYMMDD-HHMMSS-<8 hex>-<index>``; anything else is refused before touching the disk.
"""

from __future__ import annotations

import io
import json
import re
import secrets
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from wenchuang.errors import RequestError
from wenchuang.images import write_bytes_atomic
from wenchuang.request import DesignRequest, DesignResult

ENTRY_ID = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{8}-\d{1,2}$")
RUN_ID = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{8}$")
MAX_ZIP_ENTRIES = 200


def png_bytes(image: np.ndarray) -> bytes:
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def json_default(value: Any) -> Any:
    """numpy scalars/arrays and paths in metadata -> plain JSON values."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def caption(meta: dict[str, Any]) -> str:
    """``classic · seed 7`` and, for a self-corrected image, ``· 2 lines fixed in 3 tries``."""
    text = f"{meta.get('engine')} · seed {meta.get('seed')}"
    correction = meta.get("self_correct")
    if isinstance(correction, dict) and correction.get("lines"):
        lines = correction["lines"]
        fixed = sum(1 for ln in lines if len(ln.get("attempts", [])) > 1 and ln.get("final", {}).get("passed"))
        text += f" · {fixed} line(s) fixed in {correction.get('repairs', 0)} tries"
    return text


def check_entry_id(entry_id: str) -> str:
    if not isinstance(entry_id, str) or not ENTRY_ID.match(entry_id):
        raise RequestError("id", "not a gallery image id")
    return entry_id


class Gallery:
    """Results on disk under ``<data>/gallery``; thread-safe for concurrent writers."""

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()
        self.inputs = self.root / "inputs"
        self._lock = threading.Lock()

    # -- writing -------------------------------------------------------------------------------
    def new_run_id(self) -> str:
        return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(4)

    def save(self, result: DesignResult, source: str = "api") -> list[dict[str, Any]]:
        """Write each image and its metadata; return the metadata records (with their ids)."""
        run_id = self.new_run_id()
        inputs: dict[str, str] = {}
        req = result.request
        if req.image is not None:
            name = f"{run_id}-image.png"
            write_bytes_atomic(self.inputs / name, png_bytes(req.image))
            inputs["image"] = name
        if req.mask is not None:
            name = f"{run_id}-mask.png"
            mask = np.asarray(req.mask)
            write_bytes_atomic(self.inputs / name, png_bytes(np.where(mask > 0, 255, 0).astype(np.uint8)))
            inputs["mask"] = name
        records = []
        for i, image in enumerate(result.images):
            entry_id = f"{run_id}-{i}"
            meta = result.metadata(i)
            meta.update(
                {
                    "id": entry_id,
                    "run": run_id,
                    "index": i,
                    "created": time.time(),
                    "source": source,
                    "inputs": inputs,
                }
            )
            # image first, metadata last: an entry is listed only once both exist
            write_bytes_atomic(self.root / f"{entry_id}.png", png_bytes(image))
            write_bytes_atomic(
                self.root / f"{entry_id}.json",
                json.dumps(meta, ensure_ascii=False, indent=1, default=json_default).encode("utf-8"),
            )
            records.append(json.loads(json.dumps(meta, default=json_default)))
        return records

    def add_export(self, entry_id: str, record: dict[str, Any]) -> None:
        """Append a print file or mock-up made from this entry (``studio.products``) to its
        metadata's ``exports``, rewriting the JSON atomically."""
        path = self.root / f"{check_entry_id(entry_id)}.json"
        with self._lock:
            meta = self.metadata(entry_id)
            meta.setdefault("exports", []).append(record)
            write_bytes_atomic(
                path, json.dumps(meta, ensure_ascii=False, indent=1, default=json_default).encode("utf-8")
            )

    # -- reading -------------------------------------------------------------------------------
    def image_path(self, entry_id: str) -> Path:
        path = self.root / f"{check_entry_id(entry_id)}.png"
        if not path.is_file():
            raise KeyError(entry_id)
        return path

    def metadata(self, entry_id: str) -> dict[str, Any]:
        path = self.root / f"{check_entry_id(entry_id)}.json"
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise KeyError(entry_id) from None

    def list(self, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
        """Newest first."""
        if not self.root.is_dir():
            return []
        ids = sorted((p.stem for p in self.root.glob("*.json") if ENTRY_ID.match(p.stem)), reverse=True)
        out = []
        for entry_id in ids[offset : offset + max(0, limit)]:
            try:
                out.append(self.metadata(entry_id))
            except (KeyError, ValueError):
                continue
        return out

    def load_input(self, name: str) -> np.ndarray | None:
        if not re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{8}-(image|mask)\.png", name or ""):
            return None
        path = self.inputs / name
        if not path.is_file():
            return None
        with Image.open(path) as img:
            arr = np.asarray(img.convert("L" if name.endswith("-mask.png") else "RGB")).copy()
        return arr

    def rerun_request(self, entry_id: str) -> tuple[DesignRequest, str, str | None]:
        """The request that made this image, fixed to its seed and one image: (request, engine, model)."""
        meta = self.metadata(entry_id)
        data = dict(meta["request"])
        data.pop("image", None)
        data.pop("mask", None)
        data["seed"] = int(meta["seed"])
        data["image_count"] = 1
        inputs = meta.get("inputs") or {}
        image = self.load_input(inputs.get("image", ""))
        mask = self.load_input(inputs.get("mask", ""))
        return DesignRequest.from_dict(data, image=image, mask=mask), meta["engine"], meta.get("model")

    def zip_bytes(self, entry_ids: list[str]) -> bytes:
        """A ZIP of the given images and their metadata."""
        if not entry_ids:
            raise RequestError("ids", "name at least one image")
        if len(entry_ids) > MAX_ZIP_ENTRIES:
            raise RequestError("ids", f"at most {MAX_ZIP_ENTRIES} images per download")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
            for entry_id in dict.fromkeys(entry_ids):
                zf.write(self.image_path(entry_id), f"{entry_id}.png")
                zf.writestr(
                    f"{entry_id}.json", json.dumps(self.metadata(entry_id), ensure_ascii=False, indent=1)
                )
        return buf.getvalue()
