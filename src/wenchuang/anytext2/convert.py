"""Official AnyText2 checkpoint (`anytext_v2.0.ckpt`) -> diffusers-style components.

| prefix                                  | becomes                                             |
|-----------------------------------------|-----------------------------------------------------|
| `model.diffusion_model.`                | `AnyText2UNetModel` (attn1x/attn2x keys included)   |
| `control_model.`                        | `WriteNetModel` (`fuse_block_za` -> fused hint)     |
| `first_stage_model.`                    | diffusers `AutoencoderKL`                           |
| `cond_stage_model.transformer.`         | transformers `CLIPTextModel`                        |
| `text_predictor.`                       | `AnyTextRecognizer` reading the glyph lines         |
| `embedding_manager.font_predictor.`     | `AnyTextRecognizer` reading the font crops          |
| `embedding_manager.{proj,position_encoder,style_proj,color_proj}.` | `AnyText2TextEmbedding` |
| 13 schedule buffers                     | checked against the `DDIMScheduler` we build        |

The renaming rules of the UNet, ControlNet and VAE are AnyText's (`wenchuang.anytext.convert`): the
AttnX layers sit under the same transformer blocks, so their keys follow those rules unchanged.
Every key no rule takes and every parameter no key fills is reported in one `ModelError`; nothing
is copied while renaming, so the full-size layout is checked on the meta device.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from wenchuang.anytext import convert as v1
from wenchuang.anytext2.configs import AnyText2Config
from wenchuang.checkpoints import key_problems, raise_key_problems
from wenchuang.errors import ModelError

EMBEDDING_PREFIX = "embedding_manager."
FONT_PREFIX = "embedding_manager.font_predictor."
EMBEDDING_BRANCHES = ("proj.", "position_encoder.", "style_proj.", "color_proj.")


@dataclass
class ConvertedCheckpoint2:
    unet: dict[str, torch.Tensor]
    controlnet: dict[str, torch.Tensor]
    vae: dict[str, torch.Tensor]
    text: dict[str, torch.Tensor]  # cond_stage_model.* and text_predictor.* (official names)
    embedding: dict[str, torch.Tensor]  # AnyText2TextEmbedding keys
    font_recognizer: dict[str, torch.Tensor]  # AnyTextRecognizer keys
    schedule: dict[str, torch.Tensor]
    unexpected: list[str]


def split_checkpoint(state: Mapping[str, torch.Tensor], config: AnyText2Config) -> ConvertedCheckpoint2:
    """Rename every part of an official AnyText2 state dict (no tensor is copied)."""
    rules_unet = v1._unet_input_rules(config, controlnet=False) + v1._unet_output_rules(config)
    unet, unused_unet = v1._apply_rules(v1._strip(state, v1.UNET_PREFIX), rules_unet)
    rules_control = v1._unet_input_rules(config, controlnet=True)
    rules_control = [r for r in rules_control if r.old != "fuse_block."]
    rules_control.append(v1._Rule("fuse_block_za.", "auxiliary.fuse_block."))
    control, unused_control = v1._apply_rules(v1._strip(state, v1.CONTROL_PREFIX), rules_control)
    vae, unused_vae = v1._apply_rules(v1._strip(state, v1.VAE_PREFIX), v1._vae_rules(config))
    unexpected = [v1.UNET_PREFIX + k for k in unused_unet] + [v1.CONTROL_PREFIX + k for k in unused_control]
    unexpected += [v1.VAE_PREFIX + k for k in unused_vae]
    text, embedding, font = {}, {}, {}
    for key, value in state.items():
        if key.startswith(("cond_stage_model.", "text_predictor.")):
            text[key] = value
        elif key.startswith(FONT_PREFIX):
            font[key[len(FONT_PREFIX) :]] = value
        elif key.startswith(EMBEDDING_PREFIX):
            rest = key[len(EMBEDDING_PREFIX) :]
            if rest.startswith(EMBEDDING_BRANCHES):
                embedding[rest] = value
            else:
                unexpected.append(key)
    schedule = {k: v for k, v in state.items() if k in v1.SCHEDULE_BUFFERS}
    known = (v1.UNET_PREFIX, v1.CONTROL_PREFIX, v1.VAE_PREFIX, "cond_stage_model.", "text_predictor.", EMBEDDING_PREFIX)
    unexpected += [k for k in state if not k.startswith(known) and k not in v1.SCHEDULE_BUFFERS]
    return ConvertedCheckpoint2(unet, control, vae, text, embedding, font, schedule, unexpected)


def build_models(config: AnyText2Config, device: str | torch.device | None = None) -> dict[str, torch.nn.Module]:
    """Empty UNet (with AttnX), WriteNet and VAE of this config (on `device`; "meta" allocates nothing)."""
    from diffusers import AutoencoderKL

    from wenchuang.anytext2.models import AnyText2UNetModel, WriteNetModel

    with torch.device(device if device is not None else "cpu"):
        return {
            "unet": AnyText2UNetModel(**config.unet_config()),
            "controlnet": WriteNetModel(**config.controlnet_config()),
            "vae": AutoencoderKL(**config.vae_config()),
        }


def _embedding_config(embedding: Mapping[str, torch.Tensor]) -> dict:
    try:
        linear = embedding["proj.0.weight"]
        position = embedding["position_encoder.conv1.weight"]
    except KeyError as exc:
        raise ModelError(f"the checkpoint lacks embedding_manager.{exc.args[0]}") from None
    return {
        "in_features": int(linear.shape[1]),
        "token_dim": int(linear.shape[0]),
        "position_channels": int(position.shape[1]),
    }


def _assign(model: torch.nn.Module, state: Mapping[str, torch.Tensor], name: str, source: str) -> None:
    """Load `state` into a model built on the meta device (its tensors are taken, not copied twice)."""
    expected = model.state_dict()
    weights = {
        k: (v.to(torch.float32) if v.is_floating_point() else v.to(expected[k].dtype)).contiguous()
        for k, v in state.items()
    }
    model.load_state_dict(weights, strict=True, assign=True)
    left = [k for k, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if left:
        raise ModelError(f"{source}: {name} has tensors that no checkpoint key fills: {left[:8]}")
    model.eval().requires_grad_(False)


def convert_components(
    state: Mapping[str, torch.Tensor],
    config: AnyText2Config,
    *,
    tokenizer_dir: str | Path | None = None,
    source: str = "checkpoint",
) -> dict:
    """Every pipeline component of an official AnyText2 state dict (fp32, CPU).

    With meta tensors (a key list) only the keys and shapes are checked and `{"problems": [...]}` plus
    the meta modules come back; otherwise any problem is one `ModelError` listing them all.
    """
    from diffusers import DDIMScheduler

    from wenchuang.anytext.recognizer import AnyTextRecognizer, recognizer_config_from_state_dict
    from wenchuang.anytext2.models import AnyText2TextEmbedding

    check_only = any(v.device.type == "meta" for v in state.values())
    parts = split_checkpoint(state, config)
    problems = [f"unexpected {k}" for k in parts.unexpected]
    models = build_models(config, device="meta")
    for name in ("unet", "controlnet", "vae"):
        problems += key_problems(models[name], getattr(parts, name), "")
    scheduler = DDIMScheduler(**config.scheduler_config())
    problems += v1.check_schedule(parts.schedule, config, scheduler)

    # CLIP text encoder, tokenizer and the glyph-line recogniser: AnyText's conversion (it also builds
    # AnyText's projection from embedding_manager.proj.*, which is AnyText2's glyph branch: unused here)
    proj_only = {EMBEDDING_PREFIX + k: v for k, v in parts.embedding.items() if k.startswith("proj.")}
    text = v1.convert_text_components({**parts.text, **proj_only}, tokenizer_dir=tokenizer_dir)
    problems += text.pop("problems")
    text.pop("text_embedding", None)

    embedding = font_recognizer = None
    try:
        emb_config = _embedding_config(parts.embedding)
    except ModelError as exc:
        problems.append(str(exc))
    else:
        with torch.device("meta"):
            embedding = AnyText2TextEmbedding(**emb_config)
        problems += key_problems(embedding, parts.embedding, EMBEDDING_PREFIX)
        if text.get("text_encoder") is not None and emb_config["token_dim"] != text["text_encoder"].config.hidden_size:
            problems.append(
                f"embedding_manager gives {emb_config['token_dim']} features but the CLIP width is "
                f"{text['text_encoder'].config.hidden_size}"
            )
    if not parts.font_recognizer:
        problems.append("no font recogniser (embedding_manager.font_predictor.*) in the checkpoint")
    else:
        try:
            rec_config = recognizer_config_from_state_dict(parts.font_recognizer)
        except ModelError as exc:
            problems.append(f"font recogniser: {exc}")
        else:
            with torch.device("meta"):
                font_recognizer = AnyTextRecognizer(**rec_config)
            problems += key_problems(font_recognizer, parts.font_recognizer, FONT_PREFIX)

    components = {**models, **text, "text_embedding": embedding, "font_recognizer": font_recognizer}
    components["scheduler"] = scheduler
    if check_only:
        return {**components, "problems": problems}
    raise_key_problems(problems, source, what="an AnyText2 checkpoint this version understands")
    for name in ("unet", "controlnet", "vae"):
        _assign(models[name], getattr(parts, name), name, source)
    _assign(embedding, parts.embedding, "text_embedding", source)
    _assign(font_recognizer, parts.font_recognizer, "font_recognizer", source)
    return components


def meta_state_dict(keys: Mapping[str, tuple[str, list[int]]]) -> dict[str, torch.Tensor]:
    """Meta tensors for a key list {key: (dtype name, shape)} (e.g. `anytext2_full_keys.json`)."""
    return {
        key: torch.empty(tuple(shape), dtype=getattr(torch, str(dtype).replace("torch.", "")), device="meta")
        for key, (dtype, shape) in keys.items()
    }


def check_key_list(keys: Mapping[str, tuple[str, list[int]]], config: AnyText2Config | None = None) -> list[str]:
    """Problems (missing / unexpected keys, shape mismatches) of a checkpoint layout; [] when it converts."""
    result = convert_components(meta_state_dict(keys), config or AnyText2Config.full())
    return result["problems"]
