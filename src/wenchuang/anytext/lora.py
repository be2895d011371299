"""Few-step LoRAs for SD1.5 (LCM-LoRA, TCD, Hyper-SD) on the AnyText UNet, with their sampler.

AnyText's UNet is SD1.5's, so these LoRAs fit it as published. The file is read in any of the
published key formats, which diffusers' own LoRA reader converts:

- kohya (`lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight`, `.lora_up.weight`,
  `.alpha`); the original LDM block names (`lora_unet_input_blocks_1_1_proj_in...`) are renamed by
  diffusers' converter with this UNet's layout (not covered by the tests);
- diffusers (`unet.down_blocks.0.attentions.0.proj_in.lora.down.weight`, `...lora.up.weight`);
- PEFT (`unet.down_blocks.0.attentions.0.proj_in.lora_A.weight`, `...lora_B.weight`).

The LoRA is loaded through PEFT and fused into the UNet's weights (no extra work per step), in the
pipeline's dtype. Text-encoder layers in the file (`lora_te_*`) are not used: these LoRAs train the
UNet only; a file that changes nothing in the UNet is an error. The text ControlNet is left as it is.

Which sampler, steps and guidance (`LORA_KINDS`): LCM-LoRA -> `lcm`, 4 steps; TCD -> `tcd`, 4 steps;
Hyper-SD N-step LoRAs -> `ddim_trailing` with N steps (the 1-step one -> `tcd`, 1 step); all with
guidance 1 (one model call per step). The kind is given, or read from the file name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from wenchuang.errors import ModelError

# kind -> (sampler, steps, guidance scale)
LORA_KINDS: dict[str, tuple[str, int, float]] = {
    "lcm": ("lcm", 4, 1.0),
    "tcd": ("tcd", 4, 1.0),
    "hyper": ("ddim_trailing", 8, 1.0),
}
ADAPTER_NAME = "fewstep"


@dataclass
class LoraInfo:
    """What was loaded: the kind, the sampler / steps / guidance to use it with, and how many UNet
    layers it changed."""

    kind: str
    sampler: str
    steps: int
    guidance_scale: float
    layers: int
    source: str

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def lora_kind(name: str, kind: str | None = None) -> tuple[str, str, int, float]:
    """(kind, sampler, steps, guidance) for a LoRA file `name` (or the given `kind`)."""
    lower = Path(str(name)).name.lower()
    if kind is None:
        for candidate in ("hyper", "tcd", "lcm"):
            if candidate in lower:
                kind = candidate
                break
    if kind not in LORA_KINDS:
        raise ModelError(
            f"cannot tell which few-step LoRA {name} is (its name contains none of lcm, tcd, hyper); "
            f"give the kind: one of {', '.join(LORA_KINDS)}"
        )
    sampler, steps, guidance = LORA_KINDS[kind]
    if kind == "hyper":
        found = re.search(r"(\d+)[-_ ]?steps?", lower)
        if found:
            steps = int(found.group(1))
        if steps == 1:  # Hyper-SD's one-step LoRA is made for the TCD scheduler
            sampler = "tcd"
    return kind, sampler, steps, guidance


def read_lora(source: str | Path | Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The LoRA's tensors (a .safetensors file, a diffusers LoRA folder, or a state dict)."""
    if isinstance(source, Mapping):
        return dict(source)
    path = Path(source).expanduser()
    if path.is_dir():
        found = sorted(path.glob("*.safetensors"))
        if not found:
            raise ModelError(f"no .safetensors LoRA file in {path}")
        path = found[0]
    if not path.is_file():
        raise ModelError(f"LoRA file {path} does not exist")
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except Exception as exc:  # noqa: BLE001 - any unreadable file is one clear error
        raise ModelError(f"cannot read the LoRA file {path}: {type(exc).__name__}: {exc}") from None


def unet_lora_state_dict(state: Mapping[str, torch.Tensor], unet) -> tuple[dict, dict | None]:
    """(diffusers-format UNet LoRA tensors prefixed `unet.`, network alphas) from any published format."""
    from diffusers.loaders import StableDiffusionLoraLoaderMixin

    # kohya keys are renamed (the LDM block names by this UNet's own layout), the others kept
    converted, alphas = StableDiffusionLoraLoaderMixin.lora_state_dict(dict(state), unet_config=unet.config)
    unet_part = {k: v for k, v in converted.items() if k.startswith("unet.")}
    if not unet_part:
        raise ModelError("the LoRA has no UNet layers (its keys start with none of lora_unet_, unet.)")
    return unet_part, alphas


def load_fewstep_lora(
    pipe,
    source: str | Path | Mapping[str, torch.Tensor],
    kind: str | None = None,
    scale: float = 1.0,
    fuse: bool = True,
) -> LoraInfo:
    """Load a few-step LoRA into `pipe.unet` (fused by default) and give `pipe` its sampler.

    `source` is a file, a folder holding one, or a state dict (then `kind` is required).
    """
    from diffusers.loaders import StableDiffusionLoraLoaderMixin

    from wenchuang.anytext.schedulers import set_sampler

    name = "state dict" if isinstance(source, Mapping) else str(source)
    kind, sampler, steps, guidance = lora_kind(name, kind)
    unet = pipe.unet
    state, alphas = unet_lora_state_dict(read_lora(source), unet)
    try:
        StableDiffusionLoraLoaderMixin.load_lora_into_unet(state, alphas, unet, adapter_name=ADAPTER_NAME)
    except (ValueError, KeyError, RuntimeError) as exc:
        raise ModelError(f"the LoRA {name} does not fit the AnyText UNet: {exc}") from None
    wrapped = sum(1 for m in unet.modules() if hasattr(m, "lora_A") and ADAPTER_NAME in getattr(m, "lora_A", {}))
    if wrapped == 0:
        raise ModelError(f"the LoRA {name} matched no layer of the AnyText UNet")
    dtype = next(p for n, p in unet.named_parameters() if "lora_" not in n).dtype
    unet.to(dtype=dtype)  # the LoRA layers in the pipeline's dtype
    if fuse:
        unet.fuse_lora(lora_scale=scale, adapter_names=[ADAPTER_NAME])
        unet.unload_lora()  # plain layers again, holding the fused weights
    else:
        unet.set_adapters([ADAPTER_NAME], weights=[scale])
    set_sampler(pipe, sampler)
    return LoraInfo(kind, sampler, steps, guidance, wrapped, name)
