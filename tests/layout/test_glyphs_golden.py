"""Glyph images against the official AnyText preprocessing (tests/golden).

The golden images were rendered with WenQuanYi Zen Hei by Pillow 9.5, whose wheels bundle FreeType
2.13.0. Positions and hint depend on no font and must match everywhere. The glyph images match
pixel for pixel where Pillow renders with FreeType 2.13.0; newer FreeType releases rasterise
outlines slightly differently (and report bounding boxes 1 px apart), so there the test checks
near parity, and the exact check runs in a subprocess when `WENCHUANG_REFERENCE_PILLOW` names a
folder holding Pillow 9.5 (``pip install --target DIR pillow==9.5.0``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import features

from wenchuang.layout.glyphs import build_text_conditions

GOLDEN_FREETYPE = "2.13.0"
SRC = Path(__file__).resolve().parents[2] / "src"

# Compares every glyph image of both cases with the golden PNGs; prints {name: differing pixels}.
_EXACT_SCRIPT = """
import json, sys
import numpy as np
from PIL import Image
from wenchuang.layout.glyphs import build_text_conditions
root = sys.argv[1]
diffs = {}
for name in ("gen", "edit"):
    case = json.load(open(f"{root}/{name}/case.json", encoding="utf-8"))
    width = case.get("image_width_after_resize", case["image_width"])
    height = case.get("image_height_after_resize", case["image_height"])
    cond = build_text_conditions(case["texts"], case["polygons"], width, height, font="wqy-zenhei")
    for i in range(len(case["texts"])):
        for kind, arr in (("glyphs", cond.glyphs[i]), ("gly_line", cond.gly_lines[i])):
            golden = np.array(Image.open(f"{root}/{name}/{kind}_{i}.png")) / 255.0
            diffs[f"{name}/{kind}_{i}"] = -1 if arr.shape != golden.shape else int((arr != golden).sum())
print(json.dumps(diffs))
"""


def _bbox(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([xs.min(), ys.min(), xs.max(), ys.max()])


@pytest.fixture(scope="module")
def conditions(golden_cases, wqy_font):
    return {
        name: build_text_conditions(c["texts"], c["polygons"], c["width"], c["height"], font=wqy_font)
        for name, c in golden_cases.items()
    }


@pytest.mark.parametrize("case", ["gen", "edit"])
def test_positions_and_hint_match_golden_exactly(case, golden_cases, golden_dir, conditions, load_png):
    cond = conditions[case]
    for i, position in enumerate(cond.positions):
        expected = load_png(golden_dir / case / f"positions_{i}.png") / 255.0
        assert position.dtype == np.float32
        np.testing.assert_array_equal(position, expected)
    np.testing.assert_array_equal(cond.hint, load_png(golden_dir / case / "hint.png") / 255.0)


@pytest.mark.parametrize("case", ["gen", "edit"])
def test_glyph_images_match_golden(case, golden_cases, golden_dir, conditions, load_png):
    cond = conditions[case]
    c = golden_cases[case]
    exact = features.version("freetype2") == GOLDEN_FREETYPE
    for i in range(len(c["texts"])):
        glyph_golden = load_png(golden_dir / case / f"glyphs_{i}.png") / 255.0
        line_golden = load_png(golden_dir / case / f"gly_line_{i}.png") / 255.0
        glyph, line = cond.glyphs[i], cond.gly_lines[i]
        assert glyph.shape == (2 * c["height"], 2 * c["width"]) == glyph_golden.shape
        assert line.shape == (80, 512) == line_golden.shape
        assert set(np.unique(glyph)) <= {0.0, 1.0} and set(np.unique(line)) <= {0.0, 1.0}
        if exact:
            np.testing.assert_array_equal(glyph, glyph_golden)
            np.testing.assert_array_equal(line, line_golden)
            continue
        # another FreeType: same size, place, rotation and dithering up to the rasteriser's edges
        a, g = glyph > 0, glyph_golden > 0
        assert (a & g).sum() / (a | g).sum() > 0.9
        assert np.abs(_bbox(a) - _bbox(g)).max() <= 2
        assert 0.97 < a.sum() / g.sum() < 1.03
        # the glyph line's font size follows a bounding box measured at size 50 (1 px apart here)
        a, g = line > 0, line_golden > 0
        assert np.abs(_bbox(a) - _bbox(g)).max() <= 8
        assert 0.9 < a.sum() / g.sum() < 1.1


def test_glyph_images_exact_with_reference_pillow(golden_dir, wqy_font):
    """Pixel-exact parity, run with Pillow 9.5 (FreeType 2.13.0) as the golden data was made."""
    reference = os.environ.get("WENCHUANG_REFERENCE_PILLOW")
    if not reference or not (Path(reference) / "PIL").is_dir():
        pytest.skip("set WENCHUANG_REFERENCE_PILLOW to a folder with Pillow 9.5 (pip install --target)")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([reference, str(SRC)]))
    proc = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", _EXACT_SCRIPT, str(golden_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    diffs = json.loads(proc.stdout.strip().splitlines()[-1])
    assert diffs and all(v == 0 for v in diffs.values()), diffs
