"""Font registry: a CJK-capable default that works offline, any TTF/OTF/TTC path, cmap checks.

The default font is Noto Sans CJK SC from the PyPI package ``noto-cjk-sans-otc`` (SIL OFL); in that
collection face index 2 is Simplified Chinese. A font spec is a registry name (``noto-sans-sc``,
``noto-sans-tc``, ``noto-sans-jp``, ``noto-sans-kr``, ``wqy-zenhei`` where installed) or a path,
optionally with ``#INDEX`` to pick a face of a collection (``/fonts/x.ttc#1``).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

from fontTools.ttLib import TTCollection, TTFont
from PIL import ImageFont

from wenchuang.errors import FontError

DEFAULT_FONT = "noto-sans-sc"
# a line's font "mimic" (or "mimic:x1,y1,x2,y2" / 8 numbers of a quad): imitate lettering already in the
# uploaded picture, inside the line's own polygon (or that region); only the anytext2 engine can do it
MIMIC_FONT = "mimic"

# name -> (candidate files, face index); the first file that exists wins
_SYSTEM_FONTS: dict[str, tuple[tuple[str, ...], int]] = {
    "wqy-zenhei": (("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",), 0),
}
_NOTO_FACES = {"noto-sans-jp": 0, "noto-sans-kr": 1, "noto-sans-sc": 2, "noto-sans-tc": 3, "noto-sans-hk": 4}


@dataclass(frozen=True)
class FontSpec:
    """A resolved font: a file and the face index inside it."""

    path: str
    index: int = 0

    @property
    def label(self) -> str:
        return f"{self.path}#{self.index}" if self.index else self.path


def _noto_path() -> str | None:
    try:
        import noto_cjk_sans_otc
    except ImportError:
        return None
    path = Path(noto_cjk_sans_otc.__file__).parent / "NotoSansCJK-Regular.ttc"
    return str(path) if path.is_file() else None


def available_fonts() -> dict[str, FontSpec]:
    """Registry names that resolve on this machine."""
    fonts: dict[str, FontSpec] = {}
    noto = _noto_path()
    if noto:
        for name, index in _NOTO_FACES.items():
            fonts[name] = FontSpec(noto, index)
    for name, (paths, index) in _SYSTEM_FONTS.items():
        for p in paths:
            if os.path.isfile(p):
                fonts[name] = FontSpec(p, index)
                break
    return fonts


def is_mimic_font(spec) -> bool:
    """Whether a line's font asks to imitate lettering of the uploaded picture (``mimic[:REGION]``)."""
    if not isinstance(spec, str):
        return False
    spec = spec.strip()
    return spec == MIMIC_FONT or spec.startswith(MIMIC_FONT + ":")


def resolve_font(spec: str | FontSpec | None = None) -> FontSpec:
    """Turn a registry name, a path (optionally ``path#index``) or None (default) into a FontSpec."""
    if isinstance(spec, FontSpec):
        return spec
    if is_mimic_font(spec):
        raise FontError(
            "font", f"{spec.strip()!r} (imitate the lettering of the uploaded picture) needs the anytext2 engine"
        )
    name = (spec or DEFAULT_FONT).strip()
    registry = available_fonts()
    if name in registry:
        return registry[name]
    path, index = name, 0
    if "#" in name:
        head, _, tail = name.rpartition("#")
        if tail.isdigit():
            path, index = head, int(tail)
    if not os.path.isfile(path):
        known = ", ".join(sorted(registry)) or "none installed"
        raise FontError("font", f"{name!r} is neither a known font ({known}) nor an existing font file")
    if Path(path).suffix.lower() not in (".ttf", ".otf", ".ttc", ".otc"):
        raise FontError("font", f"{path!r} is not a TTF/OTF/TTC font file")
    return FontSpec(os.path.abspath(path), index)


@functools.lru_cache(maxsize=32)
def _cmap(spec: FontSpec) -> frozenset[int]:
    try:
        if Path(spec.path).suffix.lower() in (".ttc", ".otc"):
            collection = TTCollection(spec.path, lazy=True)
            if spec.index >= len(collection.fonts):
                raise FontError(
                    "font", f"{spec.path} has {len(collection.fonts)} faces; no face {spec.index}"
                )
            font = collection.fonts[spec.index]
        else:
            font = TTFont(spec.path, lazy=True, fontNumber=spec.index)
        cmap = font.getBestCmap() or {}
    except FontError:
        raise
    except Exception as exc:  # fontTools raises many types for broken files
        raise FontError("font", f"cannot read font {spec.label}: {exc}") from None
    return frozenset(cmap)


def missing_characters(text: str, spec: str | FontSpec | None = None) -> list[str]:
    """Characters of `text` (other than whitespace) that the font has no glyph for, in order, once each."""
    cmap = _cmap(resolve_font(spec))
    missing: list[str] = []
    for ch in text:
        if ch.isspace() or ord(ch) in cmap or ch in missing:
            continue
        missing.append(ch)
    return missing


def check_text(text: str, spec: str | FontSpec | None = None, field_name: str = "text") -> None:
    """Raise FontError listing every character the font cannot draw."""
    resolved = resolve_font(spec)
    missing = missing_characters(text, resolved)
    if missing:
        shown = " ".join(f"{c!r} (U+{ord(c):04X})" for c in missing[:20])
        more = f" and {len(missing) - 20} more" if len(missing) > 20 else ""
        raise FontError(field_name, f"font {Path(resolved.path).name} cannot draw {shown}{more}")


@functools.lru_cache(maxsize=128)
def _load(spec: FontSpec, size: int) -> ImageFont.FreeTypeFont:
    try:
        return ImageFont.truetype(spec.path, size=size, index=spec.index)
    except OSError as exc:
        raise FontError("font", f"cannot load font {spec.label}: {exc}") from None


def load_font(spec: str | FontSpec | None = None, size: int = 60) -> ImageFont.FreeTypeFont:
    """A Pillow FreeType font of the given pixel size (cached)."""
    if size < 1:
        raise FontError("font", f"size must be positive, got {size}")
    return _load(resolve_font(spec), int(size))
