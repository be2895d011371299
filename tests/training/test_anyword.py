"""filter-anyword: streaming parse, every filter with exact counts, CLI output."""

from __future__ import annotations

import json
import random

import pytest

from wenchuang.cli import main
from wenchuang.errors import WenchuangError
from wenchuang.training.anyword import (
    AnyWordHeader,
    FilterConfig,
    balance_counts,
    count_scripts,
    filter_anyword,
    is_watermark_text,
    iter_anyword,
)

BOX = [[10, 10], [200, 10], [200, 60], [10, 60]]


def line(text, valid=True, **extra):
    return {"polygon": BOX, "text": text, "language": "Chinese", "valid": valid} | extra


def entry(name, lines, **extra):
    return {
        "img_name": name,
        "caption": "a photo",
        "annotations": lines,
        "width": 512,
        "height": 512,
        **extra,
    }


CRAFTED = [
    entry("keep_plain.jpg", [line("文创中心"), line("三星堆")]),
    entry("no_annotations.jpg", []),
    entry("wm_score.jpg", [line("金沙遗址")], wm_score=0.9),
    entry("wm_text.jpg", [line("太阳神鸟"), line("www.example.com", valid=False)]),
    entry("all_invalid.jpg", [line("青铜", valid=False)]),
    entry("too_many.jpg", [line(t) for t in "一二三四五六"]),
    entry("too_long.jpg", [line("长" * 21)]),
    entry("missing_glyph.jpg", [line("金沙😀")]),
    entry("small.jpg", [line("小图")], width=200),
    entry("latin.jpg", [line("Hello World 你好")]),
    entry("keep_low_score.jpg", [line("青铜大立人", rec_score=0.9), line("模糊", rec_score=0.3)]),
    {"img_name": "keep_no_size.jpg", "annotations": [line("纵目面具青铜 A")]},
]


@pytest.fixture
def crafted(tmp_path):
    path = tmp_path / "anyword.json"
    doc = {"data_root": "/data/imgs", "data_list": CRAFTED, "info": {"version": 1}}
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


@pytest.mark.parametrize("chunk", [3, 7, 64, 1 << 20])
def test_streaming_reader_matches_json_load(crafted, chunk):
    header = AnyWordHeader()
    entries = list(iter_anyword(crafted, header, chunk=chunk))
    assert entries == CRAFTED
    assert header.before == {"data_root": "/data/imgs"}
    assert header.after == {"info": {"version": 1}}


def test_reader_rejects_other_json(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"data_root": "x", "items": []}')
    with pytest.raises(WenchuangError, match="no data_list"):
        list(iter_anyword(bad))
    bad.write_text('{"data_list": [{"img_name": "a"}, ')
    with pytest.raises(WenchuangError, match="not an AnyWord JSON file"):
        list(iter_anyword(bad, chunk=4))
    bad.write_text("[1, 2]")
    with pytest.raises(WenchuangError, match="expected '\\{'"):
        list(iter_anyword(bad))


def test_helpers():
    assert count_scripts("Hello 你好!") == (2, 5)
    assert is_watermark_text("@三星堆博物馆") and is_watermark_text("图虫创意") and is_watermark_text("a.com")
    assert not is_watermark_text("三星堆博物馆") and not is_watermark_text("COMPANY")


def test_filter_exact_counts(crafted, tmp_path):
    out = tmp_path / "out" / "filtered.json"
    per_entry = FilterConfig(min_rec_score=0.5, language="chinese")
    stats = filter_anyword(crafted, out, per_entry, progress=False)
    assert stats.entries == 12 and stats.kept == 3
    assert stats.as_dict()["dropped"] == {
        "no_annotations": 1,
        "watermark_score": 1,
        "watermark_text": 1,
        "too_few_lines": 1,
        "too_many_lines": 1,
        "line_too_long": 1,
        "missing_glyphs": 1,
        "image_too_small": 1,
        "language_ratio": 1,
    }
    assert stats.lines_low_score == 1 and stats.size_unknown == 1 and stats.lines_kept == 4
    assert stats.missing_chars == {"😀": 1}

    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["data_root"] == "/data/imgs" and doc["info"] == {"version": 1}
    assert [e["img_name"] for e in doc["data_list"]] == [
        "keep_plain.jpg",
        "keep_low_score.jpg",
        "keep_no_size.jpg",
    ]
    low = doc["data_list"][1]["annotations"]
    assert [a["valid"] for a in low] == [True, False]  # the low-score line stays as a masked (invalid) region
    assert not (out.parent / "filtered.json.part").exists()


def test_filter_switches(crafted, tmp_path):
    loose = FilterConfig(
        max_wm_score=None, drop_watermark_text=False, max_lines=None, max_chars=None,
        check_font=False, min_size=None, language=None,
    )  # fmt: skip
    stats = filter_anyword(crafted, tmp_path / "a.json", loose, progress=False)
    assert stats.kept == 10  # only the empty and the all-invalid entries fail
    assert loose.balanced and stats.dropped["language_balance"] == 0
    everything = FilterConfig(**{**loose.__dict__, "balance": False})
    assert filter_anyword(crafted, tmp_path / "c.json", everything, progress=False).kept == 10
    latin = FilterConfig(language="latin", language_ratio=3.0, check_font=False)
    stats = filter_anyword(crafted, tmp_path / "b.json", latin, progress=False)
    assert stats.kept == 1 and stats.dropped["language_ratio"] == 4


def test_default_balance_keeps_the_latin_entry_of_the_crafted_file(crafted, tmp_path):
    # after the other tests: 3 mainly-Chinese entries and "Hello World 你好" (mainly Latin), 3 / 3 = 1
    stats = filter_anyword(crafted, tmp_path / "d.json", FilterConfig(min_rec_score=0.5), progress=False)
    assert stats.kept == 4 and "language_ratio" not in stats.as_dict()["dropped"]
    assert stats.lines_low_score == 1 and stats.lines_kept == 5
    kept = json.loads((tmp_path / "d.json").read_text(encoding="utf-8"))["data_list"]
    assert [e["img_name"] for e in kept] == ["keep_plain.jpg", "latin.jpg", "keep_low_score.jpg", "keep_no_size.jpg"]


def generated_mix(path, chinese=600, latin=600, watermarked=300):
    """An AnyWord file of interleaved Chinese, English and watermarked (a 版权 stamp) entries."""
    rng = random.Random(5)
    han = "文创三星堆金沙太阳神鸟青铜面具博物馆古蜀国纵目大立人龙凤纹"
    entries = []
    for i in range(max(chinese, latin, watermarked)):
        if i < chinese:
            entries.append(entry(f"zh{i}.jpg", [line("".join(rng.sample(han, 4)))]))
        if i < latin:
            word = "".join(rng.choice("ABCDEFGHIJKLMNOP") for _ in range(6))
            entries.append(entry(f"en{i}.jpg", [line(word, language="Latin")]))
        if i < watermarked:
            entries.append(entry(f"wm{i}.jpg", [line("青铜纵目"), line("版权所有")]))
    path.write_text(json.dumps({"data_root": "/d", "data_list": entries}, ensure_ascii=False), encoding="utf-8")
    return path


def kept_names(path):
    return [e["img_name"] for e in json.loads(path.read_text(encoding="utf-8"))["data_list"]]


def test_balance_keeps_every_chinese_entry_and_a_third_as_many_english(tmp_path):
    src = generated_mix(tmp_path / "mix.json")
    runs = []
    for name in ("a.json", "b.json"):
        stats = filter_anyword(src, tmp_path / name, FilterConfig(), progress=False)
        runs.append(kept_names(tmp_path / name))
    assert runs[0] == runs[1]  # the same input and seed give the same output
    names = runs[0]
    assert sum(n.startswith("zh") for n in names) == 600 and sum(n.startswith("en") for n in names) == 200
    assert not any(n.startswith("wm") for n in names) and len(names) == stats.kept == 800
    assert names == sorted(names, key=lambda n: (int(n[2:-4]), n[:2] == "en"))  # input order kept
    assert not (tmp_path / "a.json.pass1").exists() and not (tmp_path / "b.json.part").exists()
    # counts per language at the input and after each step
    assert stats.as_dict()["languages"] == {
        "input": {"chinese": 900, "latin": 600, "other": 0},
        "watermark_text": {"chinese": 600, "latin": 600, "other": 0},
        "language_balance": {"chinese": 600, "latin": 200, "other": 0},
    }
    other_seed = filter_anyword(src, tmp_path / "c.json", FilterConfig(seed=1), progress=False)
    assert other_seed.kept == 800 and kept_names(tmp_path / "c.json") != names  # another draw of 200

    capped = filter_anyword(src, tmp_path / "t.json", FilterConfig(target_size=400), progress=False)
    names = kept_names(tmp_path / "t.json")
    assert capped.kept == 400
    assert sum(n.startswith("zh") for n in names) == 300 and sum(n.startswith("en") for n in names) == 100
    assert filter_anyword(src, tmp_path / "u.json", FilterConfig(language_ratio=0), progress=False).kept == 1200


def test_balance_counts():
    assert balance_counts(600, 600, 3, None) == (600, 200)
    assert balance_counts(600, 100, 3, None) == (600, 100)  # fewer Latin entries than allowed: all
    assert balance_counts(600, 600, 3, 400) == (300, 100)
    assert balance_counts(600, 600, 3, 401) == (301, 100)
    assert balance_counts(90, 600, 3, 400) == (90, 30)  # the ratio holds when Chinese entries run short
    assert balance_counts(600, 600, 0, None) == (600, 600) and balance_counts(600, 600, 0, 700) == (600, 100)
    assert balance_counts(0, 50, 3, None) == (0, 0)


def test_balanced_mode_drops_entries_without_either_script(tmp_path):
    src = tmp_path / "digits.json"
    doc = {"data_list": [entry("n.jpg", [line("2024")]), entry("z.jpg", [line("文创")])]}
    src.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    stats = filter_anyword(src, tmp_path / "o.json", FilterConfig(), progress=False)
    assert stats.kept == 1 and stats.as_dict()["dropped"] == {"no_script": 1}
    assert stats.as_dict()["languages"]["no_script"] == {"chinese": 1, "latin": 0, "other": 0}


def test_cli_balance_options(tmp_path, capsys):
    src = generated_mix(tmp_path / "mix.json", chinese=30, latin=30, watermarked=3)
    out = tmp_path / "o.json"
    assert main(["data", "filter-anyword", str(src), str(out), "--quiet", "--target-size", "20"]) == 0
    printed = capsys.readouterr().out
    assert "entries: 63, kept: 20 (31.7%)" in printed and "dropped language_balance: 40" in printed
    assert "  language_balance          15         5         0" in printed
    assert main(["data", "filter-anyword", str(src), str(out), "--quiet", "--per-entry-language", "latin"]) == 0
    assert "kept: 30 " in capsys.readouterr().out
    assert main(["data", "filter-anyword", str(src), str(out), "--quiet", "--per-entry-language", "any"]) == 0
    assert "kept: 60 " in capsys.readouterr().out
    assert main(["data", "filter-anyword", str(src), str(out), "--quiet", "--language", "chinese"]) == 0
    assert "kept: 30 " in capsys.readouterr().out


def test_check_images_reads_sizes(tmp_path):
    from PIL import Image

    root = tmp_path / "imgs"
    root.mkdir()
    Image.new("RGB", (300, 400)).save(root / "big.png")
    Image.new("RGB", (100, 400)).save(root / "small.png")
    doc = {
        "data_root": str(root),
        "data_list": [
            {"img_name": n, "annotations": [line("文物")]} for n in ("big.png", "small.png", "gone.png")
        ],
    }
    src = tmp_path / "in.json"
    src.write_text(json.dumps(doc), encoding="utf-8")
    stats = filter_anyword(src, tmp_path / "o.json", FilterConfig(check_images=True), progress=False)
    assert stats.kept == 1 and stats.dropped["image_too_small"] == 1 and stats.dropped["image_missing"] == 1
    kept = json.loads((tmp_path / "o.json").read_text(encoding="utf-8"))["data_list"]
    assert [e["img_name"] for e in kept] == ["big.png"]


def test_cli(crafted, tmp_path, capsys):
    out, stats_path = tmp_path / "cli.json", tmp_path / "stats.json"
    code = main(["data", "filter-anyword", str(crafted), str(out), "--quiet", "--stats", str(stats_path)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "entries: 12, kept: 4 (33.3%)" in printed and "dropped watermark_text: 1" in printed
    assert json.loads(stats_path.read_text())["kept"] == 4
    assert main(["data", "filter-anyword", str(tmp_path / "none.json"), str(out)]) == 2
    assert "no such file" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--font", "no-such-font"], "wenchuang: error: font: 'no-such-font' is neither a known font"),
        (["--min-lines", "3", "--max-lines", "1"], "wenchuang: error: max_lines: must be at least 1 and min_lines (3), got 1"),
        (["--min-lines", "-1"], "wenchuang: error: min_lines: must be at least 0, got -1"),
        (["--max-chars", "0"], "wenchuang: error: max_chars: must be at least 1, got 0"),
        (["--ratio", "-1"], "wenchuang: error: language_ratio: must be at least 0, got -1.0"),
        (["--ratio", "nan"], "wenchuang: error: language_ratio: must be at least 0, got nan"),
        (["--target-size", "0"], "wenchuang: error: target_size: must be at least 1, got 0"),
        (["--target-size", "5", "--per-entry-language", "latin"], "wenchuang: error: target_size: needs the balanced"),
    ],
)
def test_cli_bad_options_write_nothing(crafted, tmp_path, capsys, options, message):
    out = tmp_path / "out" / "filtered.json"
    code = main(["data", "filter-anyword", str(crafted), str(out), "--quiet", *options])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(message) and err.count("\n") == 1
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


def test_cli_bad_stats_path_is_refused_before_the_output_is_written(crafted, tmp_path, capsys):
    out = tmp_path / "filtered.json"
    blocker = tmp_path / "afile"
    blocker.write_text("x", encoding="utf-8")
    code = main(["data", "filter-anyword", str(crafted), str(out), "--quiet", "--stats", str(blocker / "s.json")])
    assert code == 2
    assert capsys.readouterr().err == (
        f"wenchuang: error: --stats: cannot create {blocker / 's.json'}: {blocker} is a file, not a folder\n"
    )
    assert not out.exists()
    nested = tmp_path / "reports" / "stats.json"  # a missing folder is created
    assert main(["data", "filter-anyword", str(crafted), str(out), "--quiet", "--stats", str(nested)]) == 0
    assert json.loads(nested.read_text(encoding="utf-8"))["kept"] == 4
