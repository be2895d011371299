"""`wenchuang generate` / `wenchuang edit` through wenchuang.cli.main: files, metadata, errors."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from wenchuang.cli import main
from wenchuang.engines.classic import TextStyle, draw_line, make_background
from wenchuang.images import load_image
from wenchuang.ocr import normalize_text, read_lines


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def outputs(folder: Path) -> list[tuple[Path, dict]]:
    pngs = sorted(folder.glob("*.png"))
    return [(p, json.loads(p.with_suffix(".json").read_text(encoding="utf-8"))) for p in pngs]


def test_generate_writes_images_and_metadata(tmp_path, capsys):
    out = tmp_path / "out"
    code, stdout, err = run(
        capsys,
        "generate",
        "--engine",
        "classic",
        "--prompt",
        "a poster",
        "--text",
        "文创工作室",
        "--position",
        "40,60,470,150",
        "--text",
        "Hello 2024",
        "--position",
        "60,300,450,370",
        "--color",
        "#1B3A6B",
        "--size",
        "512x384",
        "--seed",
        "7",
        "--count",
        "2",
        "--out",
        str(out),
    )
    assert code == 0, err
    files = outputs(out)
    assert len(files) == 2
    assert len(stdout.strip().splitlines()) == 2
    assert "OCR 2/2 ok" in stdout and "seed 7" in stdout and "seed 8" in stdout
    for (png, meta), seed in zip(files, (7, 8)):
        assert load_image(png).shape == (384, 512, 3)
        assert meta["seed"] == seed and meta["engine"] == "classic"
        assert [r["expected"] for r in meta["readings"]] == ["文创工作室", "Hello 2024"]
        assert all(r["passed"] for r in meta["readings"])
        assert meta["request"]["lines"][0]["color"] == "#1B3A6B"
        assert meta["request"]["lines"][1]["polygon"] == [[60, 300], [450, 300], [450, 370], [60, 370]]
        assert str(png) in stdout


def test_generate_takes_lines_from_quoted_prompt(tmp_path, capsys):
    code, stdout, err = run(
        capsys,
        "generate",
        "--prompt",
        '一张海报，写着“故宫文创”和"Museum"',
        "--seed",
        "1",
        "--out",
        str(tmp_path),
    )
    assert code == 0, err
    ((_, meta),) = outputs(tmp_path)
    assert [r["expected"] for r in meta["readings"]] == ["故宫文创", "Museum"]
    assert all(r["passed"] for r in meta["readings"]), meta["readings"]


@pytest.fixture
def text_photo(tmp_path) -> tuple[Path, np.ndarray, list]:
    background = make_background(512, 512, 1)  # a light rice-paper gradient
    assert background.mean() > 150
    image = background.copy()
    boxes = [[(40, 60), (440, 60), (440, 150), (40, 150)], [(60, 300), (400, 300), (400, 370), (60, 370)]]
    draw_line(image, "旧品清仓", boxes[0], None, TextStyle((140, 30, 30)))
    draw_line(image, "Old Sale", boxes[1], None, TextStyle((30, 30, 30)))
    path = tmp_path / "photo.png"
    Image.fromarray(image).save(path)
    return path, background, boxes


def test_edit_replaces_text(tmp_path, capsys, text_photo):
    path, _, boxes = text_photo
    code, stdout, err = run(
        capsys,
        "edit",
        "--engine",
        "classic",
        "--image",
        str(path),
        "--text",
        "新品上市",
        "--position",
        "40,60,440,150",
        "--out",
        str(tmp_path / "o"),
    )
    assert code == 0, err
    ((png, meta),) = outputs(tmp_path / "o")
    assert meta["readings"][0]["passed"] and meta["request"]["mode"] == "edit"
    assert "OCR 1/1 ok" in stdout
    edited = load_image(png)
    assert normalize_text(read_lines(edited, boxes[:1])[0][0]) == "新品上市"
    assert normalize_text(read_lines(edited, boxes[1:])[0][0]) == "OldSale"  # the other line is untouched


def test_edit_removes_text_at_positions(tmp_path, capsys, text_photo):
    path, background, boxes = text_photo
    code, stdout, err = run(
        capsys,
        "edit",
        "--image",
        str(path),
        "--remove",
        "--position",
        "40,60,440,150",
        "--position",
        "60,300,400,370",
        "--engine",
        "classic",
        "--out",
        str(tmp_path / "o"),
    )
    assert code == 0, err
    ((png, meta),) = outputs(tmp_path / "o")
    assert len(meta["readings"]) == 2 and all(r["passed"] for r in meta["readings"])
    edited = load_image(png)
    for text, _score in read_lines(edited, boxes):
        assert normalize_text(text) == ""


def test_edit_remove_all_text_and_mask(tmp_path, capsys, text_photo):
    path, _, boxes = text_photo
    code, _, err = run(
        capsys,
        "edit",
        "--image",
        str(path),
        "--remove-all-text",
        "--engine",
        "classic",
        "--out",
        str(tmp_path / "all"),
    )
    assert code == 0, err
    ((png, meta),) = outputs(tmp_path / "all")
    for text, _score in read_lines(load_image(png), boxes):
        assert normalize_text(text) == ""
    mask = np.zeros((512, 512), np.uint8)
    mask[290:380, 50:410] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    code, _, err = run(
        capsys,
        "edit",
        "--image",
        str(path),
        "--mask",
        str(tmp_path / "mask.png"),
        "--engine",
        "classic",
        "--out",
        str(tmp_path / "masked"),
    )
    assert code == 0, err
    ((png, _),) = outputs(tmp_path / "masked")
    edited = load_image(png)
    text, score = read_lines(edited, boxes[1:])[0]
    assert normalize_text(text) == ""
    assert normalize_text(read_lines(edited, boxes[:1])[0][0]) == "旧品清仓"  # outside the mask: kept


GEN = ["generate", "--engine", "classic"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (GEN + ["--text", "", "--position", "10,10,200,80"], r"lines\[0\]\.text: is empty"),
        (GEN + ["--text", "a😀b", "--position", "10,10,200,80"], r"cannot draw '😀' \(U\+1F600\)"),
        (GEN + ["--text", "好", "--position", "400,10,600,80"], "outside the 512x512 image"),
        (GEN + ["--text", "好", "--position", "10,10,300,12"], "degenerate or too small"),
        (GEN + ["--text", "好", "--position", "10,10,5,80"], "needs x2 > x1"),
        (GEN + ["--text", "好", "--position", "10,10,abc,80"], "expected numbers"),
        (GEN + ["--text", "字" * 21, "--position", "10,10,500,80"], "21 characters; at most 20"),
        (
            GEN
            + sum(
                (["--text", "字", "--position", f"10,{10 + 50 * i},100,{50 + 50 * i}"] for i in range(9)), []
            ),
            "9 lines; at most 8",
        ),
        (GEN + ["--text", "好", "--position", "10,10,200,80", "--size", "512by512"], "expected WIDTHxHEIGHT"),
        (GEN + ["--text", "好", "--position", "10,10,200,80", "--size", "500x512"], "multiple of 64"),
        (GEN + ["--text", "好", "--text", "b", "--position", "10,10,200,80"], "one --position per --text"),
        (GEN + ["--text", "好", "--position", "10,10,200,80", "--color", "red"], "#RRGGBB"),
        (GEN + ["--text", "好", "--position", "10,10,200,80", "--font", "/no/such.ttf"], "font"),
        (GEN + ["--text", "好", "--position", "10,10,200,80", "--count", "0"], "image_count"),
        (["edit", "--engine", "classic", "--image", "{missing}"], "does not exist"),
        (
            ["edit", "--engine", "classic", "--image", "{garbage}", "--remove-all-text"],
            "not a PNG, JPEG, WebP or BMP",
        ),
        (["edit", "--engine", "classic", "--image", "{bomb}", "--remove-all-text"], "8000x8000"),
        (["edit", "--engine", "classic", "--image", "{photo}"], "nothing to edit"),
        (["edit", "--engine", "classic", "--image", "{photo}", "--remove"], "--remove needs at least one"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, text_photo, png_bomb, args, message):
    (tmp_path / "garbage.png").write_bytes(b"this is not an image at all")
    (tmp_path / "bomb.png").write_bytes(png_bomb(8000, 8000))  # 64 MP: over the 60 MP limit
    paths = {
        "missing": tmp_path / "missing.png",
        "garbage": tmp_path / "garbage.png",
        "bomb": tmp_path / "bomb.png",
        "photo": text_photo[0],
    }
    argv = [a.format(**paths) if a.startswith("{") else a for a in args] + ["--out", str(tmp_path / "o")]
    code, stdout, err = run(capsys, *argv)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("wenchuang: error: "), err
    assert "Traceback" not in err
    import re

    assert re.search(message, err), err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_unknown_engine_is_an_argparse_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["generate", "--engine", "nope", "--text", "a", "--out", str(tmp_path)])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_generate_over_a_base_image(tmp_path, capsys):
    base = make_background(512, 512, 9)
    buffer = io.BytesIO()
    Image.fromarray(base).save(buffer, format="PNG")
    (tmp_path / "base.png").write_bytes(buffer.getvalue())
    code, stdout, err = run(
        capsys,
        *GEN,
        "--image",
        str(tmp_path / "base.png"),
        "--text",
        "底图",
        "--position",
        "100,200,400,300",
        "--out",
        str(tmp_path / "o"),
    )
    assert code == 0, err
    ((png, meta),) = outputs(tmp_path / "o")
    image = load_image(png)
    np.testing.assert_array_equal(image[:150], base[:150])
    assert meta["readings"][0]["passed"]
