"""Pieces of the official sampling procedure shared by the pipeline and the parity check.

- `official_ddim_timesteps`: the official DDIM sampler's timestep list (`uniform` discretisation:
  every `1000 // steps`-th step, shifted by one), which differs from diffusers' "leading" spacing
  when the step count does not divide 1000 (then it has one step more, as the official sampler).
- `configure_scheduler`: sets a scheduler's timesteps; a `DDIMScheduler` with the default "leading"
  spacing gets the official list (one with "trailing" spacing keeps diffusers' list).
- `masked_image_latents`: the masked image's latent, a SAMPLE of the VAE posterior (not its mean).
- `decode_to_uint8`: the VAE decode and the official 8-bit conversion.
- `resize_for_edit`: the official `resize_image` (longest side <= 768, sides cut to multiples of 64).

Both VAE calls run in `vae_memory_section` (wenchuang.anytext.memory): their large buffers are given
back to the system when freed instead of staying in the process through the denoising steps. A
bfloat16/float16 VAE on a CPU gets its input channels-last (`vae_input`).
"""

from __future__ import annotations

import numpy as np
import torch

from wenchuang.anytext.memory import vae_memory_section
from wenchuang.errors import RequestError


def official_ddim_timesteps(num_steps: int, num_train_timesteps: int = 1000) -> np.ndarray:
    """Timesteps in sampling order, e.g. 20 steps -> 951, 901, ..., 1."""
    if num_steps < 1 or num_steps > num_train_timesteps:
        raise RequestError("steps", f"must be between 1 and {num_train_timesteps}, got {num_steps}")
    stride = num_train_timesteps // num_steps
    steps = np.arange(0, num_train_timesteps, stride) + 1
    # the official list can end at num_train_timesteps (e.g. 3 steps: 1, 334, 667, 1000), an index the
    # official sampler cannot use (it fails there); such a step is left out
    return steps[steps < num_train_timesteps][::-1].copy()


def configure_scheduler(scheduler, num_steps: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Set the scheduler's timesteps for `num_steps` steps and return them (sampling order)."""
    from diffusers import DDIMScheduler

    scheduler.set_timesteps(num_steps, device=device)
    if isinstance(scheduler, DDIMScheduler) and scheduler.config.get("timestep_spacing", "leading") == "leading":
        official = official_ddim_timesteps(num_steps, scheduler.config.num_train_timesteps)
        # diffusers' DDIM step goes back by num_train_timesteps // num_inference_steps, the official stride
        scheduler.timesteps = torch.from_numpy(official).to(device if device is not None else "cpu")
    return scheduler.timesteps


def masked_image_latents(vae, masked_image: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """`scaling_factor * (mean + std * noise)` of the VAE posterior of `masked_image` (B, 3, H, W) in [-1, 1].

    The noise is the next `torch.randn` of `generator`, as the official `encode_first_stage(...).sample()`.
    """
    with vae_memory_section(vae.device):
        posterior = vae.encode(vae_input(vae, masked_image)).latent_dist
    noise = torch.randn(posterior.mean.shape, generator=generator, dtype=torch.float32)
    noise = noise.to(device=posterior.mean.device, dtype=posterior.mean.dtype)
    return vae.config.scaling_factor * (posterior.mean + posterior.std * noise)


def vae_input(vae, x: torch.Tensor) -> torch.Tensor:
    """`x` on the VAE's device and in its dtype; channels-last when a bfloat16/float16 VAE runs on a CPU.

    There oneDNN convolves channels-last activations without reordering each layer's input and
    output: on the full-size VAE at 512x512 in bfloat16 the decode takes a third to a quarter of the
    time and its peak memory ~30 % less, with the same error against float32 (docs/benchmarks.md).
    float32 keeps the default layout the parity checks were made with.
    """
    x = x.to(device=vae.device, dtype=vae.dtype)
    if vae.device.type == "cpu" and vae.dtype != torch.float32:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


@torch.no_grad()
def decode_to_uint8(vae, latents: torch.Tensor) -> list[np.ndarray]:
    """H x W x 3 uint8 images of `latents`: the VAE decode (tiled when the VAE's tiling is on) and the
    official 8-bit conversion (x * 127.5 + 127.5, clipped to 0-255, truncated)."""
    with vae_memory_section(vae.device):
        decoded = vae.decode(vae_input(vae, latents) / vae.config.scaling_factor).sample
        images = (decoded.float().permute(0, 2, 3, 1) * 127.5 + 127.5).cpu().numpy()
        del decoded
    return list(images.clip(0, 255).astype(np.uint8))


def resize_for_edit(image: np.ndarray, max_side: int = 768) -> np.ndarray:
    """Scale so the longest side is at most `max_side`, then cut both sides down to multiples of 64."""
    import cv2

    height, width = image.shape[:2]
    if max(height, width) > max_side:
        scale = max_side / max(height, width)
        image = cv2.resize(image, (int(round(width * scale)), int(round(height * scale))))
        height, width = image.shape[:2]
    new_w, new_h = width - width % 64, height - height % 64
    if new_w < 64 or new_h < 64:
        raise RequestError("image", f"is too small to edit ({width}x{height}); both sides need at least 64 pixels")
    return cv2.resize(image, (new_w, new_h))


def feathered_mask(hint: np.ndarray, feather: int = 8) -> np.ndarray:
    """Soft edit mask: 1 on the edited regions, falling to exactly 0 within `2 * feather` pixels of them.

    `hint` is H x W with values > 0.5 inside the edited regions; the result is float32 in [0, 1].
    The regions are grown by `feather` pixels and box-blurred with radius `feather`, so every pixel of
    a region stays at 1 and every pixel farther than `2 * feather` pixels (chessboard distance) is 0.
    """
    import cv2

    core = (np.asarray(hint) > 0.5).astype(np.uint8)
    if feather <= 0:
        return core.astype(np.float32)
    size = 2 * feather + 1
    grown = cv2.dilate(core, np.ones((size, size), np.uint8)).astype(np.float32)
    soft = cv2.blur(grown, (size, size), borderType=cv2.BORDER_CONSTANT)
    soft[core > 0] = 1.0
    return np.clip(soft, 0.0, 1.0).astype(np.float32)
