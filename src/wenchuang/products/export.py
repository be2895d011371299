"""Print files: the design at the product's size plus bleed, as PDF, PNG or TIFF.

- PDF (written with pikepdf): one page whose MediaBox holds the bleed (and the crop marks when
  asked), with BleedBox and TrimBox set so print shops read the sizes; the image is embedded
  losslessly (Flate with PNG predictors) at the output DPI, in an ICCBased sRGB colour space;
  crop marks are vector lines.
- PNG / TIFF: the same pixels with the DPI stored and the sRGB ICC profile embedded.

Every option is checked and the image decoded before anything is written, and the file is written
atomically: a failed export leaves nothing behind.
"""

from __future__ import annotations

import functools
import io
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageCms, ImageDraw

from wenchuang.images import write_bytes_atomic
from wenchuang.products.catalog import Product, ProductError
from wenchuang.products.placement import (
    MM_PER_INCH,
    Design,
    Placement,
    line_warnings,
    pixels_for,
    place,
    resolution_warning,
)

FORMATS = {".pdf": "pdf", ".png": "png", ".tif": "tiff", ".tiff": "tiff"}
PT_PER_MM = 72.0 / MM_PER_INCH
MARK_GAP_MM = 2.0  # crop marks start this far outside the bleed ...
MARK_LENGTH_MM = 5.0  # ... and are this long
MARK_WIDTH_PT = 0.25


@functools.lru_cache(maxsize=1)
def srgb_icc() -> bytes:
    """An sRGB ICC profile (made by LittleCMS through Pillow; no file shipped)."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def output_format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ProductError(f"out: {Path(path).name!r} must end in .pdf, .png, .tif or .tiff")
    return FORMATS[suffix]


@dataclass
class ExportResult:
    path: Path
    format: str
    product: str
    dpi: int
    pixels: tuple[int, int]  # the whole output image (with the crop-mark margin when asked)
    trim_mm: tuple[float, float]
    bleed_mm: float
    effective_dpi: float
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.path.name,
            "format": self.format,
            "product": self.product,
            "dpi": self.dpi,
            "pixels": list(self.pixels),
            "trim_mm": list(self.trim_mm),
            "bleed_mm": self.bleed_mm,
            "effective_dpi": round(self.effective_dpi, 1),
            "warnings": list(self.warnings),
        }


def render_canvas(design: Design, placement: Placement) -> Image.Image:
    """The trim plus bleed at the placement's DPI (Lanczos resampling), RGB."""
    size = placement.canvas_px
    source = Image.fromarray(design.image)
    if placement.fit == "cover":
        return source.resize(size, Image.Resampling.LANCZOS, box=placement.source_box())
    canvas = Image.new("RGB", size, placement.background)
    per_mm_x = size[0] / placement.canvas_mm[0]
    per_mm_y = size[1] / placement.canvas_mm[1]
    iw, ih = placement.design_size
    w = max(1, round(iw * placement.mm_per_px * per_mm_x))
    h = max(1, round(ih * placement.mm_per_px * per_mm_y))
    x = round((placement.origin_mm[0] + placement.bleed_mm) * per_mm_x)
    y = round((placement.origin_mm[1] + placement.bleed_mm) * per_mm_y)
    canvas.paste(source.resize((w, h), Image.Resampling.LANCZOS), (x, y))
    return canvas


def _mark_segments_mm(
    product: Product, bleed_mm: float, margin_mm: float
) -> list[tuple[float, float, float, float]]:
    """Crop-mark lines (x1, y1, x2, y2) in mm from the page's top-left, outside the bleed."""
    W, H = product.width_mm, product.height_mm
    x_trim = (margin_mm, margin_mm + W)
    y_trim = (margin_mm, margin_mm + H)
    near, far = margin_mm - bleed_mm - MARK_GAP_MM, margin_mm - bleed_mm - MARK_GAP_MM - MARK_LENGTH_MM
    segments = []
    for x in x_trim:  # vertical marks above and below the page
        segments.append((x, near, x, far))
        segments.append((x, margin_mm * 2 + H - near, x, margin_mm * 2 + H - far))
    for y in y_trim:  # horizontal marks left and right
        segments.append((near, y, far, y))
        segments.append((margin_mm * 2 + W - near, y, margin_mm * 2 + W - far, y))
    return segments


def _with_marks(canvas: Image.Image, placement: Placement) -> Image.Image:
    product, dpi, bleed = placement.product, placement.dpi, placement.bleed_mm
    margin = bleed + MARK_GAP_MM + MARK_LENGTH_MM
    page = Image.new(
        "RGB",
        (pixels_for(product.width_mm + 2 * margin, dpi), pixels_for(product.height_mm + 2 * margin, dpi)),
        "white",
    )
    offset = round((margin - bleed) / MM_PER_INCH * dpi)
    page.paste(canvas, (offset, offset))
    draw = ImageDraw.Draw(page)
    px = dpi / MM_PER_INCH
    width = max(1, round(MARK_WIDTH_PT / 72 * dpi))
    for x1, y1, x2, y2 in _mark_segments_mm(product, bleed, margin):
        draw.line([(x1 * px, y1 * px), (x2 * px, y2 * px)], fill=(0, 0, 0), width=width)
    return page


def _png_idat(image: Image.Image) -> bytes:
    """The zlib stream of a PNG encoding (rows with PNG predictors): PDF's FlateDecode with
    Predictor 15 reads it as it is, so the image is compressed by Pillow's fast encoder."""
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=6)
    data = buf.getvalue()
    pos, chunks = 8, []
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind == b"IDAT":
            chunks.append(data[pos + 8 : pos + 8 + length])
        pos += 12 + length
    return b"".join(chunks)


def pdf_bytes(canvas: Image.Image, placement: Placement, *, crop_marks: bool, title: str) -> bytes:
    import pikepdf
    from pikepdf import Array, Dictionary, Name

    product, bleed = placement.product, placement.bleed_mm
    W, H = product.width_mm, product.height_mm
    margin = bleed + (MARK_GAP_MM + MARK_LENGTH_MM if crop_marks else 0.0)
    pt = PT_PER_MM
    page_w, page_h = (W + 2 * margin) * pt, (H + 2 * margin) * pt

    def box(inset_mm: float) -> Array:
        return Array([inset_mm * pt, inset_mm * pt, page_w - inset_mm * pt, page_h - inset_mm * pt])

    pdf = pikepdf.new()
    icc = pikepdf.Stream(pdf, zlib.compress(srgb_icc()))
    icc.Filter = Name.FlateDecode
    icc.N = 3
    icc.Alternate = Name.DeviceRGB
    image = pikepdf.Stream(pdf, _png_idat(canvas))
    image.Type = Name.XObject
    image.Subtype = Name.Image
    image.Width, image.Height = canvas.size
    image.ColorSpace = Array([Name.ICCBased, icc])
    image.BitsPerComponent = 8
    image.Filter = Name.FlateDecode
    image.DecodeParms = Dictionary(Predictor=15, Colors=3, BitsPerComponent=8, Columns=canvas.size[0])
    off = (margin - bleed) * pt
    draw_w, draw_h = (W + 2 * bleed) * pt, (H + 2 * bleed) * pt
    content = [f"q {draw_w:.4f} 0 0 {draw_h:.4f} {off:.4f} {off:.4f} cm /Im0 Do Q"]
    if crop_marks:
        content.append(f"q 0 G {MARK_WIDTH_PT} w 0 J")
        for x1, y1, x2, y2 in _mark_segments_mm(product, bleed, margin):  # y from the top -> PDF y up
            content.append(f"{x1 * pt:.4f} {page_h - y1 * pt:.4f} m {x2 * pt:.4f} {page_h - y2 * pt:.4f} l S")
        content.append("Q")
    page = Dictionary(
        Type=Name.Page,
        MediaBox=box(0),
        BleedBox=box(margin - bleed),
        TrimBox=box(margin),
        Resources=Dictionary(XObject=Dictionary(Im0=image)),
        Contents=pikepdf.Stream(pdf, "\n".join(content).encode("ascii")),
    )
    pdf.pages.append(pikepdf.Page(page))
    pdf.docinfo[Name.Title] = title
    pdf.docinfo[Name.Creator] = "Wenchuang Studio"
    out = io.BytesIO()
    pdf.save(out, compress_streams=False)  # the image stream is compressed already
    return out.getvalue()


def raster_bytes(page: Image.Image, fmt: str, dpi: int) -> bytes:
    buf = io.BytesIO()
    if fmt == "png":
        page.save(buf, format="PNG", dpi=(dpi, dpi), icc_profile=srgb_icc(), compress_level=6)
    else:
        page.save(buf, format="TIFF", dpi=(dpi, dpi), icc_profile=srgb_icc(), compression="tiff_lzw")
    return buf.getvalue()


def export_bytes(
    design: Design,
    product: Product,
    fmt: str,
    *,
    dpi: int | None = None,
    bleed_mm: float | None = None,
    fit: str = "cover",
    crop_marks: bool = False,
) -> tuple[bytes, ExportResult]:
    """The print file's bytes and what it holds (``path`` is a bare name to be set by the caller)."""
    if fmt not in ("pdf", "png", "tiff"):
        raise ProductError(f"format: {fmt!r} is not one of pdf, png, tiff")
    placement = place(
        design,
        product,
        dpi=product.dpi if dpi is None else dpi,
        bleed_mm=product.bleed_mm if bleed_mm is None else bleed_mm,
        fit=fit,
    )
    warnings = list(design.notes) + line_warnings(design, placement)
    low = resolution_warning(placement)
    if low:
        warnings.append(low)
    canvas = render_canvas(design, placement)
    if fmt == "pdf":
        data = pdf_bytes(
            canvas, placement, crop_marks=crop_marks, title=f"{design.name} - {product.label_en}"
        )
        pixels = canvas.size
    else:
        page = _with_marks(canvas, placement) if crop_marks else canvas
        data = raster_bytes(page, fmt, placement.dpi)
        pixels = page.size
    result = ExportResult(
        path=Path(f"{design.name}-{product.name}.{fmt}"),
        format=fmt,
        product=product.name,
        dpi=placement.dpi,
        pixels=pixels,
        trim_mm=(product.width_mm, product.height_mm),
        bleed_mm=placement.bleed_mm,
        effective_dpi=placement.effective_dpi,
        warnings=warnings,
    )
    return data, result


def export(
    design: Design,
    product: Product,
    out: str | Path,
    *,
    dpi: int | None = None,
    bleed_mm: float | None = None,
    fit: str = "cover",
    crop_marks: bool = False,
) -> ExportResult:
    """Write the print file `out` (format from its suffix) atomically; see `export_bytes`."""
    out = Path(out)
    fmt = output_format(out)
    data, result = export_bytes(
        design, product, fmt, dpi=dpi, bleed_mm=bleed_mm, fit=fit, crop_marks=crop_marks
    )
    write_bytes_atomic(out, data)
    result.path = out
    return result
