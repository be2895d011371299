"""wenchuang.images: safe loading (type by content, size and pixel limits, EXIF), atomic writes."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from wenchuang.errors import ImageError
from wenchuang.images import (
    flatten_to_rgb,
    load_image,
    save_image_atomic,
    sniff_image_type,
    write_bytes_atomic,
    write_result,
)
from wenchuang.request import DesignRequest, DesignResult, LineReading, TextLine


def _encode(array: np.ndarray, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


@pytest.fixture
def picture() -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)


@pytest.mark.parametrize("fmt", ["PNG", "BMP", "WEBP"])
def test_lossless_formats_round_trip(picture, fmt):
    kwargs = {"lossless": True} if fmt == "WEBP" else {}
    data = _encode(picture, fmt, **kwargs)
    assert sniff_image_type(data) == fmt.lower()
    np.testing.assert_array_equal(load_image(data), picture)


def test_jpeg_loads_from_a_path(tmp_path):
    smooth = np.zeros((48, 64, 3), np.uint8)
    smooth[..., 0] = np.linspace(0, 255, 64, dtype=np.uint8)[None, :]
    smooth[..., 2] = np.linspace(0, 255, 48, dtype=np.uint8)[:, None]
    path = tmp_path / "photo.jpg"
    path.write_bytes(_encode(smooth, "JPEG", quality=95))
    loaded = load_image(path)
    assert loaded.shape == smooth.shape and loaded.dtype == np.uint8
    assert np.abs(loaded.astype(int) - smooth.astype(int)).mean() < 3


def test_type_comes_from_content_not_the_name(tmp_path, picture):
    disguised = tmp_path / "looks_like.jpg"
    disguised.write_bytes(_encode(picture, "PNG"))
    np.testing.assert_array_equal(load_image(disguised), picture)
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"GIF89a" + b"\0" * 100)
    with pytest.raises(ImageError, match="not a PNG, JPEG, WebP or BMP"):
        load_image(fake)


def test_exif_orientation_is_applied():
    array = np.zeros((20, 40, 3), np.uint8)
    array[:, :20] = 255  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    data = _encode(array, "JPEG", quality=95, exif=exif.tobytes())
    loaded = load_image(data)
    assert loaded.shape[:2] == (40, 20)
    assert loaded[:20].mean() > 200 and loaded[20:].mean() < 50  # the white half is now on top


def test_transparency_becomes_white():
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[:4, :, :] = (255, 0, 0, 255)
    rgba[4:, :4] = (0, 0, 255, 0)  # a colour under full transparency is not shown
    rgba[4:, 4:] = (0, 0, 0, 128)  # half-transparent black: mid grey on white
    loaded = load_image(_encode(rgba, "PNG"))
    assert tuple(loaded[0, 0]) == (255, 0, 0) and tuple(loaded[7, 0]) == (255, 255, 255)
    assert tuple(loaded[7, 7]) == (127, 127, 127)
    np.testing.assert_array_equal(flatten_to_rgb(rgba), loaded)  # arrays (the UI) flatten the same way


def test_palette_and_colour_key_transparency_become_white():
    palette = Image.new("P", (6, 4), 0)
    palette.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    palette.paste(1, (0, 0, 3, 4))
    buffer = io.BytesIO()
    palette.save(buffer, format="PNG", transparency=0)  # palette entry 0 is transparent
    loaded = load_image(buffer.getvalue())
    assert tuple(loaded[0, 0]) == (200, 100, 50) and tuple(loaded[0, 5]) == (255, 255, 255)
    grey = Image.fromarray(np.array([[0, 90], [90, 0]], np.uint8))
    buffer = io.BytesIO()
    grey.save(buffer, format="PNG", transparency=0)  # grey level 0 is the colour key
    keyed = load_image(buffer.getvalue())
    assert keyed[0, 0].tolist() == [255, 255, 255] and keyed[0, 1].tolist() == [90, 90, 90]


def test_allowed_types_and_the_extra_check_are_options(picture):
    gif = io.BytesIO()
    Image.fromarray(picture[:, :, 0]).save(gif, format="GIF")
    assert sniff_image_type(gif.getvalue()) == "gif"
    with pytest.raises(ImageError, match=r"^mask: not a PNG, JPEG, WebP or BMP image \(checked by content"):
        load_image(gif.getvalue(), what="mask")
    np.testing.assert_array_equal(load_image(gif.getvalue(), types=("gif",))[..., 0], picture[:, :, 0])
    with pytest.raises(ImageError, match="^image: not a PNG or JPEG image"):
        load_image(_encode(picture, "BMP"), types=("png", "jpeg"))

    def refuse(data: bytes, kind: str) -> None:
        raise ImageError(f"{kind} of {len(data)} bytes refused")

    data = _encode(picture, "PNG")
    with pytest.raises(ImageError, match=f"^upload: png of {len(data)} bytes refused$"):
        load_image(data, inspect=refuse, what="upload")


def test_gray_images_become_rgb():
    gray = np.arange(64, dtype=np.uint8).reshape(8, 8)
    loaded = load_image(_encode(gray, "PNG"))
    assert loaded.shape == (8, 8, 3) and (loaded[..., 0] == gray).all()


def test_byte_limit(tmp_path, picture):
    data = _encode(picture, "PNG")
    with pytest.raises(ImageError, match=f"^image: the file has {len(data)} bytes; at most {len(data) - 1}$"):
        load_image(data, max_bytes=len(data) - 1)
    path = tmp_path / "a.png"
    path.write_bytes(data)
    with pytest.raises(ImageError, match=f"^image 'a.png': the file has {len(data)} bytes; at most 100$"):
        load_image(path, max_bytes=100)


def test_decompression_bomb_is_refused_from_the_header(png_bomb):
    bomb = png_bomb(8000, 8000)  # 64 Mpx: over the default limit (60 Mpx)
    assert len(bomb) < 200
    with pytest.raises(ImageError, match=r"^image: 8000x8000 = 64000000 pixels; at most 60000000 \(60.0 megapixels\)$"):
        load_image(bomb)
    with pytest.raises(ImageError, match="decompression bomb"):  # so large that Pillow itself refuses it
        load_image(png_bomb(60000, 60000))
    with pytest.raises(ImageError, match="400 pixels; at most 100"):
        load_image(_encode(np.zeros((20, 20, 3), np.uint8), "PNG"), max_pixels=100)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (b"", "^image: the file is empty$"),
        (b"\x89PNG\r\n\x1a\n" + b"garbage" * 10, "^image: cannot decode the PNG image"),
        (b"hello world, not an image", "not a PNG, JPEG, WebP or BMP"),
        (12345, "expected a file path or bytes"),
    ],
)
def test_unreadable_input_is_one_clear_error(source, message):
    with pytest.raises(ImageError, match=message):
        load_image(source)


def test_missing_and_directory_paths(tmp_path):
    with pytest.raises(ImageError, match="does not exist"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(ImageError, match="not a file"):
        load_image(tmp_path)


def test_truncated_png_is_refused(picture):
    data = _encode(picture, "PNG")
    with pytest.raises(ImageError, match="cannot decode the PNG image"):
        load_image(data[: len(data) // 2])


def test_save_image_atomic_leaves_no_temporary_files(tmp_path, picture):
    path = save_image_atomic(tmp_path / "sub" / "x.png", picture)
    np.testing.assert_array_equal(load_image(path), picture)
    save_image_atomic(path, picture[::-1].copy())  # replacing works too
    np.testing.assert_array_equal(load_image(path), picture[::-1])
    assert sorted(p.name for p in path.parent.iterdir()) == ["x.png"]
    with pytest.raises(ImageError):
        save_image_atomic(tmp_path / "bad.png", np.zeros((4, 4), np.float32))


def test_write_bytes_atomic_keeps_the_old_file_when_writing_fails(tmp_path):
    path = write_bytes_atomic(tmp_path / "a" / "list.json", b"old")
    assert path.read_bytes() == b"old"

    def failing_write(handle):  # a write that dies half-way (disk full, Ctrl+C)
        handle.write(b"ne")
        raise KeyboardInterrupt

    from wenchuang import images

    with pytest.raises(KeyboardInterrupt):
        images._replace_atomically(path, failing_write)
    assert path.read_bytes() == b"old"  # readers never see half a file
    assert [p.name for p in path.parent.iterdir()] == ["list.json"]  # and no temporary file is left
    write_bytes_atomic(path, b"new")
    assert path.read_bytes() == b"new"


def test_write_result_writes_png_and_json_with_generated_names(tmp_path, picture):
    request = DesignRequest(
        prompt="../../etc/passwd", lines=[TextLine("你好", [(0, 0), (40, 0), (40, 20), (0, 20)])]
    )
    result = DesignResult(
        images=[picture, picture[:, ::-1].copy()],
        seeds=[7, 8],
        request=request,
        engine="classic",
        readings=[[LineReading("你好", "你好", 0.99, True)], [LineReading("你好", "你", 0.5, False)]],
        timings={"total": 0.1},
    )
    paths = write_result(tmp_path / "out", result)
    assert len(paths) == 2 and len({p.name for p in paths}) == 2
    for index, path in enumerate(paths):
        assert path.parent == tmp_path / "out" and path.suffix == ".png"
        assert f"-s{result.seeds[index]}-{index}" in path.stem
        np.testing.assert_array_equal(load_image(path), result.images[index])
        meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        assert meta["seed"] == result.seeds[index] and meta["engine"] == "classic"
        assert meta["readings"][0]["passed"] is (index == 0)
        assert meta["request"]["prompt"] == "../../etc/passwd"
        assert meta["file"] == path.name
    assert len(list((tmp_path / "out").iterdir())) == 4
    # writing the same result again never overwrites
    again = write_result(tmp_path / "out", result)
    assert not set(again) & set(paths)
    assert len(list((tmp_path / "out").iterdir())) == 8


def test_restore_scales_every_reported_polygon_back_to_the_original():
    """An edit worked on a reduced copy reports its polygons (lines and removal regions) in the
    original photo's pixels, not the working copy's."""
    from wenchuang.images import reduce_request
    from wenchuang.request import DesignRequest, DesignResult

    image = np.full((400, 800, 3), 200, np.uint8)
    request = DesignRequest(mode="edit", prompt="", image=image, remove_regions=[[(100, 100), (300, 100), (300, 200), (100, 200)]])
    work = reduce_request(request, max_pixels=200 * 100)
    assert work is not None and work.request.image.shape[:2] == (100, 200)
    box = [[25.0, 25.0], [75.0, 25.0], [75.0, 50.0], [25.0, 50.0]]
    extra = {
        "lines": [{"polygon": box}],
        "removal": {"regions": [{"polygon": box}], "remaining": [{"polygon": box}], "not_text": []},
    }
    result = DesignResult(images=[work.request.image.copy()], seeds=[0], engine="classic", extra=extra, request=work.request)
    restored = work.restore(result)
    want = [[100.0, 100.0], [300.0, 100.0], [300.0, 200.0], [100.0, 200.0]]
    assert restored.extra["lines"][0]["polygon"] == want
    assert restored.extra["removal"]["regions"][0]["polygon"] == want
    assert restored.extra["removal"]["remaining"][0]["polygon"] == want
    assert restored.images[0].shape[:2] == (400, 800)


def test_restore_scales_the_windows_read_as_text_in_the_picture_back():
    from wenchuang.images import reduce_request
    from wenchuang.request import DesignRequest, DesignResult

    image = np.full((400, 800, 3), 200, np.uint8)
    work = reduce_request(DesignRequest(mode="edit", prompt="", image=image, remove_all_text=True), max_pixels=200 * 100)
    box = [[25.0, 25.0], [75.0, 25.0], [75.0, 50.0], [25.0, 50.0]]
    extra = {"removal": {"regions": [], "remaining": [], "not_text": [], "read_as_text_in_picture": [{"polygon": box}]}}
    result = DesignResult(images=[work.request.image.copy()], seeds=[0], engine="classic", extra=extra, request=work.request)
    restored = work.restore(result)
    want = [[100.0, 100.0], [300.0, 100.0], [300.0, 200.0], [100.0, 200.0]]
    assert restored.extra["removal"]["read_as_text_in_picture"][0]["polygon"] == want
