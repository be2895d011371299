"""Parity with the official AnyText2 implementation on the golden cases (tests/golden2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from wenchuang.anytext2.parity import (
    NEAR,
    find_font_file,
    parity_passed,
    run_case,
    run_parity,
    same_rasteriser,
    stage_tolerance,
)

SRC = Path(__file__).resolve().parents[2] / "src"
# the fonts the official reference rendered its glyphs and font hints with, and their Debian packages
GOLDEN2_FONTS = {"wqy-zenhei.ttc": "fonts-wqy-zenhei", "wqy-microhei.ttc": "fonts-wqy-microhei", "ukai.ttc": "fonts-arphic-ukai"}


@pytest.fixture(scope="module")
def golden2_fonts():
    """Skip (with the packages to install) where the reference's fonts are missing: every glyph and
    font-hint stage needs them."""
    missing = [package for name, package in GOLDEN2_FONTS.items() if find_font_file(name) is None]
    if missing:
        pytest.skip(f"AnyText2 glyph parity needs the reference's fonts (Debian: apt-get install {' '.join(missing)})")


@pytest.fixture(scope="module")
def results(golden2, golden2_pipe, golden2_fonts):
    noise = None
    return {case: run_case(golden2_pipe, golden2 / case, True, noise) for case in ("gen", "edit")}


@pytest.mark.parametrize("case", ["gen", "edit"])
def test_every_stage_within_tolerance(results, case):
    errors, skipped = results[case]
    assert skipped == []  # the fonts are looked up; without them the glyph stages would be skipped
    bad = {k: v for k, v in errors.items() if not v <= stage_tolerance(k)}
    assert bad == {}


@pytest.mark.parametrize("case", ["gen", "edit"])
def test_every_golden_stage_is_checked(results, case):
    errors, _ = results[case]
    names = {k.removesuffix(NEAR) for k in errors}
    expected = {
        "hint", "masked_img", "vae_posterior_mean", "vae_posterior_std", "vae_posterior_noise", "masked_x", "x_T",
        "ocr_glyph_input", "ocr_glyph_neck", "ocr_style_input", "ocr_style_neck", "text_embs",
        "em_proj_in", "em_proj_out", "em_position_encoder_out", "em_style_proj_in", "em_style_proj_out",
        "em_color_proj_in", "em_color_proj_out",
        "cn_glyph_block_in", "cn_glyph_block_out", "cn_position_block_in", "cn_position_block_out",
        "cn_fuse_block_za_out", "ddim_timesteps", "alphas_cumprod", "latent_final", "decoded", "result_0_png",
        "font_hint", "glyphs_0", "gly_line_0", "positions_0", "colors_0",
    }
    expected |= {f"{p}_{s}" for p in ("ids_img", "ids_text", "context_img", "context_text") for s in ("cond", "uncond")}
    expected |= {f"control_{s}_{i:02d}" for s in ("cond", "uncond") for i in range(13)}
    expected |= {f"step{k}_{n}" for k in (0, 1) for n in ("eps_cond", "eps_uncond", "x_out", "pred_x0")}
    expected |= {"mimic_font_hint_img", "mimic_font_hint_mask", "mimic_crop_0"} if case == "edit" else {
        "style_crop_0", "style_crop_1", "glyphs_1", "positions_1"}
    assert expected <= names, sorted(expected - names)


def test_exact_stages_are_exact(results):
    for case in ("gen", "edit"):
        errors, _ = results[case]
        for name in ("hint", "positions_0", "colors_0", "ids_img_cond", "ids_text_cond", "ids_img_uncond",
                     "ids_text_uncond", "masked_img", "ddim_timesteps", "cn_glyph_block_in"):
            assert errors[name] == 0.0, (case, name)
        assert errors["result_0_png"] <= 1 / 255  # at most one 8-bit level apart
    assert results["edit"][0]["mimic_font_hint_img"] == 0.0
    assert results["edit"][0]["mimic_font_hint_mask"] == 0.0
    # the image prompt of the edit case needs two 77-token windows
    assert results["edit"][0]["context_img_cond"] <= 1e-5


def test_glyph_stages_exact_with_reference_rasteriser(results):
    errors = {**results["gen"][0], **{f"e/{k}": v for k, v in results["edit"][0].items()}}
    rendered = [k for k in errors if k.split("/")[-1].startswith(("glyphs_", "gly_line_", "font_hint"))]
    assert rendered
    if same_rasteriser():
        assert all(errors[k] == 0.0 for k in rendered)
    else:
        assert all(k.endswith(NEAR) for k in rendered)


def test_parity_exact_under_pillow_9_5(golden2, golden2_fonts):
    """Glyphs, glyph lines and font hints pixel-exact with the reference's Pillow 9.5 / FreeType 2.13.0."""
    reference = os.environ.get("WENCHUANG_REFERENCE_PILLOW")
    if not reference or not (Path(reference) / "PIL").is_dir():
        pytest.skip("set WENCHUANG_REFERENCE_PILLOW to a folder with Pillow 9.5 (pip install --target)")
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from wenchuang.anytext2.parity import preprocessing_errors, same_rasteriser\n"
        "from safetensors.torch import load_file\n"
        "root = Path(sys.argv[1]); out = {'same': same_rasteriser()}\n"
        "for c in ('gen', 'edit'):\n"
        "    case = json.loads((root / c / 'case.json').read_text())\n"
        "    errs, skipped = preprocessing_errors(root / c, case, load_file(str(root / c / 'tensors.safetensors')), None)\n"
        "    out[c] = errs; out[c + '_skipped'] = skipped\n"
        "print(json.dumps(out))\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([reference, str(SRC)]))
    proc = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", script, str(golden2)], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["same"] is True
    for case in ("gen", "edit"):
        assert out[case + "_skipped"] == []
        rendered = {k: v for k, v in out[case].items() if k.startswith(("glyphs_", "gly_line_", "font_hint"))}
        assert rendered and all(v == 0.0 for v in rendered.values()), rendered


def test_run_parity_over_the_folder(golden2, golden2_fonts):
    errors, skipped = run_parity(golden2, cases=("edit",), full_sampling=False)
    assert skipped == [] and parity_passed(errors)
    assert "edit/latent_final" not in errors and "edit/step1_x_out" in errors
    assert json.dumps(errors)  # plain floats


def test_dev_parity_command_recognises_anytext2(golden2, capsys):
    from wenchuang.cli import main

    assert main(["dev", "parity", str(golden2), "--case", "gen", "--quick"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert "gen/em_style_proj_out" in out and "gen/control_uncond_12" in out
