"""Reading and writing images safely.

`load_image` is the one image decoder: the CLI, the evaluation, the studio's uploads (API and UI)
and the training data preparation all call it, each with its own limits. It checks, cheapest
first and before any pixel is decoded: the byte size, the type by content (magic bytes, never the
file name; which types are allowed is an option), an optional extra check of the bytes (the
studio refuses polyglots there), and the pixel count read from the header (so a small file
claiming a huge canvas, a decompression bomb, is refused). Then it decodes, applies the EXIF
orientation and returns H x W x 3 uint8 RGB with transparency composited onto white
(`flatten_to_rgb`, which the UI also applies to the arrays Gradio hands it). Every failure is one
`ImageError` whose message starts with the input's label.

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
from collections.abc import Callable, Collection
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
IMAGE_TYPES = ("png", "jpeg", "webp", "bmp")  # what load_image accepts unless told otherwise
_TYPE_NAMES = {"png": "PNG", "jpeg": "JPEG", "webp": "WebP", "bmp": "BMP", "gif": "GIF", "tiff": "TIFF"}
_PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP", "bmp": "BMP", "gif": "GIF", "tiff": "TIFF"}
_SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP"}
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


def sniff_image_type(data: bytes) -> str | None:
    """'png', 'jpeg', 'webp', 'bmp', 'gif' or 'tiff' from the first bytes, else None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data.startswith(b"BM") and len(data) >= 26:
        return "bmp"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if data.startswith((b"II*\x00", b"MM\x00*")):
        return "tiff"
    return None


def _type_list(types: Collection[str]) -> str:
    names = [_TYPE_NAMES[t] for t in types]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def _read_source(
    source: str | os.PathLike | bytes | bytearray | memoryview, max_bytes: int, what: str | None
) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        label = what or "image"
        data = bytes(source)
        if len(data) > max_bytes:
            raise ImageError(f"{label}: the file has {len(data)} bytes; at most {max_bytes}")
        return data, label
    if not isinstance(source, (str, os.PathLike)):
        raise ImageError(f"{what or 'image'}: expected a file path or bytes, got {type(source).__name__}")
    path = Path(source)
    label = what or f"image {path.name!r}"
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise ImageError(f"{label} is not a file")
        if size > max_bytes:
            raise ImageError(f"{label}: the file has {size} bytes; at most {max_bytes}")
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise ImageError(f"{label} does not exist") from None
    except OSError as exc:
        raise ImageError(f"{label} cannot be read: {exc.strerror or exc}") from None
    if len(data) > max_bytes:  # grew while reading
        raise ImageError(f"{label}: the file has more than {max_bytes} bytes; at most {max_bytes}")
    return data, label


def load_image(
    source: str | os.PathLike | bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    types: Collection[str] = IMAGE_TYPES,
    inspect: Callable[[bytes, str], None] | None = None,
    what: str | None = None,
) -> np.ndarray:
    """Check and decode an image file or its bytes into H x W x 3 uint8 RGB (see the module doc).

    `types` are the allowed types by content (names as `sniff_image_type` gives them); `inspect`,
    when given, is called as ``inspect(data, type)`` before the header is read and raises
    `ImageError` to refuse the file; `what` names the input in messages (default: ``image`` or
    ``image 'NAME'`` for a path)."""
    data, label = _read_source(source, max_bytes, what)
    if not data:
        raise ImageError(f"{label}: the file is empty")
    kind = sniff_image_type(data)
    if kind not in types:
        raise ImageError(f"{label}: not a {_type_list(types)} image (checked by content, not by name)")
    if inspect is not None:
        try:
            inspect(data, kind)
        except ImageError as exc:
            raise ImageError(f"{label}: {exc}") from None
    name = _TYPE_NAMES[kind]
    try:
        with warnings.catch_warnings():
            # the exact pixel check below gives the clearer message; Pillow's error (twice its own
            # limit) still stops a canvas too large even to open
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[_PIL_FORMATS[kind]])  # reads the header only
            width, height = image.size
            if width < 1 or height < 1 or width * height > max_pixels:
                raise ImageError(f"{label}: {width}x{height} = {width * height} pixels; at most {max_pixels}")
            image.load()
            image = ImageOps.exif_transpose(image)
            rgb = flatten_to_rgb(image)
    except ImageError:
        raise
    except Image.DecompressionBombError:
        raise ImageError(
            f"{label}: the header claims too many pixels (a decompression bomb); at most {max_pixels}"
        ) from None
    except Exception as exc:  # Pillow raises many types for corrupt files
        raise ImageError(f"{label}: cannot decode the {name} image ({exc})") from None
    return rgb


def flatten_to_rgb(image: Image.Image | np.ndarray) -> np.ndarray:
    """A decoded image (Pillow, or an H x W (x 1-4) array) -> H x W x 3 uint8 RGB: transparency is
    composited onto white, grey becomes three equal channels, 16-bit grey is scaled to 8 bits."""
    if isinstance(image, np.ndarray):
        array = image if image.dtype == np.uint8 else np.clip(image, 0, 255).astype(np.uint8)
        if array.ndim == 3 and array.shape[2] == 1:
            array = array[..., 0]
        if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (2, 3, 4)):
            raise ImageError(f"cannot use an array of shape {array.shape} as an image")
        image = Image.fromarray(np.ascontiguousarray(array))
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        scale = 255.0 / max(float(array.max()), 1.0) if array.max() > 255 else 1.0
        gray = np.clip(array * scale, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.stack([gray] * 3, axis=-1))
    if image.mode in ("P", "L", "RGB") and "transparency" in image.info:  # a palette entry or colour key
        image = image.convert("RGBA")
    if image.mode in _ALPHA_MODES:
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
