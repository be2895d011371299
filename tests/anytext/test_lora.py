"""Few-step LoRAs (wenchuang.anytext.lora) on the tiny AnyText UNet, in the published key formats.

A tiny random LoRA is written for the tiny UNet's attention and resnet layers in each format; the
test checks that loading changes exactly the fused weights W + scale * alpha/rank * up @ down, and
that the pipeline gets the LoRA's sampler.
"""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from wenchuang.anytext.lora import LORA_KINDS, load_fewstep_lora, lora_kind
from wenchuang.anytext.schedulers import sampler_name
from wenchuang.errors import ModelError

RANK = 4
ALPHA = 2.0
# diffusers module names of the tiny UNet the LoRA touches (attention projections and a resnet conv)
TARGETS = [
    "down_blocks.0.attentions.0.proj_in",
    "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q",
    "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k",
    "mid_block.attentions.0.transformer_blocks.0.ff.net.2",
    "up_blocks.1.attentions.0.transformer_blocks.0.attn1.to_out.0",
    "down_blocks.0.resnets.0.conv1",
]


@pytest.fixture
def fresh_pipe(tiny_tokenizer_dir):
    from wenchuang.anytext.random_models import build_random_pipeline, tiny_config

    pipe = build_random_pipeline(tiny_config(), tiny_tokenizer_dir, seed=0)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _random_lora(unet, seed: int = 3) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """name -> (down, up) for every target layer (conv layers get 1x1 / kxk kernels as kohya writes)."""
    gen = torch.Generator().manual_seed(seed)
    modules = dict(unet.named_modules())
    lora = {}
    for name in TARGETS:
        weight = modules[name].weight
        if weight.ndim == 4:
            down = torch.randn((RANK, weight.shape[1], *weight.shape[2:]), generator=gen) * 0.1
            up = torch.randn((weight.shape[0], RANK, 1, 1), generator=gen) * 0.1
        else:
            down = torch.randn((RANK, weight.shape[1]), generator=gen) * 0.1
            up = torch.randn((weight.shape[0], RANK), generator=gen) * 0.1
        lora[name] = (down, up)
    return lora


def _kohya(lora) -> dict[str, torch.Tensor]:
    out = {}
    for name, (down, up) in lora.items():
        key = "lora_unet_" + name.replace(".", "_")
        out[f"{key}.lora_down.weight"] = down
        out[f"{key}.lora_up.weight"] = up
        out[f"{key}.alpha"] = torch.tensor(ALPHA)
    out["lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight"] = torch.zeros(RANK, 32)
    out["lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight"] = torch.zeros(32, RANK)
    return out


def _diffusers(lora) -> dict[str, torch.Tensor]:
    out = {}
    for name, (down, up) in lora.items():
        out[f"unet.{name}.lora.down.weight"] = down
        out[f"unet.{name}.lora.up.weight"] = up
    return out


def _peft(lora) -> dict[str, torch.Tensor]:
    out = {}
    for name, (down, up) in lora.items():
        out[f"unet.{name}.lora_A.weight"] = down
        out[f"unet.{name}.lora_B.weight"] = up
    return out


def _expected_delta(down, up, scale):
    if down.ndim == 4:
        return scale * torch.nn.functional.conv2d(down.permute(1, 0, 2, 3), up).permute(1, 0, 2, 3)
    return scale * up @ down


@pytest.mark.parametrize(
    ("fmt", "filename", "scale"),
    [
        (_kohya, "lcm-lora-sdv1-5.safetensors", ALPHA / RANK),  # kohya: alpha / rank
        (_diffusers, "TCD-SD15-LoRA.safetensors", 1.0),  # no alphas: scale 1
        (_peft, "Hyper-SD15-8steps-lora.safetensors", 1.0),
    ],
)
def test_lora_fuses_into_the_unet_in_each_published_format(fresh_pipe, tmp_path, fmt, filename, scale):
    unet = fresh_pipe.unet
    lora = _random_lora(unet)
    path = tmp_path / filename
    save_file(fmt(lora), str(path))
    modules = dict(unet.named_modules())
    before = {n: p.detach().clone() for n, p in unet.named_parameters()}

    info = load_fewstep_lora(fresh_pipe, path)

    assert info.layers == len(TARGETS)
    after = dict(unet.named_parameters())
    assert sorted(after) == sorted(before)  # plain layers again (fused and unloaded)
    for name, (down, up) in lora.items():
        weight = modules[name].weight
        torch.testing.assert_close(weight - before[f"{name}.weight"], _expected_delta(down, up, scale), atol=1e-5, rtol=1e-4)
    untouched = [n for n in before if not any(n.startswith(t + ".") for t in TARGETS)]
    assert untouched and all(torch.equal(after[n], before[n]) for n in untouched)
    assert sampler_name(fresh_pipe.scheduler) == info.sampler


def test_the_kind_gives_sampler_steps_and_guidance():
    assert lora_kind("lcm-lora-sdv1-5.safetensors")[1:] == ("lcm", 4, 1.0)
    assert lora_kind("TCD-SD15-LoRA.safetensors")[1:] == ("tcd", 4, 1.0)
    assert lora_kind("Hyper-SD15-8steps-lora.safetensors")[1:] == ("ddim_trailing", 8, 1.0)
    assert lora_kind("Hyper-SD15-4steps-lora.safetensors")[2] == 4
    assert lora_kind("Hyper-SD15-1step-lora.safetensors")[1:3] == ("tcd", 1)
    assert lora_kind("my.safetensors", kind="tcd")[0] == "tcd"
    assert set(LORA_KINDS) == {"lcm", "tcd", "hyper"}
    with pytest.raises(ModelError, match="give the kind"):
        lora_kind("style.safetensors")


def test_fewstep_lora_runs_the_pipeline_with_its_sampler(fresh_pipe, tmp_path, make_conditions):
    path = tmp_path / "lcm-lora.safetensors"
    save_file(_kohya(_random_lora(fresh_pipe.unet)), str(path))
    info = load_fewstep_lora(fresh_pipe, path)
    cond = make_conditions(["AB"], [(16, 16, 100, 60)], 128, 128)
    out = fresh_pipe("x", conditions=cond, width=128, height=128, num_inference_steps=info.steps,
                     guidance_scale=info.guidance_scale, generator=torch.Generator().manual_seed(0))
    assert fresh_pipe.num_timesteps == 4 and out.images[0].shape == (128, 128, 3)


def test_a_lora_without_unet_layers_or_with_foreign_shapes_is_an_error(fresh_pipe, tmp_path):
    only_text = {k: v for k, v in _kohya(_random_lora(fresh_pipe.unet)).items() if k.startswith("lora_te")}
    with pytest.raises(ModelError, match="no UNet layers"):
        load_fewstep_lora(fresh_pipe, only_text, kind="lcm")
    wrong = _peft({"down_blocks.0.attentions.0.proj_in": (torch.zeros(RANK, 7), torch.zeros(5, RANK))})
    with pytest.raises(ModelError, match="does not fit the AnyText UNet"):
        load_fewstep_lora(fresh_pipe, wrong, kind="lcm")
    with pytest.raises(ModelError, match="does not exist"):
        load_fewstep_lora(fresh_pipe, tmp_path / "missing-lcm.safetensors")
