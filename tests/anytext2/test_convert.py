"""Conversion of the official AnyText2 checkpoint layout."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from wenchuang.anytext2.configs import AnyText2Config
from wenchuang.anytext2.convert import check_key_list, convert_components, meta_state_dict, split_checkpoint
from wenchuang.errors import ModelError


def test_tiny_yaml_is_read_as_anytext2(golden2):
    config = AnyText2Config.from_yaml(golden2 / "anytext2_sd15_tiny.yaml")
    assert AnyText2Config.is_anytext2_yaml(golden2 / "anytext2_sd15_tiny.yaml")
    assert config.mid_attnx and config.output_attnx and config.output_attnx_level == (2, 1)
    assert config.attnx_up_blocks() == (1, 2)
    assert config.glyph_scale == 1
    assert config.unet["model_channels"] == 32 and config.unet["context_dim"] == 32


def test_full_size_key_list_converts_without_problems(full_keys):
    assert len(full_keys) == 2047
    assert check_key_list(full_keys) == []


def test_full_size_models_hold_every_key(full_keys):
    """The meta-built full models take every official key: counts per part add up to 2047."""
    config = AnyText2Config.full()
    parts = split_checkpoint(meta_state_dict(full_keys), config)
    assert parts.unexpected == []
    result = convert_components(meta_state_dict(full_keys), config)
    total = sum(len(result[name].state_dict()) for name in ("unet", "controlnet", "vae", "text_embedding"))
    total += len(result["font_recognizer"].state_dict()) + len(result["recognizer"].state_dict())
    clip = len(result["text_encoder"].state_dict()) - sum(
        1 for k in result["text_encoder"].state_dict() if k.endswith("position_ids")
    )
    assert total + clip + 13 == 2047
    attnx = [k for k in result["unet"].state_dict() if ".attn1x." in k or ".attn2x." in k]
    assert len(attnx) == 7 * 2 * 5  # 7 blocks x (attn1x, attn2x) x (q, k, v, out weight, out bias)


def test_tiny_checkpoint_converts_and_loads_every_tensor(golden2):
    config = AnyText2Config.from_yaml(golden2 / "anytext2_sd15_tiny.yaml")
    state = load_file(str(golden2 / "anytext2_tiny.safetensors"))
    assert len(state) == 1879
    parts = split_checkpoint(state, config)
    assert parts.unexpected == []
    components = convert_components(state, config, tokenizer_dir=golden2 / "tokenizer")
    unet = components["unet"]
    key = "mid_block.attentions.0.transformer_blocks.0.attn2x.to_k.weight"
    official = "model.diffusion_model.middle_block.1.transformer_blocks.0.attn2x.to_k.weight"
    assert torch.equal(unet.state_dict()[key], state[official].float())
    fuse = components["controlnet"].state_dict()["auxiliary.fuse_block.weight"]
    assert torch.equal(fuse, state["control_model.fuse_block_za.weight"].float())
    font = components["font_recognizer"].state_dict()["head.fc.weight"]
    assert torch.equal(font, state["embedding_manager.font_predictor.head.fc.weight"].float())
    color = components["text_embedding"].state_dict()["color_proj.0.weight"]
    assert torch.equal(color, state["embedding_manager.color_proj.0.weight"].float())


def test_missing_and_unexpected_keys_are_one_error(golden2):
    config = AnyText2Config.from_yaml(golden2 / "anytext2_sd15_tiny.yaml")
    state = load_file(str(golden2 / "anytext2_tiny.safetensors"))
    state.pop("embedding_manager.style_proj.0.weight")
    state.pop("model.diffusion_model.output_blocks.4.1.transformer_blocks.0.attn1x.to_q.weight")
    state["embedding_manager.rgb_encoder.weight"] = torch.zeros(3)
    with pytest.raises(ModelError) as err:
        convert_components(state, config, tokenizer_dir=golden2 / "tokenizer")
    text = str(err.value)
    assert "missing embedding_manager.style_proj.0.weight" in text
    assert "missing up_blocks.1.attentions.1.transformer_blocks.0.attn1x.to_q.weight" in text
    assert "unexpected embedding_manager.rgb_encoder.weight" in text
