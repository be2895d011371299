"""AnyText2's own modules on diffusers: AttnX UNet, WriteNet, font/colour text embedding.

- `AnyText2UNetModel`: diffusers' `UNet2DConditionModel` whose transformer blocks in the middle block
  and in the chosen up blocks carry AttnX layers: after attn1 and attn2, a second self-attention
  `attn1x(norm1(x))` and cross-attention `attn2x(norm2(x), context)` are added, each scaled by
  `attnx_scale` (`set_attnx_scale`), re-using the block's norm1/norm2, then the feed-forward.
- `WriteNetModel`: AnyText's text ControlNet (`wenchuang.anytext.controlnet`) with AnyText2's hint
  path: glyphs at the image resolution (`glyph_scale` 1: a shorter glyph encoder), binarised over
  lines and RGB; it runs once per prompt with timestep 0 on a zero latent (`fast_residuals`).
- `AnyText2TextEmbedding`: each line's token embedding is
  `proj(glyph OCR neck) + position_encoder(position) + style_proj(font OCR neck) + color_proj(rgb 0-255)`.
"""

from __future__ import annotations

import copy
import inspect

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.attention import BasicTransformerBlock
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
from diffusers.utils.accelerate_utils import apply_forward_hook
from torch import nn

from wenchuang.anytext.controlnet import AnyTextControlNetModel, _conv_stack

# (out_channels, stride) of the glyph encoder for glyphs at the image resolution (official glyph_scale 1)
GLYPH_LAYERS_SCALE1 = ((16, 1), (16, 1), (32, 2), (32, 1), (96, 2), (96, 1), (256, 2))


def _extend_signature(parent: type):
    """Give a subclass `__init__(self, <own keywords>, **kwargs)` the parent's keywords in its signature.

    diffusers' `register_to_config` and `from_pretrained` read the signature to know which config
    entries to keep, so the saved config holds the parent's options and ours, and loads without
    "unexpected config" warnings.
    """

    def decorate(init):
        own = inspect.signature(init).parameters
        inherited = inspect.signature(parent.__init__).parameters
        params = [p for p in inherited.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
        params += [
            p.replace(kind=inspect.Parameter.POSITIONAL_OR_KEYWORD)
            for name, p in own.items()
            if name != "self" and name not in inherited and p.kind is not inspect.Parameter.VAR_KEYWORD
        ]
        init.__signature__ = inspect.Signature(params)
        return init

    return decorate


# --------------------------------------------------------------------------- AttnX
class AttnXTransformerBlock(BasicTransformerBlock):
    """A `BasicTransformerBlock` (layer norm, self-, cross-attention, GEGLU feed-forward) with AttnX.

    Made from an existing block by `add_attnx` (which adds `attn1x`/`attn2x` as copies of
    attn1/attn2); `attnx_scale` multiplies both extra layers' outputs.
    """

    attnx_scale: float = 1.0

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        encoder_hidden_states: torch.Tensor | None = None,
        encoder_attention_mask: torch.Tensor | None = None,
        timestep=None,
        cross_attention_kwargs: dict | None = None,
        class_labels=None,
        added_cond_kwargs=None,
    ) -> torch.Tensor:
        extra = dict(cross_attention_kwargs or {})
        extra.pop("scale", None)
        self_context = encoder_hidden_states if self.only_cross_attention else None
        x = hidden_states
        x = self.attn1(self.norm1(x), encoder_hidden_states=self_context, attention_mask=attention_mask, **extra) + x
        x = self.attn2(
            self.norm2(x), encoder_hidden_states=encoder_hidden_states, attention_mask=encoder_attention_mask, **extra
        ) + x
        scale = self.attnx_scale
        x = self.attn1x(self.norm1(x), encoder_hidden_states=self_context, attention_mask=attention_mask, **extra) * scale + x
        x = self.attn2x(
            self.norm2(x), encoder_hidden_states=encoder_hidden_states, attention_mask=encoder_attention_mask, **extra
        ) * scale + x
        return self.ff(self.norm3(x)) + x


def add_attnx(block: BasicTransformerBlock) -> AttnXTransformerBlock:
    """Turn a diffusers SD-style transformer block into an `AttnXTransformerBlock` (in place)."""
    if block.norm_type != "layer_norm" or block.attn2 is None:
        raise ValueError("AttnX needs a layer-norm transformer block with cross-attention (SD1.x)")
    if not isinstance(block, AttnXTransformerBlock):
        block.attn1x = copy.deepcopy(block.attn1)
        block.attn2x = copy.deepcopy(block.attn2)
        block.__class__ = AttnXTransformerBlock
    return block


class AnyText2UNetModel(UNet2DConditionModel):
    """SD1.5 UNet with AnyText2's AttnX layers (official `ControlledUnetModel` with attnx flags).

    `attnx_mid`: AttnX in the middle block; `attnx_up_blocks` / `attnx_down_blocks`: diffusers block
    indices whose transformer blocks get AttnX (the released model: middle block and up blocks 1, 2).
    """

    @register_to_config
    @_extend_signature(UNet2DConditionModel)
    def __init__(
        self,
        attnx_mid: bool = True,
        attnx_up_blocks: tuple[int, ...] = (1, 2),
        attnx_down_blocks: tuple[int, ...] = (),
        **kwargs,
    ):
        super().__init__(**kwargs)
        targets = []
        if attnx_mid:
            targets.append(self.mid_block)
        targets += [self.up_blocks[i] for i in attnx_up_blocks]
        targets += [self.down_blocks[i] for i in attnx_down_blocks]
        for block in targets:
            for attention in getattr(block, "attentions", []):
                for transformer in attention.transformer_blocks:
                    add_attnx(transformer)

    def attnx_blocks(self) -> list[AttnXTransformerBlock]:
        return [m for m in self.modules() if isinstance(m, AttnXTransformerBlock)]

    def set_attnx_scale(self, scale: float) -> None:
        """Weight of the AttnX layers (official `attnx_scale`; 0 turns them off)."""
        for block in self.attnx_blocks():
            block.attnx_scale = float(scale)


# --------------------------------------------------------------------------- WriteNet
class WriteNetModel(AnyTextControlNetModel):
    """AnyText2's WriteNet: the text ControlNet conditioned on glyph/position/masked-latent features.

    Differences from AnyText's: the glyph image is at the image resolution (`glyph_scale` 1) and is the
    binarised sum of all lines' coloured glyphs; the fused hint is the official `fuse_block_za`.
    The official model runs it once per prompt (cond / uncond) with timestep 0 on a zero latent and
    re-uses the residuals at every step (`fast_residuals`).
    """

    @register_to_config
    @_extend_signature(AnyTextControlNetModel)
    def __init__(self, glyph_scale: int = 1, **kwargs):
        super().__init__(**kwargs)
        if glyph_scale == 1:
            self.auxiliary.glyph_block = _conv_stack(int(kwargs.get("glyph_channels", 1)), GLYPH_LAYERS_SCALE1)
        elif glyph_scale != 2:
            raise ValueError(f"glyph_scale must be 1 or 2, got {glyph_scale}")

    @apply_forward_hook
    def encode_hint(self, glyphs: torch.Tensor, positions: torch.Tensor, masked_latents: torch.Tensor) -> torch.Tensor:
        """Fused hint (B, C0, h, w). `glyphs`: (B, ..., H, W) any number of line/colour channels, binarised
        as their sum != 0; `positions`: (B, N, H, W) summed over lines; `masked_latents`: (B, 4, h, w)."""
        dtype = self.conv_in.weight.dtype
        ink = glyphs.flatten(1, -3).sum(dim=1, keepdim=True)
        glyph_mask = (ink != 0).to(dtype)
        positions = positions.to(dtype).flatten(1, -3).sum(dim=1, keepdim=True)
        return self.auxiliary(glyph_mask, positions, masked_latents.to(dtype))

    @torch.no_grad()
    def fast_residuals(self, context: torch.Tensor, guided_hint: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """The official fast-control call: timestep 0 and a zero latent; raw residuals (strength 1)."""
        batch = max(context.shape[0], guided_hint.shape[0])
        _, _, h, w = guided_hint.shape
        sample = torch.zeros((batch, self.config.in_channels, h, w), device=guided_hint.device, dtype=guided_hint.dtype)
        timestep = torch.zeros((batch,), device=guided_hint.device, dtype=torch.long)
        down, mid = self(
            sample,
            timestep,
            context.expand(batch, -1, -1),
            guided_hint=guided_hint.expand(batch, -1, -1, -1),
            return_dict=False,
        )
        return list(down), mid


# --------------------------------------------------------------------------- text embedding
class EncodeNet(nn.Module):
    """Official `EncodeNet`: 3x3 conv to 16, four stride-2 convs doubling the channels, 3x3 conv to
    `out_channels`, SiLU after each, global average pool -> (N, out_channels)."""

    def __init__(self, in_channels: int, out_channels: int, channels: int = 16, downsamples: int = 4):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, padding=1)
        self.conv_list = nn.ModuleList(
            nn.Conv2d(channels * 2**i, channels * 2 ** (i + 1), 3, stride=2, padding=1) for i in range(downsamples)
        )
        self.conv2 = nn.Conv2d(channels * 2**downsamples, out_channels, 3, padding=1)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.conv1(x))
        for conv in self.conv_list:
            x = self.act(conv(x))
        x = self.act(self.conv2(x))
        return x.mean(dim=(2, 3))


def _linear_norm(in_features: int, out_features: int, eps: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_features, out_features), nn.LayerNorm(out_features, eps=eps))


class AnyText2TextEmbedding(ModelMixin, ConfigMixin):
    """The four branches of AnyText2's line embedding (official `EmbeddingManager`, released flags).

    `forward(glyph_neck, positions, style_neck, colors)`: OCR necks (N, 40, 64) of the glyph lines and
    of the font crops, positions (N, 1, H, W) in 0/1, colours (N, 3) as RGB 0-255 (500 = unspecified;
    the released model adds the colour and font terms for every line, chosen or not).
    """

    @register_to_config
    def __init__(
        self, in_features: int = 40 * 64, token_dim: int = 768, position_channels: int = 1, layer_norm_eps: float = 1e-5
    ):
        super().__init__()
        self.proj = _linear_norm(in_features, token_dim, layer_norm_eps)
        self.position_encoder = EncodeNet(position_channels, token_dim)
        self.style_proj = _linear_norm(in_features, token_dim, layer_norm_eps)
        self.color_proj = _linear_norm(3, token_dim, layer_norm_eps)

    def branches(
        self, glyph_neck: torch.Tensor, positions: torch.Tensor, style_neck: torch.Tensor, colors: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        dtype = self.proj[0].weight.dtype
        n = glyph_neck.shape[0]
        return {
            "proj": self.proj(glyph_neck.reshape(n, -1).to(dtype)),
            "position_encoder": self.position_encoder(positions.to(dtype)),
            "style_proj": self.style_proj(style_neck.reshape(n, -1).to(dtype)),
            "color_proj": self.color_proj(colors.to(dtype)),
        }

    def forward(
        self, glyph_neck: torch.Tensor, positions: torch.Tensor, style_neck: torch.Tensor, colors: torch.Tensor
    ) -> torch.Tensor:
        parts = self.branches(glyph_neck, positions, style_neck, colors)
        return parts["proj"] + parts["position_encoder"] + parts["style_proj"] + parts["color_proj"]
