"""AnyTextPipeline end to end with a tiny random model on CPU (each test a few seconds)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wenchuang.anytext.pipeline import AnyTextPipeline, check_texts, placeholder_prompt
from wenchuang.anytext.sampling import (
    configure_scheduler,
    feathered_mask,
    official_ddim_timesteps,
    resize_for_edit,
)
from wenchuang.errors import RequestError

STEPS = 3


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _run(pipe, conditions, seed=1, **kwargs):
    kwargs.setdefault("num_inference_steps", STEPS)
    return pipe('a sign that reads "AB"', conditions=conditions, generator=_gen(seed), **kwargs)


def test_generate_sizes_and_image_count(tiny_pipe, make_conditions):
    cond = make_conditions(["AB"], [(40, 30, 200, 90)], 256, 320)
    out = _run(tiny_pipe, cond, width=256, height=320, num_images_per_prompt=2)
    assert len(out.images) == 2
    for image in out.images:
        assert image.shape == (320, 256, 3) and image.dtype == np.uint8
    assert not np.array_equal(out.images[0], out.images[1])  # a batch draws different noise per image
    assert out.debug["glyphs"].shape == (640, 512)
    assert out.debug["positions"].shape == (320, 256)
    assert out.debug["masked_input"].shape == (320, 256, 3)


def test_same_seed_same_images_different_seed_different_images(tiny_pipe, make_conditions):
    cond = make_conditions(["AB"], [(40, 30, 200, 90)], 256, 256)
    first = _run(tiny_pipe, cond, seed=7, width=256, height=256).images[0]
    again = _run(tiny_pipe, cond, seed=7, width=256, height=256).images[0]
    other = _run(tiny_pipe, cond, seed=8, width=256, height=256).images[0]
    assert np.array_equal(first, again)
    assert np.abs(first.astype(int) - other.astype(int)).mean() > 1.0


def test_glyphs_and_positions_change_the_result(tiny_pipe, make_conditions):
    one = make_conditions(["AB"], [(40, 30, 200, 90)], 256, 256)
    two = make_conditions(["AB"], [(40, 150, 200, 210)], 256, 256)
    a = _run(tiny_pipe, one, width=256, height=256, output_type="latent").images
    b = _run(tiny_pipe, two, width=256, height=256, output_type="latent").images
    assert a.shape == (1, 4, 32, 32)
    assert not torch.allclose(a, b)


def test_per_image_generators_reproduce_each_image_alone(tiny_pipe, make_conditions):
    cond = make_conditions(["AB"], [(40, 30, 200, 90)], 256, 256)
    both = tiny_pipe("x", conditions=cond, generator=[_gen(3), _gen(4)], num_images_per_prompt=2,
                     num_inference_steps=STEPS, width=256, height=256).images
    second = tiny_pipe("x", conditions=cond, generator=[_gen(4)], num_inference_steps=STEPS,
                       width=256, height=256).images
    assert np.abs(both[1].astype(int) - second[0].astype(int)).max() <= 1


def test_edit_keeps_every_pixel_outside_the_feathered_mask(tiny_pipe, make_conditions):
    rng = np.random.default_rng(0)
    original = rng.integers(0, 256, size=(300, 420, 3), dtype=np.uint8)  # -> worked on at 256x384
    work = resize_for_edit(original)
    assert work.shape == (256, 384, 3)
    cond = make_conditions(["AB"], [(100, 80, 260, 150)], 384, 256)
    out = _run(tiny_pipe, cond, image=original, feather=6)
    result = out.images[0]
    assert result.shape == original.shape
    import cv2

    hint = cv2.resize(cond.hint, (420, 300), interpolation=cv2.INTER_NEAREST)
    alpha = feathered_mask(hint, 6)
    outside = alpha == 0
    assert outside.mean() > 0.5
    assert np.array_equal(result[outside], original[outside])
    inside = hint > 0.5
    assert np.abs(result[inside].astype(int) - original[inside].astype(int)).mean() > 5
    # without keep_unmasked the whole generated image at the working size comes back (official)
    raw = _run(tiny_pipe, cond, image=original, keep_unmasked=False).images[0]
    assert raw.shape == (256, 384, 3)


def test_feathered_mask_is_one_inside_and_zero_far_away():
    hint = np.zeros((100, 100), np.float32)
    hint[40:60, 40:60] = 1
    alpha = feathered_mask(hint, 5)
    assert (alpha[40:60, 40:60] == 1).all()
    assert alpha[40:60, 31:40].min() > 0  # softened edge
    assert (alpha[:29] == 0).all() and (alpha[71:] == 0).all() and (alpha[:, :29] == 0).all()


def test_too_many_lines_and_too_long_text_are_clear_errors(tiny_pipe, make_conditions):
    with pytest.raises(RequestError, match="at most 8 per image"):
        check_texts([f"L{i}" for i in range(9)])
    long = "字" * 21
    cond = make_conditions([long], [(40, 30, 200, 90)], 256, 256)
    with pytest.raises(RequestError, match="21 characters; at most 20"):
        _run(tiny_pipe, cond, width=256, height=256)
    with pytest.raises(RequestError, match="multiple of 64"):
        _run(tiny_pipe, cond, width=250, height=256)


def test_placeholders_follow_the_official_convention():
    prompt = 'a shop sign that reads "天路" and "KEDA", neon lights at night'
    assert placeholder_prompt(prompt, ["天路", "KEDA"]) == "a shop sign that reads  *  and  * , neon lights at night"
    assert placeholder_prompt("a mug", ["Tea"]).count("*") == 1


def test_official_ddim_timesteps_and_scheduler_setup(tiny_pipe):
    assert official_ddim_timesteps(20).tolist() == list(range(951, 0, -50))
    odd = official_ddim_timesteps(30)  # 1000 // 30 = 33: the official list has 31 entries
    assert len(odd) == 31 and odd[0] == 991 and odd[-1] == 1
    steps = configure_scheduler(tiny_pipe.scheduler, 20)
    assert steps.tolist() == list(range(951, 0, -50))
    # the last step's previous alpha is alpha_bar_0, not 1
    assert tiny_pipe.scheduler.final_alpha_cumprod == pytest.approx(float(tiny_pipe.scheduler.alphas_cumprod[0]))


def test_other_schedulers_can_be_swapped_in(tiny_pipe, make_conditions):
    from diffusers import DPMSolverMultistepScheduler, EulerDiscreteScheduler

    cond = make_conditions(["AB"], [(40, 30, 200, 90)], 256, 256)
    original = tiny_pipe.scheduler
    try:
        for cls in (DPMSolverMultistepScheduler, EulerDiscreteScheduler):
            tiny_pipe.scheduler = cls.from_config(original.config)
            image = _run(tiny_pipe, cond, width=256, height=256).images[0]
            assert image.shape == (256, 256, 3) and image.std() > 0
    finally:
        tiny_pipe.scheduler = original


# Loaded in a fresh interpreter that imports nothing of wenchuang but the pipeline module:
# every component must come back as the class model_index.json names, with the same numbers.
_ROUND_TRIP_SCRIPT = """
import json, sys
import torch
from wenchuang.anytext.pipeline import AnyTextPipeline
folder, out = sys.argv[1], sys.argv[2]
pipe = AnyTextPipeline.from_pretrained(folder)
pipe.set_progress_bar_config(disable=True)
recorded = {k: v for k, v in json.load(open(folder + "/model_index.json")).items() if not k.startswith("_")}
loaded = {k: [type(c).__module__, type(c).__name__] for k, c in pipe.components.items()}
cond = torch.load(sys.argv[3], weights_only=False)
latents = pipe('a sign that reads "AB"', conditions=cond, generator=torch.Generator().manual_seed(1),
               num_inference_steps=3, width=256, height=256, output_type="latent").images
torch.save({"recorded": recorded, "loaded": loaded, "latents": latents}, out)
"""


def test_save_and_load_round_trip_in_a_fresh_process(tiny_pipe, make_conditions, tmp_path):
    """save_pretrained, then from_pretrained in a new interpreter: no import of the custom components'
    modules is needed beforehand (diffusers imports the module model_index.json records)."""
    import subprocess
    import sys

    cond = make_conditions(["AB"], [(40, 30, 200, 90)], 256, 256)
    before = _run(tiny_pipe, cond, width=256, height=256, output_type="latent").images
    tiny_pipe.save_pretrained(tmp_path / "pipe")
    assert (tmp_path / "pipe" / "controlnet" / "diffusion_pytorch_model.safetensors").is_file()
    torch.save(cond, tmp_path / "cond.pt")
    proc = subprocess.run(
        [sys.executable, "-c", _ROUND_TRIP_SCRIPT, str(tmp_path / "pipe"), str(tmp_path / "out.pt"),
         str(tmp_path / "cond.pt")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = torch.load(tmp_path / "out.pt", weights_only=False)
    for name in ("recognizer", "text_embedding", "controlnet"):
        assert result["recorded"][name][0].startswith("wenchuang.anytext.")
    assert sorted(result["loaded"]) == sorted(result["recorded"])
    for name, (library, class_name) in result["recorded"].items():
        module, loaded_class = result["loaded"][name]
        assert loaded_class == class_name and module.startswith(library), (name, module, loaded_class)
    assert torch.allclose(before, result["latents"], atol=1e-5, rtol=1e-5)


def test_attention_slicing_and_vae_tiling_switches(tiny_pipe, make_conditions, monkeypatch):
    cond = make_conditions(["AB"], [(40, 30, 200, 90)], 256, 256)
    plain = _run(tiny_pipe, cond, width=256, height=256, output_type="latent").images
    tiny_pipe.enable_attention_slicing(1)
    try:
        sliced = _run(tiny_pipe, cond, width=256, height=256, output_type="latent").images
    finally:
        tiny_pipe.disable_attention_slicing()
    assert torch.allclose(plain, sliced, atol=1e-4, rtol=1e-4)

    # VAE tiling engages above the VAE's tile size (latents larger than 32x32 here): a 512x512
    # image is decoded tile by tile, close to the whole-image decode (tiles blend at their seams)
    vae = tiny_pipe.vae
    assert vae.tile_latent_min_size < 512 // 8
    tiled_calls = []
    real_tiled_decode = vae.tiled_decode

    def counting_tiled_decode(*args, **kwargs):
        tiled_calls.append(args[0].shape)
        return real_tiled_decode(*args, **kwargs)

    monkeypatch.setattr(vae, "tiled_decode", counting_tiled_decode)
    big = make_conditions(["AB"], [(80, 60, 400, 180)], 512, 512)
    whole = _run(tiny_pipe, big, width=512, height=512, num_inference_steps=1).images[0]
    assert tiled_calls == []
    tiny_pipe.enable_vae_tiling()
    try:
        assert vae.use_tiling
        tiled = _run(tiny_pipe, big, width=512, height=512, num_inference_steps=1).images[0]
    finally:
        tiny_pipe.disable_vae_tiling()
    assert [tuple(s) for s in tiled_calls] == [(1, 4, 64, 64)]
    assert tiled.shape == whole.shape == (512, 512, 3)
    diff = np.abs(tiled.astype(int) - whole.astype(int))
    assert 0 < diff.mean() < 6 and (diff <= 16).mean() > 0.95  # different path, same picture
    assert not vae.use_tiling


@pytest.mark.gpu
def test_fp16_and_model_cpu_offload_on_gpu(tiny_pipe, make_conditions, tmp_path):
    """A float16 load (as the engine does on a GPU) runs with model CPU offload and stays close to fp32."""
    cond = make_conditions(["AB"], [(40, 30, 200, 90)], 256, 256)
    reference = _run(tiny_pipe, cond, width=256, height=256, output_type="latent").images  # fp32, CPU
    reference_image = _run(tiny_pipe, cond, width=256, height=256).images[0]
    tiny_pipe.save_pretrained(tmp_path / "pipe")
    half = AnyTextPipeline.from_pretrained(tmp_path / "pipe", dtype=torch.float16)
    half.set_progress_bar_config(disable=True)
    for name, module in half.components.items():
        if isinstance(module, torch.nn.Module):
            dtypes = {p.dtype for p in module.parameters()}
            assert dtypes == {torch.float16}, (name, dtypes)
    half.enable_model_cpu_offload()
    try:
        latents = _run(half, cond, width=256, height=256, output_type="latent").images
        image = _run(half, cond, width=256, height=256).images[0]
        assert half._execution_device.type == "cuda"
    finally:
        half.remove_all_hooks()
    assert latents.dtype == torch.float16 and latents.device.type == "cuda"
    assert half.unet.device.type == "cpu"  # offloaded again after the call
    error = (latents.float().cpu() - reference).abs().max() / reference.abs().max()
    assert error < 2e-2, error
    assert image.shape == (256, 256, 3)
    assert np.abs(image.astype(int) - reference_image.astype(int)).mean() < 3


def test_step_callback_sees_every_step_and_can_change_the_latents(tiny_pipe, make_conditions):
    cond = make_conditions(["AB"], [(40, 30, 200, 90)], 256, 256)
    plain = _run(tiny_pipe, cond, width=256, height=256, output_type="latent").images
    seen = []

    def record(pipe, step, timestep, tensors):
        assert pipe is tiny_pipe and pipe.num_timesteps == STEPS
        seen.append((step, int(timestep), sorted(tensors), tensors["latents"].clone()))
        return {}

    same = _run(tiny_pipe, cond, width=256, height=256, output_type="latent", callback_on_step_end=record,
                callback_on_step_end_tensor_inputs=["latents", "prompt_embeds"]).images  # fmt: skip
    assert torch.equal(plain, same)
    assert [(s, t) for s, t, _, _ in seen] == [(i, int(t)) for i, t in enumerate(tiny_pipe.scheduler.timesteps)]
    assert all(names == ["latents", "prompt_embeds"] for _, _, names, _ in seen)
    assert torch.equal(seen[-1][3], plain)  # the last step's latents are the output

    def zero_last(pipe, step, timestep, tensors):
        return {"latents": torch.zeros_like(tensors["latents"])} if step == STEPS - 1 else tensors

    zeroed = _run(tiny_pipe, cond, width=256, height=256, output_type="latent", callback_on_step_end=zero_last)
    assert torch.count_nonzero(zeroed.images) == 0

    def stop_after_first(pipe, step, timestep, tensors):
        pipe._interrupt = True
        return tensors

    stopped = _run(tiny_pipe, cond, width=256, height=256, output_type="latent",
                   callback_on_step_end=stop_after_first).images  # fmt: skip
    assert torch.equal(stopped, seen[0][3])  # the remaining steps were skipped
    with pytest.raises(RequestError, match="callback_on_step_end_tensor_inputs"):
        _run(tiny_pipe, cond, width=256, height=256, callback_on_step_end=record,
             callback_on_step_end_tensor_inputs=["noise"])  # fmt: skip


def test_named_steps_draw_the_posterior_sample_before_the_initial_noise(tiny_pipe):
    """prepare_latents: a generator's first draw is the masked latent's posterior noise, the second x_T."""
    masked = np.zeros((64, 128, 3), np.float32)
    masked_latents, latents = tiny_pipe.prepare_latents(masked, 2, _gen(5), torch.device("cpu"), torch.float32)
    generator = _gen(5)
    posterior = tiny_pipe.vae.encode(torch.zeros(1, 3, 64, 128)).latent_dist
    first = torch.randn(posterior.mean.shape, generator=generator)
    second = torch.randn((2, 4, 8, 16), generator=generator)
    scaling = tiny_pipe.vae.config.scaling_factor
    assert masked_latents.shape == (2, 4, 8, 16)
    assert torch.allclose(masked_latents[1], (scaling * (posterior.mean + posterior.std * first))[0], atol=1e-6)
    assert torch.equal(latents, second * tiny_pipe.scheduler.init_noise_sigma)


def test_drawn_mask_and_quoted_prompt_give_the_lines_in_reading_order(tiny_pipe, monkeypatch):
    import wenchuang.anytext.pipeline as pipeline_module

    seen = {}
    real = pipeline_module.build_conditions

    def spy(texts, polygons, width, height, font=None):
        seen["texts"], seen["polygons"] = list(texts), [list(p) for p in polygons]
        return real(texts, polygons, width, height, font)

    monkeypatch.setattr(pipeline_module, "build_conditions", spy)
    draw = np.zeros((256, 256), np.uint8)
    draw[150:200, 40:220] = 255  # lower box drawn first in memory order does not matter
    draw[30:80, 40:220] = 255
    tiny_pipe('a sign that reads "上" and "下"', draw_pos=draw, width=256, height=256,
              num_inference_steps=1, generator=_gen(0), output_type="latent")
    assert seen["texts"] == ["上", "下"]
    assert max(y for _, y in seen["polygons"][0]) < 100 < min(y for _, y in seen["polygons"][1])
    with pytest.raises(RequestError, match="2 drawn region"):
        tiny_pipe('a sign that reads "one"', draw_pos=draw, width=256, height=256, num_inference_steps=1)


def test_revised_positions_follow_the_rendered_glyphs(make_conditions):
    from wenchuang.anytext.pipeline import revised_conditions

    cond = make_conditions(["AB"], [(20, 20, 236, 120)], 256, 256)
    # glyph strokes only in the middle of the drawn box
    glyph = np.zeros((512, 512), np.float32)
    glyph[100:180:4, 150:350] = 1
    cond.glyphs[0] = glyph
    revised, warnings = revised_conditions(cond)
    assert warnings == []
    ys, xs = np.nonzero(revised.positions[0])
    assert 45 <= ys.min() <= 55 and 85 <= ys.max() <= 95  # glyph rows 100-180 at half scale
    assert 70 <= xs.min() <= 80 and 170 <= xs.max() <= 180
    assert np.array_equal(revised.hint, cond.hint)  # the hint stays the drawn positions (official)
    # glyph strokes in two separate places cannot be one box: the drawn position is kept
    glyph2 = np.zeros((512, 512), np.float32)
    glyph2[40:60, 40:80] = 1
    glyph2[400:420, 400:440] = 1
    cond.glyphs[0] = glyph2
    kept, warnings = revised_conditions(cond)
    assert np.array_equal(kept.positions[0], cond.positions[0]) and "line 1" in warnings[0]
