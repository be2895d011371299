"""`wenchuang product list|export|mockup`: print-ready files and mock-ups of a design."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

MOCKUP_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def register(subparsers) -> None:
    product = subparsers.add_parser(
        "product", help="print-ready files (PDF/PNG/TIFF with bleed) and mock-ups on mouse pads, mugs, ..."
    )
    sub = product.add_subparsers(dest="product_command", metavar="ACTION")
    product.set_defaults(handler=lambda args: _help(product))

    listing = sub.add_parser("list", help="the products (built-in + your products.toml) and their sizes")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.add_argument("--path", action="store_true", help="print the user products file's path and exit")
    listing.set_defaults(handler=_list)

    export = sub.add_parser(
        "export",
        help="the design at the product's size plus bleed, as a print file",
        description=(
            "Place the design at the product's trim size plus bleed (cover: fill and crop, centred on the "
            "design's text lines when NAME.json is beside the image; contain: fit inside the trim) and "
            "write a PDF (MediaBox, BleedBox and TrimBox set; image at the output DPI), PNG or TIFF "
            "(DPI stored), with the sRGB ICC profile. Warns about text lines outside the safe area or "
            "cut by the product's shape or hole, and about a source below 150 DPI."
        ),
    )
    _common(export)
    export.add_argument("--out", required=True, metavar="FILE", help="FILE.pdf, FILE.png or FILE.tif")
    export.add_argument(
        "--dpi", type=int, metavar="N", help="output resolution (default: the product's, 300)"
    )
    export.add_argument(
        "--bleed-mm", type=float, metavar="MM", help="bleed on every side (default: the product's, 3)"
    )
    export.add_argument("--crop-marks", action="store_true", help="draw crop marks outside the bleed")
    export.add_argument("--json", action="store_true", help="print what was written as JSON")
    export.set_defaults(handler=_export)

    mockup = sub.add_parser("mockup", help="a photograph-like picture of the product carrying the design")
    _common(mockup)
    mockup.add_argument("--out", required=True, metavar="FILE", help="FILE.png (or .jpg, .webp)")
    mockup.add_argument(
        "--width", type=int, default=1600, metavar="PX", help="picture width, 1024-4096 (default 1600)"
    )
    mockup.set_defaults(handler=_mockup)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "image", metavar="IMAGE", help="the design (PNG, JPEG, WebP, BMP); NAME.json beside it is read"
    )
    parser.add_argument(
        "--product", required=True, metavar="NAME", help="a product from `wenchuang product list`"
    )
    parser.add_argument(
        "--fit",
        choices=("cover", "contain"),
        default="cover",
        help="fill and crop (default), or fit inside the trim",
    )


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _warn(messages: list[str]) -> None:
    for message in messages:
        print(f"wenchuang: warning: {message}", file=sys.stderr)


def _list(args) -> int:
    from wenchuang.products import load_products, user_products_path

    if args.path:
        print(user_products_path())
        return 0
    products = load_products()
    if args.json:
        print(json.dumps([p.to_dict() for p in products.values()], ensure_ascii=False, indent=2))
        return 0
    for p in products.values():
        extras = []
        if p.corner_radius_mm:
            extras.append(f"corners r{p.corner_radius_mm:g}")
        if p.holes:
            extras.append(", ".join(f"{h.diameter_mm:g} mm hole" for h in p.holes))
        size = f"{p.width_mm:g} x {p.height_mm:g} mm"
        detail = f"bleed {p.bleed_mm:g}, safe {p.safe_mm:g} mm, {p.dpi} DPI" + (
            f", {', '.join(extras)}" if extras else ""
        )
        source = "" if p.source == "builtin" else f"  ({p.source})"
        print(f"{p.name:<12} {size:<16} {detail}  {p.label_en} / {p.label_zh}{source}")
    return 0


def _export(args) -> int:
    from wenchuang.products import export, get_product, load_design, output_format
    from wenchuang.products.placement import check_bleed, check_dpi

    product = get_product(args.product)
    output_format(args.out)
    if args.dpi is not None:
        check_dpi(args.dpi)
    if args.bleed_mm is not None:
        check_bleed(args.bleed_mm)
    design = load_design(args.image)
    result = export(
        design,
        product,
        args.out,
        dpi=args.dpi,
        bleed_mm=args.bleed_mm,
        fit=args.fit,
        crop_marks=args.crop_marks,
    )
    _warn(result.warnings)
    if args.json:
        print(json.dumps({**result.to_dict(), "file": str(result.path)}, ensure_ascii=False, indent=2))
        return 0
    print(
        f"{result.path}  {product.name} {product.width_mm:g} x {product.height_mm:g} mm + {result.bleed_mm:g} mm bleed  "
        f"{result.dpi} DPI  {result.pixels[0]} x {result.pixels[1]} px  {result.format.upper()}"
    )
    return 0


def _mockup(args) -> int:
    from wenchuang.images import save_image_atomic
    from wenchuang.products import ProductError, get_product, load_design
    from wenchuang.products.mockup import render_mockup

    product = get_product(args.product)
    out = Path(args.out)
    if out.suffix.lower() not in MOCKUP_SUFFIXES:
        raise ProductError(f"out: {out.name!r} must end in {', '.join(MOCKUP_SUFFIXES)}")
    design = load_design(args.image)
    mockup = render_mockup(design, product, width=args.width, fit=args.fit)
    _warn(mockup.warnings)
    save_image_atomic(out, mockup.image)
    print(f"{out}  {product.name} mock-up  {mockup.image.shape[1]} x {mockup.image.shape[0]} px")
    return 0
