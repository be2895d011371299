"""`AnyTextPipeline`: AnyText text generation and text editing as one diffusers pipeline.

One `__call__` does both modes, with the official demo's parameters and defaults:

- generate: `texts` are drawn into `polygons` of a new `width` x `height` image;
- edit: `image` is the picture to edit; the polygons mark where new text goes. By default every
  pixel outside the (feathered) edit regions is kept exactly as uploaded (`keep_unmasked`).

The official procedure is followed step by step: glyph images at twice the output size, position
images, the masked image's latent as a SAMPLE of the VAE posterior (first `randn` of the
generator), the initial noise (next `randn`), DDIM on the official timesteps (951, 901, ... 1 for
20 steps) with classifier-free guidance from two model calls, and the official 8-bit conversion.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from diffusers import AutoencoderKL, DiffusionPipeline, UNet2DConditionModel
from diffusers.schedulers import KarrasDiffusionSchedulers
from diffusers.utils import BaseOutput

# diffusers loads a pipeline folder's custom components only from modules already imported
from wenchuang.anytext import recognizer as _recognizer  # noqa: F401
from wenchuang.anytext import text_embedding as _text_embedding  # noqa: F401
from wenchuang.anytext.controlnet import AnyTextControlNetModel
from wenchuang.anytext.sampling import (
    configure_scheduler,
    feathered_mask,
    masked_image_latents,
    resize_for_edit,
)
from wenchuang.errors import ModelError, RequestError
from wenchuang.request import (  # the official demo's defaults and limits, defined once
    DEFAULT_EXTRA_PROMPT,
    DEFAULT_NEGATIVE_PROMPT,
    MAX_CHARS_PER_LINE,
    MAX_LINES,
)

PLACEHOLDER = "*"


@dataclass
class AnyTextConditions:
    """The per-line images the model is conditioned on (float32, values in [0, 1])."""

    texts: list[str]
    glyphs: list[np.ndarray]  # (2H, 2W) each
    gly_lines: list[np.ndarray]  # (80, 512) each, the recogniser's input
    positions: list[np.ndarray]  # (H, W) each
    hint: np.ndarray  # (H, W): sum of positions, clipped to [0, 1]


@dataclass
class AnyTextPipelineOutput(BaseOutput):
    """`images`: list of H x W x 3 uint8 RGB arrays (or a latent tensor with output_type="latent")."""

    images: Any
    debug: dict[str, np.ndarray] = field(default_factory=dict)  # glyphs, positions, masked input
    warnings: list[str] = field(default_factory=list)


def check_texts(texts: Sequence[str]) -> None:
    """The official limits on the number of lines and characters per line, as clear errors."""
    if len(texts) > MAX_LINES:
        raise RequestError("lines", f"has {len(texts)} lines; at most {MAX_LINES} per image")
    for i, text in enumerate(texts):
        if not text:
            raise RequestError(f"lines[{i}].text", "is empty")
        if len(text) > MAX_CHARS_PER_LINE:
            raise RequestError(
                f"lines[{i}].text",
                f"has {len(text)} characters; at most {MAX_CHARS_PER_LINE} per line (split it into several lines)",
            )


def placeholder_prompt(prompt: str, texts: Sequence[str]) -> str:
    """The prompt with each line's text replaced by the placeholder ' * ' (official convention).

    Quoted texts are replaced where they occur; lines that the prompt does not quote get a
    placeholder appended, so the number of placeholders equals the number of lines.
    """
    try:
        from wenchuang.prompts import parse_prompt
    except ImportError:
        parse_prompt = None
    if parse_prompt is not None:
        return parse_prompt(prompt, explicit_lines=list(texts)).prompt_with_placeholders
    out = prompt
    count = 0
    for text in texts:
        for quoted in (f'"{text}"', f"“{text}”", f"'{text}'", f"「{text}」", f"『{text}』", f"‘{text}’"):
            if quoted in out:
                out = out.replace(quoted, f" {PLACEHOLDER} ", 1)
                count += 1
                break
    missing = len(texts) - count
    if missing > 0:
        out = out + "," + "".join(f" {PLACEHOLDER} ," for _ in range(missing)).rstrip(",")
    return out


def build_conditions(
    texts: Sequence[str], polygons: Sequence[Sequence[Sequence[float]]], width: int, height: int, font=None
) -> AnyTextConditions:
    """Glyph, glyph-line and position images for the lines (wenchuang.layout.glyphs)."""
    from wenchuang.layout.glyphs import build_text_conditions

    if len(texts) != len(polygons):
        raise RequestError("lines", f"{len(texts)} texts but {len(polygons)} positions")
    if not texts:
        zero = np.zeros((height, width), np.float32)
        return AnyTextConditions([], [], [], [], zero)
    cond = build_text_conditions(
        list(texts), [list(map(tuple, p)) for p in polygons], width, height, font=font
    )
    return AnyTextConditions(
        list(texts),
        [np.asarray(g, np.float32) for g in cond.glyphs],
        [np.asarray(g, np.float32) for g in cond.gly_lines],
        [np.asarray(p, np.float32) for p in cond.positions],
        np.asarray(cond.hint, np.float32),
    )


class AnyTextPipeline(DiffusionPipeline):
    """AnyText (SD1.5 + text ControlNet + OCR-aware text embedding) for generating and editing text.

    Components: `vae`, `text_encoder` (CLIP), `tokenizer`, `unet`, `controlnet`
    (`AnyTextControlNetModel`), `scheduler` (DDIM by default; any diffusers scheduler works),
    `text_embedding` (projection of OCR features into the CLIP token space) and `recognizer`
    (PP-OCRv3 recogniser giving those features).
    """

    model_cpu_offload_seq = "recognizer->text_embedding->text_encoder->unet->vae"
    _optional_components = ["recognizer", "text_embedding"]
    _exclude_from_cpu_offload: list[str] = []

    def __init__(
        self,
        vae: AutoencoderKL,
        text_encoder,
        tokenizer,
        unet: UNet2DConditionModel,
        controlnet: AnyTextControlNetModel,
        scheduler: KarrasDiffusionSchedulers,
        text_embedding=None,
        recognizer=None,
    ):
        super().__init__()
        self.register_modules(
            vae=vae,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            unet=unet,
            controlnet=controlnet,
            scheduler=scheduler,
            text_embedding=text_embedding,
            recognizer=recognizer,
        )

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_official_state_dict(
        cls,
        state: dict[str, torch.Tensor],
        config,
        *,
        tokenizer_dir=None,
        source: str = "checkpoint",
        torch_dtype: torch.dtype = torch.float32,
    ) -> AnyTextPipeline:
        """Build the pipeline from an official `ControlLDM` state dict (see `wenchuang.anytext.convert`)."""
        from diffusers import DDIMScheduler

        from wenchuang.anytext import convert
        from wenchuang.anytext.text_embedding import convert_text_components

        parts = convert.split_checkpoint(state, config)
        problems = [f"unexpected {k}" for k in parts.unexpected]
        models = convert.build_models(config, device="meta")
        for name in ("unet", "controlnet", "vae"):
            problems += convert.key_problems(models[name], getattr(parts, name), "")
        scheduler = DDIMScheduler(**config.scheduler_config())
        problems += convert.check_schedule(parts.schedule, config, scheduler)
        # the text side is checked and, when every part is sound, loaded (fp32) in one go
        text_components = convert_text_components(parts.text, tokenizer_dir=tokenizer_dir)
        problems += text_components.pop("problems")
        convert.raise_key_problems(problems, source)

        # the meta models from the key check take the checkpoint's tensors directly (no random init)
        for name in ("unet", "controlnet", "vae"):
            weights = {k: v.to(torch.float32).contiguous() for k, v in getattr(parts, name).items()}
            models[name].load_state_dict(weights, strict=True, assign=True)
            left = [
                k for k, t in [*models[name].named_parameters(), *models[name].named_buffers()] if t.is_meta
            ]
            if left:
                raise ModelError(f"{source}: {name} has tensors that no checkpoint key fills: {left[:8]}")
            models[name].eval()
        pipe = cls(scheduler=scheduler, **models, **text_components)
        if torch_dtype != torch.float32:
            for module in pipe.components.values():
                if isinstance(module, torch.nn.Module):
                    torch.nn.Module.to(module, dtype=torch_dtype)
        return pipe

    @classmethod
    def from_official_checkpoint(
        cls,
        path,
        *,
        yaml_path=None,
        tokenizer_dir=None,
        torch_dtype: torch.dtype = torch.float32,
    ) -> AnyTextPipeline:
        """Load `anytext_v1.1.ckpt` (or an official-format .safetensors) directly, converting on the fly."""
        from wenchuang.anytext.convert import convert_anytext_checkpoint

        return convert_anytext_checkpoint(
            path, yaml_path=yaml_path, tokenizer_dir=tokenizer_dir, torch_dtype=torch_dtype
        )

    # ------------------------------------------------------------------ memory switches
    def enable_vae_tiling(self) -> None:
        """Decode and encode large images tile by tile (less memory)."""
        self.vae.enable_tiling()

    def disable_vae_tiling(self) -> None:
        self.vae.disable_tiling()

    # ------------------------------------------------------------------ text
    def encode_prompt(self, prompt: str, gly_lines: Sequence[np.ndarray] | None) -> torch.Tensor:
        """CLIP context (1, 77*k, D) of `prompt`, its '*' tokens replaced by the lines' OCR features."""
        from wenchuang.anytext.text_embedding import encode_prompt_with_glyphs

        if self.text_encoder is None or self.tokenizer is None:
            raise ModelError("this pipeline has no text encoder/tokenizer")
        return encode_prompt_with_glyphs(
            prompt,
            list(gly_lines or []),
            tokenizer=self.tokenizer,
            text_encoder=self.text_encoder,
            text_embedding=self.text_embedding,
            recognizer=self.recognizer,
            device=self._execution_device,
        )

    # ------------------------------------------------------------------ main call
    @torch.no_grad()
    def __call__(
        self,
        prompt: str = "",
        texts: Sequence[str] | None = None,
        polygons: Sequence[Sequence[Sequence[float]]] | None = None,
        image: np.ndarray | None = None,
        draw_pos: np.ndarray | None = None,
        sort_priority: str = "top-down",
        width: int = 512,
        height: int = 512,
        num_images_per_prompt: int = 1,
        num_inference_steps: int = 20,
        guidance_scale: float = 9.0,
        strength: float = 1.0,
        eta: float = 0.0,
        generator: torch.Generator | list[torch.Generator] | None = None,
        extra_prompt: str = DEFAULT_EXTRA_PROMPT,
        negative_prompt: str = DEFAULT_NEGATIVE_PROMPT,
        keep_unmasked: bool = True,
        revise_positions: bool = False,
        feather: int = 8,
        font=None,
        conditions: AnyTextConditions | None = None,
        prompt_embeds: torch.Tensor | None = None,
        negative_prompt_embeds: torch.Tensor | None = None,
        output_type: str = "np",
        callback: Callable[[int, int, torch.Tensor], None] | None = None,
    ) -> AnyTextPipelineOutput:
        """Generate (no `image`) or edit (`image` given) `num_images_per_prompt` images.

        Args:
            prompt: the scene; quoted line texts in it become placeholders ("a sign that reads \"OPEN\"").
            texts, polygons: one text and one polygon (image pixels, 4+ points) per line; polygons of an
                edit refer to the uploaded image. Or give ready-made `conditions`. Without `texts`, the
                prompt's quoted texts are the lines.
            draw_pos: instead of `polygons`, a drawn mask (white strokes on black, the canvas' or the
                uploaded image's size): one region per stroke, taken in `sort_priority` order
                ("top-down" or "left-right", the official demo's sort), matched to the texts in order.
            image: H x W x 3 uint8 RGB picture to edit; it is resized as the official demo does
                (longest side <= 768, sides multiples of 64).
            strength: control strength (official `strength`, scales every control residual).
            generator: one generator (official order: masked-latent noise, then all initial noise)
                or one per image.
            revise_positions: generate only; each line's position becomes the rotated bounding box of
                its rendered glyphs (the official demo's "revise position").
            keep_unmasked: edit only; outside the edit regions grown and feathered by `feather`
                pixels, the output keeps the uploaded pixels exactly (output at the uploaded size).
            output_type: "np" (uint8 arrays) or "latent".
        """
        device = self._execution_device
        edit = image is not None
        if num_images_per_prompt < 1:
            raise RequestError("image_count", f"must be at least 1, got {num_images_per_prompt}")
        if isinstance(generator, list) and len(generator) != num_images_per_prompt:
            raise RequestError("seed", f"{len(generator)} generators for {num_images_per_prompt} images")

        original = None
        if edit:
            original = np.asarray(image)
            if original.dtype != np.uint8 or original.ndim != 3 or original.shape[2] != 3:
                raise RequestError("image", "must be an H x W x 3 uint8 RGB array")
            work = resize_for_edit(original.clip(1, 255))  # the official demo clips before resizing
            height, width = work.shape[:2]
            sx, sy = width / original.shape[1], height / original.shape[0]
        else:
            work = None
            sx = sy = 1.0
            for name, side in (("width", width), ("height", height)):
                if side % 64 or side < 64:
                    raise RequestError(name, f"must be a positive multiple of 64, got {side}")

        if conditions is None:
            texts = list(texts) if texts is not None else _quoted_texts(prompt)
            check_texts(texts)
            if polygons is None and draw_pos is not None:
                from wenchuang.layout.polygons import polygons_from_mask

                mask = np.asarray(draw_pos)
                polygons = polygons_from_mask(mask.max(axis=2) if mask.ndim == 3 else mask, sort_priority)
                if len(polygons) != len(texts):
                    raise RequestError(
                        "draw_pos", f"has {len(polygons)} drawn region(s) for {len(texts)} text line(s)"
                    )
            scaled = [[(float(x) * sx, float(y) * sy) for x, y in poly] for poly in (polygons or [])]
            conditions = build_conditions(texts, scaled, width, height, font=font)
        else:
            check_texts(conditions.texts)

        warnings: list[str] = []
        if revise_positions and not edit:
            conditions, warnings = revised_conditions(conditions)

        # masked image -> latent (posterior sample, first randn of the generator)
        hint = conditions.hint
        if edit:
            masked = (work.astype(np.float32) / 127.5 - 1.0) * (1.0 - hint[..., None])
        else:
            masked = np.zeros((height, width, 3), np.float32)
        masked_t = torch.from_numpy(masked).permute(2, 0, 1)[None]
        generators = generator if isinstance(generator, list) else [generator]
        masked_latents = torch.cat([masked_image_latents(self.vae, masked_t, g) for g in generators])
        if masked_latents.shape[0] == 1:
            masked_latents = masked_latents.expand(num_images_per_prompt, -1, -1, -1)

        # text conditioning
        if prompt_embeds is None:
            cond_string = placeholder_prompt(prompt, conditions.texts) + " , " + extra_prompt
            prompt_embeds = self.encode_prompt(cond_string, conditions.gly_lines)
        if negative_prompt_embeds is None and guidance_scale != 1.0:
            negative_prompt_embeds = self.encode_prompt(negative_prompt, None)

        dtype = self.unet.dtype
        n = num_images_per_prompt
        prompt_embeds = prompt_embeds.to(device, dtype).expand(n, -1, -1)
        if negative_prompt_embeds is not None:
            negative_prompt_embeds = negative_prompt_embeds.to(device, dtype).expand(n, -1, -1)

        # fused glyph/position/masked-latent hint: constant over the steps
        glyphs = _stack(conditions.glyphs, (2 * height, 2 * width)).to(device)
        positions = _stack(conditions.positions, (height, width)).to(device)
        guided_hint = self.controlnet.encode_hint(
            glyphs.expand(n, -1, -1, -1), positions.expand(n, -1, -1, -1), masked_latents.to(device)
        )

        # initial noise: the generator's next randn (one draw for the batch with a single generator)
        shape = (n, self.unet.config.in_channels, height // 8, width // 8)
        if isinstance(generator, list):
            latents = torch.cat([torch.randn((1, *shape[1:]), generator=g) for g in generator])
        else:
            latents = torch.randn(shape, generator=generator)
        latents = latents.to(device, dtype) * self.scheduler.init_noise_sigma

        timesteps = configure_scheduler(self.scheduler, num_inference_steps, device=device)
        step_kwargs = self._step_kwargs(eta, generator)
        for i, t in enumerate(self.progress_bar(timesteps)):
            model_input = self.scheduler.scale_model_input(latents, t)
            noise = self.predict_noise(
                model_input, t, prompt_embeds, guided_hint, strength, negative_prompt_embeds, guidance_scale
            )
            latents = self.scheduler.step(noise, t, latents, **step_kwargs).prev_sample
            if callback is not None:
                callback(i, int(t), latents)

        debug = {
            "glyphs": np.clip(sum(conditions.glyphs, np.zeros((2 * height, 2 * width), np.float32)), 0, 1),
            "positions": conditions.hint,
            "masked_input": ((masked + 1.0) * 127.5).clip(0, 255).astype(np.uint8),
        }
        if output_type == "latent":
            self.maybe_free_model_hooks()
            return AnyTextPipelineOutput(images=latents, debug=debug, warnings=warnings)

        decoded = self.vae.decode(latents.to(self.vae.dtype) / self.vae.config.scaling_factor).sample
        images = (
            (decoded.float().permute(0, 2, 3, 1) * 127.5 + 127.5).cpu().numpy().clip(0, 255).astype(np.uint8)
        )
        self.maybe_free_model_hooks()
        result = list(images)
        if edit and keep_unmasked:
            result = [keep_outside_mask(original, img, hint, feather) for img in result]
        return AnyTextPipelineOutput(images=result, debug=debug, warnings=warnings)

    # ------------------------------------------------------------------ one denoising step
    def predict_noise(
        self,
        latents: torch.Tensor,
        t: torch.Tensor,
        prompt_embeds: torch.Tensor,
        guided_hint: torch.Tensor,
        strength: float,
        negative_prompt_embeds: torch.Tensor | None,
        guidance_scale: float,
    ) -> torch.Tensor:
        """Guided noise prediction `u + scale * (c - u)`, conditional and unconditional as two calls."""
        cond = self._unet_eps(latents, t, prompt_embeds, guided_hint, strength)
        if negative_prompt_embeds is None or guidance_scale == 1.0:
            return cond
        uncond = self._unet_eps(latents, t, negative_prompt_embeds, guided_hint, strength)
        return uncond + guidance_scale * (cond - uncond)

    def _unet_eps(self, latents, t, context, guided_hint, strength) -> torch.Tensor:
        down, mid = self.controlnet(
            latents, t, context, guided_hint=guided_hint, conditioning_scale=strength, return_dict=False
        )
        return self.unet(
            latents,
            t,
            encoder_hidden_states=context,
            down_block_additional_residuals=down,
            mid_block_additional_residual=mid,
        ).sample

    def _step_kwargs(self, eta: float, generator) -> dict[str, Any]:
        import inspect

        params = set(inspect.signature(self.scheduler.step).parameters)
        kwargs: dict[str, Any] = {}
        if "eta" in params:
            kwargs["eta"] = eta
        if "generator" in params:
            kwargs["generator"] = generator
        return kwargs


def revised_conditions(conditions: AnyTextConditions) -> tuple[AnyTextConditions, list[str]]:
    """Positions replaced by the rotated bounding box of each line's rendered glyphs.

    The glyph canvas is brought to the image size, its strokes joined by a morphological closing
    (kernel a tenth of the image), and the single outer contour's minimum-area rectangle becomes the
    new position. A line whose glyphs do not form one region keeps its position (with a warning).
    """
    import cv2

    positions, warnings = [], []
    for i, (glyph, position) in enumerate(zip(conditions.glyphs, conditions.positions, strict=True)):
        height, width = position.shape
        small = cv2.resize(glyph.astype(np.float32), (width, height))
        ink = (small * 255).astype(np.uint8)
        kernel = np.ones((max(1, height // 10), max(1, width // 10)), np.uint8)
        closed = cv2.morphologyEx(ink, cv2.MORPH_CLOSE, kernel, iterations=1)
        contours, _ = cv2.findContours(closed, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        if len(contours) != 1:
            warnings.append(f"could not revise the position of line {i + 1}; it is used as drawn")
            positions.append(position)
            continue
        box = np.round(cv2.boxPoints(cv2.minAreaRect(contours[0]))).astype(np.int32)
        revised = np.zeros((height, width), np.uint8)
        cv2.fillPoly(revised, [box], 1)
        positions.append(revised.astype(np.float32))
    hint = np.clip(np.sum(positions, axis=0), 0, 1).astype(np.float32) if positions else conditions.hint
    revised_cond = AnyTextConditions(
        conditions.texts, conditions.glyphs, conditions.gly_lines, positions, hint
    )
    return revised_cond, warnings


def _quoted_texts(prompt: str) -> list[str]:
    """The lines a prompt quotes (official convention), via wenchuang.prompts."""
    from wenchuang.prompts import parse_prompt

    return list(parse_prompt(prompt).lines)


def _stack(images: Sequence[np.ndarray], size: tuple[int, int]) -> torch.Tensor:
    """(1, N, h, w) float32 tensor of the line images (one zero channel when there are no lines)."""
    if not images:
        return torch.zeros((1, 1, *size), dtype=torch.float32)
    return torch.from_numpy(np.stack([np.asarray(im, np.float32) for im in images]))[None]


def keep_outside_mask(
    original: np.ndarray, generated: np.ndarray, hint: np.ndarray, feather: int
) -> np.ndarray:
    """Blend `generated` into `original` (its own size) inside the feathered `hint`; elsewhere exact pixels."""
    import cv2

    height, width = original.shape[:2]
    if generated.shape[:2] != (height, width):
        generated = cv2.resize(generated, (width, height), interpolation=cv2.INTER_CUBIC)
        hint = cv2.resize(hint.astype(np.float32), (width, height), interpolation=cv2.INTER_NEAREST)
    alpha = feathered_mask(hint, feather)[..., None]
    blended = original.astype(np.float32) * (1.0 - alpha) + generated.astype(np.float32) * alpha
    out = np.rint(blended).clip(0, 255).astype(np.uint8)
    out[alpha[..., 0] == 0] = original[alpha[..., 0] == 0]
    return out
