"""Fixtures for layout tests: the official AnyText golden glyph images in tests/golden."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

GOLDEN = Path(__file__).resolve().parents[1] / "golden"  # the AnyText parity data (README.md there)
GOLDEN_CASES = ("gen", "edit")
CASE_KEYS = ("texts", "polygons", "sort_priority", "draw_pos_boxes")
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
    return {name: golden_case(GOLDEN / name) for name in GOLDEN_CASES}


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    return GOLDEN


def golden_case(folder: Path) -> dict:
    """The layout inputs of one golden case (its case.json); a missing file fails the test."""
    path = folder / "case.json"
    if not path.is_file():
        pytest.fail(f"golden case missing: {path} (tests/golden is part of the repository)")
    case = json.loads(path.read_text(encoding="utf-8"))
    # an edit works at the uploaded image's resized size, not the canvas size the options name
    width = case.get("image_width_after_resize", case["image_width"])
    height = case.get("image_height_after_resize", case["image_height"])
    return {**{k: case[k] for k in CASE_KEYS}, "width": width, "height": height}


@pytest.fixture(scope="session")
def wqy_font():
    """WenQuanYi Zen Hei, the font the golden glyphs were rendered with; skip where it is missing."""
    if not WQY_PATH.is_file():
        pytest.skip(f"golden glyph parity needs WenQuanYi Zen Hei at {WQY_PATH} (Debian fonts-wqy-zenhei)")
    from wenchuang.layout.fonts import resolve_font

    return resolve_font("wqy-zenhei")
