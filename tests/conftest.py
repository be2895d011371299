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
# the engines' dtype "auto" picks bfloat16 on CPUs with native bf16: tests get float32 on every machine
# (the same numbers everywhere) unless they ask for bf16 (tests/anytext/test_precision.py)
os.environ.setdefault("WENCHUANG_CPU_BF16", "0")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)  # on 2 busy cores, tiny torch models run 20-70x faster single-threaded

REPO_ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).resolve().parent / "golden"  # official AnyText reference data (README.md there)
FIXTURES = Path(__file__).resolve().parent / "fixtures"

# every file of tests/golden that some test reads
GOLDEN_FILES = (
    "anytext_tiny.safetensors",
    "anytext_sd15_tiny.yaml",
    "anytext_v1.1_full_keys.json",
    *(f"tokenizer/{name}" for name in ("vocab.json", "merges.txt", "clip_text_config.json")),
    *(f"{case}/{name}" for case in ("gen", "edit") for name in ("case.json", "tensors.safetensors", "hint.png")),
    "edit/edit_image_resized.png",
)


@pytest.fixture(scope="session")
def shared_golden() -> Path:
    """tests/golden: the official AnyText reference data, part of the repository. A missing file is a
    failure, never a skip: the parity proof must run on every clone."""
    missing = [name for name in GOLDEN_FILES if not (GOLDEN / name).is_file()]
    if missing:
        pytest.fail(f"golden reference data incomplete in {GOLDEN}: missing {', '.join(missing)}")
    return GOLDEN


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
    has_gpu = torch.cuda.is_available()
    weights_dir = os.environ.get("WENCHUANG_TEST_WEIGHTS")
    for item in items:
        if "gpu" in item.keywords and not has_gpu:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU"))
        if "weights" in item.keywords and not (weights_dir and Path(weights_dir).exists()):
            item.add_marker(
                pytest.mark.skip(reason="needs real AnyText weights (set WENCHUANG_TEST_WEIGHTS=DIR)")
            )
