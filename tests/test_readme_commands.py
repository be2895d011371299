"""The README's command-line examples, as written, on a fresh machine (no weights, offline): each
one that needs no weights runs and succeeds; each of the others fails with one line that names the
command that gets what is missing. A README command this test does not know fails it."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from wenchuang.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_commands() -> list[str]:
    text = README.read_text(encoding="utf-8")
    block = text.split("## Command line", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    joined = re.sub(r"\\\n\s*", " ", block)
    return [line.strip() for line in joined.splitlines() if line.strip().startswith("wenchuang ")]


def argv_of(command: str) -> list[list[str]]:
    """`wenchuang A && wenchuang B` -> [[A...], [B...]]; comments dropped, `[...]` options left out."""
    command = re.sub(r"\[[^\]]*\]", "", command)
    words = shlex.split(command, comments=True)
    runs, current = [], []
    for word in words:
        if word == "&&":
            runs.append(current)
            current = []
        elif word != "wenchuang" or current:
            current.append(word)
    runs.append(current)
    return runs


# what each README command needs: "run" (succeeds here), "help" (a long-running server or the
# user's own data: its --help must work), or the text the no-weights message must contain
EXPECTED = {
    ("generate", "--engine", "classic"): "run",
    ("edit", "--engine", "classic"): "run",
    ("download", "anytext"): "--model models/anytext (generate/edit; serve: WENCHUANG_ANYTEXT_MODEL=models/anytext)",
    ("convert", "anytext"): "checkpoint not found: anytext_v1.1.ckpt",  # the file the user brings
    ("generate", "--engine", "anytext"): "`wenchuang download anytext --to {model}`",
    ("serve",): "help",
    ("block", "add"): "run",
    ("prompt", "translate"): "run",
    ("product", "export"): "run",
    ("product", "mockup"): "run",
    ("benchmark",): "help",  # needs the user's annotations file
    ("eval", "ocr"): "help",  # needs the user's annotations and images
    ("data", "prepare"): "help",  # needs the user's photos
    ("train", "style"): "run",  # `train style --help`
    ("merge",): "run",  # `merge --help`
    ("dev", "parity"): "help",  # minutes on a CPU; tests/anytext run the same comparison
}


def expectation(argv: list[str]) -> str:
    matches = [key for key in EXPECTED if tuple(argv[: len(key)]) == key]
    assert matches, f"a README command this test does not know: wenchuang {' '.join(argv)}"
    return EXPECTED[max(matches, key=len)]


def test_every_readme_command_is_known():
    commands = readme_commands()
    assert len(commands) >= 15
    for command in commands:
        for argv in argv_of(command):
            expectation(argv)


def test_readme_commands_run_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WENCHUANG_HOME", str(tmp_path / "wenchuang-home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for name in ("WENCHUANG_ANYTEXT_MODEL", "WENCHUANG_ANYTEXT2_MODEL", "WENCHUANG_TRANSLATOR"):
        monkeypatch.delenv(name, raising=False)
    photo = np.full((360, 480, 3), (214, 200, 170), np.uint8)
    Image.fromarray(photo).save(tmp_path / "photo.jpg", quality=90)
    for command in readme_commands():
        for argv in argv_of(command):
            want = expectation(argv)
            if "--model" in argv:
                want = want.format(model=argv[argv.index("--model") + 1])
            if "out/NAME.png" in argv:  # the image a generate above wrote
                made = sorted((tmp_path / "out").glob("*.png"))
                assert made, "the README's generate wrote nothing"
                argv = [str(made[0]) if a == "out/NAME.png" else a for a in argv]
            if want == "help":
                argv = argv[:2] if argv[0] in ("eval", "dev", "data") else argv[:1]
                argv = [a for a in argv if not a.startswith("-")] + ["--help"]
            try:
                code = main(argv)
            except SystemExit as exc:  # --help
                code = exc.code
            out, err = capsys.readouterr()
            if want in ("run", "help"):
                assert code == 0, (argv, err)
            else:
                assert code == 2, (argv, out, err)
                lines = err.strip().splitlines()
                assert want in lines[-1], (argv, err)
                assert lines[-1].startswith("wenchuang: error: "), (argv, err)
    # the files the README says they write
    assert list((tmp_path / "out").glob("*.json"))
    assert (tmp_path / "pad.pdf").read_bytes().startswith(b"%PDF")
    assert Image.open(tmp_path / "mug.png").size[0] > 0


@pytest.mark.parametrize("argv", [["serve", "--help"]])
def test_serve_help_names_how_to_point_it_at_weights(argv, capsys):
    with pytest.raises(SystemExit):
        main(argv)
    assert "WENCHUANG_ANYTEXT_MODEL" in capsys.readouterr().out
