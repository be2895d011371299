"""AnyText's PP-OCRv3 recogniser as an OCR reader: character dictionary, CTC decoding, reading crops."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from wenchuang.errors import ModelError
from wenchuang.ocr.anytext_reader import ctc_greedy_decode, load_character_dict, load_recognizer


@pytest.fixture(scope="module")
def golden_state(shared_golden):
    state = load_file(shared_golden / "anytext_tiny.safetensors")
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def test_ctc_greedy_decode_and_character_dict(tmp_path):
    dict_file = tmp_path / "keys.txt"
    dict_file.write_text("天\n路\nK\n", encoding="utf-8")
    chars = load_character_dict(dict_file)
    assert chars == ["<blank>", "天", "路", "K", " "]
    # time steps: 天 天 blank 路 路 K blank -> "天路K"
    path = [1, 1, 0, 2, 2, 3, 0]
    logits = torch.full((1, len(path), len(chars)), -10.0)
    for t, index in enumerate(path):
        logits[0, t, index] = 10.0
    ((text, score),) = ctc_greedy_decode(logits, chars)
    assert text == "天路K"
    assert 0.99 < score <= 1.0
    with pytest.raises(ModelError, match="classes"):
        ctc_greedy_decode(logits[..., :3], chars)
    with pytest.raises(ModelError, match="cannot read"):
        load_character_dict(tmp_path / "absent.txt")


def test_load_recognizer_reads_crops(golden_state, tmp_path):
    bare = {
        k[len("text_predictor.") :]: v for k, v in golden_state.items() if k.startswith("text_predictor.")
    }
    weights = tmp_path / "ppv3_rec.pth"
    torch.save(bare, weights)
    with pytest.raises(ModelError, match="cannot read the OCR character dictionary"):
        load_recognizer(weights)
    (tmp_path / "ppocr_keys_v1.txt").write_text(
        "\n".join(chr(0x4E00 + i) for i in range(6623)) + "\n", "utf-8"
    )
    reader = load_recognizer(weights)
    crops = [
        np.full((40, 200, 3), 255, np.uint8),
        np.zeros((32, 100), np.uint8),
        np.random.default_rng(0).integers(0, 255, (120, 30, 3), dtype=np.uint8),  # tall: turned
    ]
    results = reader.recognize(crops)
    assert len(results) == 3
    for text, score in results:
        assert isinstance(text, str) and len(text) <= 40
        assert 0.0 <= score <= 1.0
    assert reader.recognize([]) == []
    # the same crop gives the same reading alone or in a batch (eval-mode batch norm)
    ((alone_text, alone_score),) = reader.recognize(crops[:1])
    assert alone_text == results[0][0] and alone_score == pytest.approx(results[0][1], rel=1e-4)
    (tmp_path / "short.txt").write_text("a\nb\n", "utf-8")
    with pytest.raises(ModelError, match="classes"):
        load_recognizer(weights, character_dict=tmp_path / "short.txt")
    with pytest.raises(ModelError, match="not found"):
        load_recognizer(tmp_path / "absent.pth")


def test_corrupt_recogniser_weights_are_a_one_line_model_error(tmp_path):
    path = tmp_path / "ppv3_rec.pth"
    path.write_bytes(b"PK\x03\x04 cut short")
    with pytest.raises(ModelError) as info:
        load_recognizer(path)
    message = str(info.value)
    assert message.startswith(f"{path}: not a PyTorch checkpoint or safetensors file (")
    assert "weights_only" not in message and "\n" not in message
