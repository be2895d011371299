"""Print files read back with a PDF library and Pillow: boxes, resolution, ICC profile, pixels, warnings."""

from __future__ import annotations

import io

import numpy as np
import pikepdf
import pytest
from PIL import Image, ImageCms

from wenchuang.products import export, export_bytes, get_product, load_design, load_products, srgb_icc
from wenchuang.products.placement import lines_from_metadata, place

PT_PER_MM = 72 / 25.4


def boxes(page) -> dict[str, list[float]]:
    return {name: [float(v) for v in page.obj[f"/{name}"]] for name in ("MediaBox", "BleedBox", "TrimBox")}


def drawn_image(page) -> tuple[pikepdf.PdfImage, float, float]:
    """The page's one image and the size (pt) the content stream draws it at (its `cm`)."""
    image = pikepdf.PdfImage(page.Resources.XObject.Im0)
    (cm,) = [ops for ops, op in pikepdf.parse_content_stream(page) if str(op) == "cm"]
    return image, float(cm[0]), float(cm[3])


@pytest.fixture(scope="module")
def design(tmp_path_factory, kit):
    folder = tmp_path_factory.mktemp("design")
    return load_design(kit.write_design(folder, "d", kit.textured((600, 400), 1)))


@pytest.mark.parametrize("name", ["mousepad", "bookmark", "postcard", "poster-a3", "mug"])
def test_pdf_boxes_and_resolution(tmp_path, design, name):
    product = get_product(name)
    dpi = 40
    result = export(design, product, tmp_path / f"{name}.pdf", dpi=dpi)
    with pikepdf.open(tmp_path / f"{name}.pdf") as pdf:
        (page,) = pdf.pages
        b = boxes(page)
        w, h = product.width_mm * PT_PER_MM, product.height_mm * PT_PER_MM
        bleed = 3 * PT_PER_MM
        trim_w, trim_h = b["TrimBox"][2] - b["TrimBox"][0], b["TrimBox"][3] - b["TrimBox"][1]
        bleed_w, bleed_h = b["BleedBox"][2] - b["BleedBox"][0], b["BleedBox"][3] - b["BleedBox"][1]
        assert trim_w == pytest.approx(w, abs=0.5) and trim_h == pytest.approx(h, abs=0.5)
        assert bleed_w == pytest.approx(w + 2 * bleed, abs=0.5) and bleed_h == pytest.approx(
            h + 2 * bleed, abs=0.5
        )
        assert b["BleedBox"][0] == pytest.approx(b["TrimBox"][0] - bleed, abs=0.5)
        assert b["MediaBox"] == pytest.approx(b["BleedBox"], abs=0.01)  # no crop marks: the page is the bleed
        image, draw_w, draw_h = drawn_image(page)
        assert draw_w == pytest.approx(bleed_w, abs=0.01) and draw_h == pytest.approx(bleed_h, abs=0.01)
        ppi_x, ppi_y = image.width / (draw_w / 72), image.height / (draw_h / 72)
        assert dpi <= ppi_x < dpi + 1 and dpi <= ppi_y < dpi + 1
        assert (image.width, image.height) == result.pixels
        assert str(image.obj.ColorSpace[0]) == "/ICCBased"
        assert image.obj.ColorSpace[1].read_bytes() == srgb_icc()


def test_pdf_image_is_the_png_pixels_and_the_profile_is_srgb(tmp_path, design):
    product = get_product("postcard")
    export(design, product, tmp_path / "p.pdf", dpi=50)
    export(design, product, tmp_path / "p.png", dpi=50)
    with pikepdf.open(tmp_path / "p.pdf") as pdf:
        from_pdf = np.asarray(
            pikepdf.PdfImage(pdf.pages[0].Resources.XObject.Im0).as_pil_image().convert("RGB")
        )
    with Image.open(tmp_path / "p.png") as png:
        from_png = np.asarray(png.convert("RGB"))
        icc = png.info["icc_profile"]
    assert np.array_equal(from_pdf, from_png)
    profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    assert "sRGB" in ImageCms.getProfileDescription(profile)


def test_high_dpi_pdf_keeps_the_resolution(tmp_path, design):
    """At 300 DPI the embedded image has >= 300 pixels per inch of the drawn bleed box."""
    product = get_product("bookmark")
    export(design, product, tmp_path / "b.pdf")  # the product's default DPI, 300
    with pikepdf.open(tmp_path / "b.pdf") as pdf:
        image, draw_w, draw_h = drawn_image(pdf.pages[0])
        assert image.width / (draw_w / 72) >= 300 and image.height / (draw_h / 72) >= 300
        assert image.width == 662 and image.height == 1843  # ceil(56 mm and 156 mm at 300 DPI)


@pytest.mark.parametrize(("suffix", "fmt"), [(".png", "PNG"), (".tif", "TIFF")])
def test_raster_dpi_pixels_and_profile(tmp_path, design, suffix, fmt):
    product = get_product("mug")
    result = export(design, product, tmp_path / f"m{suffix}", dpi=72, bleed_mm=2)
    with Image.open(tmp_path / f"m{suffix}") as img:
        assert img.format == fmt and img.mode == "RGB"
        assert img.size == (579, 253) == result.pixels  # ceil(204 mm, 89 mm at 72 DPI: 578.3, 252.3)
        assert [round(float(v)) for v in img.info["dpi"]] == [72, 72]
        assert img.info["icc_profile"] == srgb_icc()


def test_crop_marks_lie_outside_the_bleed(tmp_path, design):
    product = get_product("postcard")
    export(design, product, tmp_path / "c.pdf", dpi=30, crop_marks=True)
    with pikepdf.open(tmp_path / "c.pdf") as pdf:
        page = pdf.pages[0]
        b = boxes(page)
        assert b["MediaBox"][2] > b["BleedBox"][2] + 5 * PT_PER_MM  # room for the marks
        strokes = [ops for ops, op in pikepdf.parse_content_stream(page) if str(op) in ("m", "l")]
        assert len(strokes) == 16  # 8 marks, a moveto and a lineto each
        for ops in strokes:
            x, y = float(ops[0]), float(ops[1])
            inside_bleed = b["BleedBox"][0] < x < b["BleedBox"][2] and b["BleedBox"][1] < y < b["BleedBox"][3]
            assert not inside_bleed
    result = export(design, product, tmp_path / "c.png", dpi=30, crop_marks=True)
    with Image.open(tmp_path / "c.png") as img:
        arr = np.asarray(img.convert("L"))
    assert result.pixels == img.size and img.size[0] > 180  # wider than the bleed area (181 px)
    assert arr[0, 0] == 255 and (arr[:8] < 100).any()  # white margin with marks in it


def test_cover_fills_contain_keeps_the_whole_design(tmp_path, kit):
    image = np.zeros((100, 300, 3), np.uint8)
    image[:] = (200, 30, 30)
    image[:, 3:13] = (0, 0, 255)  # blue left and right ends: cover on a tall product crops them off
    image[:, -13:-3] = (0, 0, 255)
    image[:3], image[-3:], image[:, :3], image[:, -3:] = (0, 160, 0), (0, 160, 0), (0, 160, 0), (0, 160, 0)
    design = load_design(kit.write_design(tmp_path, "wide", image))
    product = get_product("bookmark")
    cover, _ = export_bytes(design, product, "png", dpi=30)
    contain, _ = export_bytes(design, product, "png", dpi=30, fit="contain")
    cover_px = np.asarray(Image.open(io.BytesIO(cover)).convert("RGB")).astype(int)
    contain_px = np.asarray(Image.open(io.BytesIO(contain)).convert("RGB")).astype(int)
    assert not (np.abs(cover_px - (0, 0, 255)).sum(axis=2) < 100).any()  # the ends are cropped off
    assert (np.abs(cover_px - (200, 30, 30)).sum(axis=2) < 60).mean() > 0.8  # red fills the product
    assert (np.abs(contain_px - (0, 0, 255)).sum(axis=2) < 100).any()  # both ends survive ...
    top_fill = contain_px[2, contain_px.shape[1] // 2]
    assert np.abs(top_fill - (0, 160, 0)).sum() < 30  # ... and the space above takes the border's colour


def test_safe_area_warning_names_the_line_at_the_edge_of_a_bookmark(tmp_path, generated_design):
    result = export(load_design(generated_design), get_product("bookmark"), tmp_path / "b.png", dpi=30)
    edge = [w for w in result.warnings if w.startswith('line 1 "书签边缘"')]
    assert any("top edge" in w for w in edge), result.warnings
    assert any("hole" in w for w in edge), result.warnings
    assert not [w for w in result.warnings if "金沙遗址" in w]  # the middle line is safe


def test_line_just_inside_the_trim_is_outside_the_safe_area(tmp_path, kit):
    lines = [
        {"text": "近边", "polygon": kit.box(250, 16, 350, 30)},
        {"text": "居中", "polygon": kit.box(250, 280, 350, 320)},
    ]
    design = load_design(kit.write_design(tmp_path, "near", kit.textured((600, 600), 2), lines))
    result = export(design, get_product("bookmark"), tmp_path / "n.png", dpi=30)
    (warning,) = [w for w in result.warnings if w.startswith("line")]
    assert warning.startswith('line 1 "近边" is outside the safe area: ')
    assert "from the bookmark's top edge (keep text 4 mm inside the trim)" in warning


def test_rounded_corner_cuts_a_line_in_the_corner(tmp_path, kit):
    product = get_product("mousepad")
    image = kit.textured((480, 400), 5)  # the pad's own proportions plus bleed: nothing is cropped
    lines = [{"text": "角落", "polygon": kit.box(4, 4, 40, 30)}]
    design = load_design(kit.write_design(tmp_path, "corner", image, lines))
    placement = place(design, product, dpi=30, bleed_mm=0, fit="cover")
    assert placement.to_mm(np.array([[4.0, 4.0]]))[0] == pytest.approx([2.0, 2.0], abs=0.1)
    result = export(design, product, tmp_path / "c.png", dpi=30, bleed_mm=0)
    assert any('line 1 "角落" is cut by the mousepad\'s rounded corner' in w for w in result.warnings)


def test_low_resolution_is_said_and_a_large_design_is_not_warned(tmp_path, kit):
    small = load_design(kit.write_design(tmp_path, "small", kit.textured((300, 200), 1)))
    result = export(small, get_product("poster-a3"), tmp_path / "s.png", dpi=20)
    (low,) = [w for w in result.warnings if "DPI" in w]
    assert "below 150" in low and "Lanczos" in low and result.effective_dpi < 150
    big = load_design(kit.write_design(tmp_path, "big", kit.textured((1800, 1300), 1)))  # 1800 px over 154 mm
    result = export(big, get_product("postcard"), tmp_path / "b.png", dpi=20)
    assert result.effective_dpi > 150 and not [w for w in result.warnings if "DPI" in w]


def test_metadata_lines_are_scaled_to_the_image_and_fall_back_to_the_request(kit):
    meta = {"request": {"lines": [{"text": "甲", "polygon": kit.box(10, 10, 50, 30)}]}, "size": [100, 50]}
    (line,) = lines_from_metadata(meta, (200, 100))
    assert line.text == "甲" and line.polygon.tolist() == kit.box(20, 20, 100, 60)
    assert lines_from_metadata({"extra": {"lines": [{"text": "x", "polygon": None}]}}, (10, 10)) == []


def test_unreadable_metadata_is_a_note_and_the_design_still_exports(tmp_path, kit):
    path = kit.write_design(tmp_path, "bad", kit.textured((200, 200), 4))
    path.with_suffix(".json").write_text("{not json", encoding="utf-8")
    design = load_design(path)
    assert design.lines == [] and "bad.json ignored" in design.notes[0]
    assert (
        "bad.json ignored" in export(design, get_product("postcard"), tmp_path / "x.png", dpi=20).warnings[0]
    )


def test_every_builtin_product_places_inside_its_canvas(design):
    for product in load_products().values():
        placement = place(design, product, dpi=30, bleed_mm=3)
        x0, y0, x1, y1 = placement.source_box()
        assert -1e-6 <= x0 and -1e-6 <= y0 and x1 <= 600 + 1e-6 and y1 <= 400 + 1e-6
