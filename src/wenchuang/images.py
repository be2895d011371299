"""Reading and writing images safely.

`load_image` checks, cheapest first and before any pixel is decoded: the byte size, the type by
content (magic bytes: PNG, JPEG, WebP, BMP; never the file name), and the pixel count read from
the header (so a small file claiming a huge canvas, a decompression bomb, is refused). Then it
decodes, applies the EXIF orientation and returns H x W x 3 uint8 RGB (transparency is composited
onto white). Every failure is one `ImageError` with a clear message.

`save_image_atomic` and `write_result` write through a temporary file and `os.replace`, so a
reader never sees half a file; output names are generated (time-seed-index), never taken from
user input.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageOps

from wenchuang.errors import ImageError
from wenchuang.request import MAX_INPUT_PIXELS

if TYPE_CHECKING:
    from wenchuang.request import DesignResult

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_PIXELS = MAX_INPUT_PIXELS
_PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP", "bmp": "BMP"}
_SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP"}


def sniff_image_type(data: bytes) -> str | None:
    """'png', 'jpeg', 'webp' or 'bmp' from the first bytes, else None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data.startswith(b"BM") and len(data) >= 26:
        return "bmp"
    return None


def _read_source(
    source: str | os.PathLike | bytes | bytearray | memoryview, max_bytes: int
) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if len(data) > max_bytes:
            raise ImageError(f"image: {len(data)} bytes is larger than the limit of {max_bytes} bytes")
        return data, "image"
    if not isinstance(source, (str, os.PathLike)):
        raise ImageError(f"image: expected a file path or bytes, got {type(source).__name__}")
    path = Path(source)
    label = f"image {path.name!r}"
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise ImageError(f"{label} is not a file")
        if size > max_bytes:
            raise ImageError(f"{label}: {size} bytes is larger than the limit of {max_bytes} bytes")
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise ImageError(f"{label} does not exist") from None
    except OSError as exc:
        raise ImageError(f"{label} cannot be read: {exc.strerror or exc}") from None
    if len(data) > max_bytes:  # grew while reading
        raise ImageError(f"{label} is larger than the limit of {max_bytes} bytes")
    return data, label


def load_image(
    source: str | os.PathLike | bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """Check and decode an image file or its bytes into H x W x 3 uint8 RGB (see the module doc)."""
    data, label = _read_source(source, max_bytes)
    if not data:
        raise ImageError(f"{label} is empty")
    kind = sniff_image_type(data)
    if kind is None:
        raise ImageError(f"{label} is not a PNG, JPEG, WebP or BMP image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[_PIL_FORMATS[kind]])  # reads the header only
            width, height = image.size
            if width < 1 or height < 1:
                raise ImageError(f"{label} has no pixels ({width}x{height})")
            if width * height > max_pixels:
                raise ImageError(
                    f"{label} is {width}x{height} = {width * height} pixels; the limit is {max_pixels}"
                )
            image.load()
            image = ImageOps.exif_transpose(image)
            rgb = _to_rgb(image)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(
            f"{label} claims more than {max_pixels} pixels (a decompression bomb); refused before decoding"
        ) from None
    except Exception as exc:  # Pillow raises many types for corrupt files
        raise ImageError(f"{label} cannot be decoded as {kind.upper()}: {exc}") from None
    return rgb


def _to_rgb(image: Image.Image) -> np.ndarray:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        scale = 255.0 / max(float(array.max()), 1.0) if array.max() > 255 else 1.0
        gray = np.clip(array * scale, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.stack([gray] * 3, axis=-1))
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))


def _check_image_array(image: Any) -> np.ndarray:
    array = np.asarray(image)
    channels_ok = array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))
    if array.dtype != np.uint8 or not channels_ok:
        raise ImageError(f"cannot save an array of shape {array.shape} and type {array.dtype} as an image")
    return array


def _replace_atomically(path: Path, write) -> None:
    """Write into a temporary file beside `path` with `write(handle)`, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def save_image_atomic(path: str | os.PathLike, image_rgb: np.ndarray) -> Path:
    """Save an RGB (or gray/RGBA) uint8 array; format from the suffix (.png by default)."""
    path = Path(path)
    array = _check_image_array(image_rgb)
    fmt = _SAVE_FORMATS.get(path.suffix.lower(), "PNG")
    pil = Image.fromarray(array)
    if fmt == "JPEG" and pil.mode != "RGB":
        pil = pil.convert("RGB")
    _replace_atomically(path, lambda handle: pil.save(handle, format=fmt))
    return path


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` through a temporary file + fsync + rename: readers never see half a file."""
    path = Path(path)
    _replace_atomically(path, lambda handle: handle.write(data))
    return path


def save_json_atomic(path: str | os.PathLike, data: Any) -> Path:
    text = json.dumps(data, ensure_ascii=False, indent=2, default=_json_default)
    return write_bytes_atomic(path, text.encode("utf-8"))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return {"shape": list(value.shape)}
    if isinstance(value, Path):
        return str(value)
    return repr(value)


def result_name(seed: int, index: int, stamp: float | None = None) -> str:
    """Generated file stem: ``YYYYmmdd-HHMMSS-mmm-s<seed>-<index>`` (UTC)."""
    stamp = time.time() if stamp is None else stamp
    base = time.strftime("%Y%m%d-%H%M%S", time.gmtime(stamp))
    millis = int((stamp % 1) * 1000)
    return f"{base}-{millis:03d}-s{int(seed)}-{int(index)}"


def write_result(out_dir: str | os.PathLike, result: DesignResult) -> list[Path]:
    """Write each image of `result` as OUT_DIR/NAME.png with its metadata in OUT_DIR/NAME.json
    (both atomically; names generated). Returns the PNG paths; each JSON sits beside its PNG."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImageError(f"cannot create the output folder {str(out)!r}: {exc.strerror or exc}") from None
    stamp = time.time()
    written: list[Path] = []
    for index, image in enumerate(result.images):
        stem = result_name(result.seeds[index], index, stamp)
        png = out / f"{stem}.png"
        suffix = 1
        while png.exists() or png.with_suffix(".json").exists():
            png = out / f"{stem}-{suffix}.png"
            suffix += 1
        metadata = result.metadata(index)
        metadata["file"] = png.name
        save_image_atomic(png, image)
        save_json_atomic(png.with_suffix(".json"), metadata)
        written.append(png)
    return written
