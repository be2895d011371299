"""Text embedding module and prompt encoder: golden parity (gen and edit), both projection layouts,
75-token chunking and line-by-line '*' substitution, CLIP conversion."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file

from wenchuang.anytext.convert import (
    build_clip_text_encoder,
    convert_clip_state_dict,
    convert_embedding_state_dict,
    convert_text_components,
)
from wenchuang.anytext.parity import parity_stages, stage_error
from wenchuang.anytext.recognizer import AnyTextRecognizer, prepare_ocr_input
from wenchuang.anytext.text_embedding import (
    PLACEHOLDER_TOKEN_ID,
    TextEmbeddingModule,
    encode_prompt,
    encode_prompt_with_glyphs,
    split_chunks,
)
from wenchuang.anytext.tokenizer import load_clip_tokenizer, load_tokenizer, placeholder_token_id
from wenchuang.errors import ModelError

CASES = {"gen": 2, "edit": 1}


@pytest.fixture(scope="module")
def golden_state(shared_golden):
    state = load_file(shared_golden / "anytext_tiny.safetensors")
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


@pytest.fixture(scope="module")
def tokenizer(shared_golden):
    return load_clip_tokenizer(shared_golden / "tokenizer")


@pytest.fixture(scope="module")
def text_encoder(shared_golden, golden_state):
    return build_clip_text_encoder(shared_golden / "tokenizer", golden_state)


@pytest.fixture(scope="module")
def embedding_module(golden_state):
    config, state = convert_embedding_state_dict(golden_state)
    module = TextEmbeddingModule(**config)
    module.load_state_dict(state, strict=True)
    return module.eval()


def released_layout(golden_state):
    """The golden weights in the released v1.1 layout: proj.1 (LayerNorm) dropped, proj.0 -> proj."""
    state = {k: v for k, v in golden_state.items() if not k.startswith("embedding_manager.proj.1.")}
    for name in ("weight", "bias"):
        state[f"embedding_manager.proj.{name}"] = state.pop(f"embedding_manager.proj.0.{name}")
    return state


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_text_embedding_and_context(
    shared_golden, golden_state, tokenizer, text_encoder, embedding_module, case
):
    ref = load_file(shared_golden / case / "tensors.safetensors")
    info = json.loads((shared_golden / case / "case.json").read_text(encoding="utf-8"))
    assert info["placeholder_token_id"] == placeholder_token_id(tokenizer) == PLACEHOLDER_TOKEN_ID

    # glyph lines -> recogniser -> projection, all ours
    gly_lines = [
        torch.from_numpy(
            np.asarray(Image.open(shared_golden / case / f"gly_line_{i}.png").convert("L"), np.float32)
            / 255.0
        )[None, None]
        for i in range(CASES[case])
    ]
    recognizer = AnyTextRecognizer.from_official(golden_state)
    with torch.no_grad():
        neck, _ = recognizer(prepare_ocr_input(gly_lines))
        text_embs = embedding_module(neck)
        assert stage_error(text_embs, ref["text_embs"][0]) <= 1e-4
        assert stage_error(embedding_module(ref["ocr_neck"]), ref["text_embs"][0]) <= 1e-4

        cond, cond_ids = encode_prompt(
            tokenizer, text_encoder, [info["cond_prompt_string"]], [text_embs], return_input_ids=True
        )
        uncond, uncond_ids = encode_prompt(
            tokenizer, text_encoder, [info["uncond_prompt_string"]], [text_embs], return_input_ids=True
        )
        nosub = encode_prompt(tokenizer, text_encoder, [info["cond_prompt_string"]], None)

    assert torch.equal(cond_ids, ref["cond_input_ids"])
    assert torch.equal(uncond_ids, ref["uncond_input_ids"])
    assert cond.shape == ref["context_cond"].shape == (1, 77 * info["n_clip_chunks_cond"], 32)
    assert uncond.shape == ref["context_uncond"].shape == (1, 77, 32)
    assert stage_error(cond, ref["context_cond"]) <= 1e-4
    assert stage_error(uncond, ref["context_uncond"]) <= 1e-4
    assert stage_error(nosub, ref["context_cond_nosub"]) <= 1e-4
    # the substitution really changes the context (and only where '*' sits and after it: causal mask)
    star = int((cond_ids[0, :77] == PLACEHOLDER_TOKEN_ID).nonzero()[0])
    assert torch.allclose(cond[0, :star], nosub[0, :star], atol=1e-6)
    assert (cond[0, star] - nosub[0, star]).abs().max() > 1e-2


def test_released_linear_layout_runs_with_exactly_its_own_projection(shared_golden, golden_state):
    released = released_layout(golden_state)
    config, state = convert_embedding_state_dict(released)
    assert config == {"in_features": 2560, "token_dim": 32, "projection": "linear"}
    module = TextEmbeddingModule(**config)
    module.load_state_dict(state, strict=True)
    assert not any(isinstance(m, torch.nn.LayerNorm) for m in module.modules())

    ref = load_file(shared_golden / "gen" / "tensors.safetensors")
    neck = ref["ocr_neck"]
    with torch.no_grad():
        out = module(neck)
    weight, bias = released["embedding_manager.proj.weight"], released["embedding_manager.proj.bias"]
    assert torch.allclose(out, F.linear(neck.reshape(2, -1), weight, bias), atol=1e-6)
    # ... which is not the upstream (Linear + LayerNorm) output
    assert (out - ref["text_embs"][0]).abs().max() > 1e-2


@pytest.mark.parametrize("projection", ["linear", "linear_layernorm"])
def test_embedding_module_save_load_round_trip(tmp_path, projection):
    torch.manual_seed(0)
    module = TextEmbeddingModule(in_features=40 * 64, token_dim=16, projection=projection).eval()
    module.save_pretrained(tmp_path)
    loaded = TextEmbeddingModule.from_pretrained(tmp_path).eval()
    assert loaded.config.projection == projection
    x = torch.randn(3, 40, 64)
    assert torch.equal(module(x), loaded(x))


def test_projection_layout_errors(golden_state):
    half = {k: v for k, v in golden_state.items() if not k.startswith("embedding_manager.proj.1.")}
    with pytest.raises(ModelError, match="unrecognised text-embedding projection layout"):
        convert_embedding_state_dict(half)
    with pytest.raises(ModelError, match="no text-embedding projection"):
        convert_embedding_state_dict({"text_predictor.head.fc.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match="projection must be one of"):
        TextEmbeddingModule(projection="mlp")


def test_released_full_key_set_converts_clip_and_projection(shared_golden):
    from transformers import CLIPTextConfig, CLIPTextModel

    layout = json.loads((shared_golden / "anytext_v1.1_full_keys.json").read_text())
    official = {
        key: torch.empty(shape, dtype=getattr(torch, dtype), device="meta")
        for key, (dtype, shape) in layout.items()
        if key.startswith(("cond_stage_model.", "embedding_manager."))
    }
    assert "cond_stage_model.transformer.text_model.embeddings.position_ids" in official
    clip_state = convert_clip_state_dict(official)
    vit_l = CLIPTextConfig(
        hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12
    )
    with torch.device("meta"):
        model = CLIPTextModel(vit_l)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert expected == {k: tuple(v.shape) for k, v in clip_state.items()}

    config, state = convert_embedding_state_dict(official)
    assert config == {"in_features": 2560, "token_dim": 768, "projection": "linear"}
    with torch.device("meta"):
        module = TextEmbeddingModule(**config)
    assert {k: tuple(v.shape) for k, v in module.state_dict().items()} == {
        k: tuple(v.shape) for k, v in state.items()
    }


def test_clip_weights_that_do_not_match_are_a_clear_error(shared_golden, golden_state):
    broken = {k: v for k, v in golden_state.items() if "final_layer_norm" not in k}
    with pytest.raises(ModelError, match="missing .*final_layer_norm"):
        build_clip_text_encoder(shared_golden / "tokenizer", broken)
    with pytest.raises(ModelError, match="no CLIP text encoder weights"):
        convert_clip_state_dict({"embedding_manager.proj.weight": torch.zeros(1)})
    with pytest.raises(ModelError, match="no CLIP tokenizer"):
        load_clip_tokenizer(shared_golden)


def test_a_tokenizer_missing_from_the_cache_is_an_error_not_an_empty_tokenizer():
    """transformers 5 returns a special-tokens-only tokenizer for an id it cannot find offline."""
    config = SimpleNamespace(cond_stage_version="nobody/no-such-clip-tokenizer")
    with pytest.raises(ModelError, match="no CLIP tokenizer: 'nobody/no-such-clip-tokenizer' is not"):
        load_tokenizer(None, config)


def test_missing_tokenizer_advice_works_for_generate_and_serve_too():
    """generate/serve have no --tokenizer: the message says where to put the files, --tokenizer only for convert."""
    config = SimpleNamespace(cond_stage_version="nobody/no-such-clip-tokenizer")
    with pytest.raises(ModelError) as info:
        load_tokenizer(None, config)
    message = str(info.value)
    assert "tokenizer/ folder beside the AnyText checkpoint" in message
    assert "`wenchuang download anytext` fetches them there" in message
    assert "`wenchuang convert anytext` also takes --tokenizer DIR" in message
    assert "give --tokenizer" not in message and "\n" not in message


def test_split_chunks_windows():
    start, end = 49406, 49407
    empty = torch.tensor([[start, end]])
    (only,) = split_chunks(empty)
    assert only.tolist() == [[start] + [end] * 76]

    full = torch.tensor([[start, *range(1, 76), end]])  # exactly 75 tokens: one window, no padding
    (window,) = split_chunks(full)
    assert window.tolist() == full.tolist()

    longer = torch.tensor([[start, *range(1, 80), end]])  # 79 tokens: 75 + 4 padded with end tokens
    first, second = split_chunks(longer)
    assert first.tolist() == [[start, *range(1, 76), end]]
    assert second.tolist() == [[start, 76, 77, 78, 79] + [end] * 72]


def test_substitution_restarts_from_first_line_in_each_chunk(tokenizer, text_encoder):
    filler = " ".join(["red"] * 80)  # pushes the second '*' into the second 77-token window
    prompt = f"a sign reading * and * , {filler} , and * again"
    lines = torch.stack([torch.full((32,), 10.0), torch.full((32,), -20.0)])

    # capture what the CLIP embeddings layer hands to the transformer (token + position embeddings)
    seen = []
    embeddings_module = getattr(text_encoder, "text_model", text_encoder).embeddings
    handle = embeddings_module.register_forward_hook(lambda _m, _i, out: seen.append(out.detach().clone()))
    try:
        with torch.no_grad():
            context, ids = encode_prompt(tokenizer, text_encoder, [prompt], [lines], return_input_ids=True)
    finally:
        handle.remove()
    assert context.shape == (1, 154, 32) and ids.shape == (1, 154) and len(seen) == 2
    stars = [(ids[0, 77 * c : 77 * (c + 1)] == PLACEHOLDER_TOKEN_ID).nonzero().flatten() for c in range(2)]
    assert [len(s) for s in stars] == [2, 1]
    positions = embeddings_module.position_embedding.weight[:77]
    first_window = seen[0][0] - positions
    second_window = seen[1][0] - positions
    assert torch.allclose(first_window[stars[0][0]], lines[0], atol=1e-5)
    assert torch.allclose(first_window[stars[0][1]], lines[1], atol=1e-5)
    assert torch.allclose(second_window[stars[1][0]], lines[0], atol=1e-5)  # restarted from line 0


def test_more_placeholders_than_lines_is_an_error(tokenizer, text_encoder):
    with pytest.raises(ValueError, match="2 '\\*' placeholders .* only 1"):
        encode_prompt(tokenizer, text_encoder, ["* and *"], [torch.zeros(1, 32)])
    with pytest.raises(ValueError, match="2 prompts but 1"):
        encode_prompt(tokenizer, text_encoder, ["a", "b"], [None])


def test_convert_text_components_and_parity_stages(shared_golden, golden_state):
    parts = convert_text_components(golden_state, tokenizer_dir=shared_golden / "tokenizer")
    assert parts.pop("problems") == []
    assert parts["text_encoder"].config.num_attention_heads == 4  # from clip_text_config.json
    assert parts["text_embedding"].config.projection == "linear_layernorm"
    pipe = SimpleNamespace(**parts)
    for case, n_lines in CASES.items():
        info = json.loads((shared_golden / case / "case.json").read_text(encoding="utf-8"))
        ref = load_file(shared_golden / case / "tensors.safetensors")
        gly_lines = [
            np.asarray(Image.open(shared_golden / case / f"gly_line_{i}.png").convert("L"), np.float32)
            / 255.0
            for i in range(n_lines)
        ]
        stages = parity_stages(pipe, info, gly_lines)
        assert set(stages) == {
            "ocr_input", "ocr_neck", "text_embs", "cond_input_ids", "uncond_input_ids",
            "context_cond", "context_uncond", "context_cond_nosub",
        }  # fmt: skip
        for name, value in stages.items():
            assert value.shape == ref[name].shape, name
            assert stage_error(value, ref[name]) <= 1e-4, name
        context = encode_prompt_with_glyphs(info["cond_prompt_string"], gly_lines, **parts)
        assert stage_error(context, ref["context_cond"]) <= 1e-4
        plain = encode_prompt_with_glyphs(info["uncond_prompt_string"], None, **parts)
        assert stage_error(plain, ref["context_uncond"]) <= 1e-4
    with pytest.raises(ModelError, match="no OCR recogniser"):
        encode_prompt_with_glyphs(
            "a *", gly_lines, tokenizer=parts["tokenizer"], text_encoder=parts["text_encoder"]
        )


def test_convert_text_components_released_full_layout_on_meta(shared_golden):
    layout = json.loads((shared_golden / "anytext_v1.1_full_keys.json").read_text())
    official = {
        key: torch.empty(shape, dtype=getattr(torch, dtype), device="meta")
        for key, (dtype, shape) in layout.items()
        if key.startswith(("cond_stage_model.", "embedding_manager.", "text_predictor."))
    }
    # the golden tokenizer folder's tiny CLIP config does not describe these weights: shapes decide
    parts = convert_text_components(official, tokenizer_dir=shared_golden / "tokenizer")
    assert parts["problems"] == []
    encoder = parts["text_encoder"]
    assert (
        encoder.config.hidden_size,
        encoder.config.num_attention_heads,
        encoder.config.num_hidden_layers,
    ) == (
        768,
        12,
        12,
    )
    assert encoder.get_input_embeddings().weight.device.type == "meta"
    assert parts["text_embedding"].config.projection == "linear"
    assert parts["recognizer"].config.num_classes == 6625

    broken = dict(official)
    del broken["text_predictor.head.fc.bias"]
    broken["embedding_manager.position_encoder.conv1.weight"] = torch.empty(1, device="meta")
    problems = convert_text_components(broken, tokenizer_dir=shared_golden / "tokenizer")["problems"]
    assert "missing text_predictor.head.fc.bias" in problems
    assert any("unrecognised text-embedding projection layout" in p for p in problems)


def test_batch_of_prompts_matches_one_by_one(tokenizer, text_encoder):
    lines = [torch.randn(2, 32, generator=torch.Generator().manual_seed(3)), None]
    prompts = ["a sign reading * and * at night", "a plain red wall"]
    with torch.no_grad():
        batch = encode_prompt(tokenizer, text_encoder, prompts, lines)
        alone = [
            encode_prompt(tokenizer, text_encoder, [p], [e]) for p, e in zip(prompts, lines, strict=True)
        ]
    assert batch.shape == (2, 77, 32)
    for row, single in zip(batch, alone, strict=True):
        assert torch.allclose(row, single[0], atol=1e-5)
