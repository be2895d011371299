"""AnyText pipelines with random weights, for tests and benchmarks (no download needed).

`tiny_config()` is a few-channel model that runs a 256x256 image in seconds on a CPU;
`AnyTextConfig.full()` gives the released model's shapes (for speed and memory measurements).
`write_byte_tokenizer(folder)` writes a small CLIP-format tokenizer (byte-level, no merges) whose
ids are all below 600, so it works with any CLIP text encoder of at least that vocabulary.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from diffusers import DDIMScheduler
from transformers import CLIPTextConfig, CLIPTextModel
from transformers.convert_slow_tokenizer import bytes_to_unicode  # CLIP's byte -> printable character table

from wenchuang.anytext.configs import AnyTextConfig
from wenchuang.anytext.convert import build_models
from wenchuang.anytext.pipeline import AnyTextPipeline
from wenchuang.anytext.recognizer import AnyTextRecognizer
from wenchuang.anytext.text_embedding import TextEmbeddingModule
from wenchuang.anytext.tokenizer import load_clip_tokenizer

FULL_CLIP = {  # CLIP ViT-L/14 text encoder (the official cond_stage_model)
    "vocab_size": 49408,
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "max_position_embeddings": 77,
    "hidden_act": "quick_gelu",
    "projection_dim": 768,
    "bos_token_id": 49406,
    "eos_token_id": 49407,
    "pad_token_id": 49407,
}


def tiny_config(context_dim: int = 32, config: AnyTextConfig | None = None) -> AnyTextConfig:
    """Two UNet levels of 32/64 channels with attention, a 4-level 32-channel VAE (8x downsampling).

    `config` is the configuration to shrink (default: a new AnyText one; AnyText2 passes its own)."""
    config = AnyTextConfig() if config is None else config
    config.unet.update(
        model_channels=32,
        channel_mult=[1, 2],
        num_res_blocks=1,
        attention_resolutions=[1, 2],
        num_heads=2,
        context_dim=context_dim,
    )
    config.vae["ddconfig"].update(ch=32, ch_mult=[1, 1, 1, 1], num_res_blocks=1)
    return config


def tiny_clip(vocab_size: int, hidden: int = 32) -> dict:
    return {
        "vocab_size": vocab_size,
        "hidden_size": hidden,
        "intermediate_size": hidden * 2,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "max_position_embeddings": 77,
        "hidden_act": "quick_gelu",
        "projection_dim": hidden,
        "bos_token_id": vocab_size - 2,
        "eos_token_id": vocab_size - 1,
        "pad_token_id": vocab_size - 1,
    }


def write_byte_tokenizer(folder: str | Path) -> Path:
    """A CLIP tokenizer folder with one token per byte (and per word-final byte), no merges."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    symbols = list(bytes_to_unicode().values())
    vocab_list = symbols + [s + "</w>" for s in symbols] + ["<|startoftext|>", "<|endoftext|>"]
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab_list)}), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    special = {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
               "pad_token": "<|endoftext|>"}
    (folder / "special_tokens_map.json").write_text(json.dumps(special), encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(
        json.dumps({**special, "model_max_length": 77, "tokenizer_class": "CLIPTokenizer"}), encoding="utf-8"
    )
    return folder


def build_random_pipeline(
    config: AnyTextConfig,
    tokenizer_dir: str | Path,
    clip: dict | None = None,
    seed: int = 0,
    projection: str = "linear",
    random_zero_convs: bool = True,
    device: str | torch.device = "cpu",
):
    """An `AnyTextPipeline` of `config` with random weights (fp32).

    Zero-initialised layers (the ControlNet's zero convolutions and fusion) get random values too
    when `random_zero_convs`, so the glyphs and positions change the output as a trained model's do.
    """
    tokenizer = load_clip_tokenizer(tokenizer_dir)
    clip = clip or tiny_clip(len(tokenizer), hidden=int(config.unet["context_dim"]))
    torch.manual_seed(seed)
    with torch.device(device):
        models = build_models(config, device=device)
        text_encoder = CLIPTextModel(CLIPTextConfig(**clip)).eval()
        recognizer = AnyTextRecognizer().eval()
        text_embedding = TextEmbeddingModule(token_dim=int(clip["hidden_size"]), projection=projection).eval()
    if random_zero_convs:
        control = models["controlnet"]
        with torch.no_grad():
            for conv in [*control.controlnet_down_blocks, control.controlnet_mid_block, control.auxiliary.fuse_block]:
                fan_in = conv.weight[0].numel()
                conv.weight.normal_(0.0, fan_in**-0.5)
                conv.bias.normal_(0.0, 0.05)
    pipe = AnyTextPipeline(
        scheduler=DDIMScheduler(**config.scheduler_config()),
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        text_embedding=text_embedding,
        recognizer=recognizer,
        **models,
    )
    for module in (pipe.unet, pipe.controlnet, pipe.vae):
        module.eval()
    return pipe
