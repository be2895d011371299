"""Upload checks: size, magic bytes, polyglots and decompression bombs are refused before decoding."""

from __future__ import annotations

import base64
import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from wenchuang.errors import ImageError
from wenchuang.images import sniff_image_type
from wenchuang.studio.uploads import decode_base64, decode_image

LIMITS = {"max_bytes": 1_000_000, "max_pixels": 1024 * 1024}


def encode(arr: np.ndarray, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt, **kw)
    return buf.getvalue()


def test_png_jpeg_webp_decode_to_rgb():
    arr = np.zeros((40, 60, 3), np.uint8)
    arr[:, :30] = (200, 10, 10)
    for fmt, kind in (("PNG", "png"), ("JPEG", "jpeg"), ("WEBP", "webp")):
        data = encode(arr, fmt, **({"lossless": True} if fmt == "WEBP" else {}))
        assert sniff_image_type(data) == kind
        out = decode_image(data, **LIMITS)
        assert out.shape == (40, 60, 3) and out.dtype == np.uint8
        assert abs(int(out[20, 10, 0]) - 200) < 8 and int(out[20, 50, 0]) < 8
    # lossless formats come back pixel for pixel, channel order included
    noise = np.random.default_rng(0).integers(0, 256, (23, 31, 3), dtype=np.uint8)
    for fmt, kw in (("PNG", {}), ("WEBP", {"lossless": True})):
        np.testing.assert_array_equal(decode_image(encode(noise, fmt, **kw), **LIMITS), noise)
    grey = decode_image(encode(noise[:, :, 0]), **LIMITS)  # a greyscale PNG becomes RGB
    assert grey.shape == (23, 31, 3)
    np.testing.assert_array_equal(grey, np.repeat(noise[:, :, :1], 3, axis=2))


def test_decompression_bomb_refused_from_header(png_bomb):
    data = png_bomb(3000, 3000)
    assert len(data) < 5000
    with pytest.raises(ImageError, match="3000x3000 = 9000000 pixels; at most 1048576"):
        decode_image(data, **LIMITS)
    with pytest.raises(ImageError, match="too many pixels"):  # beyond even Pillow's own limit
        decode_image(png_bomb(20000, 20000), **LIMITS)


def test_wrong_magic_refused_whatever_the_name():
    with pytest.raises(ImageError, match="not a PNG, JPEG or WebP"):
        decode_image(b"GIF89a" + b"\x00" * 100, **LIMITS)
    with pytest.raises(ImageError, match=r"^mask: not a PNG, JPEG or WebP image \(checked by content"):
        decode_image(encode(np.zeros((16, 16, 3), np.uint8), "BMP"), **LIMITS, what="mask")
    with pytest.raises(ImageError, match="not a PNG, JPEG or WebP"):
        decode_image(b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", **LIMITS)
    with pytest.raises(ImageError, match="empty"):
        decode_image(b"", **LIMITS)


def test_right_magic_but_garbage_body_refused():
    with pytest.raises(ImageError, match="PNG file is truncated"):
        decode_image(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, **LIMITS)
    with pytest.raises(ImageError, match="cannot decode"):
        decode_image(b"\xff\xd8\xff\xe0" + b"\x13" * 200, **LIMITS)


def test_polyglots_refused():
    png = encode(np.full((16, 16, 3), 90, np.uint8))
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as zf:
        zf.writestr("payload.txt", "hello")
    with pytest.raises(ImageError, match="ZIP|after its end"):
        decode_image(png + zbuf.getvalue(), **LIMITS)
    with pytest.raises(ImageError, match="also a ZIP archive"):
        decode_image(png + zbuf.getvalue(), **LIMITS)
    with pytest.raises(ImageError, match="after its end"):
        decode_image(png + b"trailing", **LIMITS)
    jpeg = encode(np.full((16, 16, 3), 90, np.uint8), "JPEG")
    with pytest.raises(ImageError, match="markup or script"):
        decode_image(jpeg + b"<script>alert(1)</script>", **LIMITS)
    with pytest.raises(ImageError, match="ZIP"):
        decode_image(jpeg + zbuf.getvalue(), **LIMITS)


def test_size_limit_and_exif_orientation():
    arr = np.zeros((20, 40, 3), np.uint8)
    arr[:, :20] = 255  # left half white
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif.tobytes(), quality=95)
    out = decode_image(buf.getvalue(), **LIMITS)
    assert out.shape == (40, 20, 3)  # portrait after applying the orientation
    assert out[5, 10].mean() > 200 and out[35, 10].mean() < 50  # the white half is now on top
    with pytest.raises(ImageError, match="bytes; at most 100"):
        decode_image(buf.getvalue(), max_bytes=100, max_pixels=10**6)


def test_base64_and_data_urls():
    png = encode(np.zeros((16, 16, 3), np.uint8))
    b64 = base64.b64encode(png).decode()
    assert decode_base64(b64, max_bytes=10_000) == png
    assert decode_base64("data:image/png;base64," + b64, max_bytes=10_000) == png
    with pytest.raises(ImageError, match="not valid base64"):
        decode_base64("@@@", max_bytes=10_000)
    with pytest.raises(ImageError, match="larger than 10 bytes"):
        decode_base64(b64, max_bytes=10)
