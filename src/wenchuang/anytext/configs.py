"""Model numbers of AnyText, read from the official yaml (`models_yaml/anytext_sd15.yaml` layout).

`AnyTextConfig.from_yaml(path)` reads any yaml of the official layout (the golden tiny one
included); `AnyTextConfig.full()` holds the released model's numbers (SD1.5 + text ControlNet).
Each `*_config()` method returns the keyword arguments of the matching diffusers model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wenchuang.errors import ModelError

# numbers of the released anytext_sd15.yaml (only what differs from a tiny config matters here)
_FULL_UNET = {
    "in_channels": 4,
    "out_channels": 4,
    "model_channels": 320,
    "attention_resolutions": [4, 2, 1],
    "num_res_blocks": 2,
    "channel_mult": [1, 2, 4, 4],
    "num_heads": 8,
    "transformer_depth": 1,
    "context_dim": 768,
    "use_linear_in_transformer": False,
    "image_size": 32,
}
_FULL_VAE = {
    "embed_dim": 4,
    "ddconfig": {
        "double_z": True,
        "z_channels": 4,
        "resolution": 256,
        "in_channels": 3,
        "out_ch": 3,
        "ch": 128,
        "ch_mult": [1, 2, 4, 4],
        "num_res_blocks": 2,
        "attn_resolutions": [],
    },
}


@dataclass
class AnyTextConfig:
    """The numbers that decide every module's shape."""

    unet: dict[str, Any] = field(default_factory=lambda: dict(_FULL_UNET))
    vae: dict[str, Any] = field(default_factory=lambda: {**_FULL_VAE, "ddconfig": dict(_FULL_VAE["ddconfig"])})
    linear_start: float = 0.00085
    linear_end: float = 0.012
    num_timesteps: int = 1000
    scale_factor: float = 0.18215
    glyph_channels: int = 1
    position_channels: int = 1
    cond_stage_version: str | None = None

    @classmethod
    def full(cls) -> AnyTextConfig:
        return cls()

    @classmethod
    def from_yaml(cls, path: str | Path) -> AnyTextConfig:
        import yaml

        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
            params = data["model"]["params"]
            unet = dict(params["unet_config"]["params"])
            control = params["control_stage_config"]["params"]
            vae = dict(params["first_stage_config"]["params"])
        except (OSError, KeyError, TypeError, yaml.YAMLError) as exc:
            raise ModelError(f"{path}: not an AnyText model yaml ({type(exc).__name__}: {exc})") from None
        for key in ("model_channels", "channel_mult", "num_res_blocks", "attention_resolutions", "context_dim"):
            if control.get(key) != unet.get(key):
                raise ModelError(f"{path}: control_stage_config.{key} differs from unet_config.{key}")
        return cls(
            unet={**_FULL_UNET, **unet},
            vae={**_FULL_VAE, **vae, "ddconfig": {**_FULL_VAE["ddconfig"], **vae.get("ddconfig", {})}},
            linear_start=float(params.get("linear_start", 0.00085)),
            linear_end=float(params.get("linear_end", 0.012)),
            num_timesteps=int(params.get("timesteps", 1000)),
            scale_factor=float(params.get("scale_factor", 0.18215)),
            glyph_channels=int(control.get("glyph_channels", 1)),
            position_channels=int(control.get("position_channels", 1)),
            cond_stage_version=params.get("cond_stage_config", {}).get("params", {}).get("version"),
        )

    # ------------------------------------------------------------------ derived numbers
    @property
    def levels(self) -> int:
        return len(self.unet["channel_mult"])

    @property
    def block_out_channels(self) -> tuple[int, ...]:
        return tuple(self.unet["model_channels"] * m for m in self.unet["channel_mult"])

    def attention_at(self, level: int) -> bool:
        return 2**level in self.unet["attention_resolutions"]

    def _unet_common(self) -> dict[str, Any]:
        u = self.unet
        if int(u.get("num_heads", -1)) <= 0:
            raise ModelError("only configs with num_heads (not num_head_channels) are supported")
        return {
            "in_channels": int(u["in_channels"]),
            "block_out_channels": self.block_out_channels,
            "layers_per_block": int(u["num_res_blocks"]),
            "cross_attention_dim": int(u["context_dim"]),
            "transformer_layers_per_block": int(u.get("transformer_depth", 1)),
            "norm_num_groups": 32,
            "norm_eps": 1e-5,
            "flip_sin_to_cos": True,
            "freq_shift": 0,
            "use_linear_projection": bool(u.get("use_linear_in_transformer", False)),
        }

    def unet_config(self) -> dict[str, Any]:
        """Keyword arguments of diffusers' `UNet2DConditionModel`."""
        common = self._unet_common()
        down = tuple(
            "CrossAttnDownBlock2D" if self.attention_at(level) else "DownBlock2D" for level in range(self.levels)
        )
        up = tuple(
            "CrossAttnUpBlock2D" if self.attention_at(level) else "UpBlock2D"
            for level in reversed(range(self.levels))
        )
        return {
            **common,
            "sample_size": int(self.unet.get("image_size", 32)) * 2,
            "out_channels": int(self.unet["out_channels"]),
            "down_block_types": down,
            "up_block_types": up,
            "attention_head_dim": int(self.unet["num_heads"]),  # diffusers' name for the head count in SD1.x
            "act_fn": "silu",
        }

    def controlnet_config(self) -> dict[str, Any]:
        """Keyword arguments of `AnyTextControlNetModel`."""
        common = self._unet_common()
        down = tuple(
            "CrossAttnDownBlock2D" if self.attention_at(level) else "DownBlock2D" for level in range(self.levels)
        )
        return {
            **common,
            "down_block_types": down,
            "num_attention_heads": int(self.unet["num_heads"]),
            "glyph_channels": self.glyph_channels,
            "position_channels": self.position_channels,
        }

    def vae_config(self) -> dict[str, Any]:
        """Keyword arguments of diffusers' `AutoencoderKL`."""
        dd = self.vae["ddconfig"]
        if dd.get("attn_resolutions"):
            raise ModelError("VAE configs with attention inside the down/up blocks are not supported")
        if int(self.vae.get("embed_dim", 4)) != int(dd["z_channels"]):
            raise ModelError("VAE embed_dim must equal z_channels")
        levels = len(dd["ch_mult"])
        return {
            "in_channels": int(dd["in_channels"]),
            "out_channels": int(dd["out_ch"]),
            "down_block_types": ("DownEncoderBlock2D",) * levels,
            "up_block_types": ("UpDecoderBlock2D",) * levels,
            "block_out_channels": tuple(int(dd["ch"]) * m for m in dd["ch_mult"]),
            "layers_per_block": int(dd["num_res_blocks"]),
            "latent_channels": int(dd["z_channels"]),
            "norm_num_groups": 32,
            "sample_size": int(dd.get("resolution", 256)),
            "scaling_factor": self.scale_factor,
        }

    def scheduler_config(self) -> dict[str, Any]:
        """Keyword arguments of diffusers' `DDIMScheduler` reproducing the official DDIM sampler."""
        return {
            "num_train_timesteps": self.num_timesteps,
            "beta_start": self.linear_start,
            "beta_end": self.linear_end,
            "beta_schedule": "scaled_linear",
            "clip_sample": False,
            "set_alpha_to_one": False,
            "steps_offset": 1,
            "timestep_spacing": "leading",
            "prediction_type": "epsilon",
        }
