"""Model numbers of AnyText2, read from the official yaml (`models_yaml/anytext2_sd15.yaml` layout).

AnyText2 keeps AnyText's SD1.5 shapes (`wenchuang.anytext.configs.AnyTextConfig` reads them) and adds:

- AttnX: extra self/cross-attention layers in the UNet's middle block and in the output blocks of
  the levels listed in `output_attnx_level` (the released model: levels 2 and 1, i.e. diffusers'
  up blocks 1 and 2), scaled at run time by `attnx_scale`;
- the WriteNet's glyph input at the image resolution (`glyph_scale` 1, a shorter glyph encoder);
- the text-embedding flags of the embedding manager (position, font OCR and colour branches).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wenchuang.anytext.configs import AnyTextConfig
from wenchuang.errors import ModelError

# embedding-manager flags of the released model; only this combination is implemented
RELEASED_EMBEDDING = {
    "emb_type": "ocr",
    "big_linear": False,
    "add_pos": True,
    "add_style_conv": False,
    "add_style_ocr": True,
    "add_color": True,
    "color_big_linear": False,
    "color_fourier_encode": False,
    "enable_flag": False,
}


@dataclass
class AnyText2Config(AnyTextConfig):
    """AnyText's numbers plus the AnyText2 switches (defaults: the released anytext2_sd15.yaml)."""

    input_attnx: bool = False
    mid_attnx: bool = True
    output_attnx: bool = True
    output_attnx_level: tuple[int, ...] = (2, 1)
    glyph_scale: int = 1
    fast_control: bool = True
    embedding: dict[str, Any] = field(default_factory=lambda: dict(RELEASED_EMBEDDING))

    @classmethod
    def full(cls) -> AnyText2Config:
        return cls()

    @classmethod
    def from_yaml(cls, path: str | Path) -> AnyText2Config:
        import yaml

        base = AnyTextConfig.from_yaml(path)
        try:
            params = yaml.safe_load(Path(path).read_text(encoding="utf-8"))["model"]["params"]
            unet = params["unet_config"]["params"]
            control = params["control_stage_config"]["params"]
            embedding = params.get("embedding_manager_config", {}).get("params", {})
        except (OSError, KeyError, TypeError, yaml.YAMLError) as exc:
            raise ModelError(f"{path}: not an AnyText2 model yaml ({type(exc).__name__}: {exc})") from None
        flags = {**RELEASED_EMBEDDING, **{k: embedding[k] for k in RELEASED_EMBEDDING if k in embedding}}
        unsupported = {k: v for k, v in flags.items() if RELEASED_EMBEDDING[k] != v}
        if unsupported:
            raise ModelError(f"{path}: embedding_manager options {unsupported} are not supported (only the released ones)")
        return cls(
            unet=base.unet,
            vae=base.vae,
            linear_start=base.linear_start,
            linear_end=base.linear_end,
            num_timesteps=base.num_timesteps,
            scale_factor=base.scale_factor,
            glyph_channels=base.glyph_channels,
            position_channels=base.position_channels,
            cond_stage_version=base.cond_stage_version,
            input_attnx=bool(unet.get("input_attnx", False)),
            mid_attnx=bool(unet.get("mid_attnx", False)),
            output_attnx=bool(unet.get("output_attnx", False)),
            output_attnx_level=tuple(int(v) for v in unet.get("output_attnx_level", (2, 1, 0))),
            glyph_scale=int(control.get("glyph_scale", 1)),
            fast_control=bool(control.get("fast_control", True)),
            embedding=flags,
        )

    @staticmethod
    def is_anytext2_yaml(path: str | Path) -> bool:
        """Whether a model yaml describes AnyText2 (AttnX switches or the font/colour embedding)."""
        import yaml

        try:
            params = yaml.safe_load(Path(path).read_text(encoding="utf-8"))["model"]["params"]
        except (OSError, KeyError, TypeError, yaml.YAMLError):
            return False
        unet = params.get("unet_config", {}).get("params", {}) or {}
        embedding = (params.get("embedding_manager_config", {}) or {}).get("params", {}) or {}
        return bool(
            unet.get("mid_attnx") or unet.get("output_attnx") or embedding.get("add_style_ocr") or embedding.get("add_color")
        )

    # ------------------------------------------------------------------ derived
    def attnx_up_blocks(self) -> tuple[int, ...]:
        """diffusers up-block indices whose transformer blocks carry AttnX layers."""
        if not self.output_attnx:
            return ()
        return tuple(sorted(self.levels - 1 - level for level in self.output_attnx_level if 0 <= level < self.levels))

    def attnx_down_blocks(self) -> tuple[int, ...]:
        if not self.input_attnx:
            return ()
        return tuple(level for level in range(self.levels) if self.attention_at(level))

    def unet_config(self) -> dict[str, Any]:
        """Keyword arguments of `AnyText2UNetModel` (diffusers' UNet plus the AttnX placement)."""
        return {
            **super().unet_config(),
            "attnx_mid": bool(self.mid_attnx),
            "attnx_up_blocks": self.attnx_up_blocks(),
            "attnx_down_blocks": self.attnx_down_blocks(),
        }

    def controlnet_config(self) -> dict[str, Any]:
        """Keyword arguments of `WriteNetModel`."""
        if self.glyph_scale not in (1, 2):
            raise ModelError(f"glyph_scale must be 1 or 2, got {self.glyph_scale}")
        return {**super().controlnet_config(), "glyph_scale": int(self.glyph_scale)}
