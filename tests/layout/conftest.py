"""Fixtures for layout tests: the official AnyText golden glyph images copied into tests/fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

GOLDEN_GLYPHS = Path(__file__).resolve().parents[1] / "fixtures" / "golden_glyphs"
WQY_PATH = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")


def _load_png(path: Path) -> np.ndarray:
    return np.array(Image.open(path))


@pytest.fixture(scope="session")
def load_png():
    """Function reading a golden PNG as an array (masks are exact 0/255)."""
    return _load_png


@pytest.fixture(scope="session")
def golden_cases() -> dict:
    """{'gen': {...}, 'edit': {...}}: texts, polygons, width, height of the two golden cases."""
    return json.loads((GOLDEN_GLYPHS / "cases.json").read_text(encoding="utf-8"))["cases"]


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    return GOLDEN_GLYPHS


@pytest.fixture(scope="session")
def wqy_font():
    """WenQuanYi Zen Hei, the font the golden glyphs were rendered with; skip where it is missing."""
    if not WQY_PATH.is_file():
        pytest.skip(f"golden glyph parity needs WenQuanYi Zen Hei at {WQY_PATH} (Debian fonts-wqy-zenhei)")
    from wenchuang.layout.fonts import resolve_font

    return resolve_font("wqy-zenhei")
