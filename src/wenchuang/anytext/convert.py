"""Official AnyText checkpoint -> diffusers-style modules.

The official `ControlLDM` state dict has these parts:

| prefix                   | becomes                                        |
|--------------------------|------------------------------------------------|
| `model.diffusion_model.` | diffusers `UNet2DConditionModel`               |
| `control_model.`         | `AnyTextControlNetModel`                       |
| `first_stage_model.`     | diffusers `AutoencoderKL`                      |
| 13 schedule buffers      | `DDIMScheduler` config (checked, not stored)   |
| `cond_stage_model.`      | transformers `CLIPTextModel` (+ CLIP tokenizer)|
| `embedding_manager.`     | `TextEmbeddingModule` (OCR-feature projection) |
| `text_predictor.`        | `AnyTextRecognizer` (PP-OCRv3)                 |

Every key is renamed by an explicit rule; a key no rule takes, or a model parameter no key fills,
is collected and reported in one `ModelError`. Renaming never copies a tensor, so the full-size
key set can be checked on the meta device.

This module turns state dicts into modules and problems; it builds no pipeline. Putting the parts
together is `AnyTextPipeline.from_official_state_dict` (`wenchuang.anytext.pipeline`); converting
and saving a checkpoint file is `wenchuang.anytext.loading.convert_anytext_checkpoint`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

from wenchuang.anytext.configs import AnyTextConfig
from wenchuang.anytext.controlnet import AnyTextControlNetModel
from wenchuang.anytext.recognizer import (
    AnyTextRecognizer,
    convert_recognizer_state_dict,
    recognizer_config_from_state_dict,
)
from wenchuang.anytext.text_embedding import TextEmbeddingModule
from wenchuang.anytext.tokenizer import load_tokenizer
from wenchuang.anytext.weights import CHECKPOINT_NAMES
from wenchuang.checkpoints import key_problems, load_checked, read_state_dict
from wenchuang.errors import ModelError

SCHEDULE_BUFFERS = (
    "betas",
    "alphas_cumprod",
    "alphas_cumprod_prev",
    "sqrt_alphas_cumprod",
    "sqrt_one_minus_alphas_cumprod",
    "log_one_minus_alphas_cumprod",
    "sqrt_recip_alphas_cumprod",
    "sqrt_recipm1_alphas_cumprod",
    "posterior_variance",
    "posterior_log_variance_clipped",
    "posterior_mean_coef1",
    "posterior_mean_coef2",
    "logvar",
)

UNET_PREFIX = "model.diffusion_model."
CONTROL_PREFIX = "control_model."
VAE_PREFIX = "first_stage_model."
TEXT_PREFIXES = ("cond_stage_model.", "embedding_manager.", "text_predictor.")
EMBEDDING_PREFIX = "embedding_manager."
CLIP_PREFIX = "cond_stage_model.transformer."
RECOGNIZER_PREFIX = "text_predictor."

# official ResBlock / AttnBlock sub-module names -> diffusers names
_RESNET_RENAMES = {
    "in_layers.0.": "norm1.",
    "in_layers.2.": "conv1.",
    "emb_layers.1.": "time_emb_proj.",
    "out_layers.0.": "norm2.",
    "out_layers.3.": "conv2.",
    "skip_connection.": "conv_shortcut.",
}
_VAE_RESNET_RENAMES = {"nin_shortcut.": "conv_shortcut."}
_VAE_ATTN_RENAMES = {
    "norm.": "group_norm.",
    "q.": "to_q.",
    "k.": "to_k.",
    "v.": "to_v.",
    "proj_out.": "to_out.0.",
}


# ---------------------------------------------------------------------------- loading
def load_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """Read an official checkpoint: `.ckpt`/`.pth` (pickled, loaded with weights_only=True) or `.safetensors`."""
    path = Path(path)
    if path.is_dir():
        hint = _checkpoint_hint(path)
        raise ModelError(f"{path} is a folder; a checkpoint file is expected (.ckpt or .safetensors){hint}")
    if not path.is_file():
        raise ModelError(f"checkpoint not found: {path}")
    state = read_state_dict(path, mmap=True)
    if not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"{path} does not hold a state dict of tensors")
    return state


def _checkpoint_hint(folder: Path) -> str:
    """What a folder given as a checkpoint holds that the user may have meant."""
    if (folder / "model_index.json").is_file():
        return "; this folder is already a converted pipeline: pass it as --model"
    found = [str(folder / name) for name in CHECKPOINT_NAMES if (folder / name).is_file()]
    if len(found) == 1:
        return f": give {found[0]}"
    return f": give one of {', '.join(found)}" if found else ""


# ---------------------------------------------------------------------------- renaming rules
@dataclass
class _Rule:
    old: str  # prefix in the official model (ends with '.')
    new: str  # prefix in the diffusers model
    renames: Mapping[str, str] = field(default_factory=dict)  # sub-module renames after the prefix
    squeeze_conv: bool = False  # 1x1 conv weight -> linear weight


def _apply_rules(state: Mapping[str, torch.Tensor], rules: list[_Rule]) -> tuple[dict, list[str]]:
    by_prefix = {r.old: r for r in rules}
    out: dict[str, torch.Tensor] = {}
    unused: list[str] = []
    for key, value in state.items():
        rule = None
        # the rule's prefix is the key up to some '.', try the longest first
        parts = key.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            rule = by_prefix.get(".".join(parts[:cut]) + ".")
            if rule is not None:
                break
        if rule is None:
            unused.append(key)
            continue
        rest = key[len(rule.old) :]
        for old, new in rule.renames.items():
            if rest.startswith(old):
                rest = new + rest[len(old) :]
                break
        if rule.squeeze_conv and rest.endswith("weight") and value.ndim == 4:
            value = value.reshape(value.shape[0], value.shape[1])
        out[rule.new + rest] = value
    return out, unused


def _unet_input_rules(config: AnyTextConfig, controlnet: bool) -> list[_Rule]:
    rules = [
        _Rule("time_embed.0.", "time_embedding.linear_1."),
        _Rule("time_embed.2.", "time_embedding.linear_2."),
        _Rule("input_blocks.0.0.", "conv_in."),
        _Rule("middle_block.0.", "mid_block.resnets.0.", _RESNET_RENAMES),
        _Rule("middle_block.1.", "mid_block.attentions.0."),
        _Rule("middle_block.2.", "mid_block.resnets.1.", _RESNET_RENAMES),
    ]
    per_level = int(config.unet["num_res_blocks"])
    index = 1
    for level in range(config.levels):
        for r in range(per_level):
            rules.append(
                _Rule(f"input_blocks.{index}.0.", f"down_blocks.{level}.resnets.{r}.", _RESNET_RENAMES)
            )
            if config.attention_at(level):
                rules.append(_Rule(f"input_blocks.{index}.1.", f"down_blocks.{level}.attentions.{r}."))
            index += 1
        if level < config.levels - 1:
            rules.append(_Rule(f"input_blocks.{index}.0.op.", f"down_blocks.{level}.downsamplers.0.conv."))
            index += 1
    if controlnet:
        for i in range(index):
            rules.append(_Rule(f"zero_convs.{i}.0.", f"controlnet_down_blocks.{i}."))
        rules += [
            _Rule("middle_block_out.0.", "controlnet_mid_block."),
            _Rule("glyph_block.", "auxiliary.glyph_block."),
            _Rule("position_block.", "auxiliary.position_block."),
            _Rule("fuse_block.", "auxiliary.fuse_block."),
        ]
    return rules


def _unet_output_rules(config: AnyTextConfig) -> list[_Rule]:
    rules = [_Rule("out.0.", "conv_norm_out."), _Rule("out.2.", "conv_out.")]
    per_level = int(config.unet["num_res_blocks"]) + 1
    for up in range(config.levels):
        level = config.levels - 1 - up
        for r in range(per_level):
            index = up * per_level + r
            rules.append(_Rule(f"output_blocks.{index}.0.", f"up_blocks.{up}.resnets.{r}.", _RESNET_RENAMES))
            sub = 1
            if config.attention_at(level):
                rules.append(_Rule(f"output_blocks.{index}.1.", f"up_blocks.{up}.attentions.{r}."))
                sub = 2
            if r == per_level - 1 and up < config.levels - 1:
                rules.append(
                    _Rule(f"output_blocks.{index}.{sub}.conv.", f"up_blocks.{up}.upsamplers.0.conv.")
                )
    return rules


def _vae_rules(config: AnyTextConfig) -> list[_Rule]:
    dd = config.vae["ddconfig"]
    levels, per_level = len(dd["ch_mult"]), int(dd["num_res_blocks"])
    rules = [_Rule(p, p) for p in ("quant_conv.", "post_quant_conv.")]
    for part in ("encoder", "decoder"):
        rules += [
            _Rule(f"{part}.conv_in.", f"{part}.conv_in."),
            _Rule(f"{part}.conv_out.", f"{part}.conv_out."),
            _Rule(f"{part}.norm_out.", f"{part}.conv_norm_out."),
            _Rule(f"{part}.mid.block_1.", f"{part}.mid_block.resnets.0.", _VAE_RESNET_RENAMES),
            _Rule(f"{part}.mid.block_2.", f"{part}.mid_block.resnets.1.", _VAE_RESNET_RENAMES),
            _Rule(
                f"{part}.mid.attn_1.", f"{part}.mid_block.attentions.0.", _VAE_ATTN_RENAMES, squeeze_conv=True
            ),
        ]
    for level in range(levels):
        for r in range(per_level):
            rules.append(
                _Rule(
                    f"encoder.down.{level}.block.{r}.",
                    f"encoder.down_blocks.{level}.resnets.{r}.",
                    _VAE_RESNET_RENAMES,
                )
            )
        if level < levels - 1:
            rules.append(
                _Rule(
                    f"encoder.down.{level}.downsample.conv.",
                    f"encoder.down_blocks.{level}.downsamplers.0.conv.",
                )
            )
        up = levels - 1 - level
        for r in range(per_level + 1):
            rules.append(
                _Rule(
                    f"decoder.up.{level}.block.{r}.",
                    f"decoder.up_blocks.{up}.resnets.{r}.",
                    _VAE_RESNET_RENAMES,
                )
            )
        if level > 0:
            rules.append(
                _Rule(f"decoder.up.{level}.upsample.conv.", f"decoder.up_blocks.{up}.upsamplers.0.conv.")
            )
    return rules


def _strip(state: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


# ---------------------------------------------------------------------------- conversion
@dataclass
class ConvertedCheckpoint:
    """Per-component state dicts in diffusers naming, plus what could not be placed."""

    unet: dict[str, torch.Tensor]
    controlnet: dict[str, torch.Tensor]
    vae: dict[str, torch.Tensor]
    text: dict[str, torch.Tensor]  # cond_stage_model / embedding_manager / text_predictor, official names
    schedule: dict[str, torch.Tensor]
    unexpected: list[str]


def split_checkpoint(state: Mapping[str, torch.Tensor], config: AnyTextConfig) -> ConvertedCheckpoint:
    """Rename the UNet, ControlNet and VAE keys; keep the text parts under their official names."""
    unet_rules = _unet_input_rules(config, controlnet=False) + _unet_output_rules(config)
    unet, unused_unet = _apply_rules(_strip(state, UNET_PREFIX), unet_rules)
    control, unused_control = _apply_rules(
        _strip(state, CONTROL_PREFIX), _unet_input_rules(config, controlnet=True)
    )
    vae, unused_vae = _apply_rules(_strip(state, VAE_PREFIX), _vae_rules(config))
    unexpected = [UNET_PREFIX + k for k in unused_unet] + [CONTROL_PREFIX + k for k in unused_control]
    unexpected += [VAE_PREFIX + k for k in unused_vae]
    text = {k: v for k, v in state.items() if k.startswith(TEXT_PREFIXES)}
    schedule = {k: v for k, v in state.items() if k in SCHEDULE_BUFFERS}
    known = (UNET_PREFIX, CONTROL_PREFIX, VAE_PREFIX) + TEXT_PREFIXES
    unexpected += [k for k in state if not k.startswith(known) and k not in SCHEDULE_BUFFERS]
    return ConvertedCheckpoint(unet, control, vae, text, schedule, unexpected)


def check_schedule(schedule: Mapping[str, torch.Tensor], config: AnyTextConfig, scheduler) -> list[str]:
    """The checkpoint's schedule buffers must match the scheduler we build (alphas_cumprod within 1e-6)."""
    problems = [f"missing {name}" for name in SCHEDULE_BUFFERS if name not in schedule]
    ref = schedule.get("alphas_cumprod")
    if ref is not None and ref.device.type != "meta":
        ours = scheduler.alphas_cumprod.double()
        if ref.shape != ours.shape:
            problems.append(f"alphas_cumprod has {tuple(ref.shape)} entries, expected {tuple(ours.shape)}")
        else:
            err = float((ref.double() - ours).abs().max())
            if err > 1e-6:
                problems.append(
                    f"alphas_cumprod differs from the DDIM schedule (linear_start={config.linear_start}, "
                    f"linear_end={config.linear_end}) by {err:.2e}"
                )
    return problems


def build_models(
    config: AnyTextConfig, device: str | torch.device | None = None
) -> dict[str, torch.nn.Module]:
    """Empty UNet, ControlNet and VAE of this config (on `device`; "meta" allocates nothing)."""
    ctx = torch.device(device) if device is not None else torch.device("cpu")
    with ctx:
        return {
            "unet": UNet2DConditionModel(**config.unet_config()),
            "controlnet": AnyTextControlNetModel(**config.controlnet_config()),
            "vae": AutoencoderKL(**config.vae_config()),
        }


# ---------------------------------------------------------------------------- the text side
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


# ---------------------------------------------------------------------------- CLIP text encoder
def _clip_uses_text_model_prefix() -> bool:
    """Whether the installed transformers' CLIPTextModel nests its layers under ``text_model.``."""
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
    model = CLIPTextModel(_clip_config_from(config))
    if state_dict is not None:
        if any(key.startswith(CLIP_PREFIX) for key in state_dict):
            state_dict = convert_clip_state_dict(state_dict)
        load_checked(model, state_dict, "CLIP text encoder weights")
    return model.to(dtype).eval().requires_grad_(False)


def clip_config_from_state_dict(state: Mapping[str, torch.Tensor], num_attention_heads: int | None = None):
    """``CLIPTextConfig`` read from CLIPTextModel weight shapes (heads: hidden / 64 unless given)."""

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
        problems += key_problems(recognizer, rec_state, RECOGNIZER_PREFIX)
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
        load_checked(text_encoder, clip_state, "CLIP text encoder weights")
        load_checked(text_embedding, emb_state, "text embedding projection weights")
        load_checked(recognizer, rec_state, "OCR recogniser weights")
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
