"""Fixtures for the AnyText tests: a tiny random pipeline, simple conditions, the released key set."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


@pytest.fixture(scope="session")
def tiny_tokenizer_dir(tmp_path_factory) -> Path:
    from wenchuang.anytext.random_models import write_byte_tokenizer

    return write_byte_tokenizer(tmp_path_factory.mktemp("tokenizer"))


@pytest.fixture(scope="session")
def tiny_pipe(tiny_tokenizer_dir):
    """A tiny AnyTextPipeline with random weights (fp32, CPU), progress bars off."""
    from wenchuang.anytext.random_models import build_random_pipeline, tiny_config

    pipe = build_random_pipeline(tiny_config(), tiny_tokenizer_dir, seed=0)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="session")
def released_keys() -> dict[str, tuple[str, list[int]]]:
    """key -> (dtype, shape) of the released anytext_v1.1.ckpt (tests/golden; missing fails)."""
    path = GOLDEN / "anytext_v1.1_full_keys.json"
    if not path.is_file():
        pytest.fail(f"golden reference data missing: {path}")
    return json.loads(path.read_text(encoding="utf-8"))


def meta_state_dict(keys: dict) -> dict:
    """Tensors of the given dtypes and shapes on the meta device (nothing allocated)."""
    import torch

    dtypes = {"float32": torch.float32, "float16": torch.float16, "int64": torch.int64}
    return {k: torch.empty(shape, dtype=dtypes[dt], device="meta") for k, (dt, shape) in keys.items()}


def box_conditions(texts: list[str], boxes: list[tuple[int, int, int, int]], width: int, height: int):
    """AnyTextConditions with filled rectangles as glyphs and positions (no font needed)."""
    from wenchuang.anytext.pipeline import AnyTextConditions

    glyphs, lines, positions = [], [], []
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        pos = np.zeros((height, width), np.float32)
        pos[y0:y1, x0:x1] = 1.0
        gly = np.zeros((2 * height, 2 * width), np.float32)
        gly[2 * y0 + 4 : 2 * y1 - 4 : 3, 2 * x0 + 4 : 2 * x1 - 4] = 1.0  # stripes, like strokes
        line = np.zeros((80, 512), np.float32)
        line[20:60, 10 : 10 + 40 * (i + 1)] = 1.0
        glyphs.append(gly)
        lines.append(line)
        positions.append(pos)
    hint = np.clip(np.sum(positions, axis=0), 0, 1) if positions else np.zeros((height, width), np.float32)
    return AnyTextConditions(list(texts), glyphs, lines, positions, hint.astype(np.float32))


@pytest.fixture
def make_conditions():
    return box_conditions


@pytest.fixture
def make_meta_state():
    return meta_state_dict


@pytest.fixture(scope="module")
def golden_pipe(shared_golden):
    """The official tiny checkpoint of tests/golden converted to our pipeline (one per test module:
    some tests swap its scheduler)."""
    import torch

    from wenchuang.anytext.parity import load_golden_pipeline

    with torch.no_grad():
        pipe = load_golden_pipeline(shared_golden)
    pipe.set_progress_bar_config(disable=True)
    return pipe
