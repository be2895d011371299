"""Parity check against reference data of the official implementation (tests/golden format).

A golden folder holds `anytext_tiny.safetensors` (official key format), its yaml, a `tokenizer/`
folder and one folder per case (`gen/`, `edit/`) with `case.json`, the glyph/position PNGs and
`tensors.safetensors` (official outputs at every stage). `run_parity(folder)` converts the
checkpoint with our code, replays every stage with our modules and returns stage -> error, where
error = max|ours - ref| / max(1, max|ref|) (absolute for small tensors, relative for large ones).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from wenchuang.anytext import convert
from wenchuang.anytext.configs import AnyTextConfig
from wenchuang.anytext.pipeline import AnyTextPipeline, placeholder_prompt
from wenchuang.anytext.sampling import configure_scheduler, masked_image_latents, official_ddim_timesteps
from wenchuang.anytext.text_embedding import embed_glyph_lines, encode_prompt
from wenchuang.errors import ModelError

TOLERANCE = 1e-4


def stage_error(ours: torch.Tensor, ref: torch.Tensor) -> float:
    ours, ref = ours.detach().double().cpu(), ref.detach().double().cpu()
    if tuple(ours.shape) != tuple(ref.shape):
        return float("inf")
    scale = max(1.0, float(ref.abs().max())) if ref.numel() else 1.0
    return float((ours - ref).abs().max()) / scale if ref.numel() else 0.0


def _find_yaml(folder: Path) -> Path:
    found = sorted(folder.glob("*.yaml"))
    if not found:
        raise ModelError(f"{folder}: no model yaml found")
    return found[0]


def load_golden_pipeline(folder: str | Path):
    """Convert the folder's checkpoint into an `AnyTextPipeline` (fp32, CPU)."""
    folder = Path(folder)
    config = AnyTextConfig.from_yaml(_find_yaml(folder))
    ckpt = folder / "anytext_tiny.safetensors"
    if not ckpt.is_file():
        found = sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.ckpt"))
        if not found:
            raise ModelError(f"{folder}: no checkpoint (.safetensors or .ckpt) found")
        ckpt = found[0]
    state = load_file(str(ckpt)) if ckpt.suffix == ".safetensors" else convert.load_checkpoint(ckpt)
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    return AnyTextPipeline.from_official_state_dict(
        state, config, tokenizer_dir=folder / "tokenizer", source=str(ckpt)
    )


def _png(path: Path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path), dtype=np.float32) / 255.0


def run_case(pipe, case_dir: Path, full_sampling: bool = True) -> dict[str, float]:
    """Errors of every stage of one case (keys prefixed by nothing; caller adds the case name)."""
    case = json.loads((case_dir / "case.json").read_text(encoding="utf-8"))
    ref = load_file(str(case_dir / "tensors.safetensors"))
    n_lines = len(case["texts"])
    glyphs = torch.from_numpy(np.stack([_png(case_dir / f"glyphs_{i}.png") for i in range(n_lines)]))[None]
    positions = torch.from_numpy(np.stack([_png(case_dir / f"positions_{i}.png") for i in range(n_lines)]))[
        None
    ]
    hint = _png(case_dir / "hint.png")
    errors: dict[str, float] = {}

    # masked image latent: posterior and its sample with the seed's first randn
    height, width = hint.shape
    if case["mode"] == "edit":
        from PIL import Image

        edit_image = np.asarray(Image.open(case_dir / "edit_image_resized.png").convert("RGB"), np.float32)
    else:
        edit_image = np.full((height, width, 3), 127.5, np.float32)
    masked = (edit_image / 127.5 - 1.0) * (1.0 - hint[..., None])
    masked_t = torch.from_numpy(masked).permute(2, 0, 1)[None]
    posterior = pipe.vae.encode(masked_t).latent_dist
    errors["vae_posterior_mean"] = stage_error(posterior.mean, ref["vae_posterior_mean"])
    errors["vae_posterior_std"] = stage_error(posterior.std, ref["vae_posterior_std"])
    generator = torch.Generator().manual_seed(int(case["seed"]))
    masked_x = masked_image_latents(pipe.vae, masked_t, generator)
    errors["masked_x"] = stage_error(masked_x, ref["masked_x"])
    x_t = torch.randn(ref["x_T"].shape, generator=generator)
    errors["x_T"] = stage_error(x_t, ref["x_T"])

    # text conditioning
    gly_lines = [_png(case_dir / f"gly_line_{i}.png") for i in range(n_lines)]
    cond_string = placeholder_prompt(case["prompt"], case["texts"]) + " , " + case["a_prompt"]
    if cond_string != case["cond_prompt_string"]:
        errors["cond_prompt_string"] = float("inf")
    context = pipe.encode_prompt(case["cond_prompt_string"], gly_lines)
    uncontext = pipe.encode_prompt(case["uncond_prompt_string"], None)
    errors["context_cond"] = stage_error(context, ref["context_cond"])
    errors["context_uncond"] = stage_error(uncontext, ref["context_uncond"])
    errors.update(_text_stage_errors(pipe, case, gly_lines, ref))

    # control residuals and noise predictions at the first step (from the reference inputs)
    t = ref["step0_t"]
    guided_hint = pipe.controlnet.encode_hint(glyphs, positions, ref["masked_x"])
    down, mid = pipe.controlnet(ref["x_T"], t, context, guided_hint=guided_hint, return_dict=False)
    for i, out in enumerate([*down, mid]):
        errors[f"control_{i:02d}"] = stage_error(out, ref[f"step0_control_cond_{i:02d}"])
    scale = float(case["cfg_scale"])
    eps_c = pipe._unet_eps(ref["x_T"], t, context, guided_hint, float(case["strength"]))
    eps_u = pipe._unet_eps(ref["x_T"], t, uncontext, guided_hint, float(case["strength"]))
    errors["eps_cond"] = stage_error(eps_c, ref["step0_eps_cond"])
    errors["eps_uncond"] = stage_error(eps_u, ref["step0_eps_uncond"])
    errors["eps_cfg"] = stage_error(eps_u + scale * (eps_c - eps_u), ref["step0_eps_cfg"])

    # the sampler: timesteps, two guided DDIM steps from the reference x_T, then all steps
    steps = int(case["ddim_steps"])
    ours_t = torch.from_numpy(official_ddim_timesteps(steps))
    errors["ddim_timesteps"] = stage_error(ours_t, ref["ddim_timesteps"])
    errors["alphas_cumprod"] = stage_error(pipe.scheduler.alphas_cumprod, ref["alphas_cumprod"])

    def denoise(latents: torch.Tensor, n_steps: int | None, report: Callable | None = None) -> torch.Tensor:
        timesteps = configure_scheduler(pipe.scheduler, steps)
        for i, step_t in enumerate(timesteps[:n_steps]):
            eps = pipe.predict_noise(
                latents, step_t, context, guided_hint, float(case["strength"]), uncontext, scale
            )
            out = pipe.scheduler.step(eps, step_t, latents, eta=float(case["eta"]))
            if report is not None and i < 2:
                report(i, out)
            latents = out.prev_sample
        return latents

    def report(i: int, out) -> None:
        errors[f"step{i}_x_out"] = stage_error(out.prev_sample, ref[f"step{i}_x_out"])
        errors[f"step{i}_pred_x0"] = stage_error(out.pred_original_sample, ref[f"step{i}_pred_x0"])

    final = denoise(ref["x_T"].clone(), None if full_sampling else 2, report)
    if full_sampling:
        errors["latent_final"] = stage_error(final, ref["latent_final"])
        if "decoded" in ref:
            decoded = pipe.vae.decode(ref["latent_final"] / pipe.vae.config.scaling_factor).sample
            errors["decoded"] = stage_error(decoded, ref["decoded"])
    return errors


@torch.no_grad()
def parity_stages(pipe, case: dict, gly_lines) -> dict[str, torch.Tensor]:
    """Our tensors for the golden text stages of one case (names of ``tensors.safetensors``).

    ``pipe`` holds ``tokenizer``, ``text_encoder``, ``text_embedding`` and ``recognizer``; ``case`` is
    the case.json dict; ``gly_lines`` the case's glyph lines in [0, 1].
    """
    ocr_input, neck, text_embs = embed_glyph_lines(pipe.recognizer, pipe.text_embedding, gly_lines, True)
    cond, cond_ids = encode_prompt(
        pipe.tokenizer, pipe.text_encoder, [case["cond_prompt_string"]], [text_embs], return_input_ids=True
    )
    uncond, uncond_ids = encode_prompt(
        pipe.tokenizer, pipe.text_encoder, [case["uncond_prompt_string"]], None, return_input_ids=True
    )
    nosub = encode_prompt(pipe.tokenizer, pipe.text_encoder, [case["cond_prompt_string"]], None)
    return {
        "ocr_input": ocr_input,
        "ocr_neck": neck,
        "text_embs": text_embs[None],
        "cond_input_ids": cond_ids,
        "uncond_input_ids": uncond_ids,
        "context_cond": cond,
        "context_uncond": uncond,
        "context_cond_nosub": nosub,
    }


def _text_stage_errors(pipe, case: dict, gly_lines: list[np.ndarray], ref: dict) -> dict[str, torch.Tensor]:
    """OCR input and features, projected line embeddings, token ids, context without substitution."""
    stages = parity_stages(pipe, case, gly_lines)
    names = ("ocr_input", "ocr_neck", "text_embs", "context_cond_nosub", "cond_input_ids", "uncond_input_ids")
    return {name: stage_error(stages[name], ref[name]) for name in names}


def run_parity(folder: str | Path, cases: tuple[str, ...] | None = None, full_sampling: bool = True) -> dict:
    """stage -> error for every case folder (`gen`, `edit`, ...) of a golden folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelError(f"golden folder not found: {folder}")
    with torch.no_grad():
        pipe = load_golden_pipeline(folder)
        pipe.set_progress_bar_config(disable=True)
        names = cases or tuple(sorted(p.name for p in folder.iterdir() if (p / "case.json").is_file()))
        if not names:
            raise ModelError(f"{folder}: no case folders (with case.json) found")
        result: dict[str, float] = {}
        for name in names:
            for stage, err in run_case(pipe, folder / name, full_sampling=full_sampling).items():
                result[f"{name}/{stage}"] = err
    return result


def parity_passed(errors: dict[str, float]) -> bool:
    return all(np.isfinite(v) and v <= TOLERANCE for v in errors.values())
