"""Tiny SD1.5-layout models built in code (a few channels) and a 4-image captioned training folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TOKENIZER = FIXTURES / "tokenizer"  # CLIP's BPE cut to its first 1500 merges (from tests/golden/tokenizer)


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


def small_recognizer():
    """A narrow PP-OCRv3-layout recogniser (same 40x64 neck) with batch-norm statistics estimated on
    random inputs: a freshly initialised one maps every input to the same features in eval mode."""
    from wenchuang.anytext.recognizer import AnyTextRecognizer

    torch.manual_seed(0)
    recognizer = AnyTextRecognizer(scale=0.25, neck_hidden_dims=32, neck_depth=1, num_classes=97)
    for module in recognizer.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.momentum = None
            module.reset_running_stats()
    recognizer.train()
    with torch.no_grad():
        for _ in range(3):
            recognizer(torch.randn(8, 3, 48, 320))
    return recognizer.eval()


@pytest.fixture(scope="session")
def tiny_anytext(tmp_path_factory) -> Path:
    """A tiny AnyText pipeline folder (random weights, the small recogniser)."""
    from wenchuang.anytext.random_models import build_random_pipeline, tiny_config, write_byte_tokenizer

    root = tmp_path_factory.mktemp("tiny_anytext")
    pipe = build_random_pipeline(tiny_config(), write_byte_tokenizer(root / "tokenizer"), seed=0)
    pipe.register_modules(recognizer=small_recognizer())
    pipe.save_pretrained(root / "pipe")
    return root / "pipe"


WORDS = ("文创", "三星堆", "AB", "金沙")


@pytest.fixture
def anyword_data(tmp_path) -> Path:
    """Four 64 px images with one drawn line each (one image 128 px), as an AnyWord file."""
    from PIL import ImageDraw

    from wenchuang.layout.fonts import load_font

    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    entries = []
    for i, word in enumerate(WORDS):
        side = 128 if i == 3 else 64
        k = side // 64
        image = Image.new("RGB", (side, side), tuple(int(v) for v in rng.integers(100, 255, 3)))
        ImageDraw.Draw(image).text((8 * k, 20 * k), word, font=load_font(None, 18 * k), fill=(0, 0, 0))
        image.save(folder / f"{i}.png")
        box = [[6 * k, 18 * k], [58 * k, 18 * k], [58 * k, 42 * k], [6 * k, 42 * k]]
        language = "Latin" if word.isascii() else "Chinese"
        entries.append({"img_name": f"{i}.png", "caption": "a sign", "annotations": [
            {"polygon": box, "text": word, "language": language, "valid": True},
        ]})  # fmt: skip
    path = tmp_path / "anyword.json"
    path.write_text(json.dumps({"data_root": str(folder), "data_list": entries}, ensure_ascii=False))
    return path
