"""Test set-up shared by every test: one thread for torch and onnxruntime, offline hubs, markers."""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("WENCHUANG_ORT_THREADS", "1")

import pytest  # noqa: E402

try:  # on 2 busy cores, tiny torch models run 20-70x faster single-threaded
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover
    torch = None

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_GOLDEN = REPO_ROOT.parent / "shared" / "golden"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def shared_golden() -> Path:
    """../shared/golden beside the checkout (official AnyText reference data); skip where absent."""
    if not (SHARED_GOLDEN / "anytext_tiny.safetensors").is_file():
        pytest.skip(
            f"golden reference data not found at {SHARED_GOLDEN} (it lives in ../shared beside the checkout)"
        )
    return SHARED_GOLDEN


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def build_png_bomb(width: int, height: int) -> bytes:
    """A tiny PNG whose valid header claims a width x height RGB canvas (a decompression bomb: the
    pixels it promises would take width*height*3 bytes; it carries only a few zero rows)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\0" * 1024, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", pixels)
        + _png_chunk(b"IEND", b"")
    )


@pytest.fixture(scope="session")
def png_bomb() -> Callable[[int, int], bytes]:
    """The one PNG-bomb builder of the tests: ``png_bomb(width, height) -> bytes``."""
    return build_png_bomb


def pytest_collection_modifyitems(config, items):
    has_gpu = bool(torch is not None and torch.cuda.is_available())
    weights_dir = os.environ.get("WENCHUANG_TEST_WEIGHTS")
    for item in items:
        if "gpu" in item.keywords and not has_gpu:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU"))
        if "weights" in item.keywords and not (weights_dir and Path(weights_dir).exists()):
            item.add_marker(
                pytest.mark.skip(reason="needs real AnyText weights (set WENCHUANG_TEST_WEIGHTS=DIR)")
            )
