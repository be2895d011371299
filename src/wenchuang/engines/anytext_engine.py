"""The `anytext` engine: DesignRequest -> AnyTextPipeline -> DesignResult.

Each line's glyph and position images come from `wenchuang.layout.glyphs`; lines without a polygon
are placed by `wenchuang.layout.auto`; every image is read back line by line with
`wenchuang.ocr.check_lines`, as the classic engine does. Image k of a request uses seed
`seed + k`, so any single image can be reproduced on its own.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from wenchuang.errors import ModelError, RequestError
from wenchuang.layout.auto import auto_layout
from wenchuang.ocr import check_lines
from wenchuang.prompts import is_chinese, parse_prompt, prompt_for_model
from wenchuang.request import DesignRequest, DesignResult, TextLine

NAME = "anytext"
OFFLOAD_ENV = "WENCHUANG_CPU_OFFLOAD"
# Below this much GPU memory the pipeline runs with model CPU offload by default: fp16 at 512x512
# needs about 6 GB without it (the target in docs/benchmarks.md), about 3.5 GB with it.
OFFLOAD_BELOW_BYTES = 7 * 1024**3
# Images sampled together: one at a time on GPUs under 12 GiB (each extra image adds its own UNet and
# ControlNet activations, twice with guidance), else up to DEFAULT_BATCH. Image k always uses seed
# seed + k, so the batch size never changes which images come out.
ONE_AT_A_TIME_BELOW_BYTES = 12 * 1024**3
DEFAULT_BATCH = 4


def engine_status(model: str | None = None) -> tuple[bool, str]:
    """Whether AnyText weights are found (nothing is loaded) and, if not, how to get them."""
    from wenchuang.anytext.weights import locate_model

    try:
        where = locate_model(model)
    except ModelError as exc:
        return False, str(exc)
    if where.kind == "checkpoint" and where.tokenizer is None:
        from wenchuang.anytext.tokenizer import load_tokenizer

        try:  # the official checkpoint needs CLIP's tokenizer files besides it (never downloaded here)
            load_tokenizer(None)
        except ModelError as exc:
            return False, f"AnyText checkpoint at {where.path}, but {exc}"
    device = "GPU" if _cuda_available() else "CPU (slow: minutes per image)"
    kind = "converted pipeline" if where.kind == "pipeline" else "official checkpoint, converted when loaded"
    return True, f"AnyText weights at {where.path} ({kind}); runs on {device}"


def create_engine(model: str | None = None, **options: Any) -> AnyTextEngine:
    return AnyTextEngine(model=model, **options)


def wants_cpu_offload(device: str, choice: bool | None = None) -> bool:
    """Whether to run with model CPU offload: `choice` when given, else $WENCHUANG_CPU_OFFLOAD (1/0),
    else on a CUDA device with less than 7 GiB of memory (6 GB cards and smaller)."""
    if choice is not None:
        return bool(choice)
    env = os.environ.get(OFFLOAD_ENV, "").strip().lower()
    if env:
        if env not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
            raise RequestError("cpu_offload", f"${OFFLOAD_ENV} must be 1 or 0, got {env!r}")
        return env in ("1", "true", "yes", "on")
    if not str(device).startswith("cuda") or not _cuda_available():
        return False
    import torch

    return torch.cuda.get_device_properties(torch.device(device)).total_memory < OFFLOAD_BELOW_BYTES


def images_per_batch(device: str, choice: int | None = None) -> int:
    """How many images one pipeline call samples: `choice` when given, else 1 on a CUDA device with
    less than 12 GiB, else `DEFAULT_BATCH`."""
    if choice is not None:
        if int(choice) < 1:
            raise RequestError("batch_size", f"must be at least 1, got {choice}")
        return int(choice)
    if str(device).startswith("cuda") and _cuda_available():
        import torch

        if torch.cuda.get_device_properties(torch.device(device)).total_memory < ONE_AT_A_TIME_BELOW_BYTES:
            return 1
    return DEFAULT_BATCH


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


class AnyTextEngine:
    """Runs requests on an `AnyTextPipeline` (loaded on first use, or given ready-made).

    Options: `device` ("cuda" when available, else "cpu"), `dtype` ("auto", "float32", "bfloat16",
    "float16"; auto = float16 on a GPU, bfloat16 on a CPU with native bf16, else float32: see
    `wenchuang.anytext.precision`), `fp16` (older switch: True = float16, False = float32; `dtype` wins),
    `cpu_offload` (model CPU offload: True, False, or None = `wants_cpu_offload`'s automatic choice),
    `batch_size` (images sampled together; None = `images_per_batch`'s automatic choice),
    `lora` (a few-step LoRA file fused into the UNet, `wenchuang.anytext.lora`; its sampler becomes the
    default of requests that keep the default sampler), `pipeline` (an already built pipeline, e.g. in tests).
    Each request's `sampler` (`wenchuang.anytext.schedulers`) is set on the pipeline before it runs.
    """

    name = NAME

    def __init__(
        self,
        model: str | None = None,
        pipeline=None,
        device: str | None = None,
        fp16: bool | None = None,
        cpu_offload: bool | None = None,
        batch_size: int | None = None,
        dtype: str | None = None,
        lora: str | None = None,
        **_ignored: Any,
    ):
        from wenchuang.anytext.precision import resolve_dtype_name

        self.model = model
        self._pipe = pipeline
        self.device = device or ("cuda" if _cuda_available() else "cpu")
        if dtype is None and fp16 is not None:
            dtype = "float16" if fp16 else "float32"
        self.dtype_name = resolve_dtype_name(dtype, self.device)
        self.fp16 = self.dtype_name == "float16"
        self.lora = lora
        self.lora_info = None
        self.cpu_offload = wants_cpu_offload(self.device, cpu_offload)
        self.batch_size = images_per_batch(self.device, batch_size)

    @property
    def pipeline(self):
        if self._pipe is None:
            import torch

            dtype = getattr(torch, self.dtype_name)
            pipe = self._load_pipeline(dtype)
            if self.lora:
                from wenchuang.anytext.lora import load_fewstep_lora

                self.lora_info = load_fewstep_lora(pipe, self.lora)
            if self.cpu_offload and self.device != "cpu":
                pipe.enable_model_cpu_offload(device=self.device)
            else:
                pipe.to(self.device)
            self._pipe = pipe
        return self._pipe

    def generate(self, request: DesignRequest) -> DesignResult:
        return self._run(request)

    def edit(self, request: DesignRequest) -> DesignResult:
        return self._run(request)

    # ------------------------------------------------------------------ internals
    def _set_sampler(self, pipe, request: DesignRequest) -> list[str]:
        """Put the request's sampler on the pipeline (a loaded few-step LoRA's own sampler when the
        request keeps the default one); warnings for choices that cannot give good images."""
        from wenchuang.anytext.schedulers import FEW_STEP_SAMPLERS, set_sampler
        from wenchuang.request import DEFAULT_SAMPLER

        sampler = request.sampler
        if self.lora_info is not None and sampler == DEFAULT_SAMPLER:
            sampler = self.lora_info.sampler
        set_sampler(pipe, sampler)
        if sampler in FEW_STEP_SAMPLERS and self.lora_info is None:
            return [f"the {sampler} sampler is made for a few-step LoRA (none is loaded): expect noise-like images"]
        return []

    def _run_settings(self, pipe) -> dict[str, Any]:
        """What the images were made with besides the request: dtype, sampler, few-step LoRA."""
        from wenchuang.anytext.schedulers import sampler_name

        settings: dict[str, Any] = {"dtype": self.dtype_name, "sampler": sampler_name(pipe.scheduler)}
        if self.lora_info is not None:
            settings["lora"] = self.lora_info.to_dict()
        return settings

    def _guidance(self, request: DesignRequest, warnings: list[str]) -> float:
        """The request's guidance; with a few-step LoRA, the LoRA's own when the request keeps the default."""
        default = DesignRequest.__dataclass_fields__["guidance_scale"].default
        if self.lora_info is not None and request.guidance_scale == default:
            warnings.append(
                f"the {self.lora_info.kind} LoRA runs with guidance {self.lora_info.guidance_scale:g} "
                f"(one model call per step); set guidance_scale to override"
            )
            return self.lora_info.guidance_scale
        return request.guidance_scale

    def _load_pipeline(self, dtype):
        from wenchuang.anytext.loading import load_pipeline

        return load_pipeline(self.model, torch_dtype=dtype)

    def _model_options(self, request: DesignRequest, lines: list[TextLine], warnings: list[str]) -> dict[str, Any]:
        """The pipeline arguments that differ between the models (AnyText: one font for all lines)."""
        fonts = [line.font for line in lines if line.font]
        font = fonts[0] if fonts else None
        if len(set(fonts)) > 1:
            warnings.append(f"one font per image: all lines use {font}")
        return {"font": font, "revise_positions": request.revise_positions}

    def _debug_images(self, out) -> dict[str, np.ndarray]:
        return {
            "glyphs": (out.debug["glyphs"] * 255).astype(np.uint8),
            "positions": (out.debug["positions"] * 255).astype(np.uint8),
            "masked_input": out.debug["masked_input"],
        }

    def _placed_lines(self, request: DesignRequest) -> list[TextLine]:
        lines = list(request.lines)
        if all(line.polygon is not None for line in lines):
            return lines
        width, height = request.canvas_size
        return auto_layout(lines, width, height)

    def _run(self, request: DesignRequest) -> DesignResult:
        import torch

        request.validate()
        if request.remove_regions or request.remove_all_text or request.mask is not None:
            raise RequestError(
                "remove_regions",
                f"the {self.name} engine writes new text into polygons; remove text with the classic engine",
            )
        if request.mode == "edit" and not request.lines:
            raise RequestError("lines", f"edit with the {self.name} engine needs at least one new text line")
        timings: dict[str, float] = {}
        start = time.perf_counter()
        pipe = self.pipeline
        timings["load"] = time.perf_counter() - start
        sampler_warnings = self._set_sampler(pipe, request)

        lines = self._placed_lines(request)
        seeds = request.resolved_seeds()
        generators = [torch.Generator().manual_seed(int(s)) for s in seeds]
        warnings: list[str] = list(sampler_warnings)
        options = self._model_options(request, lines, warnings)
        guidance = self._guidance(request, warnings)

        model_prompt, translation = _prompt_for_model(request, [line.text for line in lines])
        if translation is not None:
            warnings += list(translation.get("notes", []))

        start = time.perf_counter()
        images = []
        for first in range(0, len(generators), self.batch_size):
            batch = generators[first : first + self.batch_size]
            out = pipe(
                prompt=model_prompt,
                texts=[line.text for line in lines],
                polygons=[line.polygon for line in lines],
                image=request.image,  # generate onto a given image = AnyText edit of its regions
                width=request.width,
                height=request.height,
                num_images_per_prompt=len(batch),
                num_inference_steps=request.steps,
                guidance_scale=guidance,
                strength=request.strength,
                eta=request.eta,
                generator=batch,
                extra_prompt=request.extra_prompt,
                negative_prompt=request.negative_prompt,
                keep_unmasked=request.keep_unmasked,
                **options,
            )
            images += list(out.images)
            warnings += [w for w in out.warnings if w not in warnings]  # every batch says the same
        timings["sampling"] = time.perf_counter() - start

        start = time.perf_counter()
        readings = []
        canvas_w, canvas_h = request.canvas_size
        for image in images:
            sx, sy = image.shape[1] / canvas_w, image.shape[0] / canvas_h
            scaled = [
                TextLine(line.text, [(x * sx, y * sy) for x, y in line.polygon], line.font, line.color)
                for line in lines
            ]
            readings.append(check_lines(image, scaled))
        timings["ocr_check"] = time.perf_counter() - start

        debug = self._debug_images(out)
        return DesignResult(
            images=images,
            seeds=list(seeds),
            request=request,
            engine=self.name,
            model=str(self.model) if self.model else None,
            readings=readings,
            debug=debug,
            timings=timings,
            warnings=warnings,
            extra={"lines": [line.to_dict() for line in lines], "model_prompt": model_prompt}
            | self._run_settings(pipe)
            | ({"translation": translation} if translation is not None else {}),
        )


def _prompt_for_model(request: DesignRequest, texts: list[str]) -> tuple[str, dict | None]:
    """The English prompt the model sees: the user's edited translation, or the prompt translated.

    AnyText's CLIP text encoder understands English only; the quoted lines are never translated.
    """
    if request.translated_prompt is not None and request.translated_prompt.strip():
        return request.translated_prompt, {
            "text": request.translated_prompt,
            "source": request.prompt,
            "model": "user",
            "notes": [],
            "terms": [],
        }
    if not is_chinese(parse_prompt(request.prompt, texts).scene):  # quoted lines may be Chinese
        return request.prompt, None
    _, translation = prompt_for_model(request.prompt, texts)
    return translation.text, translation.to_dict()
