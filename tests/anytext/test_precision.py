"""dtype choice (wenchuang.anytext.precision), bf16 folders loaded without a float32 copy, the
engine's dtype, and the convert command's --dtype."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from wenchuang.anytext import precision
from wenchuang.anytext.loading import folder_dtype, load_pipeline
from wenchuang.engines import anytext_engine
from wenchuang.engines.base import run_request
from wenchuang.errors import RequestError
from wenchuang.request import DesignRequest, TextLine


class Float32Created(TorchDispatchMode):
    """Counts the float32 elements that torch operations inside the block return on the CPU: only
    newly allocated ones, or also views (`views=True`: a weight read from a float32 file is seen as a
    view of the file's memory); `paused` stops counting."""

    def __init__(self, views: bool = False):
        super().__init__()
        self.elements = 0
        self.paused = False
        self.views = views

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if self.paused:
            return out
        inputs = {
            a.untyped_storage().data_ptr()
            for a in [*args, *(kwargs or {}).values()]
            if isinstance(a, torch.Tensor) and a.device.type == "cpu"
        }
        for tensor in out if isinstance(out, (list, tuple)) else [out]:
            if isinstance(tensor, torch.Tensor) and tensor.dtype == torch.float32 and tensor.device.type == "cpu":
                if self.views or tensor.untyped_storage().data_ptr() not in inputs:
                    self.elements += tensor.numel()
        return out


def _parameters(pipe) -> int:
    return sum(p.numel() for m in pipe.components.values() if isinstance(m, torch.nn.Module) for p in m.parameters())


def _cast(pipe, dtype):
    for module in pipe.components.values():
        if isinstance(module, torch.nn.Module):
            torch.nn.Module.to(module, dtype=dtype)
    return pipe


@pytest.fixture(scope="module")
def folders(tiny_tokenizer_dir, tmp_path_factory):
    """The tiny random pipeline saved as float32 and as bfloat16 folders."""
    from wenchuang.anytext.random_models import build_random_pipeline, tiny_config

    root = tmp_path_factory.mktemp("dtype_folders")
    pipe = build_random_pipeline(tiny_config(), tiny_tokenizer_dir, seed=0)
    pipe.save_pretrained(root / "fp32")
    _cast(pipe, torch.bfloat16).save_pretrained(root / "bf16")
    return root, _parameters(pipe)


def test_dtype_names_and_aliases():
    assert precision.dtype_name("bf16") == "bfloat16" == precision.dtype_name(torch.bfloat16)
    assert precision.dtype_name("FP32") == "float32" and precision.dtype_name("half") == "float16"
    with pytest.raises(RequestError, match="dtype: must be one of auto, float32, bfloat16, float16"):
        precision.dtype_name("int8")


def test_cpu_flags_decide_bf16(monkeypatch):
    x86 = "processor: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_tile\n"
    assert {"avx512_bf16", "avx2"} <= precision.cpu_flags(x86)
    assert precision.cpu_flags("Features\t: fp asimd bf16 sve\n") >= {"bf16"}
    for value, expected in (("1", True), ("0", False)):
        monkeypatch.setenv("WENCHUANG_CPU_BF16", value)
        precision.cpu_supports_bf16.cache_clear()
        assert precision.cpu_supports_bf16() is expected
    monkeypatch.delenv("WENCHUANG_CPU_BF16")
    precision.cpu_supports_bf16.cache_clear()
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx2", "fma"})
    import torch.cpu

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    monkeypatch.setattr(precision.platform, "machine", lambda: "x86_64")
    assert precision.cpu_supports_bf16() is False  # an AVX2-only CPU: float32
    precision.cpu_supports_bf16.cache_clear()
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx512f", "amx_bf16"})
    assert precision.cpu_supports_bf16() is True
    precision.cpu_supports_bf16.cache_clear()


def test_auto_is_fp16_on_gpus_bf16_on_capable_cpus_else_fp32(monkeypatch):
    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: True)
    assert precision.resolve_dtype_name("auto", "cuda") == "float16"
    assert precision.resolve_dtype_name(None, "cpu") == "bfloat16"
    assert precision.resolve_dtype("auto", "cpu") is torch.bfloat16
    assert precision.resolve_dtype_name("float32", "cpu") == "float32"
    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: False)
    assert precision.resolve_dtype_name("auto", "cpu") == "float32"
    assert precision.resolve_dtype_name("bfloat16", "cuda") == "bfloat16"  # asked for: given


def test_engine_dtype_choice(monkeypatch):
    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: True)
    assert anytext_engine.AnyTextEngine(device="cpu").dtype_name == "bfloat16"
    assert anytext_engine.AnyTextEngine(device="cpu", dtype="float32").dtype_name == "float32"
    old = anytext_engine.AnyTextEngine(device="cpu", fp16=True)  # the older switch still works
    assert old.dtype_name == "float16" and old.fp16
    assert anytext_engine.AnyTextEngine(device="cpu", fp16=True, dtype="bf16").dtype_name == "bfloat16"
    with pytest.raises(RequestError, match="dtype"):
        anytext_engine.AnyTextEngine(device="cpu", dtype="float8")


def test_bf16_folder_loads_without_a_float32_copy(folders):
    root, n_params = folders
    assert folder_dtype(root / "bf16") == "bfloat16" and folder_dtype(root / "fp32") == "float32"
    counter = Float32Created(views=True)
    with counter:
        pipe = load_pipeline(str(root / "bf16"), torch_dtype=torch.bfloat16)
    dtypes = {p.dtype for m in pipe.components.values() if isinstance(m, torch.nn.Module) for p in m.parameters()}
    assert dtypes == {torch.bfloat16}
    # only the scheduler's 1000-entry tables are float32
    assert counter.elements < 0.01 * n_params, (counter.elements, n_params)
    # the control: casting a float32 folder at load goes through float32 tensors of every weight
    counter = Float32Created(views=True)
    with counter:
        load_pipeline(str(root / "fp32"), torch_dtype=torch.bfloat16)
    assert counter.elements >= n_params


def test_checkpoint_converts_to_bf16_without_a_float32_copy_of_the_unet(shared_golden, monkeypatch):
    from safetensors.torch import load_file

    from wenchuang.anytext import convert
    from wenchuang.anytext.configs import AnyTextConfig
    from wenchuang.anytext.pipeline import AnyTextPipeline

    state = load_file(str(shared_golden / "anytext_tiny.safetensors"))  # fp16 tensors
    config = AnyTextConfig.from_yaml(shared_golden / "anytext_sd15_tiny.yaml")
    counter = Float32Created()
    real_text = convert.convert_text_components

    def text_side_not_counted(*args, **kwargs):  # CLIP and the OCR side are built in float32, then cast
        counter.paused = True
        try:
            return real_text(*args, **kwargs)
        finally:
            counter.paused = False

    monkeypatch.setattr(convert, "convert_text_components", text_side_not_counted)
    with counter:
        pipe = AnyTextPipeline.from_official_state_dict(
            state, config, tokenizer_dir=shared_golden / "tokenizer", torch_dtype=torch.bfloat16
        )
    image_models = sum(p.numel() for name in ("unet", "controlnet", "vae") for p in getattr(pipe, name).parameters())
    assert pipe.unet.dtype == pipe.controlnet.dtype == pipe.vae.dtype == torch.bfloat16
    assert counter.elements < 0.01 * image_models, (counter.elements, image_models)


def test_bf16_engine_run_is_close_to_float32(folders):
    root, _ = folders
    request = DesignRequest(
        prompt='a sign that reads "AB"', lines=[TextLine("AB", [(40, 40), (200, 40), (200, 100), (40, 100)])],
        width=256, height=256, steps=3, seed=5,
    )
    results = {}
    for name in ("float32", "bfloat16"):
        engine = anytext_engine.AnyTextEngine(model=str(root / "bf16"), device="cpu", dtype=name)
        results[name] = run_request(engine, request)
        assert results[name].extra["dtype"] == name and results[name].extra["sampler"] == "ddim"
    a, b = (results[n].images[0].astype(np.float64) for n in ("float32", "bfloat16"))
    psnr = 10 * np.log10(255**2 / max(((a - b) ** 2).mean(), 1e-12))
    assert 25 < psnr < 100, psnr  # close, but not the same computation


def test_convert_command_writes_the_asked_dtype(shared_golden, tmp_path):
    from wenchuang.cli import main

    out = tmp_path / "bf16"
    code = main([
        "convert", "anytext", str(shared_golden / "anytext_tiny.safetensors"), str(out), "--dtype", "bfloat16",
        "--yaml", str(shared_golden / "anytext_sd15_tiny.yaml"), "--tokenizer", str(shared_golden / "tokenizer"),
    ])
    assert code == 0 and folder_dtype(out) == "bfloat16"
    assert json.loads((out / "model_index.json").read_text())["unet"] == ["diffusers", "UNet2DConditionModel"]
    bad = main(["convert", "anytext", "x.ckpt", str(tmp_path / "y"), "--fp16", "--dtype", "bfloat16"])
    assert bad == 2


def test_download_with_dtype_converts_into_a_folder_found_without_model(shared_golden, tmp_path, monkeypatch):
    import shutil
    from pathlib import Path

    from wenchuang.anytext import weights
    from wenchuang.cli import main

    target = tmp_path / "anytext"

    def fake_download(to, **_kwargs):  # the golden checkpoint stands in for the downloaded release
        shutil.copytree(shared_golden, to, ignore=shutil.ignore_patterns("gen", "edit", "*_keys.json"))
        return Path(to)

    monkeypatch.setattr(weights, "download_weights", fake_download)
    assert main(["download", "anytext", "--to", str(target), "--dtype", "bfloat16"]) == 0
    assert folder_dtype(target / "pipeline") == "bfloat16"
    where = weights.locate_model(str(target))
    assert where.kind == "pipeline" and where.path == target / "pipeline"


def test_cli_passes_dtype_sampler_and_steps(monkeypatch, tmp_path):
    from wenchuang.cli import main
    from wenchuang.engines import registry

    seen, requests = [], []
    real = registry.create_engine
    monkeypatch.setattr(
        registry, "create_engine", lambda name, model=None, **o: seen.append((name, o)) or real(name, model, **o)
    )
    import wenchuang.commands.design as design

    real_run = design.run_request
    monkeypatch.setattr(design, "run_request", lambda engine, request: requests.append(request) or real_run(engine, request))
    args = ["generate", "--engine", "classic", "--text", "茶", "--position", "20,20,200,90", "--size", "256x256"]
    assert main([*args, "--out", str(tmp_path / "a"), "--sampler", "dpmpp_2m", "--dtype", "bfloat16"]) == 0
    assert main([*args, "--out", str(tmp_path / "b"), "--lora", "Hyper-SD15-4steps-lora.safetensors"]) == 0
    assert main([*args, "--out", str(tmp_path / "c"), "--sampler", "unipc", "--steps", "7"]) == 0
    assert [(r.sampler, r.steps) for r in requests] == [("dpmpp_2m", 10), ("ddim_trailing", 4), ("unipc", 7)]
    assert seen[0] == ("classic", {"cpu_offload": None})  # the classic engine takes no dtype
    meta = json.loads(next((tmp_path / "a").glob("*.json")).read_text())
    assert meta["request"]["sampler"] == "dpmpp_2m" and meta["request"]["steps"] == 10


def test_engine_runs_the_request_sampler_and_a_lora(folders, tmp_path):
    from safetensors.torch import save_file

    root, _ = folders
    engine = anytext_engine.AnyTextEngine(model=str(root / "fp32"), device="cpu", dtype="float32")
    line = TextLine("AB", [(40, 40), (200, 40), (200, 100), (40, 100)])
    request = DesignRequest(prompt="x", lines=[line], width=256, height=256, steps=2, seed=1, sampler="unipc")
    result = run_request(engine, request)
    assert result.extra["sampler"] == "unipc" and engine.pipeline.num_timesteps == 2
    lcm = run_request(engine, DesignRequest(prompt="x", lines=[line], width=256, height=256, steps=2, sampler="lcm"))
    assert any("few-step LoRA" in w for w in lcm.warnings)

    unet = engine.pipeline.unet
    name = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q"
    weight = dict(unet.named_modules())[name].weight
    key = "lora_unet_" + name.replace(".", "_")
    lora = {
        f"{key}.lora_down.weight": torch.randn(4, weight.shape[1]) * 0.1,
        f"{key}.lora_up.weight": torch.randn(weight.shape[0], 4) * 0.1,
    }
    save_file(lora, str(tmp_path / "lcm-lora-sdv1-5.safetensors"))
    with_lora = anytext_engine.AnyTextEngine(
        model=str(root / "fp32"), device="cpu", dtype="float32", lora=str(tmp_path / "lcm-lora-sdv1-5.safetensors")
    )
    out = run_request(with_lora, DesignRequest(prompt="x", lines=[line], width=256, height=256, steps=4, seed=1))
    assert out.extra["sampler"] == "lcm" and out.extra["lora"]["kind"] == "lcm"
    assert any("guidance 1" in w for w in out.warnings)
