"""Products as data: the built-in ``products.toml`` beside this module, extended by the user's.

The user's file is ``products.toml`` in the data folder (``$WENCHUANG_HOME``, default
``~/.wenchuang``). A user table whose name is a built-in product overrides the fields it sets; any
other name adds a product. Every field is checked when the files are read, and a bad one is a
`ProductError` naming the file, the product and the field.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wenchuang.errors import WenchuangError
from wenchuang.paths import data_home

BUILTIN_PATH = Path(__file__).resolve().parent / "products.toml"
USER_FILE_NAME = "products.toml"
NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
MOCKUPS = ("pad", "card", "poster", "mug")
MATERIALS = ("cloth", "paper", "ceramic")
ORIENTATIONS = ("portrait", "landscape", "square")
MAX_SIZE_MM = 2000.0  # 2 m: larger is a banner, not a product this tool lays out
MAX_BLEED_MM = 20.0
DPI_RANGE = (10, 1200)
_FIELDS = {
    "label_zh": str,
    "label_en": str,
    "width_mm": float,
    "height_mm": float,
    "bleed_mm": float,
    "safe_mm": float,
    "corner_radius_mm": float,
    "holes": list,
    "orientation": str,
    "dpi": int,
    "mockup": str,
    "material": str,
}


class ProductError(WenchuangError, ValueError):
    """A product is unknown, or a products file or option is invalid."""


@dataclass(frozen=True)
class Hole:
    x_mm: float  # centre, from the trim's left edge
    y_mm: float  # centre, from the trim's top edge
    diameter_mm: float

    @property
    def radius_mm(self) -> float:
        return self.diameter_mm / 2


@dataclass(frozen=True)
class Product:
    name: str
    label_zh: str
    label_en: str
    width_mm: float
    height_mm: float
    bleed_mm: float = 3.0
    safe_mm: float = 5.0
    corner_radius_mm: float = 0.0
    holes: tuple[Hole, ...] = ()
    dpi: int = 300
    mockup: str = "card"
    material: str = "paper"
    source: str = "builtin"  # or the user file's path

    @property
    def orientation(self) -> str:
        if abs(self.width_mm - self.height_mm) < 1e-9:
            return "square"
        return "landscape" if self.width_mm > self.height_mm else "portrait"

    @property
    def label(self) -> str:
        return f"{self.label_zh} {self.label_en}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label_zh": self.label_zh,
            "label_en": self.label_en,
            "width_mm": self.width_mm,
            "height_mm": self.height_mm,
            "bleed_mm": self.bleed_mm,
            "safe_mm": self.safe_mm,
            "corner_radius_mm": self.corner_radius_mm,
            "holes": [{"x_mm": h.x_mm, "y_mm": h.y_mm, "diameter_mm": h.diameter_mm} for h in self.holes],
            "orientation": self.orientation,
            "dpi": self.dpi,
            "mockup": self.mockup,
            "material": self.material,
            "source": self.source,
        }


def user_products_path() -> Path:
    return data_home() / USER_FILE_NAME


def _number(value: Any, where: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProductError(f"{where}: expected a number, got {value!r}")
    if not low <= float(value) <= high:
        raise ProductError(f"{where}: {value} is out of range ({low:g} to {high:g})")
    return float(value)


def _build(name: str, fields: dict[str, Any], source: str) -> Product:
    where = f"{source}: [{name}]"
    if not NAME.match(name):
        raise ProductError(f"{where}: a product name is 1-40 lower-case letters, digits and '-'")
    unknown = sorted(set(fields) - set(_FIELDS))
    if unknown:
        raise ProductError(f"{where}: unknown field(s) {unknown}; known: {sorted(_FIELDS)}")
    for key in ("label_zh", "label_en", "width_mm", "height_mm"):
        if key not in fields:
            raise ProductError(f"{where}: {key} is missing")
    for key in ("label_zh", "label_en", "orientation", "mockup", "material"):
        if key in fields and (not isinstance(fields[key], str) or not fields[key].strip()):
            raise ProductError(f"{where}.{key}: expected a non-empty string")
    width = _number(fields["width_mm"], f"{where}.width_mm", 1.0, MAX_SIZE_MM)
    height = _number(fields["height_mm"], f"{where}.height_mm", 1.0, MAX_SIZE_MM)
    bleed = _number(fields.get("bleed_mm", 3.0), f"{where}.bleed_mm", 0.0, MAX_BLEED_MM)
    safe = _number(fields.get("safe_mm", 5.0), f"{where}.safe_mm", 0.0, min(width, height) / 2)
    radius = _number(
        fields.get("corner_radius_mm", 0.0), f"{where}.corner_radius_mm", 0.0, min(width, height) / 2
    )
    dpi = fields.get("dpi", 300)
    if isinstance(dpi, bool) or not isinstance(dpi, int) or not DPI_RANGE[0] <= dpi <= DPI_RANGE[1]:
        raise ProductError(f"{where}.dpi: expected a whole number from {DPI_RANGE[0]} to {DPI_RANGE[1]}")
    mockup = fields.get("mockup", "card")
    if mockup not in MOCKUPS:
        raise ProductError(f"{where}.mockup: {mockup!r} is not one of {', '.join(MOCKUPS)}")
    material = fields.get("material", "paper")
    if material not in MATERIALS:
        raise ProductError(f"{where}.material: {material!r} is not one of {', '.join(MATERIALS)}")
    holes_raw = fields.get("holes", [])
    if not isinstance(holes_raw, list):
        raise ProductError(f"{where}.holes: expected a list of {{ x_mm, y_mm, diameter_mm }}")
    holes = []
    for i, hole in enumerate(holes_raw):
        at = f"{where}.holes[{i}]"
        if not isinstance(hole, dict) or set(hole) != {"x_mm", "y_mm", "diameter_mm"}:
            raise ProductError(f"{at}: expected {{ x_mm, y_mm, diameter_mm }}")
        d = _number(hole["diameter_mm"], f"{at}.diameter_mm", 0.5, min(width, height))
        x = _number(hole["x_mm"], f"{at}.x_mm", d / 2, width - d / 2)
        y = _number(hole["y_mm"], f"{at}.y_mm", d / 2, height - d / 2)
        holes.append(Hole(x, y, d))
    product = Product(
        name=name,
        label_zh=fields["label_zh"].strip(),
        label_en=fields["label_en"].strip(),
        width_mm=width,
        height_mm=height,
        bleed_mm=bleed,
        safe_mm=safe,
        corner_radius_mm=radius,
        holes=tuple(holes),
        dpi=dpi,
        mockup=mockup,
        material=material,
        source=source,
    )
    orientation = fields.get("orientation")
    if orientation is not None:
        if orientation not in ORIENTATIONS:
            raise ProductError(
                f"{where}.orientation: {orientation!r} is not one of {', '.join(ORIENTATIONS)}"
            )
        if orientation != product.orientation:
            raise ProductError(
                f"{where}.orientation: {orientation!r} does not match {width:g} x {height:g} mm "
                f"(that is {product.orientation})"
            )
    return product


def _read_toml(path: Path, label: str) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ProductError(f"{label}: not valid TOML ({exc})") from None
    except OSError as exc:
        raise ProductError(f"{label} cannot be read: {exc.strerror or exc}") from None
    for name, table in data.items():
        if not isinstance(table, dict):
            raise ProductError(f"{label}: {name!r} must be a table ([{name}]) of product fields")
    return data


def load_products(user_path: str | Path | None = None) -> dict[str, Product]:
    """Built-in products, then the user's file (default: `user_products_path()`, when it exists)."""
    builtin = _read_toml(BUILTIN_PATH, "built-in products.toml")
    merged: dict[str, tuple[dict[str, Any], str]] = {
        name: (dict(t), "builtin") for name, t in builtin.items()
    }
    path = Path(user_path) if user_path is not None else user_products_path()
    if user_path is not None or path.is_file():
        label = str(path)
        for name, table in _read_toml(path, label).items():
            base = merged.get(name, ({}, label))[0]
            merged[name] = ({**base, **table}, label)
    return {name: _build(name, fields, source) for name, (fields, source) in merged.items()}


def get_product(name: str, products: dict[str, Product] | None = None) -> Product:
    products = load_products() if products is None else products
    product = products.get(name)
    if product is None:
        raise ProductError(f"unknown product {name!r}; known: {', '.join(products)}")
    return product
