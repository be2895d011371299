"""Self-correction (`run_request` with `self_correct` > 0) around a garbling engine that wraps the
classic engine: each line is written wrong with probability p per attempt, decided by the seed."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from wenchuang.engines.base import run_request
from wenchuang.engines.garbling import GarblingEngine, garble
from wenchuang.engines.self_correct import repair_seed
from wenchuang.errors import RequestError
from wenchuang.layout.polygons import polygon_mask
from wenchuang.ocr import check_lines
from wenchuang.request import MAX_SELF_CORRECT, DesignRequest, TextLine

BOXES = [
    [(40, 40), (472, 40), (472, 130), (40, 130)],
    [(40, 200), (472, 200), (472, 290), (40, 290)],
    [(40, 360), (472, 360), (472, 460), (40, 460)],
]
TEXTS = ["文创工作室", "HELLO 2025", "三星堆博物馆"]


def make_request(seed=11, self_correct=0, image_count=1, texts=TEXTS):
    lines = [TextLine(t, list(b)) for t, b in zip(texts, BOXES)]
    return DesignRequest(lines=lines, seed=seed, image_count=image_count, self_correct=self_correct)


def asked_readings(result, index, texts=TEXTS):
    lines = [TextLine(t, list(b)) for t, b in zip(texts, BOXES)]
    return check_lines(result.images[index], lines)


def test_garble_changes_one_character_deterministically():
    a = garble("三星堆博物馆", np.random.default_rng([5, 0]))
    b = garble("三星堆博物馆", np.random.default_rng([5, 0]))
    assert a == b and a != "三星堆博物馆" and len(a) == 6
    assert sum(x != y for x, y in zip(a, "三星堆博物馆")) == 1


def test_self_correct_zero_changes_nothing():
    engine = GarblingEngine(p=0.5)
    direct = engine.generate(make_request(seed=11))
    through = run_request(engine, make_request(seed=11, self_correct=0))
    np.testing.assert_array_equal(direct.images[0], through.images[0])
    assert "self_correct" not in through.extra and "self_correct" not in through.timings
    assert [r.to_dict() for r in through.readings[0]] == [r.to_dict() for r in direct.readings[0]]
    assert engine.calls == 2


def test_validation_of_rounds():
    for bad in (-1, MAX_SELF_CORRECT + 1, True, 2.5):
        with pytest.raises(RequestError, match="self_correct"):
            make_request(self_correct=bad).validate()
    request = make_request(self_correct=MAX_SELF_CORRECT).validate()
    data = request.to_dict()
    assert data["self_correct"] == MAX_SELF_CORRECT
    assert DesignRequest.from_dict(data).self_correct == MAX_SELF_CORRECT
    assert DesignRequest().self_correct == 0


def test_first_attempt_is_the_uncorrected_result_and_only_wrong_lines_change():
    engine = GarblingEngine(p=0.5)
    plain = run_request(engine, make_request(seed=1))
    before = asked_readings(plain, 0)
    assert not all(r.passed for r in before) and any(r.passed for r in before)  # seed 1: a mix

    fixed = run_request(engine, make_request(seed=1, self_correct=3))
    record = fixed.extra["self_correct"]["images"][0]
    repaired = np.zeros(plain.images[0].shape[:2], bool)
    for j, (line, reading) in enumerate(zip(record["lines"], before)):
        first = line["attempts"][0]
        assert (first["attempt"], first["round"], first["seed"]) == (0, 0, 1)
        assert (first["read"], first["passed"]) == (reading.read, reading.passed)
        if reading.passed:
            assert len(line["attempts"]) == 1  # a right line is never edited
        else:
            repaired |= polygon_mask(BOXES[j], 512, 512).astype(bool)
            for attempt in line["attempts"][1:]:
                assert attempt["seed"] == repair_seed(1, attempt["round"], j)
                assert set(attempt) >= {"attempt", "seed", "read", "passed"}
    np.testing.assert_array_equal(fixed.images[0][~repaired], plain.images[0][~repaired])
    np.testing.assert_array_equal(fixed.debug["uncorrected_0"], plain.images[0])  # first attempt kept
    assert not np.array_equal(fixed.images[0], plain.images[0])
    # the final readings are the OCR of the final image against the asked text
    final = asked_readings(fixed, 0)
    assert [r.passed for r in final] == [r.passed for r in fixed.readings[0]]
    assert [ln["final"]["read"] for ln in record["lines"]] == [r.read for r in final]
    assert all(r.passed for r in final)
    assert record["seconds"] > 0 and fixed.timings["self_correct"] > 0
    assert fixed.extra["self_correct"]["engine_calls"] == 1 + record["repairs"]


def test_corrected_result_is_reproducible():
    engine = GarblingEngine(p=0.5)
    a = run_request(engine, make_request(seed=11, self_correct=3))
    b = run_request(engine, make_request(seed=11, self_correct=3))
    np.testing.assert_array_equal(a.images[0], b.images[0])
    strip = lambda info: [{k: v for k, v in img.items() if k != "seconds"} for img in info["images"]]  # noqa: E731
    assert strip(a.extra["self_correct"]) == strip(b.extra["self_correct"])


@pytest.mark.parametrize("p", [0.3, 0.5])
def test_garbling_decisions_fail_a_line_with_p_and_n_repairs_with_p_to_the_n_plus_1(p):
    """The engine's decisions alone (no rendering): first attempts fail with probability p, and a line
    whose N repairs (seeds from `repair_seed`) all fail too is p^(N+1) rare."""
    engine, rounds = GarblingEngine(p=p), 2
    first_wrong = all_wrong = 0
    trials = 0
    for seed in range(400):
        request = make_request(seed=seed)
        for j, line in enumerate(engine.garbled_lines(request, seed, p)):
            trials += 1
            wrong = line.text != TEXTS[j]
            first_wrong += wrong
            for round_ in range(1, rounds + 1):
                single = dataclasses.replace(request, lines=[request.lines[j]])
                wrong = wrong and engine.garbled_lines(single, repair_seed(seed, round_, j), p)[0].text != TEXTS[j]
            all_wrong += wrong
    assert abs(first_wrong / trials - p) < 0.04
    assert abs(all_wrong / trials - p ** (rounds + 1)) < 0.03


def test_sentence_accuracy_rises_from_1_minus_p_to_1_minus_p_to_the_n_plus_1():
    p, rounds = 0.5, 2
    engine = GarblingEngine(p=p)
    before = after = total = 0
    for seed in range(100, 116):
        plain = run_request(engine, make_request(seed=seed))
        fixed = run_request(engine, make_request(seed=seed, self_correct=rounds))
        before += sum(r.passed for r in asked_readings(plain, 0))
        after += sum(r.passed for r in asked_readings(fixed, 0))
        total += len(TEXTS)
    assert total == 48
    # expected 0.5 before and 1 - 0.5^3 = 0.875 after; 48 lines: a few binomial deviations either way
    assert 0.3 <= before / total <= 0.7, before / total
    assert after / total >= 0.7, after / total
    assert after / total > before / total + 0.2


def test_edit_that_always_fails_ends_after_n_rounds_with_best_attempt_and_warning():
    rounds = 3
    engine = GarblingEngine(p=1.0, edit_p=1.0)
    result = run_request(engine, make_request(seed=21, self_correct=rounds))
    record = result.extra["self_correct"]["images"][0]
    assert record["rounds"] == rounds and record["passed"] == 0
    for line in record["lines"]:
        attempts = line["attempts"]
        assert [a["attempt"] for a in attempts] == list(range(rounds + 1))
        assert not any(a["passed"] for a in attempts)
        best = max(attempts, key=lambda a: (a["ned"], a["confidence"]))
        assert line["final"]["read"] == best["read"]
    assert engine.calls == 1 + rounds * len(TEXTS)
    assert any("still read wrong" in w for w in result.warnings)
    assert not result.all_lines_passed


class StuckEngine(GarblingEngine):
    """Repairs always write the same wrong text (its edit ignores the seed)."""

    def edit(self, request):
        return super().edit(dataclasses.replace(request, seed=0))


def test_a_round_that_fixes_nothing_new_stops_early():
    engine = StuckEngine(p=1.0, edit_p=1.0)
    result = run_request(engine, make_request(seed=21, self_correct=6))
    record = result.extra["self_correct"]["images"][0]
    # round 1 reads something new; round 2 reads exactly the same again -> stop
    assert record["rounds"] == 2
    assert engine.calls == 1 + 2 * len(TEXTS)


class FailingEditEngine(GarblingEngine):
    def edit(self, request):
        raise RequestError("mode", "this engine cannot edit")


def test_an_edit_error_is_recorded_and_warned():
    result = run_request(FailingEditEngine(p=1.0), make_request(seed=21, self_correct=2))
    line = result.extra["self_correct"]["images"][0]["lines"][0]
    assert "cannot edit" in line["attempts"][1]["error"]
    assert any("cannot edit" in w for w in result.warnings)


def test_best_of_n_orders_images_and_each_reruns_alone():
    engine = GarblingEngine(p=0.5)
    result = run_request(engine, make_request(seed=40, self_correct=1, image_count=4))
    info = result.extra["self_correct"]["images"]
    passed = [img["passed"] for img in info]
    assert passed == sorted(passed, reverse=True)
    assert sorted(result.seeds) == [40, 41, 42, 43]
    assert [img["seed"] for img in info] == result.seeds
    assert [sum(r.passed for r in per) for per in result.readings] == passed
    # the gallery's re-run: that image's seed, one image, same rounds -> the same final image
    for index in (0, 3):
        alone = run_request(engine, make_request(seed=result.seeds[index], self_correct=1))
        np.testing.assert_array_equal(alone.images[0], result.images[index])
    meta = result.metadata(2)
    assert meta["self_correct"]["seed"] == result.seeds[2] == meta["seed"]
    assert meta["self_correct"]["rounds"] == 1 and "self_correct" not in meta["extra"]


class FirstCallWrong(GarblingEngine):
    """The first call (generate or edit) writes every line wrong; every later one writes it right."""

    def _run(self, request, p):
        return super()._run(request, 1.0 if self.calls == 0 else 0.0)


@pytest.mark.parametrize("command", ["generate", "edit"])
def test_cli_self_correct(command, tmp_path, capsys, monkeypatch):
    import json

    from wenchuang.cli import main
    from wenchuang.engines import registry
    from wenchuang.engines.classic import make_background
    from wenchuang.images import save_image_atomic

    monkeypatch.setattr(registry, "create_engine", lambda name, model=None, **options: FirstCallWrong())
    args = [command, "--engine", "classic", "--text", "三星堆", "--position", "40,40,472,130", "--seed", "3"]
    if command == "edit":
        base = tmp_path / "base.png"
        save_image_atomic(base, make_background(512, 512, 1))
        args += ["--image", str(base)]
    code = main([*args, "--self-correct", "2", "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 0 and "OCR 1/1 ok" in out and "self-correct: 1 repair(s)" in out, out
    meta = json.loads(next((tmp_path / "out").glob("*.json")).read_text(encoding="utf-8"))
    assert meta["request"]["self_correct"] == 2
    attempts = meta["self_correct"]["lines"][0]["attempts"]
    assert [a["passed"] for a in attempts] == [False, True]
    assert attempts[1]["seed"] == repair_seed(3, 1, 0)

    monkeypatch.setattr(registry, "create_engine", lambda name, model=None, **options: FirstCallWrong())
    code = main([*args, "--out", str(tmp_path / "plain")])
    assert code == 0 and "self-correct" not in capsys.readouterr().out


def test_cli_refuses_too_many_rounds(tmp_path, capsys):
    from wenchuang.cli import main

    code = main(["generate", "--engine", "classic", "--text", "A", "--self-correct", "11", "--out", str(tmp_path)])
    assert code == 2
    assert "self_correct" in capsys.readouterr().err


def test_benchmark_scores_without_and_with_self_correction(tmp_path, capsys, monkeypatch):
    import json
    from pathlib import Path

    from wenchuang.cli import main
    from wenchuang.engines import registry

    fixture = Path(__file__).parents[1] / "evaluation" / "fixtures" / "bench30.json"
    monkeypatch.setattr(registry, "create_engine", lambda name, model=None, **options: GarblingEngine(p=0.5))
    out = tmp_path / "bench"
    code = main(["benchmark", "--annotations", str(fixture), "--out", str(out), "--images-per-entry", "1",
                 "--limit", "12", "--self-correct", "2"])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0 and "without self-correction" in printed and "with self-correction" in printed, printed
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    sc = report["self_correct"]
    assert sc["rounds"] == 2 and sc["images"] == 12
    assert sc["without"]["sentence_accuracy"] == report["without_self_correct"]["sentence_accuracy"]
    assert sc["with"]["sentence_accuracy"] == report["sentence_accuracy"]
    assert sc["with"]["sentence_accuracy"] > sc["without"]["sentence_accuracy"] + 0.15
    assert sc["with"]["ned"] >= sc["without"]["ned"]
    assert sc["without"]["engine_calls"] == 12 < sc["with"]["engine_calls"]
    assert 0 < sc["without"]["seconds_per_image"] < sc["with"]["seconds_per_image"]
    assert sorted(p.name for p in (out / "uncorrected" / "images").glob("*.png")) == sorted(
        p.name for p in (out / "images").glob("*.png")
    )
    assert "## Self-correction (up to 2 rounds)" in (out / "report.md").read_text(encoding="utf-8")
