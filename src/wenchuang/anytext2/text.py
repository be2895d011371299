"""AnyText2's two prompts and its line embeddings.

AnyText2 encodes two prompts with the same CLIP text encoder:

- the IMAGE prompt (``img_prompt + ', ' + a_prompt``; unconditional: the negative prompt) goes to the
  UNet: tokenised without truncation, cut into 75-token chunks, each wrapped to 77 tokens and encoded
  on its own (AnyText's `split_chunks`), then concatenated;
- the TEXT prompt (``'that reads * and *'``; unconditional: ``""``) goes to the WriteNet: truncated /
  padded to 77 tokens.

In both, every ``*`` token's embedding is replaced by the next line embedding: one running index per
prompt that continues over the image prompt's chunks and restarts for the text prompt (official
`EmbeddingManager.start_idx`). Quoted texts become a bare ``*`` (`placeholder_prompt`); CLIP's BPE
then merges ``*`` with a following comma (``"A", "B"`` -> ``*, *`` -> tokens ``*,`` and ``*``), so the
official model finds only one placeholder there and puts line 0 on the second ``*``. `parse_prompt`
reproduces that for parity; `safe_placeholder_prompt` writes prompts that avoid it and
`merged_placeholder_warning` says when a prompt falls into it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import torch

from wenchuang.anytext.text_embedding import split_chunks, tokenize_prompts
from wenchuang.anytext.tokenizer import placeholder_token_id
from wenchuang.prompts import PLACEHOLDER

_QUOTED = re.compile(r'"(.*?)"')


def parse_prompt(prompt: str) -> tuple[str, list[str]]:
    """Official `modify_prompt` (without translation): (prompt with each "text" -> *, the texts).

    Curly quotes count as straight ones. A prompt without quotes gives the texts ``[' ']`` (the
    official "no text" marker).
    """
    prompt = prompt.replace("“", '"').replace("”", '"')
    texts = _QUOTED.findall(prompt)
    if not texts:
        return prompt, [" "]
    for text in texts:
        prompt = prompt.replace(f'"{text}"', PLACEHOLDER, 1)
    return prompt, texts


def safe_placeholder_prompt(prompt: str, texts: Sequence[str]) -> str:
    """`prompt` with each line's quoted text -> `` * `` (spaced, so no BPE merge); lines the prompt
    does not quote are appended as ``, *`` each. Used by our own prompt building."""
    out = prompt.replace("“", '"').replace("”", '"')
    missing = []
    for text in texts:
        quoted = f'"{text}"'
        if quoted in out:
            out = out.replace(quoted, f" {PLACEHOLDER} ", 1)
        else:
            missing.append(text)
    if missing:
        out = out.rstrip() + "".join(f" , {PLACEHOLDER}" for _ in missing)
    return " ".join(out.split())


def count_placeholders(tokenizer, prompt: str) -> int:
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    star = placeholder_id(tokenizer)
    return sum(1 for i in ids if i == star)


def merged_placeholder_warning(tokenizer, prompt: str, n_lines: int) -> str | None:
    """A warning when CLIP's BPE swallows placeholders (``*,`` etc.) so fewer than `n_lines` are seen."""
    found = count_placeholders(tokenizer, prompt)
    if found >= n_lines:
        return None
    return (
        f"the text prompt {prompt!r} holds {n_lines} placeholder(s) but CLIP reads only {found} ('*' merges "
        "with a following comma or symbol into another token); write the texts with spaces or 'and' "
        'between them, e.g. \'"A" and "B"\' instead of \'"A", "B"\''
    )


def placeholder_id(tokenizer) -> int:
    return placeholder_token_id(tokenizer, PLACEHOLDER)


def image_prompt_ids(tokenizer, prompt: str) -> list[torch.Tensor]:
    """77-token windows of the image prompt (untruncated, 75 tokens per window)."""
    return split_chunks(tokenize_prompts(tokenizer, [prompt]))


def text_prompt_ids(tokenizer, prompt: str) -> torch.Tensor:
    """(1, 77) ids of the text prompt, truncated / padded to 77 tokens."""
    return tokenizer(
        [prompt], truncation=True, max_length=77, padding="max_length", return_tensors="pt"
    )["input_ids"]


class _Substitution:
    """Forward hook on CLIP's token embedding writing line embeddings at the placeholder tokens."""

    def __init__(self, lines: torch.Tensor | None, star: int):
        self.lines = lines
        self.star = star
        self.next = 0

    def __call__(self, _module, inputs, output):
        (ids,) = inputs
        if self.lines is None:
            return output
        mask = ids[0] == self.star
        count = int(mask.sum())
        if count == 0:
            return output
        if self.next + count > self.lines.shape[0]:
            raise ValueError(
                f"the prompt has more '*' placeholders ({self.next + count}) than text lines ({self.lines.shape[0]})"
            )
        output = output.clone()
        output[0, mask] = self.lines[self.next : self.next + count].to(output.device, output.dtype)
        self.next += count
        return output


@torch.no_grad()
def encode_prompts(
    tokenizer,
    text_encoder,
    image_prompt: str,
    text_prompt: str,
    line_embeddings: torch.Tensor | None,
    device: torch.device | str | None = None,
) -> dict[str, torch.Tensor]:
    """Contexts and ids of one (image prompt, text prompt) pair, ``*`` replaced by the line embeddings.

    Returns ``context_img`` (1, 77*k, D), ``context_text`` (1, 77, D), ``ids_img`` (1, 77*k),
    ``ids_text`` (1, 77).
    """
    embedding_layer = text_encoder.get_input_embeddings()
    device = device if device is not None else embedding_layer.weight.device
    star = placeholder_id(tokenizer)
    img_chunks = image_prompt_ids(tokenizer, image_prompt)
    text_ids = text_prompt_ids(tokenizer, text_prompt)
    hook = _Substitution(line_embeddings, star)
    handle = embedding_layer.register_forward_hook(hook)
    try:
        img = [text_encoder(input_ids=ids.to(device)).last_hidden_state for ids in img_chunks]
        hook.next = 0  # the official reset_start_idx between the two prompts
        text = text_encoder(input_ids=text_ids.to(device)).last_hidden_state
    finally:
        handle.remove()
    return {
        "context_img": torch.cat(img, dim=1),
        "context_text": text,
        "ids_img": torch.cat(img_chunks, dim=1),
        "ids_text": text_ids,
    }


# --------------------------------------------------------------------------- line embeddings
def glyph_ocr_input(gly_lines: Sequence[np.ndarray] | torch.Tensor, recognizer) -> torch.Tensor:
    """(N, 3, 48, 320) recogniser input of the glyph lines ((80, 512) images in [0, 1])."""
    from wenchuang.anytext.recognizer import prepare_ocr_input

    lines = gly_lines
    if not isinstance(lines, torch.Tensor):
        lines = [torch.as_tensor(np.asarray(line, np.float32)) for line in lines]
    return prepare_ocr_input(lines, recognizer.config.image_height, recognizer.config.image_width)


def style_ocr_input(crops: Sequence[torch.Tensor], recognizer) -> torch.Tensor:
    """(N, 3, 48, 320) recogniser input of the font crops ((3, h, w) tensors in 0-255).

    As the official code: crop / 255 * 255 in the crop's own dtype, turned a quarter when taller than
    1.2x its width, resized (bilinear, align_corners) keeping its aspect ratio, normalised to [-1, 1],
    right-padded with 0 (AnyText's recogniser pre-processing, kept in the crop's dtype until the end).
    """
    from wenchuang.anytext.recognizer import _resize_norm

    batch = []
    for crop in crops:
        image = (crop / 255.0) * 255
        if image.shape[1] > image.shape[2] * 1.2:
            image = image.transpose(1, 2).flip(dims=[1])
        batch.append(_resize_norm(image, recognizer.config.image_height, recognizer.config.image_width))
    return torch.stack(batch, dim=0)


@torch.no_grad()
def embed_lines(
    recognizer,
    font_recognizer,
    text_embedding,
    gly_lines,
    positions: torch.Tensor,
    style_crops: Sequence[torch.Tensor],
    colors: torch.Tensor,
    return_stages: bool = False,
):
    """(N, D) line embeddings; with `return_stages` also a dict of every intermediate (golden names)."""
    weight = next(recognizer.parameters())
    glyph_input = glyph_ocr_input(gly_lines, recognizer)
    glyph_neck, _ = recognizer(glyph_input.to(weight.device, weight.dtype))
    font_weight = next(font_recognizer.parameters())
    style_input = style_ocr_input(style_crops, font_recognizer)
    style_neck, _ = font_recognizer(style_input.to(font_weight.device, font_weight.dtype))
    device = next(text_embedding.parameters()).device
    parts = text_embedding.branches(
        glyph_neck.to(device), positions.to(device), style_neck.to(device), colors.to(device)
    )
    embs = parts["proj"] + parts["position_encoder"] + parts["style_proj"] + parts["color_proj"]
    if not return_stages:
        return embs
    stages = {
        "ocr_glyph_input": glyph_input,
        "ocr_glyph_neck": glyph_neck,
        "ocr_style_input": style_input,
        "ocr_style_neck": style_neck,
        "em_proj_in": glyph_neck.reshape(glyph_neck.shape[0], -1),
        "em_position_encoder_in": positions,
        "em_style_proj_in": style_neck.reshape(style_neck.shape[0], -1),
        "em_color_proj_in": colors,
        "text_embs": embs,
    }
    stages.update({f"em_{name}_out": value for name, value in parts.items()})
    return embs, stages
