"""`--font` / `--color` on `wenchuang generate|edit`: once for every line, or once per --text in order."""

from __future__ import annotations

import json

import numpy as np
import pytest

from wenchuang.cli import main
from wenchuang.images import load_image

GEN = ["generate", "--engine", "classic", "--size", "512x256", "--seed", "3",
       "--text", "文创", "--position", "20,20,240,120", "--text", "ART", "--position", "270,130,490,230"]


def _run(capsys, tmp_path, *extra):
    out = tmp_path / "out"
    code = main([*GEN, *extra, "--out", str(out)])
    captured = capsys.readouterr()
    files = sorted(out.glob("*.json")) if out.is_dir() else []
    metas = [json.loads(p.read_text(encoding="utf-8")) for p in files]
    return code, captured.err, metas, out


def _nearest(image: np.ndarray, box: tuple[int, int, int, int], color: str) -> float:
    """How close the closest pixel in `box` comes to `color` (sum of absolute RGB differences)."""
    x1, y1, x2, y2 = box
    rgb = np.array([int(color[i : i + 2], 16) for i in (1, 3, 5)])
    return float(np.abs(image[y1:y2, x1:x2].astype(int) - rgb).sum(axis=2).min())


def test_one_font_and_colour_per_line(capsys, tmp_path):
    code, err, metas, out = _run(capsys, tmp_path, "--font", "noto-sans-tc", "--color", "#d01010",
                                 "--font", "noto-sans-sc", "--color", "#1030d0")
    assert code == 0, err
    lines = metas[0]["request"]["lines"]
    assert [(x["text"], x["font"], x["color"]) for x in lines] == [("文创", "noto-sans-tc", "#d01010"),
                                                                  ("ART", "noto-sans-sc", "#1030d0")]
    image = load_image(next(out.glob("*.png")))
    top, bottom = (20, 20, 240, 120), (270, 130, 490, 230)
    assert _nearest(image, top, "#d01010") < 30 and _nearest(image, bottom, "#1030d0") < 30
    assert _nearest(image, top, "#1030d0") > 100 and _nearest(image, bottom, "#d01010") > 100


def test_one_value_applies_to_every_line(capsys, tmp_path):
    code, err, metas, _ = _run(capsys, tmp_path, "--color", "#208020")
    assert code == 0, err
    assert [x["color"] for x in metas[0]["request"]["lines"]] == ["#208020", "#208020"]
    assert [x["font"] for x in metas[0]["request"]["lines"]] == [None, None]


@pytest.mark.parametrize("flag", ["--font", "--color"])
def test_other_counts_are_a_one_line_error(capsys, tmp_path, flag):
    values = ["noto-sans-sc"] * 3 if flag == "--font" else ["#101010"] * 3
    extra = [a for v in values for a in (flag, v)]
    code, err, metas, out = _run(capsys, tmp_path, *extra)
    name = flag.removeprefix("--")
    assert code == 2 and metas == [] and not out.exists()
    assert f"give one --{name} for every line or one per --text in order: got 2 text(s) and 3 --{name} values" in err
    assert len(err.strip().splitlines()) == 1
