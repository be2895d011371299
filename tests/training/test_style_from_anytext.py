"""An AnyText pipeline folder is an SD1.5 base too (its UNet, VAE and CLIP are SD1.5's): a designer
can tune a style and merge it back with only the AnyText weights, no second model download."""

from __future__ import annotations

import torch
from safetensors.torch import load_file

from wenchuang.anytext.pipeline import AnyTextPipeline
from wenchuang.training.merge import merge_into_anytext
from wenchuang.training.style import StyleConfig, StyleTrainer


def test_lora_on_the_anytext_folder_as_base_then_merge_back(tiny_anytext, style_images, tmp_path):
    cfg = StyleConfig(
        data_dir=style_images, output_dir=tmp_path / "lora", base=str(tiny_anytext), method="lora",
        resolution=32, max_steps=3, learning_rate=1e-2, lora_rank=4, seed=0, instance_prompt="sxd style",
    )  # fmt: skip
    result = StyleTrainer(cfg).train()
    assert result.steps == 3 and result.output.is_file()

    merge_into_anytext(tiny_anytext, tiny_anytext, tmp_path / "merged", lora=result.output)
    before = AnyTextPipeline.from_pretrained(str(tiny_anytext))
    after = AnyTextPipeline.from_pretrained(str(tmp_path / "merged"))
    changed = [
        name
        for name, weight in after.unet.state_dict().items()
        if not torch.equal(weight, before.unet.state_dict()[name])
    ]
    assert changed and all(".attentions." in name for name in changed)  # only where the LoRA adapts
    lora = load_file(str(result.output))
    targets = {k.removeprefix("unet.").split(".lora_A.")[0] + ".weight" for k in lora if k.startswith("unet.")
               and ".lora_A." in k}  # fmt: skip
    assert set(changed) == targets  # every adapted weight changed, nothing else
    for part in ("controlnet", "text_embedding", "vae", "text_encoder"):  # no text-encoder LoRA asked for
        for name, weight in getattr(after, part).state_dict().items():
            assert torch.equal(weight, getattr(before, part).state_dict()[name]), (part, name)
