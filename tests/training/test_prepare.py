"""data prepare: crafted folder (duplicates, corrupt files, odd sizes, a watermark) and the ONNX tagger."""

from __future__ import annotations

import io
import json
import warnings

import cv2
import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from wenchuang.cli import main
from wenchuang.layout.fonts import load_font
from wenchuang.training.prepare import PrepareConfig, crop_square, dhash, hamming, prepare_dataset
from wenchuang.training.tagger import WD14Tagger

TAGS_CSV = "tag_id,name,category,count\n0,general,9,1\n1,bronze_statue,0,1\n2,blue_sky,0,1\n3,sun_bird,4,1\n"


class _TinyTagger(torch.nn.Module):
    """Mean colour (BGR, 0..1) -> four tag probabilities: rating, red-ness, blue-ness, always-on."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(3, 4)
        with torch.no_grad():
            self.linear.weight.copy_(torch.tensor([[0, 0, 0], [0, 0, 20.0], [20.0, 0, 0], [0, 0, 0]]))
            self.linear.bias.copy_(torch.tensor([0.0, -10.0, -10.0, 8.0]))

    def forward(self, x):
        return torch.sigmoid(self.linear(x.mean(dim=(1, 2)) / 255.0))


@pytest.fixture(scope="module")
def tagger_dir(tmp_path_factory):
    pytest.importorskip("onnx", reason="torch.onnx.export needs the onnx package")
    folder = tmp_path_factory.mktemp("tagger")
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter needs no onnxscript
        torch.onnx.export(
            _TinyTagger(), torch.zeros(1, 32, 32, 3), buffer, dynamo=False,
            input_names=["input"], output_names=["probs"], dynamic_axes={"input": {0: "n"}},
        )  # fmt: skip
    (folder / "model.onnx").write_bytes(buffer.getvalue())
    (folder / "selected_tags.csv").write_text(TAGS_CSV)
    return folder


def pattern(seed: int, width: int, height: int, tint: str = "red") -> np.ndarray:
    """A smooth random picture (distinct dHash per seed), tinted red or blue."""
    rng = np.random.default_rng(seed)
    low = rng.integers(0, 80, size=(4, 4, 3)).astype(np.float32)
    image = cv2.resize(low, (width, height), interpolation=cv2.INTER_CUBIC)
    image[:, :, 0 if tint == "red" else 2] += 150
    return np.clip(image, 0, 255).astype(np.uint8)


def test_tagger_captions(tagger_dir):
    tagger = WD14Tagger(tagger_dir)
    assert tagger.size == 32
    red, blue = pattern(1, 64, 48, "red"), pattern(2, 48, 64, "blue")
    assert tagger.caption(red, "sxd") == "sxd, sun bird, bronze statue"
    assert tagger.caption(blue) == "sun bird, blue sky"
    assert (
        WD14Tagger(tagger_dir / "model.onnx", keep_underscores=True).caption(red) == "sun_bird, bronze_statue"
    )
    assert WD14Tagger(tagger_dir, character_threshold=0.9999).caption(red) == "bronze statue"


def test_dhash_and_crops():
    a = pattern(1, 600, 400)
    a_small = cv2.resize(a, (300, 200), interpolation=cv2.INTER_AREA)
    assert hamming(dhash(a), dhash(a_small)) <= 4 < hamming(dhash(a), dhash(pattern(2, 600, 400)))
    wide = np.full((256, 1024, 3), 128, np.uint8)
    wide[:, 800:900] = np.random.default_rng(0).integers(0, 255, (256, 100, 3))  # all the detail at the right
    centre, salient = crop_square(wide, 128, "center"), crop_square(wide, 128, "saliency")
    assert centre.shape == salient.shape == (128, 128, 3)
    assert (
        centre.std() < 1.0 and salient.std() > 20.0
    )  # the centre is flat, the saliency crop holds the detail
    tall = crop_square(pattern(3, 300, 700), 256)
    assert tall.shape == (256, 256, 3)


def _watermarked(seed: int) -> np.ndarray:
    image = Image.fromarray(pattern(seed, 512, 512, "blue") // 2 + 120)
    ImageDraw.Draw(image).text((300, 445), "www.abc.com", font=load_font(None, 36), fill=(0, 0, 0))
    return np.asarray(image)


@pytest.fixture
def crafted(tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    a = pattern(1, 600, 400)
    Image.fromarray(a).save(src / "a.png")
    Image.fromarray(cv2.resize(a, (540, 360), interpolation=cv2.INTER_AREA)).save(
        src / "a_copy.jpg", quality=90
    )
    Image.fromarray(pattern(2, 512, 768, "blue")).save(src / "b.png")
    Image.fromarray(pattern(3, 700, 300)).save(src / "sub" / "c.jpg")
    Image.fromarray(pattern(4, 100, 100)).save(src / "tiny.png")
    Image.fromarray(_watermarked(5)).save(src / "wm.png")
    (src / "broken.jpg").write_bytes(b"this is not an image")
    png = io.BytesIO()
    Image.fromarray(pattern(6, 400, 400)).save(png, format="PNG")
    (src / "truncated.png").write_bytes(png.getvalue()[:200])
    (src / "notes.txt").write_text("not an image")
    return src


def test_prepare_crafted_folder(crafted, tmp_path, tagger_dir):
    dst = tmp_path / "dst"
    report = prepare_dataset(
        crafted, dst, PrepareConfig(tagger=str(tagger_dir), trigger="sxd"), progress=False
    )
    assert [k["source"] for k in report.kept] == ["a.png", "b.png", "sub/c.jpg", "wm.png"]
    assert [c["source"] for c in report.corrupt] == ["broken.jpg", "truncated.png"]
    assert report.duplicates == [{"source": "a_copy.jpg", "duplicate_of": "a.png"}]
    assert report.too_small == [{"source": "tiny.png", "size": [100, 100]}]
    assert [w["source"] for w in report.watermarked] == ["wm.png"]
    assert "abc" in report.watermarked[0]["regions"][0]["text"]

    outputs = sorted(p.name for p in dst.iterdir())
    assert outputs == [
        "a.png", "a.txt", "b.png", "b.txt", "prepare_report.json", "sub_c.png", "sub_c.txt", "wm.png", "wm.txt",
    ]  # fmt: skip
    for name in ("a", "b", "sub_c", "wm"):
        assert Image.open(dst / f"{name}.png").size == (512, 512)
    assert (dst / "a.txt").read_text() == "sxd, sun bird, bronze statue\n"
    assert (dst / "b.txt").read_text() == "sxd, sun bird, blue sky\n"
    saved = json.loads((dst / "prepare_report.json").read_text())
    assert saved["duplicates"] == report.duplicates and saved["kept"][3]["watermark"] is True


def test_prepare_skip_and_remove_watermarks(crafted, tmp_path):
    from wenchuang.ocr import get_detector

    skip = prepare_dataset(crafted, tmp_path / "skip", PrepareConfig(watermarks="skip"), progress=False)
    assert [k["source"] for k in skip.kept] == ["a.png", "b.png", "sub/c.jpg"]
    assert "captioning skipped" in skip.captions and not list((tmp_path / "skip").glob("*.txt"))
    removed = prepare_dataset(crafted, tmp_path / "rm", PrepareConfig(watermarks="remove"), progress=False)
    assert [k["source"] for k in removed.kept][-1] == "wm.png"
    cleaned = np.asarray(Image.open(tmp_path / "rm" / "wm.png").convert("RGB"))
    assert not [d for d in get_detector().detect(cleaned) if "abc" in d.text]


def test_prepare_cli(crafted, tmp_path, capsys):
    code = main(
        ["data", "prepare", str(crafted), str(tmp_path / "cli"), "--watermarks", "off", "--trigger", "sxd"]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "4 images written" in out and "corrupt (skipped): 2" in out and "duplicates (skipped): 1" in out
    assert (tmp_path / "cli" / "b.txt").read_text() == "sxd\n"
    assert main(["data", "prepare", str(tmp_path / "missing"), str(tmp_path / "x")]) == 2
    assert capsys.readouterr().err.strip() == f"wenchuang: error: {tmp_path / 'missing'}: not a folder"
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--size", "100000"], "size must be between 64 and 4096, not 100000"),
        (["--min-side", "-1"], "min_side must be at least 0, not -1"),
        (["--dedup-distance", "-1"], "dedup_distance must be at least 0, not -1"),
        (["--general-threshold", "2"], "general_threshold must be between 0 and 1, not 2.0"),
        (["--character-threshold", "-0.5"], "character_threshold must be between 0 and 1, not -0.5"),
        (["--tagger", "no-tagger", "--watermarks", "off"], "tagger 'no-tagger': not a folder"),
    ],
)
def test_prepare_cli_bad_options_write_nothing(crafted, tmp_path, capsys, options, message):
    out = tmp_path / "out"
    assert main(["data", "prepare", str(crafted), str(out), *options]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"wenchuang: error: {message}") and err.count("\n") == 1
    assert not out.exists()


def test_prepare_cli_refuses_to_write_into_its_source(crafted, capsys):
    before = {p: p.read_bytes() for p in crafted.rglob("*") if p.is_file()}
    assert main(["data", "prepare", str(crafted), str(crafted), "--watermarks", "off"]) == 2
    err = capsys.readouterr().err
    assert err == "wenchuang: error: the output folder must differ from the source folder (outputs would replace sources)\n"
    assert {p: p.read_bytes() for p in crafted.rglob("*") if p.is_file()} == before


def test_prepare_decodes_with_the_shared_decoder(tmp_path, png_bomb):
    """Bombs are refused from the header with the studio's message; GIF and TIFF are read by content;
    transparency becomes white as on every other route."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "bomb.png").write_bytes(png_bomb(20000, 5000))  # 100 Mpx: over prepare's 80 Mpx
    (src / "renamed.jpg").write_bytes(b"GIF89a" + b"\0" * 64)  # a GIF by content, and a broken one
    half = Image.new("P", (300, 300), 0)
    half.putpalette([0, 0, 0, 200, 30, 30] + [0] * 762)
    half.paste(1, (150, 0, 300, 300))
    half.save(src / "half.gif", transparency=0)  # the left half is transparent
    Image.fromarray(pattern(8, 300, 300)).save(src / "photo.tif")
    report = prepare_dataset(src, tmp_path / "dst", PrepareConfig(size=256, watermarks="off"), progress=False)
    assert [k["source"] for k in report.kept] == ["half.gif", "photo.tif"]
    assert report.corrupt[0] == {
        "source": "bomb.png",
        "error": "image 'bomb.png': 20000x5000 = 100000000 pixels; at most 80000000 (80.0 megapixels)",
    }
    assert report.corrupt[1]["source"] == "renamed.jpg"
    assert report.corrupt[1]["error"].startswith("image 'renamed.jpg': cannot decode the GIF image")
    out = np.asarray(Image.open(tmp_path / "dst" / "half.png").convert("RGB"))
    assert out[128, 20].tolist() == [255, 255, 255] and out[128, 235].tolist() == [200, 30, 30]
