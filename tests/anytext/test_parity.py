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
    parity_passed,
    run_case,
    stage_error,
)

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


# ---------------------------------------------------------------- the pipeline's own __call__
def _golden_call(pipe, case_dir, **kwargs):
    """Run `pipe(...)` on a golden case: its prompt, options, seed and line images (no font involved)."""
    import numpy as np
    from PIL import Image

    from wenchuang.anytext.pipeline import AnyTextConditions

    case = json.loads((case_dir / "case.json").read_text(encoding="utf-8"))
    n = len(case["texts"])
    conditions = AnyTextConditions(
        list(case["texts"]),
        [_png(case_dir / f"glyphs_{i}.png") for i in range(n)],
        [_png(case_dir / f"gly_line_{i}.png") for i in range(n)],
        [_png(case_dir / f"positions_{i}.png") for i in range(n)],
        _png(case_dir / "hint.png"),
    )
    image = None
    if case["mode"] == "edit":  # the upload itself: the pipeline clips and resizes it as the demo
        image = np.asarray(Image.open(case_dir / "ori_image.png").convert("RGB"))
    height, width = conditions.hint.shape
    return pipe(
        case["prompt"], conditions=conditions, image=image, width=width, height=height,
        num_inference_steps=int(case["ddim_steps"]), guidance_scale=float(case["cfg_scale"]),
        strength=float(case["strength"]), eta=float(case["eta"]),
        generator=torch.Generator().manual_seed(int(case["seed"])),
        extra_prompt=case["a_prompt"], negative_prompt=case["n_prompt"], output_type="latent", **kwargs,
    )  # fmt: skip


def _record_steps(stop_after: int | None = None):
    steps: list[torch.Tensor] = []

    def callback(pipe, step, timestep, tensors):
        steps.append(tensors["latents"].clone())
        if stop_after is not None and step + 1 >= stop_after:
            pipe._interrupt = True
        return tensors

    return steps, callback


def test_pipeline_call_reproduces_the_official_edit_case(golden_pipe, shared_golden):
    """`__call__` itself (upload resize, both random draws from one seed, 20 guided DDIM steps, decode)."""
    import numpy as np

    ref = load_file_tensors(shared_golden / "edit")
    steps, callback = _record_steps()
    out = _golden_call(golden_pipe, shared_golden / "edit", callback_on_step_end=callback)
    assert len(steps) == 20
    assert stage_error(steps[0], ref["step0_x_out"]) <= TOLERANCE
    assert stage_error(steps[1], ref["step1_x_out"]) <= TOLERANCE
    assert stage_error(out.images, ref["latent_final"]) <= TOLERANCE
    image = golden_pipe.decode_latents(out.images)[0]
    official = (ref["decoded"][0].permute(1, 2, 0) * 127.5 + 127.5).numpy().clip(0, 255).astype(np.uint8)
    assert np.abs(image.astype(int) - official.astype(int)).max() <= 1


def test_pipeline_call_reproduces_the_first_steps_of_the_official_gen_case(golden_pipe, shared_golden):
    ref = load_file_tensors(shared_golden / "gen")
    steps, callback = _record_steps(stop_after=2)
    out = _golden_call(golden_pipe, shared_golden / "gen", callback_on_step_end=callback)
    assert len(steps) == 2  # the callback's interrupt skipped the other 18 steps
    assert stage_error(steps[0], ref["step0_x_out"]) <= TOLERANCE
    assert stage_error(steps[1], ref["step1_x_out"]) <= TOLERANCE
    assert torch.equal(out.images, steps[1])


def load_file_tensors(case_dir):
    from safetensors.torch import load_file

    return load_file(str(case_dir / "tensors.safetensors"))


# ---------------------------------------------------------------- revise position (official rule)
def official_revised_position(glyph_2x, height: int, width: int):
    """The demo's "revise position", written here from its description (not from its code):
    the 2x glyph canvas is resized bilinearly to the image size and scaled to 8 bit by truncation;
    a closing (dilation, then erosion) with an all-ones (height // 10) x (width // 10) kernel joins
    the strokes; when the result is one 8-connected region, its minimum-area rectangle, corners
    truncated to whole pixels, is filled with 255 into the closed image, and the position is that
    image / 255. Otherwise None (the position stays as drawn)."""
    import cv2
    import numpy as np

    small = cv2.resize(np.asarray(glyph_2x, np.float64), (width, height), interpolation=cv2.INTER_LINEAR)
    ink = (small * 255).astype(np.uint8)
    kernel = np.ones((height // 10, width // 10), np.uint8)
    closed = cv2.erode(cv2.dilate(ink, kernel), kernel)
    count, labels = cv2.connectedComponents((closed > 0).astype(np.uint8), connectivity=8)
    if count != 2:  # the background and exactly one region
        return None
    ys, xs = np.nonzero(labels == 1)
    rect = cv2.minAreaRect(np.stack([xs, ys], axis=1).astype(np.float32))
    corners = np.trunc(cv2.boxPoints(rect)).astype(np.int32)
    cv2.fillPoly(closed, [corners], 255)
    return closed.astype(np.float32) / 255.0


def _rotated_strokes(angle: float, width: int, height: int):
    """A 2x glyph canvas with a few parallel strokes in a rotated band (soft-edged once resized)."""
    import cv2
    import numpy as np

    canvas = np.zeros((2 * height, 2 * width), np.uint8)
    for k in range(5):
        rect = ((width + 30 * k - 60, height), (14, 90), angle)
        cv2.fillPoly(canvas, [cv2.boxPoints(rect).astype(np.int32)], 1)
    rot = cv2.getRotationMatrix2D((width, height), angle, 1.0)
    return cv2.warpAffine(canvas, rot, (2 * width, 2 * height), flags=cv2.INTER_NEAREST).astype(np.float32)


@pytest.mark.parametrize("angle", [0.0, 7.0, 15.0, 33.0, -20.0])
def test_layout_revise_position_follows_the_official_rule(angle):
    import numpy as np

    from wenchuang.layout.glyphs import revise_position

    glyph = _rotated_strokes(angle, 256, 192)
    expected = official_revised_position(glyph, 192, 256)
    ours = revise_position(glyph, 256, 192)
    assert expected is not None and ours is not None
    assert ours[0].dtype == np.float32
    np.testing.assert_array_equal(ours[0], expected)
    apart = np.zeros((384, 512), np.float32)
    apart[20:40, 20:40] = apart[340:360, 470:490] = 1
    assert official_revised_position(apart, 192, 256) is None and revise_position(apart, 256, 192) is None


def test_revise_positions_parity_case(golden_pipe, shared_golden, monkeypatch):
    """Generate with revise_positions=True on the golden gen case: the control model gets exactly the
    positions the official rule gives for the golden glyphs; glyphs, hint and masked input unchanged."""
    import numpy as np

    case_dir = shared_golden / "gen"
    glyphs = [_png(case_dir / f"glyphs_{i}.png") for i in range(2)]
    expected = [official_revised_position(g, 512, 512) for g in glyphs]
    drawn = [_png(case_dir / f"positions_{i}.png") for i in range(2)]
    for revised, before in zip(expected, drawn):
        assert revised is not None and 0 < revised.sum() < 0.9 * before.sum()  # it does revise
    seen = {}
    real = golden_pipe.controlnet.encode_hint

    def spy(glyph_t, position_t, masked_latents):
        seen.update(glyphs=glyph_t, positions=position_t, masked=masked_latents)
        return real(glyph_t, position_t, masked_latents)

    monkeypatch.setattr(golden_pipe.controlnet, "encode_hint", spy)
    _, stop = _record_steps(stop_after=1)
    out = _golden_call(golden_pipe, case_dir, revise_positions=True, callback_on_step_end=stop)
    assert out.warnings == []
    for i in range(2):
        np.testing.assert_array_equal(seen["positions"][0, i].numpy(), expected[i])
        np.testing.assert_array_equal(seen["glyphs"][0, i].numpy(), glyphs[i])
    np.testing.assert_array_equal(out.debug["positions"], _png(case_dir / "hint.png"))
    ref = load_file_tensors(case_dir)
    assert stage_error(seen["masked"], ref["masked_x"]) <= TOLERANCE  # the same first random draw
