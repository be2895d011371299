"""Products: print-ready files and mock-ups of a design on a mouse pad, bookmark, postcard, poster, mug.

Products are data (``products.toml`` here, extended by the user's in the data folder); `export`
writes a PDF/PNG/TIFF at the product's size plus bleed and warns about text lines that the cut or
the safe margin would harm; `render_mockup` draws a photograph-like preview in code.
"""

from wenchuang.products.catalog import (
    Hole,
    Product,
    ProductError,
    get_product,
    load_products,
    user_products_path,
)
from wenchuang.products.export import ExportResult, export, export_bytes, output_format, srgb_icc
from wenchuang.products.placement import Design, DesignLine, Placement, line_warnings, load_design, place

__all__ = [
    "Design",
    "DesignLine",
    "ExportResult",
    "Hole",
    "Placement",
    "Product",
    "ProductError",
    "export",
    "export_bytes",
    "get_product",
    "line_warnings",
    "load_design",
    "load_products",
    "output_format",
    "place",
    "srgb_icc",
    "user_products_path",
]
