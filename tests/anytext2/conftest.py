"""Fixtures for the AnyText2 tests: the vendored golden folder (tests/golden2) and its pipeline."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

GOLDEN2 = Path(__file__).resolve().parents[1] / "golden2"


@pytest.fixture(scope="session")
def golden2() -> Path:
    if not (GOLDEN2 / "anytext2_tiny.safetensors").is_file():
        pytest.fail(f"golden reference data missing: {GOLDEN2}")
    return GOLDEN2


@pytest.fixture(scope="session")
def golden2_pipe(golden2):
    """The golden tiny checkpoint converted by our code (fp32, CPU)."""
    from wenchuang.anytext2.parity import load_golden_pipeline

    return load_golden_pipeline(golden2)


@pytest.fixture(scope="session")
def full_keys(golden2) -> dict:
    """key -> (dtype, shape) of the full-size official AnyText2 model."""
    with gzip.open(golden2 / "anytext2_full_keys.json.gz", "rt", encoding="utf-8") as f:
        return json.load(f)["keys"]
