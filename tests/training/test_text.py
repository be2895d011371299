"""train text: samples as the official dataset builds them, the OCR loss, overfitting, resume, outputs."""

from __future__ import annotations

import json
import random

import pytest
import torch

from wenchuang.cli import main
from wenchuang.training import common
from wenchuang.training.text import TextConfig, TextTrainer, build_sample, load_anyword_items

BOX = [[10, 10], [50, 10], [50, 30], [10, 30]]


def config(model, data, out, **overrides) -> TextConfig:
    settings = dict(
        model=str(model), data=[str(data)], output_dir=str(out), resolution=64, batch_size=4,
        learning_rate=5e-3, max_steps=30, progress=False, seed=1,
    )  # fmt: skip
    settings.update(overrides)
    return TextConfig(**settings)


def test_samples_follow_the_official_dataset(tmp_path, anyword_data):
    from PIL import Image

    Image.new("RGB", (128, 128), (200, 200, 200)).save(tmp_path / "big.png")
    lines = [
        {"polygon": [[2 * x, 2 * y] for x, y in BOX], "text": t, "language": "Chinese"}
        for t in "一二三四五六"
    ]
    lines.append({"polygon": [[0, 100], [60, 100], [60, 120], [0, 120]], "text": "坏", "valid": False})
    entry = {"img_name": "big.png", "caption": "a * poster", "annotations": lines}
    cfg = TextConfig(model="", data=[], output_dir="", resolution=64, mask_image_prob=0.0)
    sample = build_sample(tmp_path / "big.png", entry, cfg, random.Random(0))
    assert (
        len(sample.texts) == 5
        and sample.glyphs.shape == (5, 128, 128)
        and sample.positions.shape == (5, 64, 64)
    )
    assert sample.caption.startswith("a   poster,") and sample.caption.count("*") == 5
    # polygons scale with the image (128 -> 64): the position is the original 10..50 x 10..30 box
    assert sample.positions[0][20, 30] == 1 and sample.positions[0][40, 30] == 0
    assert sample.boxes[0] == (10, 10, 50, 30)
    # the invalid line and the sixth (unchosen) line are masked out of the loss
    assert sample.inv_mask[55, 10] == 1 and sample.inv_mask[20, 30] == 1 and sample.inv_mask[40, 55] == 0
    assert torch.count_nonzero(sample.masked) == 0  # no editing sample at probability 0

    edit = TextConfig(model="", data=[], output_dir="", resolution=64, mask_image_prob=0.5)
    rng = random.Random(3)
    entry = {"img_name": "big.png", "caption": "", "annotations": lines[:1]}
    masked = [
        bool(torch.count_nonzero(build_sample(tmp_path / "big.png", entry, edit, rng).masked))
        for _ in range(60)
    ]
    assert 20 <= sum(masked) <= 40  # the official 50% editing ratio
    from wenchuang.layout.glyphs import draw_position
    from wenchuang.training.text import _jitter_position

    plain = draw_position(BOX, 64, 64)
    areas = {float(_jitter_position(plain, BOX, 512, random.Random(s)).sum()) for s in range(40)}
    assert min(areas) < plain.sum() < max(areas) and plain.sum() in areas  # eroded, unchanged, dilated
    items = load_anyword_items([str(anyword_data)])
    assert [p.name for p, _ in items] == ["0.png", "1.png", "2.png", "3.png"]


def test_ocr_loss_adds_a_gradient_to_the_control(tiny_anytext, anyword_data, tmp_path):
    grads = {}
    for weight in (0.0, 1.0):
        trainer = TextTrainer(config(tiny_anytext, anyword_data, tmp_path / str(weight), ocr_loss_weight=weight,
                                     with_step_weight=False, mask_image_prob=0.0))  # fmt: skip
        samples = trainer.samples([0, 1], 7)
        parts = {}
        loss = trainer.loss(samples, torch.Generator().manual_seed(7), parts)
        loss.backward()
        grads[weight] = torch.cat(
            [p.grad.flatten() for p in trainer.controlnet.parameters() if p.grad is not None]
        )
        if weight:
            assert parts["ocr"] > 0 and float(loss.detach()) == pytest.approx(
                parts["simple"] + parts["ocr"], rel=1e-5
            )
        else:
            assert parts["ocr"] == 0
    assert not torch.allclose(grads[0.0], grads[1.0])


def test_text_training_overfits_and_loads(tiny_anytext, anyword_data, tmp_path):
    from wenchuang.anytext.pipeline import AnyTextPipeline

    trainer = TextTrainer(config(tiny_anytext, anyword_data, tmp_path / "out"))
    before = trainer.eval_loss()
    result = trainer.train()
    after = trainer.eval_loss()
    assert result.steps == 30 and after <= 0.5 * before, (before, after)

    loaded = AnyTextPipeline.from_pretrained(result.output)
    original = AnyTextPipeline.from_pretrained(tiny_anytext)
    for name in ("controlnet", "text_embedding"):
        trained = getattr(trainer, name).state_dict()
        for key, value in getattr(loaded, name).state_dict().items():
            assert torch.equal(value, trained[key]), (name, key)
    for key, value in loaded.unet.state_dict().items():
        assert torch.equal(value, original.unet.state_dict()[key]), key  # the base stays frozen
    assert json.loads((result.output / "training_info.json").read_text())["steps"] == 30
    loaded.set_progress_bar_config(disable=True)
    image = loaded('a sign that reads "AB"', texts=["AB"], polygons=[BOX], width=64, height=64,
                   num_inference_steps=1, generator=torch.Generator().manual_seed(0)).images[0]  # fmt: skip
    assert image.shape == (64, 64, 3)


class Interrupt(Exception):
    pass


def test_text_resume_with_ema_matches_an_uninterrupted_run(tiny_anytext, anyword_data, tmp_path):
    overrides = dict(max_steps=4, batch_size=2, checkpoint_steps=2, ema=True, ema_decay=0.9)
    straight = TextTrainer(config(tiny_anytext, anyword_data, tmp_path / "a", **overrides))
    straight.train()

    def stop_at_3(step, loss):
        if step == 3:
            raise Interrupt

    with pytest.raises(Interrupt):
        TextTrainer(config(tiny_anytext, anyword_data, tmp_path / "b", **overrides)).train(callback=stop_at_3)
    resumed = TextTrainer(config(tiny_anytext, anyword_data, tmp_path / "b", resume="latest", **overrides))
    result = resumed.train()
    assert result.losses == pytest.approx(straight.losses, rel=1e-5)
    a, b = common.trainable_state(straight.modules), common.trainable_state(resumed.modules)
    assert a.keys() == b.keys() and len(a) > 0
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-6, rtol=1e-5)
    assert len(straight.ema.shadow_params) == len(resumed.ema.shadow_params) > 0
    for x, y in zip(straight.ema.shadow_params, resumed.ema.shadow_params):
        torch.testing.assert_close(x, y, atol=1e-6, rtol=1e-5)
    # the saved pipeline holds the EMA weights
    from wenchuang.anytext.pipeline import AnyTextPipeline

    saved = AnyTextPipeline.from_pretrained(result.output).controlnet
    first = next(iter(saved.parameters()))
    assert torch.allclose(first, resumed.ema.shadow_params[0].to(first.dtype))
    shadow_of = {id(p): s for p, s in zip(resumed.params, resumed.ema.shadow_params)}
    saved_state, differs = saved.state_dict(), 0
    for name, live in resumed.controlnet.named_parameters():  # every tensor, not only the first
        ema = shadow_of[id(live)]
        torch.testing.assert_close(saved_state[name], ema.to(saved_state[name].dtype), atol=1e-6, rtol=1e-5)
        differs += not torch.allclose(live, ema)
    assert differs > 0  # the EMA is not the last training weights, so the check above means something


def test_cli_train_text(tiny_anytext, anyword_data, tmp_path, capsys):
    out = tmp_path / "cli"
    code = main(["train", "text", str(anyword_data), str(out), "--model", str(tiny_anytext), "--resolution", "64",
                 "--max-steps", "1"])  # fmt: skip
    assert code == 0 and "trained 1 steps" in capsys.readouterr().out
    assert (out / "model_index.json").is_file()
    assert (
        main(
            [
                "train",
                "text",
                str(anyword_data),
                str(out),
                "--model",
                str(tiny_anytext),
                "--resolution",
                "100",
            ]
        )
        == 2
    )
    assert "multiple of 64" in capsys.readouterr().err
