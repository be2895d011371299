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


def test_save_and_load_round_trip(tiny_pipe, make_conditions, tmp_path):
    cond = make_conditions(["AB"], [(40, 30, 200, 90)], 256, 256)
    before = _run(tiny_pipe, cond, width=256, height=256, output_type="latent").images
    tiny_pipe.save_pretrained(tmp_path / "pipe")
    assert (tmp_path / "pipe" / "model_index.json").is_file()
    assert (tmp_path / "pipe" / "controlnet" / "diffusion_pytorch_model.safetensors").is_file()
    loaded = AnyTextPipeline.from_pretrained(tmp_path / "pipe")
    loaded.set_progress_bar_config(disable=True)
    after = _run(loaded, cond, width=256, height=256, output_type="latent").images
    assert torch.allclose(before, after, atol=1e-4, rtol=1e-4)


def test_attention_slicing_and_vae_tiling_switches(tiny_pipe, make_conditions):
    cond = make_conditions(["AB"], [(40, 30, 200, 90)], 256, 256)
    plain = _run(tiny_pipe, cond, width=256, height=256, output_type="latent").images
    tiny_pipe.enable_attention_slicing(1)
    tiny_pipe.enable_vae_tiling()
    try:
        assert tiny_pipe.vae.use_tiling
        sliced = _run(tiny_pipe, cond, width=256, height=256, output_type="latent").images
    finally:
        tiny_pipe.disable_attention_slicing()
        tiny_pipe.disable_vae_tiling()
    assert torch.allclose(plain, sliced, atol=1e-4, rtol=1e-4)


@pytest.mark.gpu
def test_fp16_and_model_cpu_offload_on_gpu(tiny_pipe, make_conditions):
    cond = make_conditions(["AB"], [(40, 30, 200, 90)], 256, 256)
    tiny_pipe.enable_model_cpu_offload()
    try:
        image = _run(tiny_pipe, cond, width=256, height=256).images[0]
    finally:
        tiny_pipe.remove_all_hooks()
        tiny_pipe.to("cpu")
    assert image.shape == (256, 256, 3)


def test_drawn_mask_and_quoted_prompt_give_the_lines_in_reading_order(tiny_pipe, monkeypatch):
    pytest.importorskip("wenchuang.layout.glyphs")
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
    assert np.array_equal(revised.hint, revised.positions[0])
    # glyph strokes in two separate places cannot be one box: the drawn position is kept
    glyph2 = np.zeros((512, 512), np.float32)
    glyph2[40:60, 40:80] = 1
    glyph2[400:420, 400:440] = 1
    cond.glyphs[0] = glyph2
    kept, warnings = revised_conditions(cond)
    assert np.array_equal(kept.positions[0], cond.positions[0]) and "line 1" in warnings[0]
