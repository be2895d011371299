"""Tiny SD1.5-layout models built in code (a few channels) and a 4-image captioned training folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TOKENIZER = FIXTURES / "tokenizer"  # CLIP's BPE cut to its first 1500 merges (from ../shared/golden)


def tiny_text_encoder_config():
    from transformers import CLIPTextConfig

    vocab = 512 + 1500 + 2
    return CLIPTextConfig(
        vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        max_position_embeddings=77, bos_token_id=vocab - 2, eos_token_id=vocab - 1, pad_token_id=vocab - 1,
    )  # fmt: skip


def build_tiny_sd(
    folder: Path, seed: int = 0, unet_config: dict | None = None, vae_config: dict | None = None
):
    """Write a tiny StableDiffusionPipeline folder (32 px images, 16 px latents) and return the pipeline."""
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        **(
            unet_config
            or dict(
                sample_size=16, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(16, 32),
                down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
                cross_attention_dim=32, attention_head_dim=4, norm_num_groups=8,
            )
        )
    )  # fmt: skip
    vae = AutoencoderKL(
        **(
            vae_config
            or dict(
                in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16), layers_per_block=1,
                down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                norm_num_groups=4, sample_size=32,
            )
        )
    )  # fmt: skip
    text_encoder = CLIPTextModel(tiny_text_encoder_config())
    tokenizer = CLIPTokenizer.from_pretrained(TOKENIZER)
    scheduler = DDIMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
        set_alpha_to_one=False, steps_offset=1,
    )  # fmt: skip
    pipe = StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )  # fmt: skip
    pipe.save_pretrained(folder)
    return pipe


@pytest.fixture(scope="session")
def tiny_sd(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tiny_sd")
    build_tiny_sd(folder)
    return folder


@pytest.fixture
def style_images(tmp_path) -> Path:
    """Four 32 px images (distinct colour blocks) with kohya captions; one without a caption file."""
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        image = np.zeros((32, 32, 3), np.uint8)
        image[:] = rng.integers(0, 255, 3)
        image[8 * i : 8 * i + 12, 4:28] = rng.integers(0, 255, 3)
        Image.fromarray(image).save(folder / f"img{i}.png")
        if i < 3:
            (folder / f"img{i}.txt").write_text(f"sxd style, bronze mask {i}\n")
    return folder


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst
