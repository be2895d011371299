"""`wenchuang prompt parse|translate|glossary|download`."""

from __future__ import annotations

import json

import pytest

from wenchuang.cli import main
from wenchuang.prompts import clear_translator_cache


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("WENCHUANG_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("WENCHUANG_TRANSLATOR", raising=False)
    clear_translator_cache()


def test_parse_json(capsys):
    assert main(["prompt", "parse", "故宫明信片，印着「紫禁城」和「故宫博物院」", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data == {
        "scene": "故宫明信片，印着和",
        "lines": ["紫禁城", "故宫博物院"],
        "prompt_with_placeholders": "故宫明信片，印着 * 和 * ",
        "notes": [],
    }


def test_parse_explicit_lines_text_output(capsys):
    assert (
        main(["prompt", "parse", "a bronze mask mouse pad", "--text", "三星堆", "--text", "SANXINGDUI"]) == 0
    )
    out = capsys.readouterr().out
    assert "prompt: a bronze mask mouse pad, that reads * , * ." in out
    assert "line 1: 三星堆" in out and "line 2: SANXINGDUI" in out


def test_translate_glossary_only_json(capsys):
    code = main(["prompt", "translate", "太阳神鸟金饰上写着“天路”", "--glossary-only", "--json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["lines"] == ["天路"]
    assert data["translation"]["model"] is None
    assert data["translation"]["text"] == "Golden Sun Bird gold ornament with the words *"
    assert data["translation"]["terms"] == [["太阳神鸟金饰", "Golden Sun Bird gold ornament"]]


def test_translate_with_a_model_folder(tiny_marian, capsys):
    assert main(["prompt", "translate", "三星堆鼠标垫，写着“天路”", "--model", str(tiny_marian)]) == 0
    captured = capsys.readouterr()
    assert f"model:   {tiny_marian}" in captured.out
    assert "term:    鼠标垫 -> mouse pad" in captured.out
    assert "line 1:  天路" in captured.out


def test_translate_without_model_says_so(capsys, tmp_path):
    assert main(["prompt", "translate", "红色书签", "--model", str(tmp_path / "missing")]) == 0
    captured = capsys.readouterr()
    assert "english: red bookmark" in captured.out
    assert "model:   none (glossary only)" in captured.out
    assert "not available" in captured.err


def test_glossary_listing_and_path(capsys, tmp_path):
    assert main(["prompt", "glossary", "mouse pad"]) == 0
    captured = capsys.readouterr()
    assert "鼠标垫\tmouse pad" in captured.out
    assert captured.out.splitlines() == ["products   鼠标垫\tmouse pad"]  # only the matching entry
    user = tmp_path / "home" / "glossary.toml"
    assert captured.err.startswith("1 of ") and captured.err.strip().endswith(f"{user} (not created yet)")
    assert main(["prompt", "glossary", "--path"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "home" / "glossary.toml")
    user.parent.mkdir(parents=True, exist_ok=True)
    user.write_text('[mine]\n"蜀道" = "Shu Road"\n[products]\n"鼠标垫" = "desk mat"\n', encoding="utf-8")
    assert main(["prompt", "glossary", "--category", "mine"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == ["mine       蜀道\tShu Road  (yours)"]
    assert captured.err.strip().endswith(str(user))
    assert main(["prompt", "glossary", "mouse"]) == 0
    assert "mouse pad" not in capsys.readouterr().out  # the user's entry replaced the built-in one


def test_download_refuses_a_local_folder(tmp_path, capsys):
    assert main(["prompt", "download", "--model", str(tmp_path)]) == 2
    assert "not a Hugging Face model id" in capsys.readouterr().err
