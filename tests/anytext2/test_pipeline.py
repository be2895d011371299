"""AnyText2Pipeline with a tiny random model: generate, edit, per-line font/colour, save/load round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wenchuang.layout.fonts import available_fonts

pytestmark = pytest.mark.skipif("noto-sans-sc" not in available_fonts(), reason="the default CJK font is missing")

POLYS = [[(8, 8), (120, 8), (120, 48), (8, 48)], [(8, 70), (120, 70), (120, 110), (8, 110)]]


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    from wenchuang.anytext.random_models import write_byte_tokenizer
    from wenchuang.anytext2.random_models import build_random_pipeline, tiny_config

    return build_random_pipeline(tiny_config(), write_byte_tokenizer(tmp_path_factory.mktemp("tok")), seed=0)


def _run(pipe, **kwargs):
    args = dict(prompt="a poster", texts=["文创", "AB"], polygons=POLYS, width=128, height=128,
                num_inference_steps=2, generator=torch.Generator().manual_seed(3))
    args.update(kwargs)
    return pipe(**args)


def test_generate_is_deterministic_and_uses_font_and_colour(pipe):
    a = _run(pipe)
    b = _run(pipe)
    assert a.images[0].shape == (128, 128, 3) and a.images[0].dtype == np.uint8
    assert np.array_equal(a.images[0], b.images[0])
    red = _run(pipe, colors=["#ff0000", "255,0,0"])
    font = _run(pipe, fonts=["noto-sans-sc", None])
    assert not np.array_equal(a.images[0], red.images[0])
    assert not np.array_equal(a.images[0], font.images[0])
    assert font.debug["font_hint"].any() and not a.debug["font_hint"].any()
    assert red.debug["glyphs"][..., 0].max() > red.debug["glyphs"][..., 2].max()


def test_attnx_scale_and_strength_change_the_output(pipe):
    base = _run(pipe, output_type="latent").images
    assert not torch.equal(base, _run(pipe, attnx_scale=0.0, output_type="latent").images)
    assert not torch.equal(base, _run(pipe, strength=0.0, output_type="latent").images)


def test_text_prompt_trap_warns(pipe):
    out = _run(pipe, texts=None, text_prompt='"文创", "AB"')
    assert any("'\"A\" and \"B\"'" in w or '"A" and "B"' in w for w in out.warnings)


def test_edit_keeps_pixels_outside_and_mimics_a_font(pipe):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (150, 200, 3), dtype=np.uint8)
    mask = np.zeros((150, 200), np.uint8)
    mask[100:140, 20:120] = 255
    polys = [[(10, 10), (150, 10), (150, 60), (10, 60)]]
    out = _run(pipe, texts=["OPEN"], polygons=polys, image=image, mimic_masks=[mask])
    result = out.images[0]
    assert result.shape == image.shape
    assert np.array_equal(result[120:, 160:], image[120:, 160:])
    plain = _run(pipe, texts=["OPEN"], polygons=polys, image=image)
    assert not np.array_equal(plain.images[0], result)


def test_save_and_load_round_trip_is_exact(pipe, tmp_path):
    from wenchuang.anytext2.models import AnyText2UNetModel
    from wenchuang.anytext2.pipeline import AnyText2Pipeline

    pipe.save_pretrained(tmp_path)
    loaded = AnyText2Pipeline.from_pretrained(tmp_path)
    loaded.set_progress_bar_config(disable=True)
    assert isinstance(loaded.unet, AnyText2UNetModel) and len(loaded.unet.attnx_blocks()) == len(pipe.unet.attnx_blocks())
    for name in ("unet", "controlnet", "vae", "text_encoder", "text_embedding", "recognizer", "font_recognizer"):
        ours, theirs = getattr(pipe, name).state_dict(), getattr(loaded, name).state_dict()
        assert ours.keys() == theirs.keys()
        assert all(torch.equal(ours[k], theirs[k]) for k in ours), name
    assert np.array_equal(_run(pipe).images[0], _run(loaded).images[0])


def test_converted_golden_round_trip(golden2, tmp_path):
    from wenchuang.anytext2.loading import convert_anytext2_checkpoint, load_pipeline

    pipe = convert_anytext2_checkpoint(
        golden2 / "anytext2_tiny.safetensors", tmp_path / "p", yaml_path=golden2 / "anytext2_sd15_tiny.yaml",
        tokenizer_dir=golden2 / "tokenizer",
    )
    loaded = load_pipeline(tmp_path / "p")
    for name in ("unet", "controlnet", "vae", "text_encoder", "text_embedding", "recognizer", "font_recognizer"):
        ours, theirs = getattr(pipe, name).state_dict(), getattr(loaded, name).state_dict()
        assert all(torch.equal(ours[k], theirs[k]) for k in ours), name
