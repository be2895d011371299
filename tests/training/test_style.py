"""train style: overfitting, resume = uninterrupted, prior preservation, outputs load in diffusers."""

from __future__ import annotations

import pytest
import torch

from wenchuang.cli import main
from wenchuang.training import common
from wenchuang.training.style import StyleConfig, StyleTrainer, list_captioned_images


def config(tiny_sd, images, out, **overrides) -> StyleConfig:
    settings = dict(
        base=str(tiny_sd), data_dir=str(images), output_dir=str(out), instance_prompt="sxd style",
        resolution=32, batch_size=4, max_steps=50, progress=False, seed=3,
    )  # fmt: skip
    settings.update(overrides)
    return StyleConfig(**settings)


def unet_probe(unet, text_encoder, tokenizer):
    torch.manual_seed(0)
    sample = torch.randn(1, 4, 16, 16)
    ids = tokenizer(["sxd style"], padding="max_length", max_length=77, return_tensors="pt").input_ids
    with torch.no_grad():
        return unet(sample, torch.tensor([500]), text_encoder(ids)[0]).sample


def test_captions_from_txt_files(style_images):
    items = list_captioned_images(style_images, "sxd style")
    assert [(p.name, c) for p, c in items] == [
        ("img0.png", "sxd style, bronze mask 0"), ("img1.png", "sxd style, bronze mask 1"),
        ("img2.png", "sxd style, bronze mask 2"), ("img3.png", "sxd style"),
    ]  # fmt: skip


def test_dreambooth_overfits_and_saves_a_pipeline(tiny_sd, style_images, tmp_path):
    from diffusers import StableDiffusionPipeline

    cfg = config(
        tiny_sd, style_images, tmp_path / "db", method="dreambooth", learning_rate=1e-3,
        validation_prompt="sxd style, bronze mask", validation_steps=25, validation_inference_steps=2,
        num_validation_images=1,
    )  # fmt: skip
    trainer = StyleTrainer(cfg)
    before = trainer.eval_loss()
    result = trainer.train()
    after = trainer.eval_loss()
    assert result.steps == 50 and len(result.losses) == 50
    assert after <= 0.5 * before, (before, after)
    assert [p.name for p in result.validation_images] == ["step-000025-0.png", "step-000050-0.png"]

    pipe = StableDiffusionPipeline.from_pretrained(result.output)
    tuned = trainer.accelerator.unwrap_model(trainer.unet)
    for name, value in tuned.state_dict().items():
        assert torch.equal(pipe.unet.state_dict()[name], value), name
    image = pipe("sxd style", num_inference_steps=2, height=32, width=32, output_type="np").images[0]
    assert image.shape == (32, 32, 3)


def test_lora_overfits_and_loads_in_diffusers(tiny_sd, style_images, tmp_path):
    from diffusers import StableDiffusionPipeline

    cfg = config(
        tiny_sd, style_images, tmp_path / "lora", method="lora", learning_rate=1e-2, lora_rank=4,
        lora_conv=True, train_text_encoder=True,
    )  # fmt: skip
    trainer = StyleTrainer(cfg)
    before = trainer.eval_loss()
    result = trainer.train()
    after = trainer.eval_loss()
    assert after <= 0.5 * before, (before, after)
    assert result.output.name == "pytorch_lora_weights.safetensors" and result.output.is_file()

    pipe = StableDiffusionPipeline.from_pretrained(tiny_sd)
    base = unet_probe(pipe.unet, pipe.text_encoder, pipe.tokenizer)
    pipe.load_lora_weights(result.output.parent)
    loaded = unet_probe(pipe.unet, pipe.text_encoder, pipe.tokenizer)
    trained = unet_probe(
        trainer.accelerator.unwrap_model(trainer.unet), trainer.accelerator.unwrap_model(trainer.text_encoder),
        trainer.tokenizer,
    )  # fmt: skip
    assert (loaded - base).abs().max() > 1e-3  # the LoRA changes the model …
    torch.testing.assert_close(loaded, trained, atol=1e-5, rtol=1e-4)  # … exactly as trained


class Interrupt(Exception):
    pass


def test_resume_matches_an_uninterrupted_run(tiny_sd, style_images, tmp_path):
    overrides = dict(
        method="lora", learning_rate=1e-2, lora_rank=2, max_steps=5, batch_size=2, gradient_accumulation=2,
        checkpoint_steps=2, random_flip=True,
    )  # fmt: skip
    straight = StyleTrainer(config(tiny_sd, style_images, tmp_path / "a", **overrides))
    straight.train()

    def stop_at_3(step, loss):
        if step == 3:
            raise Interrupt

    first = StyleTrainer(config(tiny_sd, style_images, tmp_path / "b", **overrides))
    with pytest.raises(Interrupt):
        first.train(callback=stop_at_3)
    assert [p.name for p in common.list_checkpoints(tmp_path / "b" / "checkpoints")] == ["checkpoint-2"]
    resumed = StyleTrainer(config(tiny_sd, style_images, tmp_path / "b", resume="latest", **overrides))
    result = resumed.train()
    assert result.steps == 5 and len(result.losses) == 5
    assert result.losses == pytest.approx(straight.losses, rel=1e-5)
    a, b = common.trainable_state(straight.unwrapped), common.trainable_state(resumed.unwrapped)
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=1e-6, rtol=1e-5)


def test_prior_preservation_generates_class_images(tiny_sd, style_images, tmp_path):
    class_dir = tmp_path / "class"
    cfg = config(
        tiny_sd, style_images, tmp_path / "pp", method="dreambooth", learning_rate=1e-4, max_steps=2,
        prior_preservation=True, class_prompt="a bronze mask", class_dir=str(class_dir), num_class_images=2,
        class_inference_steps=2, batch_size=1,
    )  # fmt: skip
    trainer = StyleTrainer(cfg)
    assert sorted(p.name for p in class_dir.iterdir()) == ["class-00000.png", "class-00001.png"]
    assert [c for _, c in trainer.class_items] == ["a bronze mask"] * 2
    result = trainer.train()
    assert result.steps == 2 and all(loss > 0 for loss in result.losses)


def test_8bit_adam_falls_back_without_bitsandbytes():
    try:
        import bitsandbytes  # noqa: F401

        pytest.skip("bitsandbytes is installed")
    except ImportError:
        pass
    with pytest.warns(UserWarning, match="bitsandbytes is not installed"):
        optimizer = common.make_optimizer([torch.nn.Parameter(torch.zeros(2))], 1e-3, use_8bit=True)
    assert isinstance(optimizer, torch.optim.AdamW)


def test_cli_train_style(tiny_sd, style_images, tmp_path, capsys):
    out = tmp_path / "cli"
    args = ["train", "style", str(style_images), str(out), "--base", str(tiny_sd), "--resolution", "32"]
    assert main(args + ["--max-steps", "2", "--rank", "2", "--instance-prompt", "sxd style"]) == 0
    assert "trained 2 steps" in capsys.readouterr().out
    assert (out / "pytorch_lora_weights.safetensors").is_file()
    code = main(
        ["train", "style", str(style_images), str(tmp_path / "x"), "--base", str(tiny_sd), "--max-steps", "1"]
    )
    assert code == 2 and "no caption file and no --instance-prompt" in capsys.readouterr().err


def test_text_encoder_checkpointing_and_bf16_switches(tiny_sd, style_images, tmp_path):
    from transformers import CLIPTextModel

    cfg = config(
        tiny_sd, style_images, tmp_path / "te", method="dreambooth", learning_rate=1e-3, max_steps=2,
        batch_size=2, train_text_encoder=True, gradient_checkpointing=True, mixed_precision="bf16",
    )  # fmt: skip
    trainer = StyleTrainer(cfg)
    assert trainer.vae.dtype == torch.bfloat16  # frozen weights in the mixed-precision dtype …
    assert all(p.dtype == torch.float32 for p in trainer.unwrapped["unet"].parameters())  # … trained in fp32
    assert trainer.unwrapped["unet"].is_gradient_checkpointing
    result = trainer.train()
    assert result.steps == 2
    before = CLIPTextModel.from_pretrained(tiny_sd, subfolder="text_encoder").state_dict()
    after = CLIPTextModel.from_pretrained(result.output, subfolder="text_encoder").state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)  # the text encoder was trained


def test_resume_from_a_corrupt_optimizer_state_is_one_clear_error(tmp_path):
    import json as _json

    import torch
    from safetensors.torch import save_file

    from wenchuang.errors import ModelError
    from wenchuang.training.common import load_checkpoint

    module = torch.nn.Linear(2, 2)
    save_file({f"m.{k}": v.detach().clone() for k, v in module.named_parameters()}, str(tmp_path / "trainable.safetensors"))
    (tmp_path / "state.json").write_text(_json.dumps({"step": 3}))
    (tmp_path / "optimizer.pt").write_bytes(b"not a pickle")
    optimizer = torch.optim.AdamW(module.parameters())
    with pytest.raises(ModelError, match=r"optimizer\.pt: not a PyTorch checkpoint or safetensors file \("):
        load_checkpoint(tmp_path, {"m": module}, optimizer)
