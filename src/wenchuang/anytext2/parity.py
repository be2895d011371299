"""Parity check against the official AnyText2 implementation's reference data (../shared/golden2).

A golden folder holds `anytext2_tiny.safetensors` (official key format), its yaml (with the AnyText2
switches), `tokenizer/`, `assets/bg_noise.png` and one folder per case (`gen/`, `edit/`) with
`case.json`, the input PNGs and `tensors.safetensors` (the official tensors at every stage).

`run_parity(folder)` converts the checkpoint with our code and replays every stage; each stage's
error is max|ours - ref| / max(1, max|ref|). Preprocessing stages that need the fonts the reference
was rendered with (WenQuanYi Zen/Micro Hei, AR PL UKai) are reported as skipped where those fonts are
not installed; stages downstream take the reference tensors as inputs, so every model stage is
always checked.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import torch

from wenchuang.anytext.parity import TOLERANCE, stage_error
from wenchuang.errors import ModelError

FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", str(Path.home() / ".fonts"))
# stages whose reference values are integers or pure image processing: compared exactly
EXACT_STAGES = ("positions_", "hint", "colors_", "ids_", "gly_line_", "masked_img", "ddim_timesteps")


REFERENCE_FREETYPE = "2.13.0"  # the FreeType of Pillow 9.5's wheels, which rendered the reference
NEAR = "@near"  # suffix of font-rendered stages compared by ink overlap (another FreeType)
NEAR_TOLERANCE = 0.1


def same_rasteriser() -> bool:
    """Whether Pillow renders text with the reference's FreeType (then glyph images match exactly)."""
    from PIL import features

    return features.version("freetype2") == REFERENCE_FREETYPE


def ink_mismatch(ours: np.ndarray, reference: np.ndarray) -> float:
    """Mean absolute pixel difference: another FreeType moves anti-aliased edges and bounding boxes by
    a pixel (which can change a fitted font size by one), so only near parity is expected there."""
    return float(np.abs(np.asarray(ours, np.float64) - np.asarray(reference, np.float64)).mean())


def is_anytext2_golden(folder: str | Path) -> bool:
    """Whether a golden folder is AnyText2's (its yaml has the AnyText2 switches)."""
    from wenchuang.anytext2.configs import AnyText2Config

    yamls = sorted(Path(folder).glob("*.yaml"))
    return bool(yamls) and AnyText2Config.is_anytext2_yaml(yamls[0])


def find_font_file(name: str) -> str | None:
    """A font file called `name` in the usual font folders (or `name` itself when it is a path)."""
    if Path(name).is_file():
        return str(Path(name).resolve())
    for root in FONT_DIRS:
        if Path(root).is_dir():
            for path in Path(root).rglob(Path(name).name):
                return str(path)
    return None


def load_golden_pipeline(folder: str | Path):
    """The folder's checkpoint converted into an `AnyText2Pipeline` (fp32, CPU)."""
    from safetensors.torch import load_file

    from wenchuang.anytext import convert as v1
    from wenchuang.anytext2.configs import AnyText2Config
    from wenchuang.anytext2.convert import convert_components
    from wenchuang.anytext2.pipeline import AnyText2Pipeline

    folder = Path(folder)
    yamls = sorted(folder.glob("*.yaml"))
    if not yamls:
        raise ModelError(f"{folder}: no model yaml found")
    config = AnyText2Config.from_yaml(yamls[0])
    found = sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.ckpt"))
    if not found:
        raise ModelError(f"{folder}: no checkpoint (.safetensors or .ckpt) found")
    ckpt = found[0]
    state = load_file(str(ckpt)) if ckpt.suffix == ".safetensors" else v1.load_checkpoint(ckpt)
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    components = convert_components(state, config, tokenizer_dir=folder / "tokenizer", source=str(ckpt))
    pipe = AnyText2Pipeline(**components)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _png(path: Path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path))


def _color_list(spec: dict, n: int) -> list[tuple[int, int, int]]:
    colors = [(500, 500, 500)] * n
    for i, item in enumerate((spec.get("text_colors") or "").split()[:n]):
        colors[i] = tuple(int(v) for v in item.split(","))
    return colors


def preprocessing_errors(case_dir: Path, case: dict, ref: dict, noise: Path | None) -> tuple[dict, list[str]]:
    """Errors of the preprocessing stages, and the stages skipped for lack of fonts."""
    import torch as _torch

    from wenchuang.anytext2.preprocess import (
        crop_line,
        draw_font_hint,
        draw_glyph_colored,
        font_hint_image,
        split_positions,
    )
    from wenchuang.layout.glyphs import draw_glyph_line

    spec, meta = case["spec"], case["meta"]
    errors: dict[str, float] = {}
    skipped: list[str] = []
    texts = meta["texts"]
    n = len(texts)
    edit = spec["mode"] == "edit"
    height, width = ref["hint"].shape[-2:]

    # positions from the drawing (edit: drawn on the uploaded image, resized first)
    draw_pos = _png(case_dir / "draw_pos.png")
    polygons, positions = split_positions(draw_pos, (width, height) if edit else None, "top-down")
    polygons, positions = polygons[:n], positions[:n]
    for i in range(n):
        errors[f"positions_{i}"] = stage_error(_torch.from_numpy(positions[i])[None, None], ref[f"positions_{i}"])
    hint = np.sum([p.astype(np.float64) for p in positions], axis=0).clip(0, 1)
    errors["hint"] = stage_error(_torch.from_numpy(hint)[None, None], ref["hint"])
    colors = _color_list(spec, n)
    for i in range(n):
        errors[f"colors_{i}"] = stage_error(_torch.tensor([colors[i]], dtype=_torch.float32) / 255.0, ref[f"colors_{i}"])

    # masked image
    if edit:
        from wenchuang.anytext.sampling import resize_for_edit

        work = resize_for_edit(_png(case_dir / "ori_image.png").clip(1, 255), max_side=1024)
    else:
        work = np.zeros((height, width, 3))
    masked = ((work.astype(np.float32) / 127.5) - 1.0 - hint[..., None] * 10).clip(-1, 1)
    errors["masked_img"] = stage_error(_torch.from_numpy(masked).permute(2, 0, 1)[None].float(), ref["masked_img"])

    # glyphs and glyph lines in the base font: exact with the reference's FreeType, else near parity
    def rendered(name: str, ours: np.ndarray, reference) -> None:
        if same_rasteriser():
            errors[name] = stage_error(_torch.from_numpy(ours).float(), reference.reshape(ours.shape))
        else:
            errors[name + NEAR] = ink_mismatch(ours, reference.reshape(ours.shape).numpy())

    base = find_font_file(case.get("base_font", "wqy-zenhei.ttc"))
    if base is None:
        skipped += [f"glyphs_{i}" for i in range(n)] + [f"gly_line_{i}" for i in range(n)]
    else:
        for i, text in enumerate(texts):
            glyph = draw_glyph_colored(base, text, polygons[i], colors[i], 1, width, height, True)
            rendered(f"glyphs_{i}", glyph.transpose(2, 0, 1)[None], ref[f"glyphs_{i}"])
            rendered(f"gly_line_{i}", draw_glyph_line(text, base)[None, None], ref[f"gly_line_{i}"])

    # font hints: per-line fonts (generation) or mimic from the uploaded image (edit)
    fonts = list(spec.get("glyline_font_path") or [])[:n] + ["None"] * n
    mimic = spec.get("mimic")
    missing = [f for f in fonts[:n] if f != "None" and find_font_file(f) is None]
    if missing:
        skipped.append("font_hint")
    else:
        renders = []
        for i, text in enumerate(texts):
            font = None if fonts[i] == "None" or (mimic and mimic["line"] == i) else find_font_file(fonts[i])
            if font is None:
                renders.append(np.zeros((height, width, 3)))
            else:
                renders.append(draw_glyph_colored(font, text, polygons[i], (255, 255, 255), 1, width, height, True))
        ours = font_hint_image(renders, bool(spec.get("font_hollow")), height, width, noise)
        rendered("font_hint", ours[None, None], ref["font_hint"])
    # style crops from the reference font hint
    hint3 = (ref["font_hint"][0] * 255).repeat(3, 1, 1)
    for i in range(n):
        if f"style_crop_{i}" in ref:
            mask = (positions[i][..., None].astype(np.uint8)) * 255
            errors[f"style_crop_{i}"] = stage_error(crop_line(hint3, mask), ref[f"style_crop_{i}"])
    if mimic:
        ori = _png(case_dir / "ori_image.png")
        mask = _png(case_dir / f"font_hint_mask_{mimic['line']}.png")
        from wenchuang.layout.polygons import region_polygon

        poly = np.asarray(region_polygon(mask), np.int64)
        img, region = draw_font_hint(ori[..., ::-1] / 127.5 - 1, poly, random.Random(int(spec["seed"])))
        errors["mimic_font_hint_img"] = stage_error(_torch.from_numpy(img), ref["mimic_font_hint_img"])
        errors["mimic_font_hint_mask"] = stage_error(_torch.from_numpy(region), ref["mimic_font_hint_mask"])
        source = _torch.from_numpy(img * 255).permute(2, 0, 1).repeat(3, 1, 1)
        errors[f"mimic_crop_{mimic['line']}"] = stage_error(crop_line(source, mask), ref[f"mimic_crop_{mimic['line']}"])
    return errors, skipped


@torch.no_grad()
def run_case(pipe, case_dir: Path, full_sampling: bool = True, noise: Path | None = None) -> tuple[dict, list[str]]:
    """(stage -> error, skipped stages) of one case folder."""
    from safetensors.torch import load_file

    from wenchuang.anytext.sampling import configure_scheduler, masked_image_latents, official_ddim_timesteps
    from wenchuang.anytext2.text import embed_lines, encode_prompts, parse_prompt

    case = json.loads((case_dir / "case.json").read_text(encoding="utf-8"))
    ref = load_file(str(case_dir / "tensors.safetensors"))
    spec, meta = case["spec"], case["meta"]
    n = len(meta["texts"])
    errors, skipped = preprocessing_errors(case_dir, case, ref, noise)

    # prompts (official parsing)
    img_prompt, _ = parse_prompt(spec["img_prompt"])
    text_prompt, texts = parse_prompt(spec["text_prompt"])
    if texts != meta["texts"] or text_prompt != meta["text_prompt_after_modify"]:
        errors["prompt_parsing"] = float("inf")
    if img_prompt != meta["img_prompt_after_modify"]:
        errors["prompt_parsing"] = float("inf")

    # VAE posterior and its sample (the seed's first randn), then x_T
    posterior = pipe.vae.encode(ref["masked_img"]).latent_dist
    errors["vae_posterior_mean"] = stage_error(posterior.mean, ref["vae_posterior_mean"])
    errors["vae_posterior_std"] = stage_error(posterior.std, ref["vae_posterior_std"])
    generator = torch.Generator().manual_seed(int(spec["seed"]))
    noise_draw = torch.randn(ref["vae_posterior_noise"].shape, generator=torch.Generator().manual_seed(int(spec["seed"])))
    errors["vae_posterior_noise"] = stage_error(noise_draw, ref["vae_posterior_noise"])
    masked_x = masked_image_latents(pipe.vae, ref["masked_img"], generator)
    errors["masked_x"] = stage_error(masked_x, ref["masked_x"])
    x_t = torch.randn(ref["x_T"].shape, generator=generator)
    errors["x_T"] = stage_error(x_t, ref["x_T"])

    # line embeddings from the reference inputs
    mimic = spec.get("mimic")
    crops = []
    for i in range(n):
        if mimic and mimic["line"] == i:
            crops.append(ref[f"mimic_crop_{i}"])
        else:
            crops.append(ref[f"style_crop_{i}"])
    positions = torch.cat([ref[f"positions_{i}"] for i in range(n)], dim=0)
    colors = torch.cat([ref[f"colors_{i}"] for i in range(n)], dim=0) * 255.0
    gly_lines = torch.cat([ref[f"gly_line_{i}"] for i in range(n)], dim=0)
    embs, stages = embed_lines(
        pipe.recognizer, pipe.font_recognizer, pipe.text_embedding, gly_lines, positions, crops, colors, True
    )
    for name, value in stages.items():
        if name in ref:  # a trimmed copy may leave out inputs that repeat other tensors
            errors[name] = stage_error(value, ref[name])

    # contexts
    a_prompt, n_prompt = spec["a_prompt"], spec["n_prompt"]
    cond = encode_prompts(pipe.tokenizer, pipe.text_encoder, img_prompt + ", " + a_prompt, text_prompt, embs)
    uncond = encode_prompts(pipe.tokenizer, pipe.text_encoder, n_prompt, "", embs)
    for suffix, out in (("cond", cond), ("uncond", uncond)):
        errors[f"ids_img_{suffix}"] = stage_error(out["ids_img"], ref[f"ids_img_{suffix}"])
        errors[f"ids_text_{suffix}"] = stage_error(out["ids_text"], ref[f"ids_text_{suffix}"])
        errors[f"context_img_{suffix}"] = stage_error(out["context_img"], ref[f"context_img_{suffix}"])
        errors[f"context_text_{suffix}"] = stage_error(out["context_text"], ref[f"context_text_{suffix}"])

    # WriteNet hint path and residuals (cond and uncond)
    control = pipe.controlnet
    glyphs = torch.stack([ref[f"glyphs_{i}"] for i in range(n)], dim=1)  # (B, N, 3, H, W)
    glyph_in = (glyphs.flatten(1, -3).sum(dim=1, keepdim=True) != 0).float()
    errors["cn_glyph_block_in"] = stage_error(glyph_in, ref["cn_glyph_block_in"])
    errors["cn_glyph_block_out"] = stage_error(control.auxiliary.glyph_block(glyph_in), ref["cn_glyph_block_out"])
    pos_in = positions.reshape(1, n, *positions.shape[-2:]).sum(dim=1, keepdim=True)
    errors["cn_position_block_in"] = stage_error(pos_in, ref["cn_position_block_in"])
    errors["cn_position_block_out"] = stage_error(control.auxiliary.position_block(pos_in), ref["cn_position_block_out"])
    guided = control.encode_hint(glyphs, positions.reshape(1, n, *positions.shape[-2:]), ref["masked_x"])
    errors["cn_fuse_block_za_out"] = stage_error(guided, ref["cn_fuse_block_za_out"])
    residuals = control.fast_residuals(ref["context_text_cond"], guided)
    neg_residuals = control.fast_residuals(ref["context_text_uncond"], guided)
    for suffix, (down, mid) in (("cond", residuals), ("uncond", neg_residuals)):
        for i, out in enumerate([*down, mid]):
            errors[f"control_{suffix}_{i:02d}"] = stage_error(out, ref[f"control_{suffix}_{i:02d}"])
    strength = float(spec["strength"])
    for i, out in enumerate([*residuals[0], residuals[1]]):
        if f"step0_unet_control_cond_{i:02d}" in ref:
            errors[f"step0_unet_control_cond_{i:02d}"] = stage_error(
                out * strength, ref[f"step0_unet_control_cond_{i:02d}"]
            )

    # UNet (with AttnX) at steps 0 and 1 from the reference inputs
    pipe.unet.set_attnx_scale(float(spec["attnx_scale"]))
    scale = float(spec["cfg_scale"])
    ctx_c, ctx_u = ref["context_img_cond"], ref["context_img_uncond"]
    ref_res = ([ref[f"control_cond_{i:02d}"] for i in range(12)], ref["control_cond_12"])
    ref_neg = ([ref[f"control_uncond_{i:02d}"] for i in range(12)], ref["control_uncond_12"])
    steps = int(spec["ddim_steps"])
    errors["ddim_timesteps"] = stage_error(torch.from_numpy(official_ddim_timesteps(steps)), ref["ddim_timesteps"])
    errors["alphas_cumprod"] = stage_error(pipe.scheduler.alphas_cumprod, ref["alphas_cumprod"])
    timesteps = configure_scheduler(pipe.scheduler, steps)
    for k in range(2):
        x_in, t = ref[f"step{k}_x_in"], ref[f"step{k}_t"]
        eps_c = pipe.unet_eps(x_in, t, ctx_c, ref_res, strength)
        eps_u = pipe.unet_eps(x_in, t, ctx_u, ref_neg, strength)
        errors[f"step{k}_eps_cond"] = stage_error(eps_c, ref[f"step{k}_eps_cond"])
        errors[f"step{k}_eps_uncond"] = stage_error(eps_u, ref[f"step{k}_eps_uncond"])
        out = pipe.scheduler.step(eps_u + scale * (eps_c - eps_u), timesteps[k], x_in, eta=float(spec["eta"]))
        errors[f"step{k}_x_out"] = stage_error(out.prev_sample, ref[f"step{k}_x_out"])
        errors[f"step{k}_pred_x0"] = stage_error(out.pred_original_sample, ref[f"step{k}_pred_x0"])

    if full_sampling:  # the whole DDIM run from the reference x_T with our own residuals and contexts
        latents = ref["x_T"].clone()
        timesteps = configure_scheduler(pipe.scheduler, steps)
        for t in timesteps:
            eps = pipe.predict_noise(
                latents, t, cond["context_img"], residuals, strength, uncond["context_img"], neg_residuals, scale
            )
            latents = pipe.scheduler.step(eps, t, latents, eta=float(spec["eta"])).prev_sample
        errors["latent_final"] = stage_error(latents, ref["latent_final"])
        decoded = pipe.vae.decode(ref["latent_final"] / pipe.vae.config.scaling_factor).sample
        errors["decoded"] = stage_error(decoded, ref["decoded"])
        result = _png(case_dir / "result_0.png")
        ours = (decoded.permute(0, 2, 3, 1) * 127.5 + 127.5).numpy().clip(0, 255).astype(np.uint8)[0]
        errors["result_0_png"] = float(np.abs(ours.astype(int) - result.astype(int)).max()) / 255.0
    return errors, skipped


def run_parity(
    folder: str | Path, cases: tuple[str, ...] | None = None, full_sampling: bool = True
) -> tuple[dict[str, float], list[str]]:
    """(case/stage -> error, skipped case/stages) for every case folder of an AnyText2 golden folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelError(f"golden folder not found: {folder}")
    noise = folder / "assets" / "bg_noise.png"
    with torch.no_grad():
        pipe = load_golden_pipeline(folder)
        names = cases or tuple(sorted(p.name for p in folder.iterdir() if (p / "case.json").is_file()))
        if not names:
            raise ModelError(f"{folder}: no case folders (with case.json) found")
        result: dict[str, float] = {}
        skipped: list[str] = []
        for name in names:
            errors, missing = run_case(pipe, folder / name, full_sampling, noise if noise.is_file() else None)
            result.update({f"{name}/{stage}": err for stage, err in errors.items()})
            skipped += [f"{name}/{stage}" for stage in missing]
    return result, skipped


def stage_tolerance(stage: str) -> float:
    name = stage.split("/")[-1]
    if name.endswith(NEAR):
        return NEAR_TOLERANCE
    if name.startswith("result_"):  # 8-bit output of a decode within 1e-6: a value at .5 may round apart
        return 1.0 / 255
    return 0.0 if name.startswith(EXACT_STAGES) else TOLERANCE


def parity_passed(errors: dict[str, float], exact: bool = True) -> bool:
    """Every stage within its tolerance (exact stages exactly, unless `exact` is False)."""
    return all(
        np.isfinite(v) and v <= (stage_tolerance(k) if exact else TOLERANCE) for k, v in errors.items()
    )
