"""OCR metrics against hand-computed values and the AnyText benchmark's normalisation rules."""

from __future__ import annotations

import pytest

from wenchuang.evaluation.annotations import AnnotationError, parse_benchmark
from wenchuang.evaluation.metrics import (
    LineScore,
    get_charset,
    levenshtein,
    ned,
    score_line,
    sentence_match,
    summarize,
)


def test_levenshtein_hand_values():
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("", "abc") == 3
    assert levenshtein("文创", "文创") == 0
    assert levenshtein("abcd", "abed") == 1
    assert levenshtein("abc", "") == 3
    assert levenshtein("ab", "ba") == 2  # no transpositions


def test_identical_gives_one_and_one():
    assert sentence_match("福满人间", "福满人间") == 1
    assert ned("福满人间", "福满人间") == pytest.approx(1.0)


def test_one_substitution_in_four_characters():
    assert sentence_match("福满人问", "福满人间") == 0
    assert ned("福满人问", "福满人间") == pytest.approx(0.75, abs=1e-5)
    # exactly the benchmark's formula: 1 - 1 / (4 + 1e-5)
    assert ned("福满人问", "福满人间") == 1 - 1 / (4 + 1e-5)


def test_empty_prediction_scores_zero():
    assert sentence_match("", "福满人间") == 0
    assert ned("", "福满人间") == pytest.approx(0.0, abs=1e-5)


def test_longer_prediction_uses_the_longer_length():
    # one insertion: distance 1 over max(5, 4) = 5
    assert ned("福满人间x", "福满人间") == pytest.approx(0.8, abs=1e-5)


def test_ned_normalisation_collapses_space_and_unknown_characters():
    ch = get_charset("ch")
    assert "福" in ch.characters and "A" in ch.characters
    assert " " not in ch.characters
    unknown = "\u2603"  # snowman: not in the PP-OCR dictionary
    assert unknown not in ch.characters
    # space and an out-of-dictionary character share one id: NED sees no difference ...
    assert ned("A B", "A" + unknown + "B", ch) == pytest.approx(1.0)
    # ... but sentence accuracy compares raw strings
    assert sentence_match("A B", "A" + unknown + "B") == 0
    # without a charset they differ by one substitution in three
    assert ned("A B", "A" + unknown + "B") == pytest.approx(2 / 3, abs=1e-5)


def test_english_charset_maps_chinese_to_the_unknown_id():
    en = get_charset("en")
    assert ned("ab福", "ab文", en) == pytest.approx(1.0)
    assert ned("abc", "abd", en) == pytest.approx(2 / 3, abs=1e-5)
    with pytest.raises(ValueError, match="unknown charset"):
        get_charset("xx")


def test_sentence_accuracy_is_case_and_space_sensitive():
    assert sentence_match("Hello", "hello") == 0
    assert sentence_match("Hello ", "Hello") == 0


def test_summary_per_language_and_image():
    scores = [
        score_line("a_0.jpg", "a.jpg", 0, "Chinese", "福满人间", "福满人间", 0.9, None),
        score_line("a_0.jpg", "a.jpg", 1, "Chinese", "福满人间", "福满人问", 0.9, None),
        score_line("b_0.jpg", "b.jpg", 0, "Latin", "SALE", "", 0.0, None),
    ]
    assert isinstance(scores[0], LineScore)
    s = summarize(scores)
    assert s["lines"] == 3 and s["images"] == 2
    assert s["sentence_accuracy"] == pytest.approx(1 / 3)
    assert s["ned"] == pytest.approx((1 + 0.75 + 0) / 3, abs=1e-5)
    assert s["per_language"]["Chinese"]["sentence_accuracy"] == pytest.approx(0.5)
    assert s["per_language"]["Chinese"]["ned"] == pytest.approx(0.875, abs=1e-5)
    assert s["per_language"]["Latin"] == {"lines": 1, "sentence_accuracy": 0.0, "ned": pytest.approx(0, abs=1e-5)}
    assert s["per_image"]["b_0.jpg"]["lines"] == 1


def test_annotations_follow_the_official_filters():
    data = {
        "data_root": "imgs",
        "data_list": [
            {
                "img_name": "x.jpg",
                "caption": 'a sign reads *',
                "annotations": [
                    {"polygon": [[0, 0], [10, 0], [10, 10], [0, 10]], "text": "好", "language": "Chinese",
                     "valid": True},
                    {"polygon": [[0, 0], [10, 0], [10, 10], [0, 10]], "text": "bad", "valid": False},
                    {"polygon": [], "text": "nopoly", "valid": True},
                    {"polygon": [[0, 0], [10, 0], [10, 10], [0, 10]], "text": "一二三四五六七八九十一二三四五六七八九十多"},
                ],
            },
            {"img_name": "many.png", "annotations": [
                {"polygon": [[0, 0], [9, 0], [9, 9], [0, 9]], "text": str(i)} for i in range(25)]},
        ],
    }
    b = parse_benchmark(data)
    first = b.entries[0]
    assert [line.text for line in first.lines] == ["好", "一二三四五六七八九十一二三四五六七八九十"]  # cut to 20
    assert first.lines[1].language == "unknown"
    assert first.prompt == "a sign reads  " and first.stem == "x"
    assert len(b.entries[1].lines) == 20  # at most 20 lines
    assert b.line_count == 22
    with pytest.raises(AnnotationError, match="data_list"):
        parse_benchmark({"images": []})
    with pytest.raises(AnnotationError, match="img_name"):
        parse_benchmark({"data_list": [{"annotations": []}]})
