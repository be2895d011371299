"""The `anytext2` engine: DesignRequest -> AnyText2Pipeline -> DesignResult, with per-line font and colour.

It is the `anytext` engine (`wenchuang.engines.anytext_engine`: lazy loading, fp16 and CPU offload on
small GPUs, automatic layout, prompt translation, the OCR check of every line) with AnyText2's own
per-line controls:

- `TextLine.font`: a registry name (`wenchuang.layout.fonts`) or a font file becomes that line's font
  hint; ``mimic`` imitates the lettering already inside the line's polygon of the uploaded picture and
  ``mimic:x1,y1,x2,y2`` (or the 8 numbers of a quad) the lettering inside that region (edit, or
  generate onto an image); no font = the model's own style.
- `TextLine.color`: ``#RRGGBB``; no colour = the model chooses.

Images are sampled one per pipeline call: AnyText2 runs its WriteNet once per call on the first
image's masked latent, so only single-image calls keep image k reproducible on its own with seed + k.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from wenchuang.engines.anytext_engine import AnyTextEngine, _cuda_available
from wenchuang.errors import ModelError, RequestError
from wenchuang.layout.fonts import MIMIC_FONT, is_mimic_font
from wenchuang.request import DesignRequest, TextLine

NAME = "anytext2"
PIPELINE_CLASS = "AnyText2Pipeline"


def engine_status(model: str | None = None) -> tuple[bool, str]:
    """Whether AnyText2 weights are found (nothing is loaded) and, if not, how to get them."""
    from wenchuang.anytext2.weights import locate_model

    try:
        where = locate_model(model)
    except ModelError as exc:
        return False, str(exc)
    if where.kind == "pipeline":
        found = _pipeline_class(where.path)
        if found != PIPELINE_CLASS:
            return False, f"{where.path} holds a {found or 'unknown'} pipeline, not AnyText2"
    elif _is_anytext_v1(where.path):
        return False, f"{where.path} is an AnyText (v1) checkpoint, not AnyText2; use the anytext engine"
    elif where.tokenizer is None:
        from wenchuang.anytext.tokenizer import load_tokenizer

        try:  # the official checkpoint needs CLIP's tokenizer files besides it (never downloaded here)
            load_tokenizer(None)
        except ModelError as exc:
            return False, f"AnyText2 checkpoint at {where.path}, but {exc}"
    device = "GPU" if _cuda_available() else "CPU (slow: minutes per image)"
    kind = "converted pipeline" if where.kind == "pipeline" else "official checkpoint, converted when loaded"
    return True, f"AnyText2 weights at {where.path} ({kind}); runs on {device}"


def _pipeline_class(folder: Path) -> str | None:
    try:
        return json.loads((Path(folder) / "model_index.json").read_text(encoding="utf-8")).get("_class_name")
    except (OSError, ValueError, AttributeError):
        return None


def _is_anytext_v1(checkpoint: Path) -> bool:
    """An official AnyText v1 checkpoint given as AnyText2's: by name, or by a safetensors header
    without AttnX keys (read without loading any tensor)."""
    from wenchuang.anytext.weights import CHECKPOINT_NAMES

    path = Path(checkpoint)
    if path.name in CHECKPOINT_NAMES or "v1" in path.name.lower():
        return True
    if path.suffix != ".safetensors":
        return False
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as f:
            keys = list(f.keys())
    except Exception:  # unreadable: loading will say why
        return False
    return bool(keys) and not any(".attn1x." in k for k in keys)


def create_engine(model: str | None = None, **options: Any) -> AnyText2Engine:
    return AnyText2Engine(model=model, **options)


def mimic_region(font: str, polygon, field_name: str = "font") -> list[tuple[float, float]]:
    """The region whose lettering a ``mimic[:REGION]`` font imitates: REGION, else the line's polygon."""
    from wenchuang.layout.polygons import parse_position

    spec = font.strip()
    if spec == MIMIC_FONT:
        return [(float(x), float(y)) for x, y in polygon]
    return parse_position(spec[len(MIMIC_FONT) + 1 :], field_name=field_name)


class AnyText2Engine(AnyTextEngine):
    """Runs requests on an `AnyText2Pipeline` (loaded on first use, or given ready-made).

    Options as `AnyTextEngine` (`device`, `fp16`, `cpu_offload`, `pipeline`), plus `attnx_scale`
    (weight of AnyText2's extra attention, default 1) and `font_hollow` (outlined font hints, default on).
    """

    name = NAME

    def __init__(self, model: str | None = None, attnx_scale: float = 1.0, font_hollow: bool = True, **options: Any):
        options.pop("batch_size", None)  # one image per call (module docstring)
        super().__init__(model=model, batch_size=1, **options)
        self.attnx_scale = float(attnx_scale)
        self.font_hollow = bool(font_hollow)

    def _load_pipeline(self, dtype):
        from wenchuang.anytext2.loading import load_pipeline

        return load_pipeline(self.model, torch_dtype=dtype)

    def _model_options(self, request: DesignRequest, lines: list[TextLine], warnings: list[str]) -> dict[str, Any]:
        if request.revise_positions:
            warnings.append("the anytext2 engine does not revise positions; the regions are used as drawn")
        fonts: list[str | None] = []
        masks: list[np.ndarray | None] = []
        for i, line in enumerate(lines):
            if is_mimic_font(line.font):
                masks.append(self._mimic_mask(request, line, i))
                fonts.append(None)
            else:
                masks.append(None)
                fonts.append(line.font or None)
        options: dict[str, Any] = {
            "fonts": fonts,
            "colors": [line.color for line in lines],
            "attnx_scale": self.attnx_scale,
            "font_hollow": self.font_hollow,
            "sort_priority": request.sort_priority,
        }
        if any(m is not None for m in masks):
            options["mimic_masks"] = masks
        return options

    @staticmethod
    def _mimic_mask(request: DesignRequest, line: TextLine, index: int) -> np.ndarray:
        from wenchuang.layout.polygons import polygon_mask
        from wenchuang.request import check_polygon

        field_name = f"lines[{index}].font"
        if request.image is None:
            raise RequestError(
                field_name, f"{line.font!r} imitates lettering of the uploaded picture: edit an image (or generate onto one)"
            )
        height, width = request.image.shape[:2]
        region = check_polygon(mimic_region(line.font, line.polygon, field_name), width, height, field_name)
        return polygon_mask(region, width, height, np.uint8) * 255

    def _debug_images(self, out) -> dict[str, np.ndarray]:
        return {
            "glyphs": out.debug["glyphs"],
            "positions": (out.debug["positions"] * 255).astype(np.uint8),
            "font_hint": out.debug["font_hint"],
            "masked_input": out.debug["masked_input"],
        }
