"""The 30-entry benchmark rendered by the classic engine, label corruption, resume after a kill, CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from wenchuang.cli import main
from wenchuang.errors import RequestError
from wenchuang.evaluation.annotations import load_benchmark, parse_benchmark
from wenchuang.evaluation.ocr_eval import evaluate_ocr, min_area_box
from wenchuang.evaluation.report import ned_histogram_counts
from wenchuang.evaluation.runner import BenchmarkConfig, generate, pending_images, run_benchmark

FIXTURE = Path(__file__).parent / "fixtures" / "bench30.json"
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench30")
    report = run_benchmark(FIXTURE, BenchmarkConfig(engine="classic", images_per_entry=1), out, progress=False)
    return out, report


def test_classic_engine_reads_back_the_30_entries(clean_run):
    out, report = clean_run
    assert report["entries"] == 30 and report["images"] == 30
    assert report["lines"] == 60  # the 5 annotations marked valid=false are not scored
    assert report["sentence_accuracy"] >= 0.95
    assert report["ned"] >= 0.98
    assert set(report["per_language"]) == {"Chinese", "Latin"}
    assert sum(s["lines"] for s in report["per_language"].values()) == 60
    # the set-up is part of the report
    assert report["ocr"]["recognizer"] == "ppocr-onnx"
    assert report["ocr"]["model"].endswith(".onnx") and "rapidocr-onnxruntime" in report["ocr"]["package"]
    assert report["ocr"]["precision"] == "fp32" and report["ocr"]["charset"] == "ch"
    assert report["seeds"] == {f"wc_{i:03d}_0.png": 100 for i in range(30)}
    assert report["generation"]["engine"] == "classic" and report["generation"]["generated"] == 30
    saved = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert saved["sentence_accuracy"] == report["sentence_accuracy"]
    assert len(saved["line_details"]) == 60
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "| **all** | 60 |" in md and "| Chinese | 40 |" in md and "| Latin | 20 |" in md
    for plot in ("plots/accuracy_per_language.png", "plots/ned_histogram.png"):
        with Image.open(out / plot) as im:
            assert im.width > 300 and im.height > 150


def test_corrupted_labels_drop_the_scores_by_the_expected_amount(clean_run, tmp_path):
    out, clean = clean_run
    data = json.loads(FIXTURE.read_text(encoding="utf-8"))
    correct = [d for d in clean["line_details"] if d["sentence_accuracy"] == 1]
    chosen = correct[::5][:10]
    assert len(chosen) == 10
    expected_ned_loss = 0.0
    for d in chosen:
        entry = next(e for e in data["data_list"] if e["img_name"] == d["entry"])
        valid = [a for a in entry["annotations"] if a["polygon"] and a.get("valid") is not False]
        ann = valid[d["line"]]
        replacement = "口" if d["language"] == "Chinese" else "Q"
        assert ann["text"][0] != replacement
        ann["text"] = replacement + ann["text"][1:]  # one substitution in len(text) characters
        expected_ned_loss += 1 / (len(ann["text"]) + 1e-5)
    corrupted = tmp_path / "bench30_corrupted.json"
    corrupted.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    report = evaluate_ocr(load_benchmark(corrupted), out / "images", progress=False)
    n = clean["lines"]
    assert report["lines"] == n
    assert report["sentence_accuracy"] == pytest.approx(clean["sentence_accuracy"] - 10 / n, abs=1e-12)
    assert report["ned"] == pytest.approx(clean["ned"] - expected_ned_loss / n, abs=1e-9)
    wrong = {(d["image"], d["line"]) for d in report["line_details"] if d["sentence_accuracy"] == 0}
    assert {(d["image"], d["line"]) for d in chosen} <= wrong


def test_worst_case_sheet_shows_the_failures(clean_run, tmp_path):
    from wenchuang.evaluation.report import contact_sheet

    out, clean = clean_run
    report = dict(clean)
    details = [dict(d) for d in clean["line_details"]]
    for d in details[:4]:
        d["predicted"], d["sentence_accuracy"], d["ned"] = "x", 0, 0.0
    report["line_details"] = details
    sheet = contact_sheet(report, load_benchmark(FIXTURE), out / "images", tmp_path / "worst.png")
    with Image.open(sheet) as im:
        assert im.size == (3 * 380, 2 * 120)  # 4 failures: 2 rows of 3
        assert np.asarray(im.convert("L")).std() > 10


def test_runner_resumes_after_being_killed(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "wenchuang", "benchmark", "--annotations", str(FIXTURE), "--engine", "classic",
           "--images-per-entry", "2", "--limit", "12", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    images = out / "images"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if images.is_dir() and len(list(images.glob("*.json"))) >= 3:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = {p.with_suffix(".png").name: p.with_suffix(".png").stat().st_mtime_ns for p in images.glob("*.json")}
    assert 3 <= len(finished) < 24, "the run was not killed mid-way"

    from wenchuang.engines.registry import create_engine

    class Counting:
        name = "classic"

        def __init__(self):
            self.inner, self.seeds = create_engine("classic"), []

        def generate(self, request):
            self.seeds.append(request.seed)
            return self.inner.generate(request)

        def edit(self, request):  # pragma: no cover - the runner only generates
            return self.inner.edit(request)

    engine = Counting()
    benchmark = load_benchmark(FIXTURE)
    config = BenchmarkConfig(engine="classic", images_per_entry=2, limit=12)
    stats = generate(benchmark, config, out, engine=engine, progress=False)
    assert stats == {"generated": 24 - len(finished), "skipped": len(finished), "total": 24}
    assert len(engine.seeds) == 24 - len(finished)
    for name, mtime in finished.items():  # finished images were not written again
        assert (images / name).stat().st_mtime_ns == mtime
    assert pending_images(benchmark, config, out) == []
    metas = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(images.glob("*.json"))]
    assert len(metas) == 24
    assert {(m["entry"], m["k"], m["seed"]) for m in metas} == {
        (f"wc_{i:03d}.jpg", k, 100 + k) for i in range(12) for k in range(2)
    }


def test_shards_split_the_entries_and_metrics_run_once_all_are_done(tmp_path):
    config = BenchmarkConfig(engine="classic", images_per_entry=1, limit=4)
    first = run_benchmark(FIXTURE, config, tmp_path, shard="0/2", progress=False)
    assert first["generation"] == {"generated": 2, "skipped": 0, "total": 2} and "note" in first
    second = run_benchmark(FIXTURE, config, tmp_path, shard="1/2", progress=False)
    assert second["generation"]["generated"] == 2
    names = sorted(p.name for p in (tmp_path / "images").glob("*.png"))
    assert names == [f"wc_{i:03d}_0.png" for i in range(4)]
    report = run_benchmark(FIXTURE, config, tmp_path, metrics_only=True, progress=False)
    assert report["images"] == 4 and report["generation"]["generated"] == 0


def test_cli_eval_ocr_writes_the_report(clean_run, tmp_path, capsys):
    out, clean = clean_run
    target = tmp_path / "r.json"
    code = main(["eval", "ocr", "--annotations", str(FIXTURE), "--images", str(out / "images"),
                 "--report", str(target)])
    assert code == 0
    report = json.loads(target.read_text(encoding="utf-8"))
    assert report["sentence_accuracy"] == clean["sentence_accuracy"] and report["ned"] == clean["ned"]
    assert {"per_language", "line_details", "ocr", "seeds", "per_image"} <= set(report)
    assert "sentence accuracy" in capsys.readouterr().out


def test_cli_errors_are_one_line(tmp_path, capsys, monkeypatch):
    assert main(["eval", "ocr", "--annotations", str(tmp_path / "none.json"), "--report", str(tmp_path / "r")]) == 2
    assert "annotation file not found" in capsys.readouterr().err
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        for i in range(2):
            Image.new("RGB", (16, 16), (i * 50, 0, 0)).save(tmp_path / d / f"{i}.png")
    monkeypatch.setenv("WENCHUANG_FID_WEIGHTS", str(tmp_path / "missing.pth"))
    assert main(["eval", "fid", "--real", str(tmp_path / "a"), "--generated", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "FID Inception weights not found" in err
    assert main(["benchmark", "--annotations", str(FIXTURE), "--out", str(tmp_path / "o"), "--shard", "3/2"]) == 2
    assert "shard" in capsys.readouterr().err
    assert main(["eval", "ocr", "--annotations", str(FIXTURE), "--report", str(tmp_path / "r.json"),
                 "--recognizer", "anytext", "--anytext-ocr-weights", str(tmp_path / "ppv3_rec.pth")]) == 2
    assert "AnyText OCR weights not found" in capsys.readouterr().err


def test_benchmark_bad_engine_or_limit_is_one_line_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["benchmark", "--annotations", str(FIXTURE), "--out", str(out), "--engine", "nosuch"]) == 2
    from wenchuang.engines import registry

    known = ", ".join(registry.engine_names())
    assert "classic" in known and "anytext" in known
    assert capsys.readouterr().err == f"wenchuang: error: engine: unknown engine 'nosuch'; choose one of {known}\n"
    assert not out.exists()
    for limit in ("0", "-1"):
        assert main(["benchmark", "--annotations", str(FIXTURE), "--out", str(out), "--limit", limit]) == 2
        assert capsys.readouterr().err == f"wenchuang: error: --limit: must be at least 1, got {limit}\n"
        assert not out.exists()


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--steps", "-1", "steps: must be between 1 and 100, got -1"),
    ("--prompt-template", "{caption} {colour}", "prompt_template: may use only {caption} and {texts}: 'colour'"),
])
def test_benchmark_bad_setting_is_refused_before_anything_is_written(tmp_path, capsys, option, value, message):
    out = tmp_path / "o"
    assert main(["benchmark", "--annotations", str(FIXTURE), "--out", str(out), option, value]) == 2
    assert capsys.readouterr().err == f"wenchuang: error: {message}\n"
    assert not out.exists()


def test_original_images_are_scored_when_no_folder_is_given(tmp_path):
    img = np.full((512, 512, 3), 255, np.uint8)
    (tmp_path / "imgs").mkdir()
    Image.fromarray(img).save(tmp_path / "imgs" / "blank.jpg")
    data = {"data_root": "imgs", "data_list": [
        {"img_name": "blank.jpg", "annotations": [
            {"polygon": [[10, 10], [200, 10], [200, 60], [10, 60]], "text": "空白", "language": "Chinese"}]},
        {"img_name": "absent.jpg", "annotations": []}]}
    (tmp_path / "b.json").write_text(json.dumps(data), encoding="utf-8")
    report = evaluate_ocr(load_benchmark(tmp_path / "b.json"), progress=False)
    assert report["images"] == 1 and report["missing_images"] == ["absent.jpg"]
    assert report["line_details"][0]["predicted"] == ""  # nothing to read on a blank page
    assert report["sentence_accuracy"] == 0 and report["ned"] == pytest.approx(0, abs=1e-5)


def test_min_area_box_orders_corners_like_the_benchmark():
    box = min_area_box([[50, 20], [10, 20], [10, 40], [50, 40], [30, 20]])
    np.testing.assert_allclose(box, [[10, 20], [50, 20], [50, 40], [10, 40]], atol=1e-4)


def test_ned_histogram_bins():
    counts = ned_histogram_counts([0.0, 0.05, 0.75, 0.999, 1.0, 1.0])
    assert counts.tolist() == [2, 0, 0, 0, 0, 0, 0, 1, 0, 3]


def test_entries_beyond_the_engine_limits_are_trimmed_with_a_warning():
    from wenchuang.evaluation.runner import entry_lines

    data = {"data_list": [{"img_name": "x.jpg", "annotations": [
        {"polygon": [[0, i * 50], [100, i * 50], [100, i * 50 + 40], [0, i * 50 + 40]], "text": f"L{i}"}
        for i in range(10)] + [{"polygon": [[0, 0], [2, 0], [2, 2], [0, 2]], "text": "tiny"}]}]}
    entry = parse_benchmark(data).entries[0]
    lines, warnings = entry_lines(entry, 256, 256)  # canvas halved: polygons scaled by 0.5
    assert len(lines) == 8 and lines[1].polygon[0] == (0.0, 25.0)
    assert [line.text for line in lines] == [f"L{i}" for i in range(8)]
    assert lines[7].polygon == [(0.0, 175.0), (50.0, 175.0), (50.0, 195.0), (0.0, 195.0)]
    assert warnings == ["x.jpg: only the first 8 lines can be requested"]
    # a line too small for the engine is skipped with a warning naming it; the others are kept
    small = parse_benchmark({"data_list": [{"img_name": "y.jpg", "annotations": [
        {"polygon": [[0, 0], [2, 0], [2, 2], [0, 2]], "text": "tiny"},
        {"polygon": [[0, 0], [100, 0], [100, 40], [0, 40]], "text": "ok"}]}]}).entries[0]
    lines, warnings = entry_lines(small, 256, 256)
    assert [line.text for line in lines] == ["ok"]
    assert len(warnings) == 1 and warnings[0].startswith("y.jpg: line 0 not requested (lines[0].polygon:")


def test_accelerate_launch_shards_generation_over_processes(tmp_path):
    """Two CPU processes (torchrun, the launcher `accelerate launch` uses for several GPUs; accelerate's
    own --cpu launch starts one process only): each generates every other entry, one report."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "acc"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port),
           "-m", "wenchuang", "benchmark", "--annotations", str(FIXTURE), "--images-per-entry", "1",
           "--limit", "4", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src"), "ACCELERATE_USE_CPU": "true"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    metas = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in (out / "images").glob("*.json")}
    assert {name: m["shard"] for name, m in metas.items()} == {
        "wc_000_0": [0, 2], "wc_001_0": [1, 2], "wc_002_0": [0, 2], "wc_003_0": [1, 2]}
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["images"] == 4 and report["generation"]["shards"] == 2


def test_prompts_put_each_line_where_the_caption_has_its_placeholder():
    from wenchuang.evaluation.runner import build_prompt

    data = {"data_list": [
        {"img_name": "a.jpg", "caption": "a sign * above a door *", "annotations": [
            {"polygon": [[0, 0], [90, 0], [90, 40], [0, 40]], "text": "福"},
            {"polygon": [[0, 50], [90, 50], [90, 90], [0, 90]], "text": "OPEN"}]},
        {"img_name": "b.jpg", "caption": "a poster *", "annotations": [
            {"polygon": [[0, 0], [90, 0], [90, 40], [0, 40]], "text": "一"},
            {"polygon": [[0, 50], [90, 50], [90, 90], [0, 90]], "text": "二"}]}]}
    a, b = parse_benchmark(data).entries
    assert build_prompt(a, "{caption}") == 'a sign "福" above a door "OPEN"'
    assert build_prompt(b, "{caption}") == "a poster"  # counts differ: '*' -> ' ' as the official loader
    assert build_prompt(b, "poster with {texts}") == 'poster with "一", "二"'
    with pytest.raises(RequestError, match=r"^prompt_template: may use only \{caption\} and \{texts\}") as err:
        build_prompt(a, "{scene}")
    assert err.value.field == "prompt_template"
    with pytest.raises(RequestError, match="prompt_template"):
        build_prompt(a, "{0}")  # positional fields are not allowed either


def test_anytext_recogniser_option_scores_with_the_torch_model(shared_golden, clean_run, tmp_path):
    """The golden tiny checkpoint's recogniser (random-like weights) runs the whole --recognizer anytext path."""
    import torch
    from safetensors.torch import load_file

    state = load_file(shared_golden / "anytext_tiny.safetensors")
    bare = {k[len("text_predictor."):]: v for k, v in state.items() if k.startswith("text_predictor.")}
    torch.save(bare, tmp_path / "ppv3_rec.pth")
    (tmp_path / "ppocr_keys_v1.txt").write_text("\n".join(chr(0x4E00 + i) for i in range(6623)) + "\n", "utf-8")
    out, _ = clean_run
    target = tmp_path / "r.json"
    code = main(["eval", "ocr", "--annotations", str(FIXTURE), "--images", str(out / "images"),
                 "--report", str(target), "--recognizer", "anytext",
                 "--anytext-ocr-weights", str(tmp_path / "ppv3_rec.pth")])
    assert code == 0
    report = json.loads(target.read_text(encoding="utf-8"))
    assert report["ocr"]["recognizer"] == "anytext-ppocrv3" and report["ocr"]["model"] == "ppv3_rec.pth"
    assert report["lines"] == 60
    for d in report["line_details"]:
        assert d["sentence_accuracy"] == int(d["predicted"] == d["expected"])
        assert 0.0 <= d["ned"] <= 1.0
