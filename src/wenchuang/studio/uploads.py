"""Checking uploaded images before they are decoded.

Uploads (API and UI) are decoded by the one decoder, `wenchuang.images.load_image`, with the
studio's limits. Order of checks, cheapest first, each one before any pixel is decoded:
1. byte size (`max_bytes`);
2. type by content (magic bytes: PNG, JPEG, WebP only; the file name and the declared content type
   are ignored);
3. polyglots (`check_polyglot`, given to the decoder): a ZIP/JAR directory, markup or script text
   anywhere in the file, bytes after a PNG's IEND chunk, or a WebP whose RIFF length disagrees
   with the file are refused;
4. pixel count from the header only (`max_pixels`), so a tiny file that claims a huge canvas
   (a decompression bomb) is refused before decoding;
then the image is decoded, its EXIF orientation applied, transparency composited onto white (as
on every other route), and it is returned as H x W x 3 uint8 RGB.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import struct
import zipfile

import numpy as np

from wenchuang.errors import ImageError, ImageTooLargeError
from wenchuang.images import load_image

UPLOAD_TYPES = ("png", "jpeg", "webp")
_PNG_SIGNATURE_LENGTH = 8
_MARKUP = re.compile(rb"<(script|html|iframe|\?php)", re.IGNORECASE)  # long enough to never occur by chance
_DATA_URL = re.compile(r"^data:image/[a-z+.-]+;base64,", re.IGNORECASE)


def _png_end(data: bytes) -> int:
    """Offset just past the IEND chunk, walking the chunk list; ImageError when it is malformed."""
    pos = _PNG_SIGNATURE_LENGTH
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        pos += 12 + length
        if kind == b"IEND":
            return pos
    raise ImageError("the PNG file is truncated (no IEND chunk)")


def check_polyglot(data: bytes, kind: str) -> None:
    """Refuse files that are also something else (ZIP, HTML, script)."""
    if _MARKUP.search(data):
        raise ImageError("the file contains markup or script text; not a plain image")
    try:
        is_zip = zipfile.is_zipfile(io.BytesIO(data))
    except (OSError, ValueError):
        is_zip = False
    if is_zip:
        raise ImageError("the file is also a ZIP archive; not a plain image")
    if kind == "png" and _png_end(data) != len(data):
        raise ImageError("the PNG file has data after its end (IEND); not a plain image")
    if kind == "webp":
        (riff_size,) = struct.unpack("<I", data[4:8])
        if riff_size + 8 + (riff_size & 1) != len(data) and riff_size + 8 != len(data):
            raise ImageError("the WebP file's length disagrees with its header; not a plain image")


def decode_image(data: bytes, *, max_bytes: int, max_pixels: int, what: str = "image") -> np.ndarray:
    """Check and decode an uploaded image (see the module docstring); H x W x 3 uint8 RGB."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ImageError(f"{what}: expected the file's bytes")
    return load_image(
        bytes(data),
        max_bytes=max_bytes,
        max_pixels=max_pixels,
        types=UPLOAD_TYPES,
        inspect=check_polyglot,
        what=what,
    )


def decode_base64(text: str, *, max_bytes: int, what: str = "image") -> bytes:
    """Base64 (optionally a ``data:image/...;base64,`` URL) -> bytes, refusing oversized input early."""
    if not isinstance(text, str):
        raise ImageError(f"{what}: expected a base64 string")
    text = _DATA_URL.sub("", text.strip(), count=1)
    if len(text) > (max_bytes * 4) // 3 + 8:
        raise ImageTooLargeError(f"{what}: the encoded file is larger than {max_bytes} bytes")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ImageError(f"{what}: not valid base64") from None


def mask_from_image(rgb: np.ndarray) -> np.ndarray:
    """A mask upload (any colours) -> H x W uint8, 255 where the image is bright (painted)."""
    gray = rgb.max(axis=2) if rgb.ndim == 3 else rgb
    return np.where(gray > 127, 255, 0).astype(np.uint8)
