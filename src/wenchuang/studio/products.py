"""Products in the studio: print files and mock-ups of gallery images, kept with their entry.

The image and its text lines come from the gallery (never an uploaded path); the files are written
under ``gallery/exports/`` with generated names, ``<entry id>-<product>-<kind>-<stamp>.<ext>``, and
each is recorded in the entry's metadata under ``exports`` (newest last), so a gallery entry keeps
its print files and mock-ups. The API and the UI both call `export_entry` and `mockup_entry`.
"""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path
from typing import Any

from wenchuang.errors import RequestError
from wenchuang.images import save_image_atomic, write_bytes_atomic
from wenchuang.products import Design, export_bytes, get_product, load_products
from wenchuang.products.placement import FITS, lines_from_metadata
from wenchuang.studio.gallery import Gallery, check_entry_id

EXPORT_FORMATS = {"pdf": "pdf", "png": "png", "tiff": "tif"}  # format -> file suffix
MEDIA_TYPES = {"pdf": "application/pdf", "png": "image/png", "tif": "image/tiff"}
EXPORT_FILE = re.compile(
    r"^(\d{8}-\d{6}-[0-9a-f]{8}-\d{1,2})-[a-z0-9-]{1,40}-(print|mockup)-\d{8}-\d{6}-[0-9a-f]{6}\.(pdf|png|tif)$"
)
MOCKUP_WIDTH = 1280
_EXPORT_KEYS = {"id", "format", "dpi", "bleed_mm", "fit", "crop_marks"}
_MOCKUP_KEYS = {"id", "width", "fit"}


def product_list() -> list[dict[str, Any]]:
    return [p.to_dict() for p in load_products().values()]


def _check_keys(data: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise RequestError("request", "must be a JSON object")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise RequestError("request", f"unknown field(s) {unknown}; known: {sorted(allowed)}")
    if "id" not in data:
        raise RequestError("id", "name the gallery image (its id)")
    return data


def _int(data: dict[str, Any], key: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise RequestError(key, f"must be a whole number, got {value!r}")
    return value


def _fit(data: dict[str, Any]) -> str:
    fit = data.get("fit", "cover")
    if fit not in FITS:
        raise RequestError("fit", f"must be one of {', '.join(FITS)}")
    return fit


def _design(gallery: Gallery, entry_id: str) -> tuple[Design, dict[str, Any]]:
    """The gallery image with its lines (KeyError when there is no such entry)."""
    from wenchuang.images import load_image

    meta = gallery.metadata(check_entry_id(entry_id))
    image = load_image(gallery.image_path(entry_id), what=f"gallery image {entry_id}")
    design = Design(image=image, name=entry_id)
    design.lines = lines_from_metadata(meta, design.size)
    return design, meta


def _name(entry_id: str, product: str, kind: str, suffix: str) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return f"{entry_id}-{product}-{kind}-{stamp}-{secrets.token_hex(3)}.{suffix}"


def export_entry(gallery: Gallery, product_name: str, data: Any) -> dict[str, Any]:
    """Write a print file of a gallery image for `product_name`; record and return it."""
    data = _check_keys(data, _EXPORT_KEYS)
    fmt = data.get("format", "pdf")
    if fmt not in EXPORT_FORMATS:
        raise RequestError("format", f"must be one of {', '.join(EXPORT_FORMATS)}")
    bleed = data.get("bleed_mm")
    if bleed is not None and (isinstance(bleed, bool) or not isinstance(bleed, (int, float))):
        raise RequestError("bleed_mm", f"must be a number of millimetres, got {bleed!r}")
    crop_marks = data.get("crop_marks", False)
    if not isinstance(crop_marks, bool):
        raise RequestError("crop_marks", "must be true or false")
    product = get_product(product_name)
    entry_id = str(data["id"])
    design, _ = _design(gallery, entry_id)
    payload, result = export_bytes(
        design, product, fmt, dpi=_int(data, "dpi"), bleed_mm=bleed, fit=_fit(data), crop_marks=crop_marks
    )
    name = _name(entry_id, product.name, "print", EXPORT_FORMATS[fmt])
    write_bytes_atomic(gallery.root / "exports" / name, payload)
    record = {**result.to_dict(), "kind": "print", "file": name, "created": time.time()}
    gallery.add_export(entry_id, record)
    return record


def mockup_entry(gallery: Gallery, product_name: str, data: Any) -> dict[str, Any]:
    """Draw a mock-up of a gallery image on `product_name`; record and return it."""
    from wenchuang.products.mockup import render_mockup

    data = _check_keys(data, _MOCKUP_KEYS)
    width = _int(data, "width") or MOCKUP_WIDTH
    product = get_product(product_name)
    entry_id = str(data["id"])
    design, _ = _design(gallery, entry_id)
    mockup = render_mockup(design, product, width=width, fit=_fit(data))
    name = _name(entry_id, product.name, "mockup", "png")
    save_image_atomic(gallery.root / "exports" / name, mockup.image)
    record = {
        "kind": "mockup",
        "file": name,
        "product": product.name,
        "pixels": [int(mockup.image.shape[1]), int(mockup.image.shape[0])],
        "warnings": list(mockup.warnings),
        "created": time.time(),
    }
    gallery.add_export(entry_id, record)
    return record


def export_path(gallery: Gallery, entry_id: str, file: str) -> Path:
    """The path of one of an entry's exports (KeyError when the name is not one of its files)."""
    match = EXPORT_FILE.match(file or "")
    if not match or match.group(1) != check_entry_id(entry_id):
        raise KeyError(file)
    path = gallery.root / "exports" / file
    if not path.is_file():
        raise KeyError(file)
    return path
