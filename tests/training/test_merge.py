"""merge: tuned base (folder, single file, base + LoRA) into an AnyText pipeline; shapes checked."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from wenchuang.cli import main
from wenchuang.errors import ModelError
from wenchuang.training.merge import merge_into_anytext


def _random_anytext(seed: int, tokenizer_dir):
    from wenchuang.anytext.random_models import build_random_pipeline, tiny_config

    pipe = build_random_pipeline(tiny_config(), tokenizer_dir, seed=seed)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _save_sd_folder(pipe, folder):
    from diffusers import StableDiffusionPipeline

    StableDiffusionPipeline(
        vae=pipe.vae, text_encoder=pipe.text_encoder, tokenizer=pipe.tokenizer, unet=pipe.unet,
        scheduler=pipe.scheduler, safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    ).save_pretrained(folder)  # fmt: skip
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """An AnyText pipeline folder (seed 0) and a 'tuned' SD1.5 folder of the same shapes (seed 1)."""
    from wenchuang.anytext.random_models import write_byte_tokenizer

    root = tmp_path_factory.mktemp("merge")
    tokenizer_dir = write_byte_tokenizer(root / "tokenizer")
    anytext = _random_anytext(0, tokenizer_dir)
    anytext.save_pretrained(root / "anytext")
    tuned = _random_anytext(1, tokenizer_dir)
    _save_sd_folder(tuned, root / "tuned")
    return {"root": root, "anytext": anytext, "tuned": tuned, "tokenizer": tokenizer_dir}


def _assert_same(a: torch.nn.Module, b: torch.nn.Module):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


def test_merge_folder_replaces_the_base_and_keeps_the_text_control(models, tmp_path):
    from wenchuang.anytext.pipeline import AnyTextPipeline

    out = tmp_path / "merged"
    merge_into_anytext(models["root"] / "anytext", models["root"] / "tuned", out)
    merged = AnyTextPipeline.from_pretrained(out)
    for name in ("unet", "vae", "text_encoder"):
        _assert_same(getattr(merged, name), getattr(models["tuned"], name))
    for name in ("controlnet", "text_embedding", "recognizer"):
        _assert_same(getattr(merged, name), getattr(models["anytext"], name))
    info = json.loads((out / "merge_info.json").read_text())
    assert info["replaced"] == ["unet", "vae", "text_encoder"]

    merged.set_progress_bar_config(disable=True)
    square = [(8, 8), (56, 8), (56, 40), (8, 40)]
    result = merged('a sign that reads "AB"', texts=["AB"], polygons=[square], width=64, height=64,
                    num_inference_steps=2, generator=torch.Generator().manual_seed(0))  # fmt: skip
    assert result.images[0].shape == (64, 64, 3)


def test_merge_keeps_vae_and_text_encoder_when_asked(models, tmp_path):
    from wenchuang.anytext.pipeline import AnyTextPipeline

    out = tmp_path / "keep"
    merge_into_anytext(models["root"] / "anytext", models["root"] / "tuned", out, keep_vae=True,
                       keep_text_encoder=True)  # fmt: skip
    merged = AnyTextPipeline.from_pretrained(out)
    _assert_same(merged.unet, models["tuned"].unet)
    _assert_same(merged.vae, models["anytext"].vae)
    _assert_same(merged.text_encoder, models["anytext"].text_encoder)


def test_fused_lora_equals_base_plus_scaled_BA(models, tmp_path):
    from diffusers import StableDiffusionPipeline
    from peft import LoraConfig, inject_adapter_in_model
    from peft.utils import get_peft_model_state_dict

    from wenchuang.anytext.pipeline import AnyTextPipeline

    tuned = StableDiffusionPipeline.from_pretrained(models["root"] / "tuned")
    tuned.unet.add_adapter(LoraConfig(r=2, lora_alpha=2, target_modules=["to_q", "to_v", "proj_in"]))
    inject_adapter_in_model(LoraConfig(r=2, lora_alpha=2, target_modules=["q_proj"]), tuned.text_encoder)
    torch.manual_seed(5)
    with torch.no_grad():
        for module in (tuned.unet, tuned.text_encoder):
            for name, p in module.named_parameters():
                if "lora_B" in name:
                    p.normal_(0, 0.1)  # B starts at zero; make the LoRA do something
    StableDiffusionPipeline.save_lora_weights(
        tmp_path / "lora", unet_lora_layers=get_peft_model_state_dict(tuned.unet),
        text_encoder_lora_layers=get_peft_model_state_dict(tuned.text_encoder),
    )  # fmt: skip
    lora = load_file(str(tmp_path / "lora" / "pytorch_lora_weights.safetensors"))

    out = tmp_path / "fused"
    assert main(["merge", str(models["root"] / "anytext"), str(models["root"] / "tuned"), str(out),
                 "--lora", str(tmp_path / "lora"), "--lora-scale", "0.5"]) == 0  # fmt: skip
    merged_pipe = AnyTextPipeline.from_pretrained(out)
    for part in ("unet", "text_encoder"):
        merged = {
            k.removeprefix("text_model."): v for k, v in getattr(merged_pipe, part).state_dict().items()
        }
        base = {
            k.removeprefix("text_model."): v for k, v in getattr(models["tuned"], part).state_dict().items()
        }
        fused_keys = set()
        for key in lora:
            if not key.startswith(part + ".") or ".lora_A." not in key:
                continue
            module = key.removeprefix(part + ".").removeprefix("text_model.").split(".lora_A.")[0]
            a, b = lora[key], lora[key.replace(".lora_A.", ".lora_B.")]
            weight = base[f"{module}.weight"]
            expected = weight + 0.5 * (b.flatten(1) @ a.flatten(1)).view_as(weight)
            torch.testing.assert_close(merged[f"{module}.weight"], expected, atol=1e-6, rtol=1e-5)
            fused_keys.add(f"{module}.weight")
        assert len(fused_keys) == sum(k.startswith(part + ".") and ".lora_A." in k for k in lora) > 1
        for key in base.keys() - fused_keys:
            assert torch.equal(merged[key], base[key]), key
    _assert_same(merged_pipe.controlnet, models["anytext"].controlnet)


def test_merge_single_file_community_checkpoint(shared_golden, tmp_path):
    """An SD1.5 single file in the original LDM layout: its weights land in AnyText's modules."""
    from wenchuang.anytext.loading import convert_anytext_checkpoint
    from wenchuang.anytext.pipeline import AnyTextPipeline

    golden = load_file(str(shared_golden / "anytext_tiny.safetensors"))
    reference = convert_anytext_checkpoint(
        golden, yaml_path=shared_golden / "anytext_sd15_tiny.yaml", tokenizer_dir=shared_golden / "tokenizer"
    )
    expected = {
        n: {k: v.clone() for k, v in getattr(reference, n).state_dict().items()} for n in ("unet", "vae")
    }
    expected_text = {k: v.clone() for k, v in reference.text_encoder.state_dict().items()}
    with torch.no_grad():  # the AnyText model to merge into: a different base
        for name in ("unet", "vae", "text_encoder"):
            for p in getattr(reference, name).parameters():
                p.add_(0.5)
    reference.save_pretrained(tmp_path / "anytext")
    community = {
        k: v for k, v in golden.items()
        if k.startswith(("model.diffusion_model.", "first_stage_model.", "cond_stage_model.transformer."))
    }  # fmt: skip
    save_file(community, str(tmp_path / "community.safetensors"))

    merge_into_anytext(tmp_path / "anytext", tmp_path / "community.safetensors", tmp_path / "out")
    merged = AnyTextPipeline.from_pretrained(tmp_path / "out")
    for name in ("unet", "vae"):
        state = getattr(merged, name).state_dict()
        for key, value in expected[name].items():
            assert torch.equal(state[key], value), (name, key)
    text_state = merged.text_encoder.state_dict()
    for key, value in expected_text.items():
        assert torch.equal(text_state[key], value), key
    _assert_same(merged.controlnet, reference.controlnet)


def test_merge_refuses_a_base_of_other_shapes(models, tmp_path, capsys):
    from wenchuang.anytext.random_models import build_random_pipeline, tiny_config

    other = build_random_pipeline(tiny_config(context_dim=16), models["tokenizer"], seed=2)
    _save_sd_folder(other, tmp_path / "sd2like")
    with pytest.raises(ModelError, match="does not fit AnyText's SD1.5 unet: .* shape mismatches"):
        merge_into_anytext(models["root"] / "anytext", tmp_path / "sd2like", tmp_path / "x")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="no unet/ folder"):
        merge_into_anytext(models["root"] / "anytext", tmp_path / "empty", tmp_path / "z")
    code = main(["merge", str(models["root"] / "anytext"), str(tmp_path / "nothing"), str(tmp_path / "y")])
    assert code == 2 and "no such file or folder" in capsys.readouterr().err


def test_style_lora_from_train_style_merges_into_anytext(models, tmp_path):
    """End to end: a LoRA written by `train style` (conv targets and text encoder included) fuses."""
    import numpy as np
    from PIL import Image

    from wenchuang.anytext.pipeline import AnyTextPipeline
    from wenchuang.training.style import StyleConfig, train_style

    images = tmp_path / "images"
    images.mkdir()
    for i in range(2):
        Image.fromarray(np.full((64, 64, 3), 60 * i + 40, np.uint8)).save(images / f"{i}.png")
    result = train_style(StyleConfig(
        base=str(models["root"] / "tuned"), data_dir=str(images), output_dir=str(tmp_path / "lora"),
        instance_prompt="sxd style", resolution=64, batch_size=2, max_steps=2, learning_rate=1e-2,
        lora_rank=2, lora_conv=True, train_text_encoder=True, progress=False,
    ))  # fmt: skip
    merge_into_anytext(
        models["root"] / "anytext", models["root"] / "tuned", tmp_path / "out", lora=result.output
    )
    merged = AnyTextPipeline.from_pretrained(tmp_path / "out")
    base = models["tuned"]
    for part in ("unet", "text_encoder"):
        changed = [
            k
            for k, v in getattr(merged, part).state_dict().items()
            if not torch.equal(v, getattr(base, part).state_dict()[k])
        ]
        assert changed, part
        # only the weights the LoRA targets change
        lora = load_file(str(result.output))
        targets = {
            key.removeprefix(part + ".").removeprefix("text_model.").split(".lora_A.")[0] + ".weight"
            for key in lora
            if key.startswith(part + ".") and ".lora_A." in key
        }
        assert {k.removeprefix("text_model.") for k in changed} == targets, part
    merged.set_progress_bar_config(disable=True)
    image = merged('a sign that reads "AB"', texts=["AB"], polygons=[[(8, 8), (56, 8), (56, 40), (8, 40)]],
                   width=64, height=64, num_inference_steps=1).images[0]  # fmt: skip
    assert image.shape == (64, 64, 3)


def test_a_corrupt_base_checkpoint_is_a_one_line_model_error(tmp_path):
    from wenchuang.training.merge import load_state_file

    path = tmp_path / "community.ckpt"
    path.write_bytes(b"\x80\x02 not really a pickle")
    with pytest.raises(ModelError) as info:
        load_state_file(path)
    message = str(info.value)
    assert message.startswith(f"{path}: not a PyTorch checkpoint or safetensors file (")
    assert "weights_only" not in message and "\n" not in message
