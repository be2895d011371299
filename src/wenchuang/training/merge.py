"""`wenchuang merge`: an AnyText pipeline whose base model (UNet, VAE, CLIP text encoder) is a tuned SD1.5.

AnyText's text ControlNet was trained against SD1.5, so a style fine-tune of SD1.5 (DreamBooth, a
community checkpoint, or SD1.5 + a LoRA) can take the base's place: every UNet, VAE and text-encoder
weight of AnyText is replaced by the tuned model's, while the text ControlNet, the text-embedding
projection, the OCR recogniser and the tokenizer stay AnyText's. The weights are loaded into
AnyText's own modules with strict key and shape checks, so a model of another family (SD2, SDXL)
is refused with the mismatching keys named.

Bases: a diffusers folder (or hub id) with ``unet/``, ``vae/``, ``text_encoder/``; a single-file
``.safetensors``/``.ckpt`` in the original LDM layout (``model.diffusion_model.*``,
``first_stage_model.*``, ``cond_stage_model.transformer.*``), converted with diffusers' single-file
converters. A LoRA (diffusers/PEFT or kohya format) is fused into the base first, scaled.

An AnyText2 pipeline folder works the same way: its UNet's AttnX layers (which SD1.5 lacks) stay
AnyText2's, as do the WriteNet, the font recogniser and the text embedding.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from wenchuang.anytext.loading import convert_anytext_checkpoint
from wenchuang.anytext.pipeline import AnyTextPipeline
from wenchuang.checkpoints import compare_keys, read_state_dict
from wenchuang.errors import ModelError, WenchuangError

SINGLE_FILE_SUFFIXES = {".safetensors", ".ckpt", ".pt", ".pth", ".bin"}
BASE_PARTS = ("unet", "vae", "text_encoder")


def load_state_file(path: Path) -> dict[str, torch.Tensor]:
    """A checkpoint's flat state dict (safetensors, or a torch pickle with an optional 'state_dict')."""
    return {k: v for k, v in read_state_dict(path).items() if isinstance(v, torch.Tensor)}


def _strip_text_model(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """CLIP text-encoder keys without the optional ``text_model.`` prefix and the position_ids buffer."""
    out = {}
    for key, value in state.items():
        key = key.removeprefix("text_model.")
        if key.endswith("position_ids"):
            continue
        out[key] = value
    return out


def single_file_parts(
    path: Path, reference: dict[str, torch.nn.Module]
) -> dict[str, dict[str, torch.Tensor]]:
    """UNet, VAE and text-encoder state dicts (diffusers/transformers keys) of an LDM single file."""
    from diffusers.loaders.single_file_utils import (
        convert_ldm_clip_checkpoint,
        convert_ldm_unet_checkpoint,
        convert_ldm_vae_checkpoint,
    )

    state = load_state_file(path)
    if not any(k.startswith("model.diffusion_model.") for k in state):
        raise ModelError(f"{path}: not an SD1.5 single-file checkpoint (no model.diffusion_model.* keys)")
    try:
        parts = {"unet": convert_ldm_unet_checkpoint(state, dict(reference["unet"].config))}
        if any(k.startswith("first_stage_model.") for k in state):
            parts["vae"] = convert_ldm_vae_checkpoint(state, dict(reference["vae"].config))
        if any(k.startswith("cond_stage_model.transformer.") for k in state):
            parts["text_encoder"] = convert_ldm_clip_checkpoint(state)
    except (KeyError, IndexError, RuntimeError) as exc:
        raise ModelError(
            f"{path}: does not match AnyText's SD1.5 layout ({type(exc).__name__}: {exc})"
        ) from None
    return parts


def folder_parts(base: str) -> dict[str, torch.nn.Module]:
    """The UNet, VAE and text encoder of a diffusers folder or hub repo (absent ones left out)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel

    loaders = {"unet": UNet2DConditionModel, "vae": AutoencoderKL, "text_encoder": CLIPTextModel}
    parts = {}
    for name, cls in loaders.items():
        local = Path(base) / name
        if Path(base).is_dir() and not local.is_dir():
            continue
        try:
            parts[name] = cls.from_pretrained(base, subfolder=name)
        except (OSError, ValueError) as exc:
            if name == "unet":
                raise ModelError(f"cannot load the UNet of {base!r}: {exc}") from None
    if "unet" not in parts:
        raise ModelError(f"{base}: no unet/ folder (expected a diffusers SD1.5 folder or a single file)")
    return parts


def fuse_lora(
    parts: dict[str, torch.nn.Module], lora: str, scale: float, tokenizer, scheduler
) -> dict[str, torch.nn.Module]:
    """Fuse a LoRA into the UNet (and text encoder) in place: W ← W + scale·(alpha/r)·B·A."""
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline(
        vae=parts["vae"], text_encoder=parts["text_encoder"], tokenizer=tokenizer, unet=parts["unet"],
        scheduler=scheduler, safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )  # fmt: skip
    try:
        pipe.load_lora_weights(lora)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"cannot load LoRA {lora!r}: {type(exc).__name__}: {exc}") from None
    pipe.fuse_lora(lora_scale=scale)
    pipe.unload_lora_weights()
    return {"unet": pipe.unet, "vae": pipe.vae, "text_encoder": pipe.text_encoder}


# AnyText2's extra attention layers in its UNet: not part of SD1.5, kept when a base is merged in
ANYTEXT2_ONLY = (".attn1x.", ".attn2x.")


def check_and_load(
    target: torch.nn.Module, state: dict[str, torch.Tensor], name: str, text: bool = False
) -> None:
    """Load `state` into `target` after checking that every key and shape matches; ModelError otherwise.
    AnyText2's AttnX weights, which no SD1.5 model has, are kept as they are."""
    own = target.state_dict()
    if text:
        own_map = {k.removeprefix("text_model."): k for k in own if not k.endswith("position_ids")}
        state = _strip_text_model(state)
    else:
        own_map = {k: k for k in own if not any(part in k for part in ANYTEXT2_ONLY)}
    check = compare_keys({key: own[own_key] for key, own_key in own_map.items()}, state)
    if not check.ok:
        raise ModelError(f"the tuned {name} does not fit AnyText's SD1.5 {name}: {check.summary(examples=1)}")
    dtype = next(iter(own.values())).dtype
    target.load_state_dict(
        {own_map[k]: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}, strict=False
    )


def load_anytext(source: str):
    path = Path(source)
    if path.is_file() and path.suffix in SINGLE_FILE_SUFFIXES:
        return convert_anytext_checkpoint(path)
    if _pipeline_class(path) == "AnyText2Pipeline":
        from wenchuang.anytext2.pipeline import AnyText2Pipeline

        try:
            return AnyText2Pipeline.from_pretrained(source)
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot load the AnyText2 pipeline {source!r}: {exc}") from None
    try:
        return AnyTextPipeline.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load the AnyText pipeline {source!r}: {exc}") from None


def merge_into_anytext(
    anytext: str | Path,
    base: str | Path,
    out: str | Path,
    *,
    lora: str | Path | None = None,
    lora_scale: float = 1.0,
    keep_vae: bool = False,
    keep_text_encoder: bool = False,
    fp16: bool = False,
) -> str:
    """Write to `out` the AnyText pipeline with `base` (+ `lora`) as its UNet, VAE and text encoder."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise WenchuangError(f"{out} exists and is not empty; choose a new output folder")
    pipe = load_anytext(str(anytext))
    reference = {name: getattr(pipe, name) for name in BASE_PARTS}
    base_path = Path(base)
    if not base_path.exists() and not _looks_like_hub_id(str(base)):
        raise WenchuangError(f"{base}: no such file or folder (and not a hub repo id like owner/name)")
    if base_path.is_file():
        if base_path.suffix not in SINGLE_FILE_SUFFIXES:
            raise WenchuangError(f"{base}: a single-file base must be .safetensors or .ckpt")
        states = single_file_parts(base_path, reference)
        modules = None
    else:
        modules = folder_parts(str(base))
        states = None
    if lora:
        if modules is None:  # fuse on modules: build them from the single file's weights first
            modules = {}
            for name, state in states.items():
                module = _clone(reference[name])
                check_and_load(module, state, name, text=name == "text_encoder")
                modules[name] = module
        for name in BASE_PARTS:
            modules.setdefault(name, _clone(reference[name]))
        modules = fuse_lora(modules, str(lora), lora_scale, pipe.tokenizer, pipe.scheduler)
    if modules is not None:
        states = {name: module.state_dict() for name, module in modules.items()}

    replaced = []
    for name in BASE_PARTS:
        if (
            (name == "vae" and keep_vae)
            or (name == "text_encoder" and keep_text_encoder)
            or name not in states
        ):
            continue
        check_and_load(reference[name], states[name], name, text=name == "text_encoder")
        replaced.append(name)
    if fp16:
        for module in pipe.components.values():
            if isinstance(module, torch.nn.Module):
                torch.nn.Module.to(module, dtype=torch.float16)
    pipe.save_pretrained(str(out))
    kept = [n for n in BASE_PARTS if n not in replaced] + [
        n for n in ("controlnet", "text_embedding", "recognizer", "font_recognizer", "tokenizer") if n in pipe.components
    ]
    info = {
        "anytext": str(anytext),
        "base": str(base),
        "lora": str(lora) if lora else None,
        "lora_scale": lora_scale if lora else None,
        "replaced": replaced,
        "kept_from_anytext": kept,
        "dtype": "float16" if fp16 else "float32",
    }
    (out / "merge_info.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    return f"merged {', '.join(replaced)} from {base}{' + LoRA ' + str(lora) if lora else ''} into {out}"


def _pipeline_class(folder: Path) -> str | None:
    try:
        return json.loads((folder / "model_index.json").read_text(encoding="utf-8")).get("_class_name")
    except (OSError, ValueError, AttributeError):
        return None


def _clone(reference: torch.nn.Module) -> torch.nn.Module:
    """A copy of one of AnyText's modules (same class and config) to load or fuse weights into."""
    import copy

    return copy.deepcopy(reference)


def _looks_like_hub_id(text: str) -> bool:
    parts = text.split("/")
    return len(parts) == 2 and all(parts) and not text.startswith((".", "~")) and "\\" not in text
