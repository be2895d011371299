"""Designs for the product tests: a feature-rich picture, and real gallery-style metadata beside it
(written by `wenchuang generate --engine classic`, so the lines are where the CLI puts them)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from PIL import Image

from wenchuang.cli import main


def textured(size: tuple[int, int], seed: int) -> np.ndarray:
    """Coloured noise at several scales under random discs, bars and lines: many distinct corners
    and blobs for feature matching, different for every seed."""
    w, h = size
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.float32)
    for scale in (64, 16, 6):
        grid = rng.uniform(0, 255, (h // scale + 2, w // scale + 2, 3)).astype(np.float32)
        img += cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC) / 3
    img = np.clip(img, 0, 255).astype(np.uint8)
    for _ in range(60):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        r = int(rng.integers(4, max(6, w // 14)))
        kind = rng.random()
        if kind < 0.4:
            cv2.circle(img, (x, y), r, colour, -1)
        elif kind < 0.7:
            cv2.rectangle(img, (x, y), (x + r * 2, y + int(rng.integers(3, r + 4))), colour, -1)
        else:
            end = (x + int(rng.integers(-3 * r, 3 * r)), y + int(rng.integers(-3 * r, 3 * r)))
            cv2.line(img, (x, y), end, colour, int(rng.integers(2, 6)))
    return img


def write_design(folder: Path, name: str, image: np.ndarray, lines: list[dict] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    Image.fromarray(image).save(path)
    if lines is not None:
        meta = {
            "request": {"lines": lines},
            "extra": {"lines": lines},
            "size": [image.shape[1], image.shape[0]],
        }
        path.with_suffix(".json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    return path


def box(x1: float, y1: float, x2: float, y2: float) -> list[list[float]]:
    return [[x1, y1], [x2, y1], [x2, y2], [x1, y2]]


@pytest.fixture(scope="session")
def kit() -> SimpleNamespace:
    """The helpers above, for the test modules (conftest is not importable under importlib mode)."""
    return SimpleNamespace(textured=textured, write_design=write_design, box=box)


@pytest.fixture(scope="session")
def generated_design(tmp_path_factory) -> Path:
    """A 512 x 512 design made by the CLI: line 1 "书签边缘" at the very top edge, centred; line 2
    "金沙遗址" in the middle. Its metadata JSON lies beside it."""
    folder = tmp_path_factory.mktemp("generated")
    background = folder / "background.png"
    Image.fromarray(textured((512, 512), 3)).save(background)
    out = folder / "out"
    code = main(
        [
            "generate",
            "--engine",
            "classic",
            "--image",
            str(background),
            "--text",
            "书签边缘",
            "--position",
            "196,0,316,40",
            "--text",
            "金沙遗址",
            "--position",
            "196,230,316,270",
            "--seed",
            "1",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    (png,) = sorted(out.glob("*.png"))
    assert png.with_suffix(".json").is_file()
    return png
