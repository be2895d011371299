"""PP-OCRv3 recogniser: golden parity with the official AnyText run, conversion, pre-processing.

Reading text with it (dictionary, CTC decoding, crops) is tested in tests/ocr/test_anytext_reader.py.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from wenchuang.anytext.parity import stage_error
from wenchuang.anytext.recognizer import (
    AnyTextRecognizer,
    convert_recognizer_state_dict,
    prepare_ocr_input,
    recognizer_config_from_state_dict,
)
from wenchuang.errors import ModelError

CASES = {"gen": 2, "edit": 1}


def load_gly_lines(folder, count: int) -> torch.Tensor:
    lines = [
        np.asarray(Image.open(folder / f"gly_line_{i}.png").convert("L"), dtype=np.float32) / 255.0
        for i in range(count)
    ]
    return torch.from_numpy(np.stack(lines))[:, None]


@pytest.fixture(scope="module")
def golden_state(shared_golden):
    state = load_file(shared_golden / "anytext_tiny.safetensors")
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


@pytest.fixture(scope="module")
def recognizer(golden_state):
    return AnyTextRecognizer.from_official(golden_state)


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_ocr_input_and_neck(shared_golden, recognizer, case):
    ref = load_file(shared_golden / case / "tensors.safetensors")
    gly_lines = load_gly_lines(shared_golden / case, CASES[case])
    assert gly_lines.shape == (CASES[case], 1, 80, 512)

    ocr_input = prepare_ocr_input(gly_lines)
    assert ocr_input.shape == ref["ocr_input"].shape == (CASES[case], 3, 48, 320)
    assert stage_error(ocr_input, ref["ocr_input"]) <= 1e-4

    with torch.no_grad():
        neck, logits = recognizer(ocr_input)
    assert neck.shape == ref["ocr_neck"].shape == (CASES[case], 40, 64)
    assert logits.shape == (CASES[case], 40, 6625)
    assert stage_error(neck, ref["ocr_neck"]) <= 1e-4


def test_config_read_from_checkpoint_shapes(golden_state):
    config = recognizer_config_from_state_dict(convert_recognizer_state_dict(golden_state))
    assert config == {
        "in_channels": 3,
        "scale": 0.5,
        "neck_dims": 64,
        "neck_depth": 2,
        "neck_hidden_dims": 120,
        "neck_mlp_ratio": 2.0,
        "num_classes": 6625,
    }


def test_released_full_key_set_converts_without_missing_or_unexpected(shared_golden):
    layout = json.loads((shared_golden / "anytext_v1.1_full_keys.json").read_text())
    official = {
        key: torch.empty(shape, dtype=getattr(torch, dtype), device="meta")
        for key, (dtype, shape) in layout.items()
        if key.startswith("text_predictor.")
    }
    assert len(official) == 228
    state = convert_recognizer_state_dict(official)
    with torch.device("meta"):
        model = AnyTextRecognizer(**recognizer_config_from_state_dict(state))
    expected = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    assert expected == {key: tuple(value.shape) for key, value in state.items()}


def test_bare_ppocr_state_dict_loads_like_the_prefixed_one(golden_state, recognizer):
    bare = {
        k[len("text_predictor.") :]: v for k, v in golden_state.items() if k.startswith("text_predictor.")
    }
    other = AnyTextRecognizer.from_official(bare)
    x = torch.randn(1, 3, 48, 320, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(other(x)[0], recognizer(x)[0])


def test_missing_and_wrong_weights_are_clear_errors(golden_state):
    with pytest.raises(ModelError, match="no OCR recogniser weights"):
        convert_recognizer_state_dict({"model.diffusion_model.x": torch.zeros(1)})
    broken = {k: v for k, v in golden_state.items() if not k.startswith("text_predictor.head.")}
    with pytest.raises(ModelError, match="head.fc.weight"):
        AnyTextRecognizer.from_official(broken)
    extra = dict(golden_state)
    extra["text_predictor.neck.encoder.extra.weight"] = torch.zeros(1)
    with pytest.raises(ModelError, match="unexpected .*extra.weight"):
        AnyTextRecognizer.from_official(extra)
    reshaped = dict(golden_state)
    reshaped["text_predictor.neck.encoder.conv3.norm.running_mean"] = torch.zeros(7)
    with pytest.raises(ModelError, match=r"conv3.norm.running_mean: shape \(7,\), expected \(512,\)"):
        AnyTextRecognizer.from_official(reshaped)


def test_save_and_load_pretrained_round_trip(recognizer, tmp_path):
    recognizer.save_pretrained(tmp_path)
    loaded = AnyTextRecognizer.from_pretrained(tmp_path).eval()
    x = torch.randn(2, 3, 48, 320, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a, b = recognizer(x), loaded(x)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_prepare_ocr_input_keeps_aspect_and_pads_with_zero():
    line = torch.zeros(1, 1, 80, 512)
    line[..., :, 256:] = 1.0  # right half white
    out = prepare_ocr_input(line)
    assert out.shape == (1, 3, 48, 320)
    # 512/80 * 48 = 307.2 -> 308 resized columns, the rest is padding (0 = mid grey after normalising)
    assert torch.all(out[..., 308:] == 0)
    assert torch.all(out[..., :100] == -1.0)  # black -> -1
    assert torch.allclose(out[..., 160:308], torch.ones(1, 3, 48, 148), atol=1e-6)  # white -> +1
    assert torch.equal(out[:, 0], out[:, 2])  # grey replicated to 3 channels


def test_prepare_ocr_input_turns_tall_lines():
    tall = torch.rand(1, 1, 300, 60, generator=torch.Generator().manual_seed(2))
    turned = tall.transpose(2, 3).flip(dims=[2])  # what the official recogniser does to h > 1.2 w
    assert torch.equal(prepare_ocr_input(tall), prepare_ocr_input(turned))
    assert not torch.equal(prepare_ocr_input(tall), prepare_ocr_input(tall.transpose(2, 3)))
    with pytest.raises(ValueError):
        prepare_ocr_input([])
