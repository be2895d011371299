"""`AnyText2Pipeline`: AnyText2 text generation and editing, per-line font and colour, as one
diffusers pipeline.

The official procedure (`ms_wrapper.AnyText2Model.forward`) step by step:

1. positions from polygons (or a drawn position image), coloured glyphs in the model's own font,
   glyph lines, per-line font hints (a font file, or "mimic" from a region of an uploaded image)
   and colours (`wenchuang.anytext2.preprocess`);
2. the masked image ``(image / 127.5 - 1 - 10 * hint).clip(-1, 1)`` (generation: an all-zero image)
   encoded as a SAMPLE of the VAE posterior (the generator's first `randn`), the initial noise next;
3. line embeddings (glyph OCR + position + font OCR + colour) written into both prompts' ``*`` tokens;
   image prompt -> UNet context, text prompt -> WriteNet context (`wenchuang.anytext2.text`);
4. the WriteNet runs once for the conditional and once for the unconditional text prompt (timestep
   0, zero latent); its residuals, times `strength`, are added at every DDIM step;
5. DDIM on the official timesteps with classifier-free guidance as two UNet calls (cond first),
   AttnX scaled by `attnx_scale`; decode and convert to 8 bit as the official code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from diffusers import AutoencoderKL, DiffusionPipeline
from diffusers.schedulers import KarrasDiffusionSchedulers
from diffusers.utils import BaseOutput

# diffusers loads a pipeline folder's custom components only from modules already imported
from wenchuang.anytext import recognizer as _recognizer  # noqa: F401
from wenchuang.anytext2 import models as _models  # noqa: F401
from wenchuang.anytext2.preprocess import AnyText2Inputs, build_inputs, crop_line, split_positions
from wenchuang.anytext2.text import (
    embed_lines,
    encode_prompts,
    merged_placeholder_warning,
    parse_prompt,
    safe_placeholder_prompt,
)
from wenchuang.errors import ModelError, RequestError
from wenchuang.request import DEFAULT_EXTRA_PROMPT, DEFAULT_NEGATIVE_PROMPT

EDIT_MAX_SIDE = 1024  # AnyText2 resizes the uploaded image to at most 1024 px (AnyText: 768)


@dataclass
class AnyText2PipelineOutput(BaseOutput):
    """`images`: list of H x W x 3 uint8 RGB arrays (or a latent tensor with output_type="latent")."""

    images: Any
    debug: dict[str, np.ndarray] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def default_text_prompt(texts: Sequence[str]) -> str:
    """The WriteNet prompt we write for `texts`: ``Text are * and *`` (no placeholder merges)."""
    quoted = " and ".join(f'"{t}"' for t in texts)
    return safe_placeholder_prompt(f"Text are {quoted}", texts)


class AnyText2Pipeline(DiffusionPipeline):
    """AnyText2 (SD1.5 + AttnX UNet + WriteNet + font/colour-aware text embedding).

    Components: `vae`, `text_encoder` (CLIP), `tokenizer`, `unet` (`AnyText2UNetModel`), `controlnet`
    (`WriteNetModel`), `scheduler` (DDIM by default), `text_embedding` (`AnyText2TextEmbedding`),
    `recognizer` (PP-OCRv3 reading the glyph lines) and `font_recognizer` (a second PP-OCRv3 reading
    the font crops).
    """

    model_cpu_offload_seq = "recognizer->font_recognizer->text_embedding->text_encoder->controlnet->unet->vae"
    _optional_components: list[str] = []
    _exclude_from_cpu_offload: list[str] = []

    def __init__(
        self,
        vae: AutoencoderKL,
        text_encoder,
        tokenizer,
        unet,
        controlnet,
        scheduler: KarrasDiffusionSchedulers,
        text_embedding,
        recognizer,
        font_recognizer,
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
            font_recognizer=font_recognizer,
        )

    # ------------------------------------------------------------------ construction
    # (from an official checkpoint: `wenchuang.anytext2.loading.convert_anytext2_checkpoint`)
    def to_dtype(self, dtype: torch.dtype) -> AnyText2Pipeline:
        """Cast every model component (fp16 on a GPU halves the memory)."""
        for module in self.components.values():
            if isinstance(module, torch.nn.Module):
                torch.nn.Module.to(module, dtype=dtype)
        return self

    def enable_vae_tiling(self) -> None:
        self.vae.enable_tiling()

    def disable_vae_tiling(self) -> None:
        self.vae.disable_tiling()

    # ------------------------------------------------------------------ steps
    def style_crops(self, inputs: AnyText2Inputs) -> list[torch.Tensor]:
        """Per line the font crop the font recogniser reads: the mimic crop, else the line's region
        cut out of the font hint (all-zero where the line has no font)."""
        hint = torch.from_numpy(inputs.font_hint.astype(np.float32))[None] * 255
        hint3 = hint.repeat(3, 1, 1)
        crops = []
        for mimic, position in zip(inputs.mimic_crops, inputs.positions, strict=True):
            if mimic is not None:
                crops.append(mimic)
            else:
                mask = (position[..., None].astype(np.uint8)) * 255
                crops.append(crop_line(hint3, mask))
        return crops

    @torch.no_grad()
    def line_embeddings(self, inputs: AnyText2Inputs, return_stages: bool = False):
        """(N, D) embeddings of the lines (or with the intermediate tensors, see `text.embed_lines`)."""
        if not inputs.texts:
            return (None, {}) if return_stages else None
        positions = torch.from_numpy(np.stack(inputs.positions).astype(np.float32))[:, None]
        colors = torch.tensor(np.asarray(inputs.colors, np.float32)) / 255.0 * 255.0
        return embed_lines(
            self.recognizer,
            self.font_recognizer,
            self.text_embedding,
            inputs.gly_lines,
            positions,
            self.style_crops(inputs),
            colors,
            return_stages=return_stages,
        )

    @torch.no_grad()
    def encode_prompts(self, image_prompt: str, text_prompt: str, line_embeddings) -> dict[str, torch.Tensor]:
        if self.text_encoder is None or self.tokenizer is None:
            raise ModelError("this pipeline has no text encoder/tokenizer")
        return encode_prompts(
            self.tokenizer, self.text_encoder, image_prompt, text_prompt, line_embeddings, device=self._execution_device
        )

    @torch.no_grad()
    def guided_hint(self, inputs: AnyText2Inputs, masked_latents: torch.Tensor) -> torch.Tensor:
        device = self._execution_device
        height, width = inputs.font_hint.shape
        if inputs.glyphs:
            glyphs = torch.from_numpy(np.stack(inputs.glyphs).astype(np.float32)).permute(0, 3, 1, 2)[None]
            positions = torch.from_numpy(np.stack(inputs.positions).astype(np.float32))[None]
        else:
            glyphs = torch.zeros((1, 1, 3, height, width))
            positions = torch.zeros((1, 1, height, width))
        return self.controlnet.encode_hint(glyphs.to(device), positions.to(device), masked_latents.to(device))

    def predict_noise(
        self,
        latents: torch.Tensor,
        t: torch.Tensor,
        context: torch.Tensor,
        residuals: tuple[list[torch.Tensor], torch.Tensor],
        strength: float,
        negative_context: torch.Tensor | None = None,
        negative_residuals: tuple[list[torch.Tensor], torch.Tensor] | None = None,
        guidance_scale: float = 1.0,
    ) -> torch.Tensor:
        """Guided noise `u + scale * (c - u)` from two UNet calls (conditional first)."""
        cond = self.unet_eps(latents, t, context, residuals, strength)
        if negative_context is None or guidance_scale == 1.0:
            return cond
        uncond = self.unet_eps(latents, t, negative_context, negative_residuals, strength)
        return uncond + guidance_scale * (cond - uncond)

    def unet_eps(self, latents, t, context, residuals, strength: float) -> torch.Tensor:
        down, mid = residuals
        n = latents.shape[0]
        dtype = self.unet.dtype
        return self.unet(
            latents.to(dtype),
            t,
            encoder_hidden_states=context.to(dtype).expand(n, -1, -1),
            down_block_additional_residuals=tuple((r * strength).to(dtype).expand(n, -1, -1, -1) for r in down),
            mid_block_additional_residual=(mid * strength).to(dtype).expand(n, -1, -1, -1),
        ).sample

    # ------------------------------------------------------------------ main call
    @torch.no_grad()
    def __call__(
        self,
        prompt: str = "",
        texts: Sequence[str] | None = None,
        polygons: Sequence[Sequence[Sequence[float]]] | None = None,
        fonts: Sequence[str | None] | None = None,
        colors: Sequence | None = None,
        image: np.ndarray | None = None,
        draw_pos: np.ndarray | None = None,
        mimic_masks: Sequence[np.ndarray | None] | None = None,
        mimic_images: Sequence[np.ndarray | None] | None = None,
        text_prompt: str | None = None,
        sort_priority: str = "top-down",
        width: int = 512,
        height: int = 512,
        num_images_per_prompt: int = 1,
        num_inference_steps: int = 20,
        guidance_scale: float = 9.0,
        strength: float = 1.0,
        attnx_scale: float = 1.0,
        eta: float = 0.0,
        font_hollow: bool = True,
        generator: torch.Generator | list[torch.Generator] | None = None,
        seed: int | None = None,
        extra_prompt: str = DEFAULT_EXTRA_PROMPT,
        negative_prompt: str = DEFAULT_NEGATIVE_PROMPT,
        keep_unmasked: bool = True,
        feather: int = 8,
        base_font=None,
        output_type: str = "np",
        callback: Callable[[int, int, torch.Tensor], None] | None = None,
    ) -> AnyText2PipelineOutput:
        """Generate (no `image`) or edit (`image` given) `num_images_per_prompt` images.

        Args:
            prompt: the scene (image prompt); quoted texts in it also become placeholders (official).
            texts, polygons: one text and one polygon (image pixels, 4+ points) per line; an edit's polygons
                refer to the uploaded image. Without `texts`, the quoted texts of `text_prompt` are the lines.
            fonts: per line a font (registry name or file) for its font hint, or None (no font hint).
            colors: per line "#rrggbb", "r,g,b", an RGB triple, or None (unspecified).
            mimic_masks: edit (or with `mimic_images`): per line an H x W mask of lettering in the uploaded
                image whose style the line imitates ("mimic from image"), or None.
            text_prompt: the WriteNet prompt (official form, e.g. 'that reads "OPEN"'); default
                ``Text are "A" and "B"``. A prompt whose placeholders CLIP merges is used as given, with a warning.
            draw_pos: instead of `polygons`, a drawn position image (white regions on black).
            image: H x W x 3 uint8 RGB picture to edit (resized: longest side <= 1024, multiples of 64).
            strength: WriteNet residual scale; attnx_scale: AttnX weight; font_hollow: outline font hints.
            generator / seed: the official order of draws (masked-latent noise, then the initial noise);
                `seed` (default: the generator's initial seed) also drives the mimic hint's random erase line.
            keep_unmasked: edit only; pixels outside the feathered edit regions stay exactly as uploaded.
        """
        from wenchuang.anytext.pipeline import AnyTextPipeline, check_texts, keep_outside_mask
        from wenchuang.anytext.sampling import (
            configure_scheduler,
            decode_to_uint8,
            masked_image_latents,
            resize_for_edit,
        )

        device = self._execution_device
        edit = image is not None
        n = int(num_images_per_prompt)
        if n < 1:
            raise RequestError("image_count", f"must be at least 1, got {n}")
        if isinstance(generator, list) and len(generator) != n:
            raise RequestError("seed", f"{len(generator)} generators for {n} images")
        warnings: list[str] = []

        # prompts and lines
        if text_prompt is None:
            if texts is None:
                texts = [t for t in parse_prompt(prompt)[1] if t != " "]
            texts = list(texts)
            text_prompt_used = default_text_prompt(texts)
        else:
            text_prompt_used, quoted = parse_prompt(text_prompt)
            texts = list(texts) if texts is not None else [t for t in quoted if t != " "]
            warning = merged_placeholder_warning(self.tokenizer, text_prompt_used, len(texts))
            if warning:
                warnings.append(warning)
        check_texts(texts)
        image_prompt = parse_prompt(prompt)[0]

        # sizes, positions
        original = None
        if edit:
            original = np.asarray(image)
            if original.dtype != np.uint8 or original.ndim != 3 or original.shape[2] != 3:
                raise RequestError("image", "must be an H x W x 3 uint8 RGB array")
            work = resize_for_edit(original.clip(1, 255), max_side=EDIT_MAX_SIDE)
            height, width = work.shape[:2]
            sx, sy = width / original.shape[1], height / original.shape[0]
        else:
            for name, side in (("width", width), ("height", height)):
                if side % 64 or side < 64:
                    raise RequestError(name, f"must be a positive multiple of 64, got {side}")
            work = np.zeros((height, width, 3), np.float64)
            sx = sy = 1.0
        position_images = None
        if polygons is None and draw_pos is not None:
            polygons, position_images = split_positions(draw_pos, (width, height) if edit else None, sort_priority)
            if len(polygons) < len(texts):
                raise RequestError("draw_pos", f"has {len(polygons)} drawn region(s) for {len(texts)} text line(s)")
            if len(polygons) > len(texts):
                warnings.append(f"{len(polygons)} drawn regions but {len(texts)} lines: the extra regions are ignored")
            polygons, position_images = polygons[: len(texts)], position_images[: len(texts)]
        else:
            polygons = [[(float(x) * sx, float(y) * sy) for x, y in poly] for poly in (polygons or [])]
        if len(polygons) != len(texts):
            raise RequestError("lines", f"{len(texts)} texts but {len(polygons)} positions")

        if seed is None:
            first = generator[0] if isinstance(generator, list) else generator
            seed = int(first.initial_seed()) if first is not None else 0
        if mimic_masks is not None and any(m is not None for m in mimic_masks):
            if mimic_images is None:
                if not edit:
                    raise RequestError("mimic", "mimicking a font from an image needs the image (edit mode or mimic_images)")
                mimic_images = [original] * len(texts)
            # the official demo passes the picture in OpenCV's channel order
            mimic_images = [None if m is None else np.ascontiguousarray(np.asarray(m)[..., ::-1]) for m in mimic_images]
        inputs = build_inputs(
            texts,
            polygons,
            width,
            height,
            base_font=base_font,
            line_fonts=fonts,
            colors=colors,
            positions=position_images,
            font_hollow=font_hollow,
            mimic_images=mimic_images,
            mimic_masks=mimic_masks,
            seed=seed,
        )

        # masked image -> latent (posterior sample: the generator's first randn)
        hint = inputs.hint
        masked = ((work.astype(np.float32) / 127.5) - 1.0 - hint[..., None] * 10).clip(-1, 1)
        masked_t = torch.from_numpy(masked.astype(np.float32)).permute(2, 0, 1)[None]
        generators = generator if isinstance(generator, list) else [generator]
        masked_latents = torch.cat([masked_image_latents(self.vae, masked_t, g) for g in generators])[:1]

        # text conditioning
        embs = self.line_embeddings(inputs)
        cond = self.encode_prompts(image_prompt + ", " + extra_prompt, text_prompt_used, embs)
        uncond = self.encode_prompts(negative_prompt, "", embs) if guidance_scale != 1.0 else None

        # WriteNet: once per prompt
        guided = self.guided_hint(inputs, masked_latents)
        residuals = self.controlnet.fast_residuals(cond["context_text"].to(guided.dtype), guided)
        neg_residuals = (
            self.controlnet.fast_residuals(uncond["context_text"].to(guided.dtype), guided) if uncond else None
        )
        self.unet.set_attnx_scale(attnx_scale)

        # initial noise
        shape = (n, self.unet.config.in_channels, height // 8, width // 8)
        if isinstance(generator, list):
            latents = torch.cat([torch.randn((1, *shape[1:]), generator=g) for g in generator])
        else:
            latents = torch.randn(shape, generator=generator)
        # timesteps before the noise scale: a sigma-based sampler's init_noise_sigma depends on them
        timesteps = configure_scheduler(self.scheduler, num_inference_steps, device=device)
        latents = latents.to(device, self.unet.dtype) * self.scheduler.init_noise_sigma

        step_kwargs = AnyTextPipeline._step_kwargs(self, eta, generator)  # reads only self.scheduler
        for i, t in enumerate(self.progress_bar(timesteps)):
            model_input = self.scheduler.scale_model_input(latents, t)
            noise = self.predict_noise(
                model_input,
                t,
                cond["context_img"],
                residuals,
                strength,
                uncond["context_img"] if uncond else None,
                neg_residuals,
                guidance_scale,
            )
            latents = self.scheduler.step(noise, t, latents, **step_kwargs).prev_sample
            if callback is not None:
                callback(i, int(t), latents)

        debug = {
            "glyphs": (np.clip(np.sum(inputs.glyphs, axis=0), 0, 1) * 255).astype(np.uint8)
            if inputs.glyphs
            else np.zeros((height, width, 3), np.uint8),
            "positions": hint.astype(np.float32),
            "font_hint": (inputs.font_hint * 255).astype(np.uint8),
            "masked_input": ((masked + 1.0) * 127.5).clip(0, 255).astype(np.uint8),
        }
        if output_type == "latent":
            self.maybe_free_model_hooks()
            return AnyText2PipelineOutput(images=latents, debug=debug, warnings=warnings)
        result = decode_to_uint8(self.vae, latents)
        self.maybe_free_model_hooks()
        if edit and keep_unmasked:
            result = [keep_outside_mask(original, img, hint.astype(np.float32), feather) for img in result]
        return AnyText2PipelineOutput(images=result, debug=debug, warnings=warnings)
