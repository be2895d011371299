"""`AnyTextPipeline`: AnyText text generation and text editing as one diffusers pipeline.

One `__call__` does both modes, with the official demo's parameters and defaults:

- generate: `texts` are drawn into `polygons` of a new `width` x `height` image;
- edit: `image` is the picture to edit; the polygons mark where new text goes. By default every
  pixel outside the (feathered) edit regions is kept exactly as uploaded (`keep_unmasked`).

The official procedure is followed step by step: glyph images at twice the output size, position
images, the masked image's latent as a SAMPLE of the VAE posterior (first `randn` of the
generator), the initial noise (next `randn`), DDIM on the official timesteps (951, 901, ... 1 for
20 steps) with classifier-free guidance from two model calls, and the official 8-bit conversion.

`__call__` runs diffusers' named steps in that order: `check_inputs`, `prepare_edit_image`,
`prepare_conditions`, `prepare_prompt_embeds`, `prepare_latents` (both random draws, in the
official order), `prepare_control_hint`, the denoising loop (with `callback_on_step_end`) and
`decode_latents`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from diffusers import AutoencoderKL, DDIMScheduler, DiffusionPipeline, UNet2DConditionModel
from diffusers.schedulers import KarrasDiffusionSchedulers
from diffusers.utils import BaseOutput

from wenchuang.anytext import convert
from wenchuang.anytext.configs import AnyTextConfig
from wenchuang.anytext.controlnet import AnyTextControlNetModel
from wenchuang.anytext.sampling import (
    configure_scheduler,
    decode_to_uint8,
    feathered_mask,
    masked_image_latents,
    resize_for_edit,
)
from wenchuang.anytext.text_embedding import encode_prompt_with_glyphs
from wenchuang.checkpoints import key_problems, raise_key_problems
from wenchuang.errors import ModelError, RequestError
from wenchuang.layout.glyphs import build_text_conditions, revise_position
from wenchuang.layout.polygons import polygons_from_mask
from wenchuang.prompts import parse_prompt, quoted_texts
from wenchuang.request import (  # the official demo's defaults and limits, defined once
    DEFAULT_EXTRA_PROMPT,
    DEFAULT_NEGATIVE_PROMPT,
    MAX_CHARS_PER_LINE,
    MAX_LINES,
)


@dataclass
class AnyTextConditions:
    """The per-line images the model is conditioned on (float32, values in [0, 1])."""

    texts: list[str]
    glyphs: list[np.ndarray]  # (2H, 2W) each
    gly_lines: list[np.ndarray]  # (80, 512) each, the recogniser's input
    positions: list[np.ndarray]  # (H, W) each
    hint: np.ndarray  # (H, W): sum of the drawn positions, clipped to [0, 1]


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
    return parse_prompt(prompt, explicit_lines=list(texts)).prompt_with_placeholders


def build_conditions(
    texts: Sequence[str], polygons: Sequence[Sequence[Sequence[float]]], width: int, height: int, font=None
) -> AnyTextConditions:
    """Glyph, glyph-line and position images for the lines (wenchuang.layout.glyphs)."""
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
        parts = convert.split_checkpoint(state, config)
        problems = [f"unexpected {k}" for k in parts.unexpected]
        models = convert.build_models(config, device="meta")
        for name in ("unet", "controlnet", "vae"):
            problems += key_problems(models[name], getattr(parts, name))
        scheduler = DDIMScheduler(**config.scheduler_config())
        problems += convert.check_schedule(parts.schedule, config, scheduler)
        # the text side is checked and, when every part is sound, loaded (fp32) in one go
        text_components = convert.convert_text_components(parts.text, tokenizer_dir=tokenizer_dir)
        problems += text_components.pop("problems")
        raise_key_problems(problems, source)

        # the meta models from the key check take the checkpoint's tensors directly (no random init),
        # cast straight to `torch_dtype` (no float32 copy of a bf16/fp16 pipeline in memory)
        for name in ("unet", "controlnet", "vae"):
            weights = {
                k: v.to(torch_dtype if v.is_floating_point() else v.dtype).contiguous()
                for k, v in getattr(parts, name).items()
            }
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
        config = AnyTextConfig.from_yaml(yaml_path) if yaml_path else AnyTextConfig.full()
        state = convert.load_checkpoint(path)
        return cls.from_official_state_dict(
            state, config, tokenizer_dir=tokenizer_dir, source=str(path), torch_dtype=torch_dtype
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
    _callback_tensor_inputs = ["latents", "prompt_embeds", "negative_prompt_embeds"]

    @property
    def num_timesteps(self) -> int:
        """Denoising steps of the current (or last) call."""
        return getattr(self, "_num_timesteps", 0)

    @property
    def interrupt(self) -> bool:
        """Set `pipe._interrupt = True` (e.g. in `callback_on_step_end`) to skip the remaining steps."""
        return getattr(self, "_interrupt", False)

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
        callback_on_step_end: Callable[[Any, int, torch.Tensor, dict], dict] | None = None,
        callback_on_step_end_tensor_inputs: Sequence[str] = ("latents",),
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
            revise_positions: generate only; each line's position becomes its glyphs' closed region
                plus their rotated bounding box (the official demo's "revise position",
                `wenchuang.layout.glyphs.revise_position`).
            keep_unmasked: edit only; outside the edit regions grown and feathered by `feather`
                pixels, the output keeps the uploaded pixels exactly (output at the uploaded size).
            output_type: "np" (uint8 arrays) or "latent".
            callback_on_step_end: diffusers' step callback, `callback(pipe, step, timestep, tensors)`
                after every denoising step; `tensors` holds the `callback_on_step_end_tensor_inputs`
                (any of "latents", "prompt_embeds", "negative_prompt_embeds") and the dict it returns
                replaces them. Setting `pipe._interrupt = True` skips the remaining steps.
        """
        self.check_inputs(
            image, width, height, num_images_per_prompt, generator, callback_on_step_end_tensor_inputs
        )
        device = self._execution_device
        edit = image is not None
        n = num_images_per_prompt
        original, work = None, None
        scale = (1.0, 1.0)
        if edit:
            original, work = self.prepare_edit_image(image)
            height, width = work.shape[:2]
            scale = (width / original.shape[1], height / original.shape[0])

        conditions, warnings = self.prepare_conditions(
            prompt, texts, polygons, draw_pos, sort_priority, width, height, scale, font, conditions,
            revise_positions=revise_positions and not edit,
        )
        masked = masked_input(work, conditions.hint, width, height)
        prompt_embeds, negative_prompt_embeds = self.prepare_prompt_embeds(
            prompt, conditions, extra_prompt, negative_prompt, guidance_scale, n, prompt_embeds,
            negative_prompt_embeds,
        )
        # timesteps first: a sigma-based sampler's initial noise scale depends on them
        timesteps = configure_scheduler(self.scheduler, num_inference_steps, device=device)
        # the generator's first draw samples the masked image's latent, its second the initial noise
        masked_latents, latents = self.prepare_latents(masked, n, generator, device, self.unet.dtype)
        guided_hint = self.prepare_control_hint(conditions, masked_latents, n, device)

        step_kwargs = self._step_kwargs(eta, generator)
        self._num_timesteps, self._interrupt = len(timesteps), False
        for i, t in enumerate(self.progress_bar(timesteps)):
            if self.interrupt:
                continue
            model_input = self.scheduler.scale_model_input(latents, t)
            noise = self.predict_noise(
                model_input, t, prompt_embeds, guided_hint, strength, negative_prompt_embeds, guidance_scale
            )
            latents = self.scheduler.step(noise, t, latents, **step_kwargs).prev_sample
            if callback_on_step_end is not None:
                current = {
                    "latents": latents,
                    "prompt_embeds": prompt_embeds,
                    "negative_prompt_embeds": negative_prompt_embeds,
                }
                chosen = {k: current[k] for k in callback_on_step_end_tensor_inputs}
                returned = callback_on_step_end(self, i, t, chosen) or {}
                latents = returned.get("latents", latents)
                prompt_embeds = returned.get("prompt_embeds", prompt_embeds)
                negative_prompt_embeds = returned.get("negative_prompt_embeds", negative_prompt_embeds)

        debug = debug_images(conditions, masked, width, height)
        if output_type == "latent":
            self.maybe_free_model_hooks()
            return AnyTextPipelineOutput(images=latents, debug=debug, warnings=warnings)
        images = self.decode_latents(latents)
        self.maybe_free_model_hooks()
        if edit and keep_unmasked:
            images = [keep_outside_mask(original, img, conditions.hint, feather) for img in images]
        return AnyTextPipelineOutput(images=images, debug=debug, warnings=warnings)

    # ------------------------------------------------------------------ the steps of __call__
    def check_inputs(
        self,
        image: np.ndarray | None,
        width: int,
        height: int,
        num_images_per_prompt: int,
        generator,
        callback_on_step_end_tensor_inputs: Sequence[str] = (),
    ) -> None:
        """Clear errors for arguments the call cannot run with, before any work is done.

        The lines themselves (count, length) are checked by `prepare_conditions`, once they are known.
        """
        if num_images_per_prompt < 1:
            raise RequestError("image_count", f"must be at least 1, got {num_images_per_prompt}")
        if isinstance(generator, list) and len(generator) != num_images_per_prompt:
            raise RequestError("seed", f"{len(generator)} generators for {num_images_per_prompt} images")
        if image is not None:
            array = np.asarray(image)
            if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
                raise RequestError("image", "must be an H x W x 3 uint8 RGB array")
        else:
            for name, side in (("width", width), ("height", height)):
                if side % 64 or side < 64:
                    raise RequestError(name, f"must be a positive multiple of 64, got {side}")
        unknown = [k for k in callback_on_step_end_tensor_inputs if k not in self._callback_tensor_inputs]
        if unknown:
            raise RequestError(
                "callback_on_step_end_tensor_inputs",
                f"has {unknown}; the tensors a step callback can get are {self._callback_tensor_inputs}",
            )

    @staticmethod
    def prepare_edit_image(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(the uploaded image, the working image): clipped to 1-255 and resized as the official demo."""
        original = np.asarray(image)
        return original, resize_for_edit(original.clip(1, 255))

    def prepare_conditions(
        self,
        prompt: str,
        texts: Sequence[str] | None,
        polygons: Sequence[Sequence[Sequence[float]]] | None,
        draw_pos: np.ndarray | None,
        sort_priority: str,
        width: int,
        height: int,
        scale: tuple[float, float] = (1.0, 1.0),
        font=None,
        conditions: AnyTextConditions | None = None,
        revise_positions: bool = False,
    ) -> tuple[AnyTextConditions, list[str]]:
        """The lines' glyph, glyph-line and position images at the working size, and any warnings.

        Lines are `texts` (else the prompt's quoted texts) in `polygons` (else the regions of the drawn
        `draw_pos` mask), scaled by `scale` (x, y) from the uploaded image to the working size; or the
        given `conditions`. With `revise_positions` each position follows its rendered glyphs.
        """
        if conditions is None:
            texts = list(texts) if texts is not None else quoted_texts(prompt)
            check_texts(texts)
            if polygons is None and draw_pos is not None:
                mask = np.asarray(draw_pos)
                polygons = polygons_from_mask(mask.max(axis=2) if mask.ndim == 3 else mask, sort_priority)
                if len(polygons) != len(texts):
                    raise RequestError(
                        "draw_pos", f"has {len(polygons)} drawn region(s) for {len(texts)} text line(s)"
                    )
            sx, sy = scale
            scaled = [[(float(x) * sx, float(y) * sy) for x, y in poly] for poly in (polygons or [])]
            conditions = build_conditions(texts, scaled, width, height, font=font)
        else:
            check_texts(conditions.texts)
        if revise_positions:
            return revised_conditions(conditions)
        return conditions, []

    def prepare_prompt_embeds(
        self,
        prompt: str,
        conditions: AnyTextConditions,
        extra_prompt: str,
        negative_prompt: str,
        guidance_scale: float,
        num_images: int,
        prompt_embeds: torch.Tensor | None = None,
        negative_prompt_embeds: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Contexts for the prompt (placeholders carrying the lines' OCR features, then ' , ' and the
        extra prompt) and for the negative prompt (none without guidance), one row per image."""
        if prompt_embeds is None:
            cond_string = placeholder_prompt(prompt, conditions.texts) + " , " + extra_prompt
            prompt_embeds = self.encode_prompt(cond_string, conditions.gly_lines)
        if negative_prompt_embeds is None and guidance_scale != 1.0:
            negative_prompt_embeds = self.encode_prompt(negative_prompt, None)
        device, dtype = self._execution_device, self.unet.dtype
        prompt_embeds = prompt_embeds.to(device, dtype).expand(num_images, -1, -1)
        if negative_prompt_embeds is not None:
            negative_prompt_embeds = negative_prompt_embeds.to(device, dtype).expand(num_images, -1, -1)
        return prompt_embeds, negative_prompt_embeds

    def prepare_latents(
        self,
        masked_image: np.ndarray,
        num_images: int,
        generator: torch.Generator | list[torch.Generator] | None,
        device: torch.device,
        dtype: torch.dtype,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(masked-image latents, initial latents), drawn in the official order.

        Each generator first draws the noise of the masked image's VAE posterior sample, then the
        initial noise x_T (the order after the official `seed_everything`; parity depends on it).
        Both are drawn on the CPU, so a seed gives the same images on every device. One generator
        serves the whole batch: one posterior sample shared by all images, then one draw of every
        image's initial noise; a list gives each image its own generator.
        """
        masked_t = torch.from_numpy(masked_image).permute(2, 0, 1)[None]
        generators = generator if isinstance(generator, list) else [generator]
        masked_latents = torch.cat([masked_image_latents(self.vae, masked_t, g) for g in generators])
        if masked_latents.shape[0] == 1:
            masked_latents = masked_latents.expand(num_images, -1, -1, -1)
        height, width = masked_image.shape[:2]
        shape = (num_images, self.unet.config.in_channels, height // 8, width // 8)
        if isinstance(generator, list):
            latents = torch.cat([torch.randn((1, *shape[1:]), generator=g) for g in generator])
        else:
            latents = torch.randn(shape, generator=generator)
        latents = latents.to(device, dtype) * self.scheduler.init_noise_sigma
        return masked_latents.to(device), latents

    def prepare_control_hint(
        self, conditions: AnyTextConditions, masked_latents: torch.Tensor, num_images: int, device
    ) -> torch.Tensor:
        """The fused glyph / position / masked-latent hint of the control model (constant over the steps)."""
        height, width = conditions.hint.shape
        glyphs = _stack(conditions.glyphs, (2 * height, 2 * width)).to(device)
        positions = _stack(conditions.positions, (height, width)).to(device)
        return self.controlnet.encode_hint(
            glyphs.expand(num_images, -1, -1, -1), positions.expand(num_images, -1, -1, -1), masked_latents
        )

    @torch.no_grad()
    def decode_latents(self, latents: torch.Tensor) -> list[np.ndarray]:
        """H x W x 3 uint8 images (`wenchuang.anytext.sampling.decode_to_uint8`)."""
        return decode_to_uint8(self.vae, latents)

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
    """Positions revised as the official demo's "revise position" (`wenchuang.layout.glyphs.revise_position`).

    Each line's position becomes the closed region of its rendered glyphs plus that region's rotated
    bounding box. The hint stays the drawn positions' union, as in the demo (in a generation it
    feeds no model input). A line whose glyphs do not close into one region keeps its position
    (with a warning), as in the demo.
    """
    positions, warnings = [], []
    for i, (glyph, position) in enumerate(zip(conditions.glyphs, conditions.positions, strict=True)):
        height, width = position.shape
        revised = revise_position(glyph, width, height)
        if revised is None:
            warnings.append(f"could not revise the position of line {i + 1}; it is used as drawn")
            positions.append(position)
        else:
            positions.append(revised[0])
    revised_cond = AnyTextConditions(
        conditions.texts, conditions.glyphs, conditions.gly_lines, positions, conditions.hint
    )
    return revised_cond, warnings


def masked_input(work: np.ndarray | None, hint: np.ndarray, width: int, height: int) -> np.ndarray:
    """The official masked image, H x W x 3 float32 in [-1, 1]: the working image with the line regions
    (`hint`) blanked for an edit, all zeros (mid grey) for a generation."""
    if work is None:
        return np.zeros((height, width, 3), np.float32)
    return (work.astype(np.float32) / 127.5 - 1.0) * (1.0 - hint[..., None])


def debug_images(conditions: AnyTextConditions, masked: np.ndarray, width: int, height: int) -> dict:
    """glyphs (2H x 2W, all lines), positions (the hint, H x W) in [0, 1]; the masked input as uint8."""
    return {
        "glyphs": np.clip(sum(conditions.glyphs, np.zeros((2 * height, 2 * width), np.float32)), 0, 1),
        "positions": conditions.hint,
        "masked_input": ((masked + 1.0) * 127.5).clip(0, 255).astype(np.uint8),
    }


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
