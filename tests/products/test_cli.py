"""`wenchuang product list|export|mockup` through wenchuang.cli.main: outputs, warnings, bad input."""

from __future__ import annotations

import json

import pikepdf
import pytest
from PIL import Image

from wenchuang.cli import main


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("WENCHUANG_HOME", str(tmp_path / "home"))


@pytest.fixture
def image(tmp_path, kit):
    return kit.write_design(tmp_path / "in", "design", kit.textured((400, 300), 7))


def test_list_shows_every_product_and_json(capsys):
    code, out, _ = run(capsys, "product", "list")
    assert code == 0
    for name in ("mousepad", "bookmark", "postcard", "poster-a3", "mug"):
        assert any(line.startswith(name) for line in out.splitlines())
    assert "240 x 200 mm" in out and "5 mm hole" in out and "鼠标垫" in out
    code, out, _ = run(capsys, "product", "list", "--json")
    data = {p["name"]: p for p in json.loads(out)}
    assert data["bookmark"]["holes"] == [{"x_mm": 25.0, "y_mm": 10.0, "diameter_mm": 5.0}]
    code, out, _ = run(capsys, "product", "list", "--path")
    assert out.strip().endswith("products.toml")


def test_export_pdf_with_options(tmp_path, capsys, image):
    out = tmp_path / "print" / "pad.pdf"
    code, stdout, err = run(
        capsys, "product", "export", image, "--product", "mousepad", "--out", out, "--dpi", "36",
        "--bleed-mm", "5", "--crop-marks",
    )  # fmt: skip
    assert code == 0, err
    assert stdout.startswith(str(out)) and "36 DPI" in stdout and "+ 5 mm bleed" in stdout
    assert "wenchuang: warning: the design gives only" in err  # 400 px over 250 mm
    with pikepdf.open(out) as pdf:
        page = pdf.pages[0]
        trim = [float(v) for v in page.TrimBox]
        bleed = [float(v) for v in page.BleedBox]
    assert trim[2] - trim[0] == pytest.approx(240 * 72 / 25.4, abs=0.5)
    assert bleed[2] - bleed[0] == pytest.approx(250 * 72 / 25.4, abs=0.5)


def test_export_png_json_and_mockup(tmp_path, capsys, image):
    code, stdout, err = run(
        capsys, "product", "export", image, "--product", "postcard", "--out", tmp_path / "card.png",
        "--dpi", "30", "--fit", "contain", "--json",
    )  # fmt: skip
    assert code == 0, err
    info = json.loads(stdout)
    assert info["pixels"] == [182, 132] and info["dpi"] == 30 and info["format"] == "png"
    with Image.open(tmp_path / "card.png") as img:
        assert img.size == (182, 132) and round(img.info["dpi"][0]) == 30
    code, stdout, err = run(
        capsys,
        "product",
        "mockup",
        image,
        "--product",
        "mug",
        "--out",
        tmp_path / "mug.png",
        "--width",
        "1024",
    )
    assert code == 0, err
    with Image.open(tmp_path / "mug.png") as img:
        assert img.size == (1024, 768)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--product", "keyring"], "unknown product 'keyring'; known: mousepad, bookmark"),
        (["--dpi", "0"], "dpi: 0 is out of range; give a whole number from 10 to 1200"),
        (["--dpi", "5000"], "dpi: 5000 is out of range; give a whole number from 10 to 1200"),
        (["--bleed-mm", "-1"], "bleed: -1 mm is out of range; give 0 to 20 mm"),
        (["--out", "OUT/x.jpg"], "out: 'x.jpg' must end in .pdf, .png, .tif or .tiff"),
        (["--dpi", "1200", "--product", "poster-a3"], "at most 150000000: give a lower --dpi"),
        (["--image", "notes.txt"], "image 'notes.txt': not a PNG, JPEG, WebP or BMP image"),
        (["--image", "missing.png"], "image 'missing.png' does not exist"),
    ],
)
def test_export_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, image, args, message):
    (tmp_path / "notes.txt").write_text("not an image", encoding="utf-8")
    options = {"--product": "bookmark", "--out": "OUT/b.pdf", "--image": str(image)}
    extra = []
    for key, value in zip(args[::2], args[1::2]):
        if key in options:
            options[key] = value
        else:
            extra += [key, value]
    source = options.pop("--image")
    source = str(tmp_path / source) if not source.startswith("/") else source
    argv = [
        "product",
        "export",
        source,
        *[str(v).replace("OUT", str(tmp_path / "out")) for kv in options.items() for v in kv],
        *extra,
    ]
    code, stdout, err = run(capsys, *argv)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("wenchuang: error: ") and message in err, err
    assert stdout == "" and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--product", "nope", "--out", "OUT/m.png"], "unknown product 'nope'"),
        (["--product", "mug", "--out", "OUT/m.pdf"], "out: 'm.pdf' must end in .png, .jpg, .jpeg, .webp"),
        (["--product", "mug", "--out", "OUT/m.png", "--width", "100"], "width: 100 is out of range"),
    ],
)
def test_mockup_bad_input_writes_nothing(tmp_path, capsys, image, args, message):
    argv = ["product", "mockup", image, *[a.replace("OUT", str(tmp_path / "out")) for a in args]]
    code, stdout, err = run(capsys, *argv)
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "out").exists()
