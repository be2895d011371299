"""Reading and writing images safely.

`load_image` is the one image decoder: the CLI, the evaluation, the studio's uploads (API and UI)
and the training data preparation all call it, each with its own limits. It checks, cheapest
first and before any pixel is decoded: the byte size, the type by content (magic bytes, never the
file name; which types are allowed is an option), an optional extra check of the bytes (the
studio refuses polyglots there), and the pixel count read from the header (so a small file
claiming a huge canvas, a decompression bomb, is refused). Then it decodes, applies the EXIF
orientation and returns H x W x 3 uint8 RGB with transparency composited onto white
(`flatten_to_rgb`, which the UI also applies to the arrays Gradio hands it). Every failure is one
`ImageError` whose message starts with the input's label; a file over the byte or pixel limit
raises `ImageTooLargeError` (the API answers 413 with it).

Camera photos: the pixel limit (`request.MAX_INPUT_PIXELS`, 60 MP) is far above what an engine
works on (`WORK_PIXELS`, 4096 x 4096). `load_image(reduce_to=N)` decodes a JPEG in draft mode (the
decoder scales by 1/2, 1/4 or 1/8 while decoding: a fraction of the time and memory) for callers
that need only a smaller copy. A request whose image is larger than `WORK_PIXELS` is run by
`engines.base.run_request` through `reduce_request`: the engine gets a copy at its working size
(image, mask and polygons scaled), and `WorkingCopy.restore` pastes the region the engine changed
back into the full-resolution original (`paste_back`, feathered, in strips), leaving every other
pixel exactly as uploaded, with a note of what was resized (IOPaint does the same for inpainting).

`save_image_atomic` and `write_result` write through a temporary file and `os.replace`, so a
reader never sees half a file; output names are generated (time-seed-index), never taken from
user input.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageOps

from wenchuang.errors import ImageError, ImageTooLargeError
from wenchuang.layout.polygons import scale_polygon
from wenchuang.request import MAX_INPUT_PIXELS

if TYPE_CHECKING:
    from wenchuang.request import DesignRequest, DesignResult

DEFAULT_MAX_BYTES = 64 * 1024 * 1024  # a 60 MP camera JPEG at the highest quality stays below this
DEFAULT_MAX_PIXELS = MAX_INPUT_PIXELS
# The largest image an engine works on; a larger photo is worked on at this size and the changed
# region pasted back into the original (`reduce_request`).
WORK_PIXELS = 4096 * 4096
_CHANGED_LEVEL = 3  # a pixel whose channels moved by more than this (0-255) was changed by the engine
_PASTE_STRIP_ROWS = 512  # full-resolution rows blended at a time (bounds the memory of a paste-back)
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
            raise ImageTooLargeError(f"{label}: the file has {len(data)} bytes; at most {max_bytes}")
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
            raise ImageTooLargeError(f"{label}: the file has {size} bytes; at most {max_bytes}")
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise ImageError(f"{label} does not exist") from None
    except OSError as exc:
        raise ImageError(f"{label} cannot be read: {exc.strerror or exc}") from None
    if len(data) > max_bytes:  # grew while reading
        raise ImageTooLargeError(f"{label}: the file has more than {max_bytes} bytes; at most {max_bytes}")
    return data, label


def load_image(
    source: str | os.PathLike | bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    types: Collection[str] = IMAGE_TYPES,
    inspect: Callable[[bytes, str], None] | None = None,
    what: str | None = None,
    reduce_to: int | None = None,
) -> np.ndarray:
    """Check and decode an image file or its bytes into H x W x 3 uint8 RGB (see the module doc).

    `types` are the allowed types by content (names as `sniff_image_type` gives them); `inspect`,
    when given, is called as ``inspect(data, type)`` before the header is read and raises
    `ImageError` to refuse the file; `what` names the input in messages (default: ``image`` or
    ``image 'NAME'`` for a path). `reduce_to` (pixels): return a copy of at most that many pixels,
    aspect kept; a JPEG is then decoded in draft mode (reduced while decoding), so a 50 MP photo
    costs the time and memory of a few MP. The pixel limit applies to the file's full size."""
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
                raise ImageTooLargeError(too_many_pixels(label, width, height, max_pixels))
            if reduce_to is not None and width * height > reduce_to and kind == "jpeg":
                image.draft("RGB", reduced_size(width, height, reduce_to))  # never below the size asked
            image.load()
            image = ImageOps.exif_transpose(image)
            rgb = flatten_to_rgb(image)
    except ImageError:
        raise
    except Image.DecompressionBombError:
        raise ImageTooLargeError(
            f"{label}: the header claims too many pixels (a decompression bomb); at most {max_pixels} "
            f"({max_pixels / 1e6:.1f} megapixels)"
        ) from None
    except Exception as exc:  # Pillow raises many types for corrupt files
        raise ImageError(f"{label}: cannot decode the {name} image ({exc})") from None
    if reduce_to is not None and rgb.shape[0] * rgb.shape[1] > reduce_to:
        rgb = resize_image(rgb, reduced_size(rgb.shape[1], rgb.shape[0], reduce_to))
    return rgb


def too_many_pixels(label: str, width: int, height: int, max_pixels: int) -> str:
    """The one message for an image over the pixel limit (decoder, UI and API say the same)."""
    return (
        f"{label}: {width}x{height} = {width * height} pixels; at most {max_pixels} "
        f"({max_pixels / 1e6:.1f} megapixels)"
    )


# ---------------------------------------------------------------------- large photos
def reduced_size(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    """(width, height) scaled by one factor to at most `max_pixels` pixels (unchanged when it fits)."""
    if width * height <= max_pixels:
        return width, height
    scale = math.sqrt(max_pixels / (width * height))
    w, h = max(1, int(width * scale)), max(1, int(height * scale))
    while w * h > max_pixels:  # float rounding
        w, h = max(1, w - 1), max(1, h - 1)
    return w, h


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An RGB (or grey) uint8 array resized to `size` = (width, height): area averaging when
    shrinking, bicubic when enlarging."""
    import cv2

    h, w = image.shape[:2]
    if (w, h) == tuple(size):
        return image
    shrink = size[0] * size[1] < w * h
    return cv2.resize(image, tuple(size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


def paste_back(original: np.ndarray, before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Full-resolution result of an edit made on a reduced copy.

    `before` is the reduced copy the engine was given, `after` what it returned (the same size).
    Where `after` differs from `before` (plus a 3-pixel margin for anti-aliased edges, feathered by
    one pixel), the enlarged `after` replaces the original; every other pixel of `original` is kept
    exactly. In the margin, outside what changed, the original's fine detail that the reduced copy
    lacks (original minus the enlarged `before`) is added back, so a textured picture (brick, fur) is
    not left blurred in a band around each change. Blended strip by strip, so memory stays near the
    size of the original."""
    import cv2

    height, width = original.shape[:2]
    wh, ww = before.shape[:2]
    if after.shape[:2] != (wh, ww):
        after = resize_image(after, (ww, wh))
    changed = cv2.absdiff(after, before).max(axis=2) > _CHANGED_LEVEL
    out = original.copy()
    rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
    if not len(rows):
        return out
    # the changed box in the reduced image, with room for the margin and the feathering
    pad = 8
    cx0, cx1 = max(0, cols[0] - pad), min(ww, cols[-1] + 1 + pad)
    cy0, cy1 = max(0, rows[0] - pad), min(wh, rows[-1] + 1 + pad)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
    box = cv2.dilate(changed[cy0:cy1, cx0:cx1].astype(np.uint8), kernel).astype(np.float32)
    box = cv2.GaussianBlur(box, (0, 0), 1.0)
    alpha = np.zeros((wh, ww), np.float32)
    alpha[cy0:cy1, cx0:cx1] = np.where(box < 1e-3, 0.0, np.minimum(box * 1.5, 1.0))  # the core stays 1
    # what changed, one reduced pixel wider (the enlargement's reach): there no original detail comes back
    core = np.zeros((wh, ww), np.float32)
    core[cy0:cy1, cx0:cx1] = cv2.dilate(changed[cy0:cy1, cx0:cx1].astype(np.uint8), np.ones((3, 3), np.uint8))
    sx, sy = ww / width, wh / height
    # the full-resolution box that can receive any of it
    x0 = max(0, int(math.floor(cx0 / sx)) - 2)
    x1 = min(width, int(math.ceil(cx1 / sx)) + 2)
    y_first = max(0, int(math.floor(cy0 / sy)) - 2)
    y_last = min(height, int(math.ceil(cy1 / sy)) + 2)
    for y0 in range(y_first, y_last, _PASTE_STRIP_ROWS):
        y1 = min(y_last, y0 + _PASTE_STRIP_ROWS)
        # destination pixel (x, y) of the strip samples the reduced image at its centre's position
        matrix = np.float32([[sx, 0, (x0 + 0.5) * sx - 0.5], [0, sy, (y0 + 0.5) * sy - 0.5]])
        size = (x1 - x0, y1 - y0)
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        a = cv2.warpAffine(alpha, matrix, size, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        if not a.any():
            continue
        up = cv2.warpAffine(after, matrix, size, flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                            borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
        region = out[y0:y1, x0:x1]
        smooth = cv2.warpAffine(before, matrix, size, flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                                borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
        kept = 1.0 - cv2.warpAffine(core, matrix, size, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        up += (region - smooth) * kept[..., None]  # the original's detail, outside what changed
        blended = region + (up - region) * a[..., None]
        keep = a <= 0
        blended = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
        blended[keep] = region[keep]  # untouched pixels stay exactly the original's
        out[y0:y1, x0:x1] = blended
    return out


@dataclasses.dataclass
class WorkingCopy:
    """A request whose image was reduced for the engine (`request`), and the one it came from."""

    original: DesignRequest
    request: DesignRequest

    @property
    def note(self) -> str:
        oh, ow = self.original.image.shape[:2]
        wh, ww = self.request.image.shape[:2]
        return (
            f"the {ow}x{oh} photo was worked on at {ww}x{wh} (the engines' working size); the changed "
            "region was pasted back into the full-resolution original"
        )

    def restore(self, result: DesignResult) -> DesignResult:
        """The engine's result at the original's resolution: each image pasted back, polygons in
        the metadata scaled back, the original request kept (a re-run does the same again)."""
        original, before = self.original.image, self.request.image
        result.images = [paste_back(original, before, image) for image in result.images]
        oh, ow = original.shape[:2]
        wh, ww = before.shape[:2]
        sx, sy = ow / ww, oh / wh
        removal = result.extra.get("removal")
        removal = removal if isinstance(removal, dict) else {}
        for entries in (result.extra.get("lines"), *(removal.get(k) for k in ("regions", "remaining", "not_text", "read_as_text_in_picture"))):
            for entry in entries if isinstance(entries, list) else []:
                if isinstance(entry, dict) and entry.get("polygon") is not None:
                    entry["polygon"] = [list(p) for p in scale_polygon(entry["polygon"], sx, sy)]
        result.extra["resized"] = {"original": [ow, oh], "work": [ww, wh]}
        result.warnings.append(self.note)
        result.request = self.original
        return result


def reduce_request(request: DesignRequest, max_pixels: int | None = None) -> WorkingCopy | None:
    """None when the request's image (if any) fits `max_pixels` (default `WORK_PIXELS`); else a
    `WorkingCopy` whose request has the image, mask, lines and regions scaled to fit it."""
    max_pixels = WORK_PIXELS if max_pixels is None else max_pixels
    image = request.image
    if image is None or image.shape[0] * image.shape[1] <= max_pixels:
        return None
    height, width = image.shape[:2]
    ww, wh = reduced_size(width, height, max_pixels)
    sx, sy = ww / width, wh / height
    mask = request.mask
    if mask is not None:
        mask = np.asarray(mask)
        if mask.ndim == 3:
            mask = mask.max(axis=2)
        # area averaging keeps thin strokes: any painted share makes the reduced pixel painted
        mask = np.where(resize_image((mask > 0).astype(np.uint8) * 255, (ww, wh)) > 0, 255, 0).astype(np.uint8)
    lines = [
        dataclasses.replace(line, polygon=scale_polygon(line.polygon, sx, sy) if line.polygon else line.polygon)
        for line in request.lines
    ]
    regions = [scale_polygon(poly, sx, sy) for poly in request.remove_regions]
    work = dataclasses.replace(
        request, image=resize_image(image, (ww, wh)), mask=mask, lines=lines, remove_regions=regions
    )
    return WorkingCopy(original=request, request=work)


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
