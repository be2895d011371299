"""A tiny random MarianMT translator built in code: real SentencePiece files, real from_pretrained."""

from __future__ import annotations

from pathlib import Path

import pytest

from wenchuang.prompts.tiny import build_tiny_marian


@pytest.fixture(scope="session")
def tiny_marian(tmp_path_factory) -> Path:
    return build_tiny_marian(tmp_path_factory.mktemp("tiny-marian"))
