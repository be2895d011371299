"""The VAE on a CPU: freed large buffers leave the process (`vae_memory_section`, Linux glibc only),
and a bfloat16 VAE gets channels-last input (`vae_input`)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKL

from wenchuang.anytext.memory import glibc
from wenchuang.anytext.sampling import decode_to_uint8, masked_image_latents

needs_glibc = pytest.mark.skipif(glibc() is None, reason="needs Linux with glibc (mallopt, malloc_trim)")

# Frees 8 MiB blocks with small live allocations between them (so the heap cannot shrink from the
# top), after glibc's dynamic mmap threshold has been raised by freeing one mapped 16 MiB block: the
# situation after a VAE call. Prints the resident anonymous memory before and after, in MiB.
CHILD = r"""
import json, sys
import numpy as np
from wenchuang.anytext.memory import vae_memory_section

def anon_mib():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024

def churn():
    blocks, keep = [], []
    for _ in range(24):
        blocks.append(np.ones(8 << 20, np.uint8))
        keep.append(np.ones(100_000, np.uint8))
    del blocks
    return keep

raised = np.ones(16 << 20, np.uint8)
del raised
base = anon_mib()
if sys.argv[1] == "section":
    with vae_memory_section():
        keep = churn()
elif sys.argv[1] == "gpu-section":
    with vae_memory_section("cuda:0"):
        keep = churn()
else:
    keep = churn()
print(json.dumps({"base": base, "after": anon_mib()}))
"""


def _retained(mode: str) -> float:
    out = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result["after"] - result["base"]


@needs_glibc
def test_freed_vae_sized_buffers_are_returned_inside_a_section():
    plain, section = _retained("plain"), _retained("section")
    assert plain > 120, f"the plain run should keep most of the 192 MiB it freed (kept {plain:.0f} MiB)"
    assert section < 30, f"the section kept {section:.0f} MiB of freed buffers"


@needs_glibc
def test_a_section_for_a_vae_on_a_gpu_leaves_the_heap_alone():
    assert _retained("gpu-section") > 120  # no trim, no low mmap threshold: as without a section


def _tiny_vae(dtype):
    torch.manual_seed(0)
    vae = AutoencoderKL(
        block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4, norm_num_groups=4, layers_per_block=1,
    ).eval()
    return vae.to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_bf16_vae_on_cpu_gets_channels_last_input_and_the_same_result(dtype):
    vae = _tiny_vae(dtype)
    seen = []
    for conv in (vae.encoder.conv_in, vae.decoder.conv_in):
        conv.register_forward_pre_hook(lambda _m, args: seen.append(args[0].is_contiguous(memory_format=torch.channels_last)))
    image = torch.rand(1, 3, 32, 32) * 2 - 1
    latents = masked_image_latents(vae, image, torch.Generator().manual_seed(1))
    decoded = decode_to_uint8(vae, latents)
    assert seen == [dtype == torch.bfloat16] * 2  # float32 keeps the layout the parity checks use
    assert decoded[0].shape == (32, 32, 3) and decoded[0].dtype == np.uint8
    # the same numbers as the default layout, up to bfloat16 rounding
    with torch.no_grad():
        plain = vae.decode(latents.to(dtype) / vae.config.scaling_factor).sample
    plain8 = (plain.float().permute(0, 2, 3, 1) * 127.5 + 127.5).numpy().clip(0, 255).astype(np.uint8)[0]
    assert np.abs(plain8.astype(int) - decoded[0].astype(int)).max() <= (0 if dtype == torch.float32 else 3)
