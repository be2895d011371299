"""AnyText's text ControlNet as a diffusers model.

It is a diffusers-style ControlNet (time embedding, input convolution, the UNet's down and middle
blocks, one 1x1 "zero" convolution per skip connection) whose conditioning embedding is AnyText's
auxiliary latent module instead of ControlNet's hint encoder:

- the glyph image (all lines' glyphs summed, rendered at twice the output resolution) goes through
  a stack of 3x3 convolutions that downsamples it 16x;
- the position image (all lines' regions summed, at the output resolution) goes through a stack that
  downsamples it 8x;
- both feature maps and the masked-image latent are concatenated and fused by one 3x3 convolution
  into `block_out_channels[0]` channels, added to the output of `conv_in` (as in the official model).

Module names inside `auxiliary` keep the official indices (`glyph_block.0, .2, ... .16`), so the
official weights load without renaming.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.attention_processor import Attention
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.unets.unet_2d_blocks import UNetMidBlock2DCrossAttn, get_down_block
from diffusers.utils import BaseOutput
from diffusers.utils.accelerate_utils import apply_forward_hook
from torch import nn

# (out_channels, stride) of each 3x3 convolution, each followed by SiLU (official channel numbers)
GLYPH_LAYERS = ((8, 1), (8, 1), (16, 2), (16, 1), (32, 2), (32, 1), (96, 2), (96, 1), (256, 2))
POSITION_LAYERS = ((8, 1), (8, 1), (16, 2), (16, 1), (32, 2), (32, 1), (64, 2))


def _conv_stack(in_channels: int, layers: tuple[tuple[int, int], ...]) -> nn.Sequential:
    modules: list[nn.Module] = []
    channels = in_channels
    for out_channels, stride in layers:
        modules += [nn.Conv2d(channels, out_channels, 3, stride=stride, padding=1), nn.SiLU()]
        channels = out_channels
    return nn.Sequential(*modules)


class AnyTextAuxiliaryLatentModule(nn.Module):
    """Glyph encoder, position encoder and their fusion with the masked-image latent."""

    def __init__(self, glyph_channels: int, position_channels: int, latent_channels: int, out_channels: int):
        super().__init__()
        self.glyph_block = _conv_stack(glyph_channels, GLYPH_LAYERS)
        self.position_block = _conv_stack(position_channels, POSITION_LAYERS)
        fused = GLYPH_LAYERS[-1][0] + POSITION_LAYERS[-1][0] + latent_channels
        self.fuse_block = nn.Conv2d(fused, out_channels, 3, padding=1)

    def forward(self, glyphs: torch.Tensor, positions: torch.Tensor, masked_latents: torch.Tensor) -> torch.Tensor:
        """glyphs (B, 1, 2H, 2W), positions (B, 1, H, W) in image pixels, masked_latents (B, 4, H/8, W/8)."""
        enc_glyph = self.glyph_block(glyphs)
        enc_pos = self.position_block(positions)
        return self.fuse_block(torch.cat([enc_glyph, enc_pos, masked_latents], dim=1))


@dataclass
class AnyTextControlNetOutput(BaseOutput):
    """Residuals for the UNet: one per skip connection (input-block order) and one for the middle block."""

    down_block_res_samples: tuple[torch.Tensor, ...]
    mid_block_res_sample: torch.Tensor


class AnyTextControlNetModel(ModelMixin, ConfigMixin):
    """The AnyText text ControlNet (`control_model` of the official checkpoint).

    `num_attention_heads` is the number of heads (official `num_heads`); each head has
    `channels // num_attention_heads` dimensions, as in Stable Diffusion 1.5.
    """

    _supports_gradient_checkpointing = False

    @register_to_config
    def __init__(
        self,
        in_channels: int = 4,
        block_out_channels: tuple[int, ...] = (320, 640, 1280, 1280),
        down_block_types: tuple[str, ...] = (
            "CrossAttnDownBlock2D",
            "CrossAttnDownBlock2D",
            "CrossAttnDownBlock2D",
            "DownBlock2D",
        ),
        layers_per_block: int = 2,
        num_attention_heads: int = 8,
        cross_attention_dim: int = 768,
        transformer_layers_per_block: int = 1,
        norm_num_groups: int = 32,
        norm_eps: float = 1e-5,
        flip_sin_to_cos: bool = True,
        freq_shift: int = 0,
        glyph_channels: int = 1,
        position_channels: int = 1,
        use_linear_projection: bool = False,
    ):
        super().__init__()
        if len(block_out_channels) != len(down_block_types):
            raise ValueError("block_out_channels and down_block_types must have the same length")
        time_embed_dim = block_out_channels[0] * 4
        self.conv_in = nn.Conv2d(in_channels, block_out_channels[0], kernel_size=3, padding=1)
        self.time_proj = Timesteps(block_out_channels[0], flip_sin_to_cos, freq_shift)
        self.time_embedding = TimestepEmbedding(block_out_channels[0], time_embed_dim)
        self.auxiliary = AnyTextAuxiliaryLatentModule(
            glyph_channels, position_channels, in_channels, block_out_channels[0]
        )

        self.down_blocks = nn.ModuleList()
        self.controlnet_down_blocks = nn.ModuleList([self._zero_conv(block_out_channels[0])])
        output_channel = block_out_channels[0]
        for i, block_type in enumerate(down_block_types):
            input_channel = output_channel
            output_channel = block_out_channels[i]
            is_final = i == len(block_out_channels) - 1
            self.down_blocks.append(
                get_down_block(
                    block_type,
                    num_layers=layers_per_block,
                    transformer_layers_per_block=transformer_layers_per_block,
                    in_channels=input_channel,
                    out_channels=output_channel,
                    temb_channels=time_embed_dim,
                    add_downsample=not is_final,
                    resnet_eps=norm_eps,
                    resnet_act_fn="silu",
                    resnet_groups=norm_num_groups,
                    cross_attention_dim=cross_attention_dim,
                    num_attention_heads=num_attention_heads,
                    attention_head_dim=output_channel // num_attention_heads,
                    downsample_padding=1,
                    use_linear_projection=use_linear_projection,
                )
            )
            for _ in range(layers_per_block):
                self.controlnet_down_blocks.append(self._zero_conv(output_channel))
            if not is_final:
                self.controlnet_down_blocks.append(self._zero_conv(output_channel))

        mid_channels = block_out_channels[-1]
        self.mid_block = UNetMidBlock2DCrossAttn(
            in_channels=mid_channels,
            temb_channels=time_embed_dim,
            transformer_layers_per_block=transformer_layers_per_block,
            resnet_eps=norm_eps,
            resnet_act_fn="silu",
            resnet_groups=norm_num_groups,
            num_attention_heads=num_attention_heads,
            cross_attention_dim=cross_attention_dim,
            use_linear_projection=use_linear_projection,
        )
        self.controlnet_mid_block = self._zero_conv(mid_channels)

    @staticmethod
    def _zero_conv(channels: int) -> nn.Conv2d:
        conv = nn.Conv2d(channels, channels, kernel_size=1)
        nn.init.zeros_(conv.weight)
        nn.init.zeros_(conv.bias)
        return conv

    def set_attention_slice(self, slice_size: str | int | None) -> None:
        """Compute attention in slices of `slice_size` heads ("auto": half the heads; None: off)."""
        for module in self.modules():
            if isinstance(module, Attention):
                size = module.sliceable_head_dim // 2 if slice_size == "auto" else slice_size
                module.set_attention_slice(size)

    @apply_forward_hook  # model CPU offload moves the module to the GPU for this call too
    def encode_hint(self, glyphs: torch.Tensor, positions: torch.Tensor, masked_latents: torch.Tensor) -> torch.Tensor:
        """The fused glyph/position/masked-image features; constant over the denoising steps.

        `glyphs` (B, N, 2H, 2W) and `positions` (B, N, H, W) hold one channel per text line (or
        their sum); lines are summed as the official model does.
        """
        dtype = self.conv_in.weight.dtype
        glyphs = glyphs.to(dtype).sum(dim=1, keepdim=True)
        positions = positions.to(dtype).sum(dim=1, keepdim=True)
        return self.auxiliary(glyphs, positions, masked_latents.to(dtype))

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float | int,
        encoder_hidden_states: torch.Tensor,
        glyphs: torch.Tensor | None = None,
        positions: torch.Tensor | None = None,
        masked_latents: torch.Tensor | None = None,
        guided_hint: torch.Tensor | None = None,
        conditioning_scale: float = 1.0,
        return_dict: bool = True,
    ) -> AnyTextControlNetOutput | tuple:
        """Control residuals for `sample` at `timestep`.

        Give either `guided_hint` (from `encode_hint`, to reuse it across steps) or `glyphs`,
        `positions` and `masked_latents`. Residuals are multiplied by `conditioning_scale` (the
        official "strength").
        """
        if guided_hint is None:
            if glyphs is None or positions is None or masked_latents is None:
                raise ValueError("give guided_hint, or glyphs, positions and masked_latents")
            guided_hint = self.encode_hint(glyphs, positions, masked_latents)

        batch = sample.shape[0]
        if not torch.is_tensor(timestep):
            timestep = torch.tensor([timestep], device=sample.device, dtype=torch.long)
        elif timestep.ndim == 0:
            timestep = timestep[None].to(sample.device)
        timestep = timestep.expand(batch)
        t_emb = self.time_proj(timestep).to(dtype=sample.dtype)
        emb = self.time_embedding(t_emb)

        hidden = self.conv_in(sample) + guided_hint
        residuals: list[torch.Tensor] = [hidden]
        for block in self.down_blocks:
            if getattr(block, "has_cross_attention", False):
                hidden, states = block(hidden_states=hidden, temb=emb, encoder_hidden_states=encoder_hidden_states)
            else:
                hidden, states = block(hidden_states=hidden, temb=emb)
            residuals.extend(states)
        hidden = self.mid_block(hidden, emb, encoder_hidden_states=encoder_hidden_states)

        down = tuple(conv(r) * conditioning_scale for conv, r in zip(self.controlnet_down_blocks, residuals))
        mid = self.controlnet_mid_block(hidden) * conditioning_scale
        if not return_dict:
            return down, mid
        return AnyTextControlNetOutput(down_block_res_samples=down, mid_block_res_sample=mid)
