"""Official AnyText checkpoint -> diffusers-style modules.

The official `ControlLDM` state dict has these parts:

| prefix                   | becomes                                        |
|--------------------------|------------------------------------------------|
| `model.diffusion_model.` | diffusers `UNet2DConditionModel`               |
| `control_model.`         | `AnyTextControlNetModel`                       |
| `first_stage_model.`     | diffusers `AutoencoderKL`                      |
| 13 schedule buffers      | `DDIMScheduler` config (checked, not stored)   |
| `cond_stage_model.`      | CLIP text encoder (`text_embedding` module)    |
| `embedding_manager.`     | OCR-feature projection (`text_embedding`)      |
| `text_predictor.`        | PP-OCRv3 recogniser (`recognizer` module)      |

Every key is renamed by an explicit rule; a key no rule takes, or a model parameter no key fills,
is collected and reported in one `ModelError`. Renaming never copies a tensor, so the full-size
key set can be checked on the meta device.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

from wenchuang.anytext.configs import AnyTextConfig
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
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except Exception as exc:  # any unreadable file is the user's wrong input, not our bug
            raise ModelError(f"cannot read checkpoint {path}: {type(exc).__name__}: {exc}") from None
    else:
        state = torch_load_weights(path, mmap=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"{path} does not hold a state dict of tensors")
    return state


def _checkpoint_hint(folder: Path) -> str:
    """What a folder given as a checkpoint holds that the user may have meant."""
    from wenchuang.anytext.loading import CHECKPOINT_NAMES

    if (folder / "model_index.json").is_file():
        return "; this folder is already a converted pipeline: pass it as --model"
    found = [str(folder / name) for name in CHECKPOINT_NAMES if (folder / name).is_file()]
    if len(found) == 1:
        return f": give {found[0]}"
    return f": give one of {', '.join(found)}" if found else ""


def torch_load_weights(path: str | Path, map_location: str | torch.device = "cpu", mmap: bool = False):
    """``torch.load(path, weights_only=True)`` (no code in the file ever runs); a file it cannot read
    is a one-line `ModelError` naming the file and the reason, never torch's advice to load it unsafely.

    The one place this project reads a pickled checkpoint (`.ckpt`, `.pth`, `.pt`, `.bin`). With `mmap`
    a file in the zip format is memory-mapped (older files are read whole).
    """
    path = Path(path)
    try:
        if mmap:
            try:
                return torch.load(str(path), map_location=map_location, weights_only=True, mmap=True)
            except RuntimeError as exc:
                if "mmap" not in str(exc):
                    raise
        return torch.load(str(path), map_location=map_location, weights_only=True)
    except Exception as exc:  # unpickling errors come in many types; all mean a file we cannot use
        reason = _load_failure(exc)
        raise ModelError(f"{path}: not a PyTorch checkpoint or safetensors file ({reason})") from None


def _load_failure(exc: Exception) -> str:
    """The short reason of a failed torch.load, without its "re-run with weights_only=False" text."""
    if isinstance(exc, EOFError):
        return "the file ends early: empty or cut short"
    text = " ".join(str(exc).split())
    if "WeightsUnpickler error:" in text:  # the safe unpickler met something that is not tensor data
        detail = text.split("WeightsUnpickler error:", 1)[1].split(" Check the documentation")[0]
        detail = detail.split(". ")[0].strip().rstrip(".")
        return f"the safe loader refused it: {detail}"
    first = text.split(". ")[0]
    if len(first) > 160:
        first = first[:157] + "..."
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


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


def key_problems(model: torch.nn.Module, state: Mapping[str, torch.Tensor], prefix: str) -> list[str]:
    """Missing keys, unexpected keys and shape mismatches of `state` for `model` (no weights copied)."""
    expected = model.state_dict()
    problems = [f"missing {prefix}{k}" for k in expected if k not in state]
    problems += [f"unexpected {prefix}{k}" for k in state if k not in expected]
    problems += [
        f"shape of {prefix}{k}: checkpoint {tuple(v.shape)} vs model {tuple(expected[k].shape)}"
        for k, v in state.items()
        if k in expected and tuple(v.shape) != tuple(expected[k].shape)
    ]
    return problems


def raise_key_problems(problems: list[str], source: str) -> None:
    if problems:
        shown = "; ".join(problems[:40])
        more = f"; ... and {len(problems) - 40} more" if len(problems) > 40 else ""
        raise ModelError(
            f"{source} is not an AnyText checkpoint this version understands: {len(problems)} key problem(s): "
            f"{shown}{more}"
        )


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
    from diffusers import AutoencoderKL, UNet2DConditionModel

    from wenchuang.anytext.controlnet import AnyTextControlNetModel

    ctx = torch.device(device) if device is not None else torch.device("cpu")
    with ctx:
        return {
            "unet": UNet2DConditionModel(**config.unet_config()),
            "controlnet": AnyTextControlNetModel(**config.controlnet_config()),
            "vae": AutoencoderKL(**config.vae_config()),
        }


def convert_anytext_checkpoint(
    path_or_state_dict: str | Path | Mapping[str, torch.Tensor],
    out_dir: str | Path | None = None,
    *,
    config: AnyTextConfig | None = None,
    yaml_path: str | Path | None = None,
    tokenizer_dir: str | Path | None = None,
    torch_dtype: torch.dtype = torch.float32,
):
    """Convert an official checkpoint into an `AnyTextPipeline` (saved to `out_dir` when given)."""
    from wenchuang.anytext.pipeline import AnyTextPipeline

    if config is None:
        config = AnyTextConfig.from_yaml(yaml_path) if yaml_path else AnyTextConfig.full()
    if isinstance(path_or_state_dict, Mapping):
        state, source = path_or_state_dict, "the state dict"
    else:
        state, source = load_checkpoint(path_or_state_dict), str(path_or_state_dict)
    pipe = AnyTextPipeline.from_official_state_dict(
        state, config, tokenizer_dir=tokenizer_dir, source=source, torch_dtype=torch_dtype
    )
    if out_dir is not None:
        pipe.save_pretrained(str(out_dir))
    return pipe
