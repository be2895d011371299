"""The text side of a checkpoint, wired for the pipeline (on top of `text_embedding` and `recognizer`).

- `text_key_problems`: checks `cond_stage_model.*`, `embedding_manager.*` and `text_predictor.*`
  against the modules they load into, on the meta device (nothing allocated);
- `build_text_components`: CLIP text encoder, tokenizer, OCR projection and recogniser;
- `encode_prompt_with_glyphs`: a prompt's CLIP context with its '*' tokens replaced by the projected
  OCR features of the lines' glyph images.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wenchuang.anytext import recognizer as rec
from wenchuang.anytext import text_embedding as te
from wenchuang.errors import ModelError

CLIP_PREFIX = "cond_stage_model.transformer."
# tokenizer of the official text encoder (openai/clip-vit-large-patch14), looked up in the HF cache
DEFAULT_TOKENIZER_REPO = "openai/clip-vit-large-patch14"


def clip_config(text_state: Mapping[str, torch.Tensor], tokenizer_dir: str | Path | None = None) -> dict[str, Any]:
    """CLIPTextConfig numbers: from `tokenizer_dir`'s config when it has one, else from the weight shapes."""
    if tokenizer_dir is not None:
        for name in ("clip_text_config.json", "config.json"):
            path = Path(tokenizer_dir) / name
            if path.is_file():
                import json

                data = json.loads(path.read_text(encoding="utf-8"))
                return {k: v for k, v in data.items() if k not in ("architectures", "model_type")}
    try:
        token = text_state[CLIP_PREFIX + "text_model.embeddings.token_embedding.weight"]
        positions = text_state[CLIP_PREFIX + "text_model.embeddings.position_embedding.weight"]
        fc1 = text_state[CLIP_PREFIX + "text_model.encoder.layers.0.mlp.fc1.weight"]
    except KeyError as exc:
        raise ModelError(f"the checkpoint lacks the CLIP text encoder weight {exc.args[0]}") from None
    layers = {k.split(".")[5] for k in text_state if k.startswith(CLIP_PREFIX + "text_model.encoder.layers.")}
    hidden = int(token.shape[1])
    return {
        "vocab_size": int(token.shape[0]),
        "hidden_size": hidden,
        "intermediate_size": int(fc1.shape[0]),
        "num_hidden_layers": len(layers),
        "num_attention_heads": max(1, hidden // 64),  # CLIP text encoders use 64-dim heads
        "max_position_embeddings": int(positions.shape[0]),
        "hidden_act": "quick_gelu",
        "projection_dim": hidden,
        "bos_token_id": 49406,
        "eos_token_id": 49407,
        "pad_token_id": 49407,
    }


def text_key_problems(
    text_state: Mapping[str, torch.Tensor], tokenizer_dir: str | Path | None = None
) -> list[str]:
    """Missing/unexpected keys and shape mismatches of the text parts (built on the meta device)."""
    from transformers import CLIPTextConfig, CLIPTextModel

    from wenchuang.anytext.convert import key_problems

    problems: list[str] = []
    stray = [
        k
        for k in text_state
        if k.startswith("cond_stage_model.")
        and not k.startswith(CLIP_PREFIX)
    ]
    problems += [f"unexpected {k}" for k in stray]
    try:
        clip_state = te.convert_clip_state_dict(text_state)
        with torch.device("meta"):
            clip = CLIPTextModel(CLIPTextConfig(**clip_config(text_state, tokenizer_dir)))
        problems += key_problems(clip, clip_state, CLIP_PREFIX)
    except ModelError as exc:
        problems.append(str(exc))
    try:
        emb_config, emb_state = te.convert_embedding_state_dict(text_state)
        with torch.device("meta"):
            module = te.TextEmbeddingModule(**emb_config)
        problems += key_problems(module, emb_state, "embedding_manager.")
    except ModelError as exc:
        problems.append(str(exc))
    try:
        rec_state = rec.convert_recognizer_state_dict(text_state)
        with torch.device("meta"):
            recognizer = rec.AnyTextRecognizer(**rec.recognizer_config_from_state_dict(rec_state))
        problems += key_problems(recognizer, rec_state, "text_predictor.")
    except ModelError as exc:
        problems.append(str(exc))
    return problems


def load_tokenizer(tokenizer_dir: str | Path | None):
    """CLIP tokenizer from a folder, else the official one from the local Hugging Face cache."""
    if tokenizer_dir is not None:
        return te.load_clip_tokenizer(tokenizer_dir)
    from transformers import CLIPTokenizer

    try:
        return CLIPTokenizer.from_pretrained(DEFAULT_TOKENIZER_REPO, local_files_only=True)
    except OSError:
        raise ModelError(
            f"no CLIP tokenizer: give --tokenizer DIR (a folder with vocab.json and merges.txt), or download "
            f"{DEFAULT_TOKENIZER_REPO} into the Hugging Face cache (`huggingface-cli download "
            f"{DEFAULT_TOKENIZER_REPO} vocab.json merges.txt tokenizer_config.json special_tokens_map.json`)"
        ) from None


def build_text_components(
    text_state: Mapping[str, torch.Tensor], tokenizer_dir: str | Path | None = None
) -> dict[str, Any]:
    """`text_encoder`, `tokenizer`, `text_embedding` and `recognizer` of the pipeline (fp32)."""
    state = {k: v.float() if v.is_floating_point() else v for k, v in text_state.items()}
    text_encoder = te.build_clip_text_encoder(clip_config(state, tokenizer_dir), state)
    emb_config, emb_state = te.convert_embedding_state_dict(state)
    text_embedding = te.TextEmbeddingModule(**emb_config)
    text_embedding.load_state_dict(emb_state, strict=True)
    recognizer = rec.AnyTextRecognizer.from_official(state)
    return {
        "text_encoder": text_encoder,
        "tokenizer": load_tokenizer(tokenizer_dir),
        "text_embedding": text_embedding.eval().requires_grad_(False),
        "recognizer": recognizer.eval().requires_grad_(False),
    }


def line_embeddings(
    gly_lines: Sequence[np.ndarray], recognizer, text_embedding
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(ocr_input, ocr_neck, text_embs) of the glyph lines (each an (80, 512) array in [0, 1])."""
    device = next(recognizer.parameters()).device
    dtype = next(recognizer.parameters()).dtype
    lines = torch.stack([torch.as_tensor(np.asarray(g, np.float32))[None] for g in gly_lines])
    ocr_input = rec.prepare_ocr_input(lines)
    neck, _ = recognizer(ocr_input.to(device, dtype))
    return ocr_input, neck, text_embedding(neck.to(next(text_embedding.parameters()).device))


def encode_prompt_with_glyphs(
    prompt: str,
    gly_lines: Sequence[np.ndarray],
    *,
    tokenizer,
    text_encoder,
    text_embedding,
    recognizer,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """CLIP context (1, 77*k, D) of `prompt` with its '*' tokens replaced line by line."""
    embs = None
    if gly_lines:
        if recognizer is None or text_embedding is None:
            raise ModelError("this pipeline has no OCR recogniser / text embedding module; it cannot draw text")
        _, _, embs = line_embeddings(gly_lines, recognizer, text_embedding)
    star = te.placeholder_token_id(tokenizer)
    context = te.encode_prompt(tokenizer, text_encoder, [prompt], [embs] if embs is not None else None, star)
    return context.to(device) if device is not None else context
