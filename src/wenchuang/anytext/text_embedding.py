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
Reading them from a checkpoint is `wenchuang.anytext.convert`'s job (`convert_embedding_state_dict`,
`convert_text_components`); the tokenizer comes from `wenchuang.anytext.tokenizer`.

Typical use::

    parts = convert_text_components(sd, tokenizer_dir=...)      # wenchuang.anytext.convert
    embs = embed_glyph_lines(parts["recognizer"], parts["text_embedding"], gly_lines)
    context = encode_prompt(parts["tokenizer"], parts["text_encoder"], [prompt], [embs])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from wenchuang.anytext.recognizer import prepare_ocr_input
from wenchuang.anytext.tokenizer import placeholder_token_id
from wenchuang.errors import ModelError

__all__ = [
    "CHUNK_TOKENS",
    "PLACEHOLDER_TOKEN_ID",
    "PROJECTIONS",
    "TextEmbeddingModule",
    "embed_glyph_lines",
    "encode_prompt",
    "encode_prompt_with_glyphs",
    "split_chunks",
    "tokenize_prompts",
]

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
