"""Golden parity: our conversion + modules reproduce the official implementation at every stage.

Uses tests/golden (part of the repository; a missing file fails). One test per case runs the
full 20-step sampling (WENCHUANG_QUICK_PARITY=1 stops the 512x512 gen case after two steps); the
CLI tests run the quick variant of the edit case.
"""

from __future__ import annotations

import json
import os

import pytest
import torch

from wenchuang.anytext.parity import (
    TOLERANCE,
    _png,
    load_golden_pipeline,
    parity_passed,
    run_case,
    stage_error,
)


@pytest.fixture(scope="module")
def golden_pipe(shared_golden):
    with torch.no_grad():
        pipe = load_golden_pipeline(shared_golden)
    pipe.set_progress_bar_config(disable=True)
    return pipe


EXPECTED_STAGES = (
    ["vae_posterior_mean", "vae_posterior_std", "masked_x", "x_T", "ocr_input", "ocr_neck", "text_embs"]
    + ["cond_input_ids", "uncond_input_ids", "context_cond", "context_uncond", "context_cond_nosub"]
    + [f"control_{i:02d}" for i in range(13)]
    + ["eps_cond", "eps_uncond", "eps_cfg", "ddim_timesteps", "alphas_cumprod"]
    + ["step0_x_out", "step0_pred_x0", "step1_x_out", "step1_pred_x0", "latent_final"]
)


def _full_sampling(case: str) -> bool:
    """All 20 steps for each case; WENCHUANG_QUICK_PARITY=1 skips the 512x512 gen case's (~1.5 min)."""
    return case == "edit" or os.environ.get("WENCHUANG_QUICK_PARITY") != "1"


@pytest.mark.parametrize("case", ["gen", "edit"])
def test_every_stage_matches_the_official_outputs(golden_pipe, shared_golden, case):
    full = _full_sampling(case)
    with torch.no_grad():
        errors = run_case(golden_pipe, shared_golden / case, full_sampling=full)
    expected = [s for s in EXPECTED_STAGES if full or s != "latent_final"]
    expected += ["decoded"] if case == "edit" else []
    assert sorted(errors) == sorted(expected)
    too_large = {k: v for k, v in errors.items() if not v <= TOLERANCE}
    assert too_large == {}, too_large


def test_parity_command_prints_json_and_exits_zero(shared_golden, capsys):
    from wenchuang.cli import main

    code = main(["dev", "parity", str(shared_golden), "--case", "edit", "--quick"])
    out = capsys.readouterr().out
    errors = json.loads(out)
    assert code == 0
    assert "edit/control_12" in errors and "edit/context_cond" in errors and "edit/step1_x_out" in errors
    assert parity_passed(errors)


def test_parity_command_fails_on_a_broken_case(shared_golden, tmp_path, capsys):
    """A copy of the golden folder whose reference noise is altered must fail (exit 1)."""
    import shutil

    from safetensors.torch import load_file, save_file

    from wenchuang.cli import main

    folder = tmp_path / "golden"
    folder.mkdir()
    for name in ("anytext_sd15_tiny.yaml", "anytext_tiny.safetensors"):
        shutil.copy(shared_golden / name, folder / name)
    shutil.copytree(shared_golden / "tokenizer", folder / "tokenizer")
    shutil.copytree(shared_golden / "edit", folder / "edit")
    (folder / "edit" / "tensors.safetensors").chmod(0o644)
    tensors = load_file(str(folder / "edit" / "tensors.safetensors"))
    tensors["step0_eps_uncond"] = tensors["step0_eps_uncond"] + 1e-2
    save_file(tensors, str(folder / "edit" / "tensors.safetensors"))
    code = main(["dev", "parity", str(folder), "--quick"])
    errors = json.loads(capsys.readouterr().out)
    assert code == 1
    assert errors["edit/eps_uncond"] > TOLERANCE
    assert errors["edit/eps_cond"] <= TOLERANCE


def test_converted_folder_reproduces_the_golden_outputs(shared_golden, tmp_path):
    """`wenchuang convert anytext` writes a folder that from_pretrained loads with the same numbers."""
    from safetensors.torch import load_file

    from wenchuang.anytext.pipeline import AnyTextPipeline
    from wenchuang.cli import main

    out = tmp_path / "converted"
    code = main([
        "convert", "anytext", str(shared_golden / "anytext_tiny.safetensors"), str(out),
        "--yaml", str(shared_golden / "anytext_sd15_tiny.yaml"), "--tokenizer", str(shared_golden / "tokenizer"),
    ])
    assert code == 0
    pipe = AnyTextPipeline.from_pretrained(out)
    ref = load_file(str(shared_golden / "edit" / "tensors.safetensors"))
    case = json.loads((shared_golden / "edit" / "case.json").read_text(encoding="utf-8"))
    with torch.no_grad():
        context = pipe.encode_prompt(case["uncond_prompt_string"], None)
        assert (context - ref["context_uncond"]).abs().max() <= TOLERANCE
        glyphs = torch.from_numpy(_png(shared_golden / "edit" / "glyphs_0.png"))[None, None]
        positions = torch.from_numpy(_png(shared_golden / "edit" / "positions_0.png"))[None, None]
        down, mid = pipe.controlnet(
            ref["x_T"], ref["step0_t"], ref["context_cond"], glyphs, positions, ref["masked_x"], return_dict=False
        )
        for i, residual in enumerate([*down, mid]):
            assert stage_error(residual, ref[f"step0_control_cond_{i:02d}"]) <= TOLERANCE
    # the fp16 variant halves the size and loads as fp16
    code = main([
        "convert", "anytext", str(shared_golden / "anytext_tiny.safetensors"), str(tmp_path / "fp16"), "--fp16",
        "--yaml", str(shared_golden / "anytext_sd15_tiny.yaml"), "--tokenizer", str(shared_golden / "tokenizer"),
    ])
    assert code == 0
    from safetensors import safe_open

    with safe_open(str(tmp_path / "fp16" / "controlnet" / "diffusion_pytorch_model.safetensors"), "pt") as fh:
        assert fh.get_tensor("auxiliary.fuse_block.weight").dtype == torch.float16
    half = AnyTextPipeline.from_pretrained(tmp_path / "fp16", dtype=torch.float16)
    assert half.unet.dtype == torch.float16 and half.controlnet.dtype == torch.float16
