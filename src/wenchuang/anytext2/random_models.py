"""AnyText2 pipelines with random weights, for tests and benchmarks (no download needed).

`tiny_config()` is a few-channel AnyText2 (AttnX in the middle block and the up block of level 1)
that runs a 128x128 image in a second on a CPU; `AnyText2Config.full()` gives the released shapes.
"""

from __future__ import annotations

from pathlib import Path

import torch

from wenchuang.anytext.random_models import tiny_clip
from wenchuang.anytext.random_models import tiny_config as anytext_tiny_config
from wenchuang.anytext2.configs import AnyText2Config


def tiny_config(context_dim: int = 32) -> AnyText2Config:
    """AnyText's tiny sizes (`wenchuang.anytext.random_models.tiny_config`), AttnX on the one output level."""
    config = anytext_tiny_config(context_dim, AnyText2Config())
    config.output_attnx_level = (1,)
    return config


def build_random_pipeline(config: AnyText2Config, tokenizer_dir: str | Path, seed: int = 0):
    """An `AnyText2Pipeline` of `config` with random weights (fp32, CPU); zero-initialised layers of the
    official model (WriteNet zero convolutions and fusion) get random values so every input matters."""
    from diffusers import DDIMScheduler
    from transformers import CLIPTextConfig, CLIPTextModel

    from wenchuang.anytext.recognizer import AnyTextRecognizer
    from wenchuang.anytext.tokenizer import load_clip_tokenizer
    from wenchuang.anytext2.convert import build_models
    from wenchuang.anytext2.models import AnyText2TextEmbedding
    from wenchuang.anytext2.pipeline import AnyText2Pipeline

    tokenizer = load_clip_tokenizer(tokenizer_dir)
    width = int(config.unet["context_dim"])
    torch.manual_seed(seed)
    models = build_models(config)
    text_encoder = CLIPTextModel(CLIPTextConfig(**tiny_clip(len(tokenizer), hidden=width)))
    control = models["controlnet"]
    with torch.no_grad():
        for conv in [*control.controlnet_down_blocks, control.controlnet_mid_block, control.auxiliary.fuse_block]:
            conv.weight.normal_(0.0, conv.weight[0].numel() ** -0.5)
            conv.bias.normal_(0.0, 0.05)
        for block in models["unet"].attnx_blocks():
            for layer in (block.attn1x, block.attn2x):
                for param in layer.parameters():
                    param.normal_(0.0, 0.02)
    recognizer, font_recognizer = AnyTextRecognizer(), AnyTextRecognizer()
    with torch.no_grad():  # torch's default init leaves these recognisers' necks almost input-blind
        for module in [*recognizer.modules(), *font_recognizer.modules()]:
            if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
                fan_in = module.weight[0].numel()
                module.weight.normal_(0.0, (2.0 / fan_in) ** 0.5)
    pipe = AnyText2Pipeline(
        scheduler=DDIMScheduler(**config.scheduler_config()),
        text_encoder=text_encoder.eval(),
        tokenizer=tokenizer,
        text_embedding=AnyText2TextEmbedding(token_dim=width).eval(),
        recognizer=recognizer.eval(),
        font_recognizer=font_recognizer.eval(),
        **{name: model.eval() for name, model in models.items()},
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe
