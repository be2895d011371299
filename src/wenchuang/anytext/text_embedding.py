"""AnyText's text embedding: CLIP prompt encoding with each ``*`` replaced by its line's OCR embedding.

AnyText writes every quoted text of the prompt as a ``*`` placeholder. Each text line is rendered as
a glyph line, read by the OCR recogniser (`wenchuang.anytext.recognizer`), and the recogniser's
neck features (40 x 64, flattened to 2560) are projected to the CLIP width by `TextEmbeddingModule`.
`encode_prompt` then runs the frozen CLIP text encoder with the ``*`` token embeddings replaced,
line by line, by those projected features (the official ``EmbeddingManager`` +
``FrozenCLIPEmbedderT3``): long prompts are split into 75-token chunks, each wrapped to 77 tokens
with start/end tokens and encoded on its own, then concatenated; the replacement restarts from the
first line in every chunk.

Two checkpoint layouts of the projection exist and each runs with exactly its own layers:
- ``"linear"`` — the released ``anytext_v1.1.ckpt``: ``embedding_manager.proj.{weight,bias}``;
- ``"linear_layernorm"`` — current upstream code: ``proj.0`` (Linear) then ``proj.1`` (LayerNorm).
`convert_embedding_state_dict` detects which one a checkpoint holds.

Typical use::

    recognizer = AnyTextRecognizer.from_official(sd)
    config, state = convert_embedding_state_dict(sd)
    module = TextEmbeddingModule(**config); module.load_state_dict(state)
    neck, _ = recognizer(prepare_ocr_input(gly_lines))          # (n_lines, 40, 64)
    embs = module(neck)                                          # (n_lines, token_dim)
    context = encode_prompt(tokenizer, text_encoder, [prompt], [embs])
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from wenchuang.errors import ModelError

__all__ = [
    "CHUNK_TOKENS",
    "PLACEHOLDER_TOKEN_ID",
    "TextEmbeddingModule",
    "build_clip_text_encoder",
    "clip_config_from_state_dict",
    "convert_text_components",
    "embed_glyph_lines",
    "encode_prompt_with_glyphs",
    "parity_stages",
    "convert_clip_state_dict",
    "convert_embedding_state_dict",
    "encode_prompt",
    "load_clip_tokenizer",
    "placeholder_token_id",
    "split_chunks",
    "tokenize_prompts",
]

EMBEDDING_PREFIX = "embedding_manager."
CLIP_PREFIX = "cond_stage_model.transformer."
PLACEHOLDER = "*"
PLACEHOLDER_TOKEN_ID = 265  # "*" in CLIP's BPE vocabulary
CHUNK_TOKENS = 75  # tokens per CLIP window, without the start and end tokens
PROJECTIONS = ("linear", "linear_layernorm")


# --------------------------------------------------------------------------- projection
class TextEmbeddingModule(ModelMixin, ConfigMixin):
    """Projection of flattened OCR neck features to CLIP token embeddings.

    ``projection="linear"``: ``proj`` is one Linear (released v1.1 checkpoint).
    ``projection="linear_layernorm"``: ``proj`` is Sequential(Linear, LayerNorm) (upstream code).
    ``forward(ocr_neck)`` takes (N, 40, 64) (or already flattened (N, 2560)) and returns (N, token_dim).
    """

    @register_to_config
    def __init__(
        self,
        in_features: int = 40 * 64,
        token_dim: int = 768,
        projection: str = "linear",
        layer_norm_eps: float = 1e-5,
    ):
        super().__init__()
        if projection == "linear":
            self.proj = nn.Linear(in_features, token_dim)
        elif projection == "linear_layernorm":
            self.proj = nn.Sequential(
                nn.Linear(in_features, token_dim), nn.LayerNorm(token_dim, eps=layer_norm_eps)
            )
        else:
            raise ValueError(f"projection must be one of {PROJECTIONS}, got {projection!r}")

    def forward(self, ocr_neck: torch.Tensor) -> torch.Tensor:
        flat = ocr_neck.reshape(ocr_neck.shape[0], -1)
        weight = self.proj.weight if isinstance(self.proj, nn.Linear) else self.proj[0].weight
        return self.proj(flat.to(weight.dtype))


def convert_embedding_state_dict(
    official_state_dict: Mapping[str, torch.Tensor],
) -> tuple[dict, dict[str, torch.Tensor]]:
    """(config, state dict) of `TextEmbeddingModule` from an AnyText checkpoint's ``embedding_manager.*``.

    Detects the projection layout; anything else under ``embedding_manager.`` (or a half layout) is a
    `ModelError` naming the keys.
    """
    state = {
        key[len(EMBEDDING_PREFIX) :]: value
        for key, value in official_state_dict.items()
        if key.startswith(EMBEDDING_PREFIX)
    }
    layouts = {
        "linear": {"proj.weight", "proj.bias"},
        "linear_layernorm": {"proj.0.weight", "proj.0.bias", "proj.1.weight", "proj.1.bias"},
    }
    for projection, keys in layouts.items():
        if set(state) == keys:
            linear = state["proj.weight" if projection == "linear" else "proj.0.weight"]
            config = {
                "in_features": int(linear.shape[1]),
                "token_dim": int(linear.shape[0]),
                "projection": projection,
            }
            return config, state
    if not state:
        raise ModelError(
            "no text-embedding projection in the checkpoint: expected embedding_manager.proj.{weight,bias} "
            "(released layout) or embedding_manager.proj.{0,1}.{weight,bias} (upstream layout)"
        )
    found = sorted(EMBEDDING_PREFIX + key for key in state)
    raise ModelError(
        "unrecognised text-embedding projection layout: found "
        + ", ".join(found)
        + "; expected embedding_manager.proj.{weight,bias} or embedding_manager.proj.{0,1}.{weight,bias}"
    )


# --------------------------------------------------------------------------- CLIP text encoder
def _clip_uses_text_model_prefix() -> bool:
    """Whether the installed transformers' CLIPTextModel nests its layers under ``text_model.``."""
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(
        vocab_size=8,
        hidden_size=4,
        intermediate_size=4,
        num_hidden_layers=1,
        num_attention_heads=1,
        max_position_embeddings=4,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
    )
    with torch.device("meta"):
        model = CLIPTextModel(config)
    return any(key.startswith("text_model.") for key in model.state_dict())


def convert_clip_state_dict(
    official_state_dict: Mapping[str, torch.Tensor], text_model_prefix: bool | None = None
) -> dict[str, torch.Tensor]:
    """State dict of transformers' ``CLIPTextModel`` from ``cond_stage_model.transformer.*``.

    ``position_ids`` (a non-persistent buffer, present in the released checkpoint) is dropped. Keys are
    written for the installed transformers (``text_model.`` prefix in v4, none in v5) unless
    ``text_model_prefix`` says otherwise.
    """
    if text_model_prefix is None:
        text_model_prefix = _clip_uses_text_model_prefix()
    state = {}
    for key, value in official_state_dict.items():
        if not key.startswith(CLIP_PREFIX):
            continue
        key = key[len(CLIP_PREFIX) :]
        if key.endswith("embeddings.position_ids"):
            continue
        if key.startswith("text_model."):
            key = key[len("text_model.") :]
        state[("text_model." if text_model_prefix else "") + key] = value
    if not state:
        raise ModelError("no CLIP text encoder weights (cond_stage_model.transformer.*) in the checkpoint")
    return state


def _clip_config_from(source: str | Path | Mapping):
    from transformers import CLIPTextConfig

    if isinstance(source, Mapping):
        return CLIPTextConfig(**source)
    path = Path(source)
    if path.is_dir():
        for name in ("config.json", "clip_text_config.json"):
            if (path / name).is_file():
                path = path / name
                break
        else:
            raise ModelError(f"{source}: no config.json or clip_text_config.json for the CLIP text encoder")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read the CLIP text config {path}: {exc}") from None
    data.pop("architectures", None)
    data.pop("model_type", None)
    return CLIPTextConfig(**data)


def build_clip_text_encoder(
    config: str | Path | Mapping,
    state_dict: Mapping[str, torch.Tensor] | None = None,
    dtype: torch.dtype = torch.float32,
):
    """A ``CLIPTextModel`` from a config (folder with config.json / clip_text_config.json, file, or dict).

    ``state_dict``: either an AnyText checkpoint (``cond_stage_model.transformer.*`` is converted) or
    CLIPTextModel keys; loaded strictly (a missing or unexpected key is a `ModelError`).
    """
    from transformers import CLIPTextModel

    model = CLIPTextModel(_clip_config_from(config))
    if state_dict is not None:
        if any(key.startswith(CLIP_PREFIX) for key in state_dict):
            state_dict = convert_clip_state_dict(state_dict)
        expected = set(model.state_dict())
        missing = sorted(expected - set(state_dict))
        unexpected = sorted(set(state_dict) - expected)
        if missing or unexpected:
            raise ModelError(
                f"CLIP text encoder weights do not match: missing {missing[:8]} ({len(missing)}), "
                f"unexpected {unexpected[:8]} ({len(unexpected)})"
            )
        model.load_state_dict({k: v.to(dtype) for k, v in state_dict.items()}, strict=True)
    return model.to(dtype).eval().requires_grad_(False)


def load_clip_tokenizer(folder: str | Path):
    """CLIPTokenizer from a folder with vocab.json + merges.txt (the golden's or a pipeline's tokenizer/)."""
    from transformers import CLIPTokenizer

    folder = Path(folder)
    if not (folder / "vocab.json").is_file() or not (folder / "merges.txt").is_file():
        raise ModelError(f"{folder}: no CLIP tokenizer here (vocab.json and merges.txt are needed)")
    return CLIPTokenizer.from_pretrained(str(folder))


def placeholder_token_id(tokenizer, placeholder: str = PLACEHOLDER) -> int:
    """Token id of the placeholder string; it must map to exactly one token (as the official asserts)."""
    ids = tokenizer(placeholder, add_special_tokens=False)["input_ids"]
    if len(ids) != 1:
        raise ModelError(f"placeholder {placeholder!r} maps to {len(ids)} tokens; it must be a single token")
    return int(ids[0])


# --------------------------------------------------------------------------- prompt encoding
def tokenize_prompts(tokenizer, prompts: Sequence[str]) -> torch.Tensor:
    """Token ids of the prompts, untruncated, padded to the longest (official FrozenCLIPEmbedderT3)."""
    encoding = tokenizer(
        list(prompts), truncation=False, padding="longest", return_tensors="pt", verbose=False
    )
    return encoding["input_ids"]


def split_chunks(input_ids: torch.Tensor, chunk_size: int = CHUNK_TOKENS) -> list[torch.Tensor]:
    """Split (B, n) token ids (with start and end tokens) into windows of ``chunk_size + 2`` tokens.

    Each window is ``start, chunk_size tokens, end``; the last partial window is filled with end
    tokens; an empty prompt gives one window of ``start`` and end tokens.
    """
    batch, n = input_ids.shape
    start, end = input_ids[:, :1], input_ids[:, -1:]
    body = input_ids[:, 1:-1]
    chunks = []
    if n == 2:
        chunks.append(torch.cat([start, end.expand(batch, chunk_size + 1)], dim=1))
    for begin in range(0, body.shape[1], chunk_size):
        part = body[:, begin : begin + chunk_size]
        pad = end.expand(batch, chunk_size - part.shape[1])
        chunks.append(torch.cat([start, part, pad, end], dim=1))
    return chunks


def encode_prompt(
    tokenizer,
    text_encoder,
    prompts: Sequence[str],
    text_embs: Sequence[torch.Tensor | None] | None = None,
    placeholder_token_id: int = PLACEHOLDER_TOKEN_ID,
    return_input_ids: bool = False,
    device: str | torch.device | None = None,
):
    """CLIP hidden states (B, 77*k, D) of ``prompts``, ``*`` tokens replaced by each line's embedding.

    ``text_embs[i]``: (n_lines_i, D) projected OCR embeddings of prompt i's lines, or None for no
    replacement. In every 77-token window the j-th ``*`` takes line j (restarting from line 0 in the
    next window); a window with more ``*`` than lines is a ValueError. With ``return_input_ids`` the
    token windows (B, 77*k) come back too. ``device``: where the token ids go (default: the
    encoder's embedding weights).
    """
    if text_embs is not None and len(text_embs) != len(prompts):
        raise ValueError(f"{len(prompts)} prompts but {len(text_embs)} text embedding entries")
    embedding_layer = text_encoder.get_input_embeddings()
    if device is None:
        device = embedding_layer.weight.device
    chunks = split_chunks(tokenize_prompts(tokenizer, prompts))

    def substitute(_module, inputs, output):
        (ids,) = inputs
        output = output.clone()
        for i in range(ids.shape[0]):
            lines = text_embs[i] if text_embs is not None else None
            mask = ids[i] == placeholder_token_id
            count = int(mask.sum())
            if lines is None or count == 0:
                continue
            if count > lines.shape[0]:
                raise ValueError(
                    f"prompt {i} has {count} '*' placeholders in one 77-token window but only "
                    f"{lines.shape[0]} text line embeddings"
                )
            output[i, mask] = lines[:count].to(device=output.device, dtype=output.dtype)
        return output

    hidden = []
    handle = embedding_layer.register_forward_hook(substitute)
    try:
        for ids in chunks:
            hidden.append(text_encoder(input_ids=ids.to(device)).last_hidden_state)
    finally:
        handle.remove()
    context = torch.cat(hidden, dim=1)
    if return_input_ids:
        return context, torch.cat(chunks, dim=1)
    return context


# --------------------------------------------------------------------------- glyph lines -> embeddings
def embed_glyph_lines(
    recognizer, text_embedding: TextEmbeddingModule, gly_lines, return_stages: bool = False
):
    """(n_lines, token_dim) text embeddings of glyph lines ((N,1,H,W) tensor or list of (H,W) arrays in [0,1]).

    With `return_stages`: (ocr_input, ocr_neck, embeddings), the stages the golden parity checks.
    """
    from wenchuang.anytext.recognizer import prepare_ocr_input

    lines = gly_lines
    if not isinstance(lines, torch.Tensor):
        lines = [torch.as_tensor(np.asarray(line, np.float32)) for line in lines]
    ocr_input = prepare_ocr_input(lines, recognizer.config.image_height, recognizer.config.image_width)
    weight = next(recognizer.parameters())
    neck, _ = recognizer(ocr_input.to(weight.device, weight.dtype))
    projection = next(text_embedding.parameters())
    embs = text_embedding(neck.to(projection.device, projection.dtype))
    return (ocr_input, neck, embs) if return_stages else embs


@torch.no_grad()
def encode_prompt_with_glyphs(
    prompt: str,
    gly_lines,
    *,
    tokenizer,
    text_encoder,
    text_embedding: TextEmbeddingModule | None = None,
    recognizer=None,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """Context (1, 77*k, D) of one prompt whose ``*`` tokens take the glyph lines' OCR embeddings.

    ``gly_lines``: the lines' (80, 512) glyph images in [0, 1], in placeholder order; empty or None
    encodes the prompt without replacement (as for the negative prompt). The placeholder's token id
    is looked up in `tokenizer`.
    """
    lines = list(gly_lines) if gly_lines is not None else []
    embs = None
    if lines:
        if recognizer is None or text_embedding is None:
            raise ModelError(
                "this pipeline has no OCR recogniser / text embedding module to embed text lines"
            )
        embs = [embed_glyph_lines(recognizer, text_embedding, lines)]
    star = placeholder_token_id(tokenizer)
    return encode_prompt(tokenizer, text_encoder, [prompt], embs, star, device=device)


# --------------------------------------------------------------------------- conversion of the text side
def clip_config_from_state_dict(state: Mapping[str, torch.Tensor], num_attention_heads: int | None = None):
    """``CLIPTextConfig`` read from CLIPTextModel weight shapes (heads: hidden / 64 unless given)."""
    from transformers import CLIPTextConfig

    def find(suffix: str) -> torch.Tensor:
        for key, value in state.items():
            if key.endswith(suffix):
                return value
        raise ModelError(f"CLIP text encoder weights lack *{suffix}")

    vocab, hidden = (int(n) for n in find("embeddings.token_embedding.weight").shape)
    positions = int(find("embeddings.position_embedding.weight").shape[0])
    intermediate = int(find("layers.0.mlp.fc1.weight").shape[0])
    layers = len({key.split("layers.")[1].split(".")[0] for key in state if ".layers." in key})
    return CLIPTextConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=num_attention_heads or max(1, hidden // 64),
        max_position_embeddings=positions,
        hidden_act="quick_gelu",
        layer_norm_eps=1e-5,
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=49407,
    )


def _load(model: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    expected = model.state_dict()
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()}, strict=True)


def convert_text_components(
    text_state: Mapping[str, torch.Tensor],
    config=None,
    tokenizer_dir: str | Path | None = None,
) -> dict:
    """Text encoder, tokenizer, projection and recogniser of an AnyText checkpoint's text side.

    ``text_state`` holds the official keys (``cond_stage_model.*``, ``embedding_manager.*``,
    ``text_predictor.*``; other parts of a checkpoint are ignored). Returns ``{"text_encoder", "tokenizer", "text_embedding", "recognizer",
    "problems"}``; ``problems`` lists missing / unexpected keys and shape mismatches (nothing is loaded
    then). Tensors on the meta device are only checked: the modules are built on meta, not loaded.
    The tokenizer (and the CLIP config, when it holds ``config.json`` or ``clip_text_config.json``)
    comes from ``tokenizer_dir``, else from ``config.cond_stage_version`` / the Hugging Face cache.
    """
    from wenchuang.anytext.convert import key_problems
    from wenchuang.anytext.recognizer import (
        AnyTextRecognizer,
        convert_recognizer_state_dict,
        recognizer_config_from_state_dict,
    )

    check_only = any(value.device.type == "meta" for value in text_state.values())
    build_device = torch.device("meta") if check_only else torch.device("cpu")
    problems: list[str] = []
    unknown_text = ("cond_stage_model.", "text_predictor.")
    problems += [
        f"unexpected {key}"
        for key in text_state
        if key.startswith(unknown_text) and not key.startswith((CLIP_PREFIX, "text_predictor."))
    ]

    # CLIP text encoder
    clip_state = {}
    text_encoder = None
    try:
        clip_state = convert_clip_state_dict(text_state)
    except ModelError as exc:
        problems.append(str(exc))
    if clip_state:
        clip_config = clip_config_from_state_dict(clip_state)
        if tokenizer_dir is not None and any(
            (Path(tokenizer_dir) / name).is_file() for name in ("config.json", "clip_text_config.json")
        ):
            # a config beside the tokenizer (the golden's clip_text_config.json) gives the head count;
            # used only when it describes these weights
            folder_config = _clip_config_from(tokenizer_dir)
            if all(
                getattr(folder_config, name) == getattr(clip_config, name)
                for name in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers")
            ):
                clip_config = folder_config
        from transformers import CLIPTextModel

        with build_device:
            text_encoder = CLIPTextModel(clip_config)
        problems += key_problems(text_encoder, clip_state, CLIP_PREFIX)

    # projection
    text_embedding = None
    try:
        emb_config, emb_state = convert_embedding_state_dict(text_state)
    except ModelError as exc:
        problems.append(str(exc))
    else:
        with build_device:
            text_embedding = TextEmbeddingModule(**emb_config)
        if text_encoder is not None and emb_config["token_dim"] != text_encoder.config.hidden_size:
            problems.append(
                f"embedding_manager projection gives {emb_config['token_dim']} features but the CLIP "
                f"width is {text_encoder.config.hidden_size}"
            )
        problems += key_problems(text_embedding, emb_state, EMBEDDING_PREFIX)

    # recogniser
    recognizer = None
    try:
        rec_state = convert_recognizer_state_dict(text_state)
        rec_config = recognizer_config_from_state_dict(rec_state)
    except ModelError as exc:
        problems.append(str(exc))
    else:
        with build_device:
            recognizer = AnyTextRecognizer(**rec_config)
        problems += key_problems(recognizer, rec_state, "text_predictor.")
        if text_embedding is not None:
            features = 40 * rec_config["neck_dims"]
            if text_embedding.config.in_features != features:
                problems.append(
                    f"embedding_manager projection takes {text_embedding.config.in_features} features but "
                    f"the recogniser gives {features}"
                )

    tokenizer = None
    try:
        tokenizer = load_tokenizer(tokenizer_dir, config)
    except ModelError:
        if not check_only and not problems:  # key problems say more: the checkpoint itself is wrong
            raise

    if not problems and not check_only:
        _load(text_encoder, clip_state)
        _load(text_embedding, emb_state)
        _load(recognizer, rec_state)
        text_encoder.eval().requires_grad_(False)
        text_embedding.eval().requires_grad_(False)
        recognizer.eval().requires_grad_(False)
    return {
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        "text_embedding": text_embedding,
        "recognizer": recognizer,
        "problems": problems,
    }


DEFAULT_CLIP_VERSION = "openai/clip-vit-large-patch14"


def load_tokenizer(tokenizer_dir: str | Path | None = None, config=None, local_files_only: bool = True):
    """The CLIP tokenizer: from `tokenizer_dir`, else ``config.cond_stage_version`` (a folder or a Hub
    id, default openai/clip-vit-large-patch14) from the Hugging Face cache. Nothing is downloaded
    unless `local_files_only=False` (`wenchuang download anytext` puts the tokenizer beside the
    weights)."""
    if tokenizer_dir is not None:
        return load_clip_tokenizer(tokenizer_dir)
    version = getattr(config, "cond_stage_version", None) or DEFAULT_CLIP_VERSION
    if Path(version).is_dir():
        return load_clip_tokenizer(version)
    from transformers import CLIPTokenizer

    try:
        tokenizer = CLIPTokenizer.from_pretrained(version, local_files_only=local_files_only)
        if len(tokenizer) <= len(set(tokenizer.all_special_tokens)):
            # transformers 5 gives a tokenizer of the special tokens alone when it finds no vocab.json
            raise OSError(f"no vocab.json for {version}")
        return tokenizer
    except (OSError, ValueError) as exc:
        raise ModelError(
            f"no CLIP tokenizer: {version!r} is not available offline ({type(exc).__name__}); put CLIP's "
            "tokenizer files (vocab.json, merges.txt) into a tokenizer/ folder beside the AnyText checkpoint "
            "(`wenchuang download anytext` fetches them there), or download them into the Hugging Face cache "
            f"(`huggingface-cli download {version} vocab.json merges.txt tokenizer_config.json "
            "special_tokens_map.json`); `wenchuang convert anytext` also takes --tokenizer DIR"
        ) from None


# --------------------------------------------------------------------------- golden parity stages
@torch.no_grad()
def parity_stages(pipe, case: Mapping, gly_lines) -> dict[str, torch.Tensor]:
    """Our tensors for the golden text stages of one case (names of ``tensors.safetensors``).

    ``pipe`` holds ``tokenizer``, ``text_encoder``, ``text_embedding`` and ``recognizer``; ``case`` is
    the case.json dict; ``gly_lines`` the case's glyph lines in [0, 1].
    """
    ocr_input, neck, text_embs = embed_glyph_lines(pipe.recognizer, pipe.text_embedding, gly_lines, True)
    cond, cond_ids = encode_prompt(
        pipe.tokenizer, pipe.text_encoder, [case["cond_prompt_string"]], [text_embs], return_input_ids=True
    )
    uncond, uncond_ids = encode_prompt(
        pipe.tokenizer, pipe.text_encoder, [case["uncond_prompt_string"]], None, return_input_ids=True
    )
    nosub = encode_prompt(pipe.tokenizer, pipe.text_encoder, [case["cond_prompt_string"]], None)
    return {
        "ocr_input": ocr_input,
        "ocr_neck": neck,
        "text_embs": text_embs[None],
        "cond_input_ids": cond_ids,
        "uncond_input_ids": uncond_ids,
        "context_cond": cond,
        "context_uncond": uncond,
        "context_cond_nosub": nosub,
    }
