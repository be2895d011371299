"""The anytext engine and its CLI: tiny random weights saved as a pipeline folder, real layout and OCR."""

from __future__ import annotations

import json

import numpy as np
import pytest

from wenchuang.engines import anytext_engine
from wenchuang.engines.base import run_request
from wenchuang.errors import ModelError, RequestError
from wenchuang.request import DesignRequest, TextLine


@pytest.fixture(scope="module")
def tiny_model_dir(tiny_pipe, tmp_path_factory):
    folder = tmp_path_factory.mktemp("anytext_tiny")
    tiny_pipe.save_pretrained(folder)
    return folder


def _request(**kwargs) -> DesignRequest:
    base = dict(
        prompt='a tea shop sign that reads "茶"',
        lines=[TextLine("茶", polygon=[(60, 40), (196, 40), (196, 110), (60, 110)])],
        width=256,
        height=256,
        steps=2,
        seed=11,
    )
    base.update(kwargs)
    return DesignRequest(**base)


def test_status_says_how_to_get_missing_weights(tmp_path):
    ready, detail = anytext_engine.engine_status(str(tmp_path / "nowhere"))
    assert not ready
    assert "wenchuang download anytext" in detail and "--model" in detail
    empty = tmp_path / "empty"
    empty.mkdir()
    ready, detail = anytext_engine.engine_status(str(empty))
    assert not ready and f"no AnyText weights in {empty}" in detail


def test_status_finds_a_converted_folder_and_an_official_checkpoint(tiny_model_dir, tmp_path):
    ready, detail = anytext_engine.engine_status(str(tiny_model_dir))
    assert ready and "converted pipeline" in detail
    ckpt = tmp_path / "anytext_v1.1.ckpt"
    ckpt.write_bytes(b"")
    ready, detail = anytext_engine.engine_status(str(tmp_path))
    if not ready:  # no CLIP tokenizer in this machine's Hugging Face cache: the status says so
        assert "no CLIP tokenizer" in detail and "openai/clip-vit-large-patch14" in detail
    (tmp_path / "tokenizer").mkdir()
    for name in ("vocab.json", "merges.txt"):
        (tmp_path / "tokenizer" / name).write_text("{}" if name == "vocab.json" else "#version: 0.2\n")
    ready, detail = anytext_engine.engine_status(str(tmp_path))
    assert ready and "official checkpoint" in detail


def test_generate_gives_images_readings_and_debug_images(tiny_model_dir):
    engine = anytext_engine.create_engine(model=str(tiny_model_dir))
    result = run_request(engine, _request(image_count=2))
    assert result.engine == "anytext" and result.seeds == [11, 12]
    assert len(result.images) == 2 and all(im.shape == (256, 256, 3) for im in result.images)
    assert len(result.readings) == 2 and [r.expected for r in result.readings[0]] == ["茶"]
    assert result.debug["glyphs"].shape == (512, 512) and result.debug["glyphs"].max() == 255
    assert result.debug["positions"].shape == (256, 256)
    assert result.debug["positions"][75, 128] == 255 and result.debug["positions"][200, 20] == 0
    assert result.debug["masked_input"].shape == (256, 256, 3)
    # image k is reproducible on its own with seed + k
    alone = run_request(engine, _request(seed=12))
    assert np.abs(alone.images[0].astype(int) - result.images[1].astype(int)).max() <= 1


def test_edit_keeps_the_rest_of_the_picture(tiny_model_dir):
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, size=(256, 320, 3), dtype=np.uint8)
    request = _request(mode="edit", image=image)
    result = run_request(anytext_engine.create_engine(model=str(tiny_model_dir)), request)
    out = result.images[0]
    assert out.shape == image.shape
    assert np.array_equal(out[150:, :], image[150:, :])  # far from the edited box
    assert not np.array_equal(out[40:110, 60:196], image[40:110, 60:196])


def test_requests_the_engine_cannot_do_are_clear_errors(tiny_model_dir):
    engine = anytext_engine.create_engine(model=str(tiny_model_dir))
    image = np.zeros((256, 256, 3), np.uint8)
    with pytest.raises(RequestError, match="classic engine"):
        run_request(
            engine,
            _request(
                mode="edit", image=image, lines=[], remove_regions=[[(0, 0), (50, 0), (50, 50), (0, 50)]]
            ),
        )
    with pytest.raises(RequestError, match="at most 8 per image"):
        run_request(
            engine,
            _request(lines=[TextLine(f"L{i}", [(0, 0), (40, 0), (40, 30), (0, 30)]) for i in range(9)]),
        )
    with pytest.raises(RequestError, match="at most 20 per line"):
        run_request(engine, _request(lines=[TextLine("x" * 21, [(0, 0), (200, 0), (200, 30), (0, 30)])]))


def test_missing_weights_fail_with_one_clear_error(tmp_path):
    engine = anytext_engine.create_engine(model=str(tmp_path / "missing"))
    with pytest.raises(ModelError, match="wenchuang download anytext"):
        run_request(engine, _request())


def test_cli_generate_with_the_anytext_engine(tiny_model_dir, tmp_path, capsys):
    from wenchuang.cli import main

    out = tmp_path / "out"
    code = main(
        [
            "generate",
            "--engine",
            "anytext",
            "--model",
            str(tiny_model_dir),
            "--prompt",
            "a sign",
            "--text",
            "茶",
            "--position",
            "60,40,196,110",
            "--size",
            "256x256",
            "--steps",
            "2",
            "--seed",
            "5",
            "--out",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 1
    meta = json.loads(pngs[0].with_suffix(".json").read_text(encoding="utf-8"))
    assert meta["engine"] == "anytext" and meta["seed"] == 5


def test_cli_missing_model_and_offline_download_are_one_line_errors(tmp_path, capsys, monkeypatch):
    from wenchuang.cli import main

    code = main(
        [
            "generate",
            "--engine",
            "anytext",
            "--model",
            str(tmp_path / "none"),
            "--text",
            "茶",
            "--position",
            "60,40,196,110",
            "--size",
            "256x256",
            "--out",
            str(tmp_path / "o"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "wenchuang download anytext" in err and "Traceback" not in err
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code = main(["download", "anytext", "--to", str(tmp_path / "weights")])
    err = capsys.readouterr().err
    assert code == 2 and "anytext_v1.1.ckpt" in err and str(tmp_path / "weights") in err
    assert len(err.strip().splitlines()) == 1


def test_cli_edit_with_the_anytext_engine(tiny_model_dir, tmp_path, capsys):
    from wenchuang.cli import main
    from wenchuang.images import save_image_atomic

    rng = np.random.default_rng(2)
    original = rng.integers(0, 256, size=(256, 320, 3), dtype=np.uint8)
    save_image_atomic(tmp_path / "in.png", original)
    out = tmp_path / "out"
    code = main(
        [
            "edit",
            "--engine",
            "anytext",
            "--model",
            str(tiny_model_dir),
            "--image",
            str(tmp_path / "in.png"),
            "--text",
            "茶",
            "--position",
            "60,40,196,110",
            "--steps",
            "2",
            "--seed",
            "3",
            "--out",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err
    from PIL import Image

    result = np.asarray(Image.open(sorted(out.glob("*.png"))[0]).convert("RGB"))
    assert result.shape == original.shape
    assert np.array_equal(result[150:], original[150:])


def test_chinese_prompt_is_translated_for_the_model_and_recorded(tiny_model_dir, monkeypatch):
    monkeypatch.setenv("WENCHUANG_TRANSLATOR", "none")  # glossary-only path, no model needed
    engine = anytext_engine.create_engine(str(tiny_model_dir))
    result = run_request(engine, _request(prompt="太阳神鸟书签，上面写着“茶”"))
    translation = result.extra["translation"]
    assert (
        translation["source"].startswith("太阳神鸟书签") and "茶" not in translation["source"]
    )  # lines stay out
    english = result.extra["model_prompt"]
    assert english == translation["text"] and "*" in english and "茶" not in english
    assert "Golden Sun Bird" in english or "sun bird" in english.lower()
    assert any("glossary" in note for note in result.warnings)
    meta = json.loads(json.dumps(result.metadata(0)))
    assert meta["extra"]["translation"]["text"] == english


def test_an_edited_translation_is_used_verbatim(tiny_model_dir):
    engine = anytext_engine.create_engine(str(tiny_model_dir))
    edited = "a bookmark with the golden sun bird, that reads * "
    result = run_request(engine, _request(prompt="太阳神鸟书签，上面写着“茶”", translated_prompt=edited))
    assert result.extra["model_prompt"] == edited
    assert result.extra["translation"]["model"] == "user"
    english = run_request(engine, _request())
    assert (
        "translation" not in english.extra
        and english.extra["model_prompt"] == 'a tea shop sign that reads "茶"'
    )


def test_cli_prompt_en_reaches_the_model_and_the_metadata(tiny_model_dir, tmp_path):
    from wenchuang.cli import main

    out = tmp_path / "out"
    args = ["generate", "--engine", "anytext", "--model", str(tiny_model_dir), "--prompt", "青铜面具书签"]
    args += ["--prompt-en", "a bronze mask bookmark that reads * ", "--text", "茶"]
    args += [
        "--position",
        "60,40,196,110",
        "--size",
        "256x256",
        "--steps",
        "1",
        "--seed",
        "5",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    meta = json.loads(next(out.glob("*.json")).read_text())
    assert meta["request"]["translated_prompt"] == "a bronze mask bookmark that reads * "
    assert meta["extra"]["model_prompt"] == "a bronze mask bookmark that reads * "


def test_cpu_offload_choice(monkeypatch):
    """Offload: an explicit choice wins, then $WENCHUANG_CPU_OFFLOAD, then GPUs under 7 GiB get it."""
    import torch

    monkeypatch.delenv(anytext_engine.OFFLOAD_ENV, raising=False)
    assert anytext_engine.wants_cpu_offload("cpu") is False
    assert anytext_engine.wants_cpu_offload("cpu", True) is True
    monkeypatch.setattr(anytext_engine, "_cuda_available", lambda: True)
    for gib, expected in [(6, True), (8, False), (24, False)]:
        props = type("Props", (), {"total_memory": gib * 1024**3})()
        monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device, p=props: p)
        assert anytext_engine.wants_cpu_offload("cuda") is expected, gib
        assert anytext_engine.wants_cpu_offload("cuda", not expected) is (not expected)
        assert anytext_engine.AnyTextEngine(device="cuda").cpu_offload is expected
    monkeypatch.setenv(anytext_engine.OFFLOAD_ENV, "1")
    assert anytext_engine.wants_cpu_offload("cuda") is True
    monkeypatch.setenv(anytext_engine.OFFLOAD_ENV, "0")
    assert anytext_engine.wants_cpu_offload("cuda") is False
    monkeypatch.setenv(anytext_engine.OFFLOAD_ENV, "maybe")
    with pytest.raises(RequestError, match="WENCHUANG_CPU_OFFLOAD must be 1 or 0"):
        anytext_engine.wants_cpu_offload("cuda")


def test_cli_and_studio_pass_the_offload_choice(monkeypatch, tmp_path):
    from wenchuang.engines import registry
    from wenchuang.studio.config import StudioConfig
    from wenchuang.studio.service import Studio

    seen = []
    real = registry.create_engine
    monkeypatch.setattr(
        registry, "create_engine", lambda name, model=None, **o: seen.append(o) or real(name, model, **o)
    )
    from wenchuang.cli import main

    args = ["generate", "--engine", "classic", "--text", "茶", "--position", "20,20,200,90", "--size", "256x256"]
    assert main([*args, "--out", str(tmp_path / "a"), "--no-cpu-offload"]) == 0
    assert main([*args, "--out", str(tmp_path / "b"), "--cpu-offload"]) == 0
    assert seen == [{"cpu_offload": False}, {"cpu_offload": True}]
    studio = Studio(StudioConfig(data_dir=tmp_path / "data", cpu_offload=True, ui=False, render_examples=False))
    studio.engine("classic", None)
    assert seen[-1] == {"cpu_offload": True}


def test_images_are_sampled_in_batches_without_changing_them(tiny_model_dir, monkeypatch):
    together = anytext_engine.create_engine(model=str(tiny_model_dir), batch_size=3)
    in_twos = anytext_engine.create_engine(model=str(tiny_model_dir), batch_size=2)
    calls = []
    pipe = in_twos.pipeline
    real_call = type(pipe).__call__
    monkeypatch.setattr(
        type(pipe), "__call__", lambda self, **kw: calls.append(kw["num_images_per_prompt"]) or real_call(self, **kw)
    )
    a = run_request(together, _request(image_count=3))
    calls.clear()
    b = run_request(in_twos, _request(image_count=3))
    assert calls == [2, 1] and b.seeds == a.seeds == [11, 12, 13]
    assert len(b.images) == 3 and len(b.readings) == 3
    for x, y in zip(a.images, b.images):
        assert np.abs(x.astype(int) - y.astype(int)).max() <= 1  # image k depends on seed + k only
    assert not np.array_equal(b.images[0], b.images[2])


def test_batch_size_choice(monkeypatch):
    import torch

    assert anytext_engine.images_per_batch("cpu") == anytext_engine.DEFAULT_BATCH
    assert anytext_engine.images_per_batch("cpu", 2) == 2
    with pytest.raises(RequestError, match="batch_size: must be at least 1"):
        anytext_engine.images_per_batch("cpu", 0)
    monkeypatch.setattr(anytext_engine, "_cuda_available", lambda: True)
    for gib, expected in [(8, 1), (11, 1), (16, anytext_engine.DEFAULT_BATCH)]:
        props = type("Props", (), {"total_memory": gib * 1024**3})()
        monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device, p=props: p)
        assert anytext_engine.images_per_batch("cuda") == expected, gib
