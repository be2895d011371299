"""`wenchuang benchmark`: generate K images per annotated entry with an engine, then score them.

Layout of ``OUT``::

    images/STEM_k.png   the k-th image of entry STEM (the official scripts' naming), k = 0..K-1
    images/STEM_k.json  its metadata: seed, prompt, lines sent, engine, model, timings
    uncorrected/images/STEM_k.png   with ``self_correct`` > 0: the first attempt (no correction)
    report.json         the OCR report (`evaluate_ocr`) + the generation set-up; with ``self_correct``,
                        the report of the first attempts under ``without_self_correct`` and the
                        comparison (sentence accuracy, NED, seconds per image, engine calls) under
                        ``self_correct``
    report.md           Markdown table
    plots/accuracy_per_language.png, plots/ned_histogram.png, worst_cases.png

Resumable: an image whose PNG and JSON both exist is never generated again, so a run killed at any
point continues where it stopped (both files are written atomically, the JSON last).

Seeds: image k of every entry uses ``seed + k`` (the official script uses one fixed seed, 100, for
every entry). Each image is its own request, so any single image can be reproduced from its JSON.

Several GPUs: run under ``accelerate launch`` and each process takes every N-th entry
(``entry_index % num_processes == process_index``) on its own device; the main process waits for
the others and writes the report. ``--shard I/N`` does the same split by hand (one machine per shard,
then ``--metrics-only`` once all are done).
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from wenchuang.errors import RequestError, WenchuangError
from wenchuang.evaluation.annotations import Benchmark, Entry, load_benchmark
from wenchuang.prompts import PLACEHOLDER
from wenchuang.request import MAX_LINES, DesignRequest, TextLine

DEFAULT_SEED = 100  # the official benchmark's seed
IMAGES = "images"
UNCORRECTED = "uncorrected"  # the first attempts of a self-corrected run: OUT/uncorrected/images


@dataclass
class BenchmarkConfig:
    engine: str = "classic"
    model: str | None = None
    images_per_entry: int = 4
    seed: int = DEFAULT_SEED
    steps: int = 20
    guidance_scale: float = 9.0
    width: int = 512
    height: int = 512
    prompt_template: str = "{caption}"
    precision: str = "engine default"
    limit: int | None = None  # only the first N entries
    self_correct: int = 0  # rounds of OCR-checked repair (both the first attempts and the result are scored)

    def validate(self) -> None:
        """The sampling settings and the prompt template, checked before anything is generated or
        written (an error names the setting)."""
        DesignRequest(
            lines=[TextLine("a")], steps=self.steps, guidance_scale=self.guidance_scale,
            width=self.width, height=self.height, self_correct=self.self_correct,
        ).validate()  # fmt: skip
        _fill_template(self.prompt_template, caption="", texts="")


def parse_shard(text: str | None) -> tuple[int, int]:
    """``"I/N"`` -> (I, N), 0 <= I < N."""
    if not text:
        return 0, 1
    try:
        index, count = (int(v) for v in text.split("/"))
    except ValueError:
        raise RequestError("shard", f"expected I/N such as 0/4, got {text!r}") from None
    if count < 1 or not 0 <= index < count:
        raise RequestError("shard", f"needs 0 <= I < N, got {text!r}")
    return index, count


def caption_with_texts(entry: Entry) -> str:
    """The caption with its i-th ``*`` replaced by the i-th line quoted, so the engine puts each line's
    placeholder where the caption had it; when the counts differ, ``*`` become spaces (official loader)
    and the engine appends the placeholders."""
    parts = entry.caption.split(PLACEHOLDER)
    if len(parts) - 1 == len(entry.lines) and entry.lines:
        quoted = [f'"{line.text}"' for line in entry.lines]
        return "".join(part + (quoted[i] if i < len(quoted) else "") for i, part in enumerate(parts)).strip()
    return entry.prompt.strip()


def build_prompt(entry: Entry, template: str) -> str:
    texts = ", ".join(f'"{line.text}"' for line in entry.lines)
    prompt = _fill_template(template, caption=caption_with_texts(entry), texts=texts)
    return prompt.strip() or f"a photo with the text {texts}"


def _fill_template(template: str, caption: str, texts: str) -> str:
    try:
        return template.format(caption=caption, texts=texts)
    except (KeyError, IndexError, ValueError) as exc:
        raise RequestError("prompt_template", f"may use only {{caption}} and {{texts}}: {exc}") from None


def entry_lines(entry: Entry, width: int, height: int) -> tuple[list[TextLine], list[str]]:
    """The entry's lines as request lines in the output canvas (clipped), and warnings for any dropped."""
    sx, sy = width / entry.width, height / entry.height
    lines, warnings = [], []
    for i, line in enumerate(entry.lines):
        if len(lines) == MAX_LINES:
            warnings.append(f"{entry.img_name}: only the first {MAX_LINES} lines can be requested")
            break
        poly = [(min(max(x * sx, 0.0), width), min(max(y * sy, 0.0), height)) for x, y in line.polygon]
        candidate = TextLine(line.text, poly)
        try:
            candidate.validate(i, width, height)
        except RequestError as exc:
            warnings.append(f"{entry.img_name}: line {i} not requested ({exc})")
            continue
        lines.append(candidate)
    return lines, warnings


def image_done(path: Path) -> bool:
    return path.is_file() and path.with_suffix(".json").is_file()


def pending_images(benchmark: Benchmark, config: BenchmarkConfig, out: Path, shard=(0, 1)) -> list[tuple]:
    """(entry_index, entry, k, png_path) for every image of this shard not yet finished."""
    entries = benchmark.entries[: config.limit] if config.limit else benchmark.entries
    todo = []
    for i, entry in enumerate(entries):
        if i % shard[1] != shard[0]:
            continue
        for k in range(config.images_per_entry):
            png = out / IMAGES / f"{entry.stem}_{k}.png"
            if not image_done(png):
                todo.append((i, entry, k, png))
    return todo


def generate(
    benchmark: Benchmark, config: BenchmarkConfig, out: str | Path, shard=(0, 1), engine=None,
    progress: bool = True, engine_options: dict | None = None,
) -> dict:
    """Generate every missing image of the shard; returns counts of generated and skipped images."""
    from tqdm import tqdm  # noqa: PLC0415

    from wenchuang.engines.base import run_request  # noqa: PLC0415
    from wenchuang.images import save_image_atomic, save_json_atomic  # noqa: PLC0415

    out = Path(out)
    entries = benchmark.entries[: config.limit] if config.limit else benchmark.entries
    total = sum(1 for i in range(len(entries)) if i % shard[1] == shard[0]) * config.images_per_entry
    todo = pending_images(benchmark, config, out, shard)
    if todo and engine is None:
        from wenchuang.engines.registry import create_engine  # noqa: PLC0415

        engine = create_engine(config.engine, model=config.model, **(engine_options or {}))
    (out / IMAGES).mkdir(parents=True, exist_ok=True)  # after the engine: an unknown one leaves no folder
    generated = 0
    bar = tqdm(total=total, initial=total - len(todo), desc="benchmark", unit="img", disable=not progress)
    for _, entry, k, png in todo:
        lines, warnings = entry_lines(entry, config.width, config.height)
        seed = config.seed + k
        request = DesignRequest(
            prompt=build_prompt(entry, config.prompt_template), lines=lines, image_count=1,
            steps=config.steps, guidance_scale=config.guidance_scale, seed=seed,
            width=config.width, height=config.height, self_correct=config.self_correct,
        )
        started = time.perf_counter()
        try:
            result = run_request(engine, request)
        except WenchuangError as exc:
            raise WenchuangError(f"{entry.img_name} (image {k}): {exc}") from None
        meta = result.metadata(0)
        meta.update({
            "entry": entry.img_name, "k": k, "seed": result.seeds[0], "benchmark_warnings": warnings,
            "shard": [shard[0], shard[1]],
            "seconds": round(time.perf_counter() - started, 4),
        })
        if config.self_correct:  # the first attempt, written before the final image marks it done
            meta["seconds_uncorrected"] = round(meta["seconds"] - result.timings.get("self_correct", 0.0), 4)
            first = out / UNCORRECTED / IMAGES / png.name
            first.parent.mkdir(parents=True, exist_ok=True)
            save_image_atomic(first, result.debug["uncorrected_0"])
            save_json_atomic(first.with_suffix(".json"), {**meta, "self_correct": None})
        save_image_atomic(png, result.images[0])
        save_json_atomic(png.with_suffix(".json"), meta)
        generated += 1
        bar.update(1)
    bar.close()
    stats = {"generated": generated, "skipped": total - len(todo), "total": total}
    if engine is not None and getattr(engine, "dtype_name", None) is not None:
        stats["engine_precision"] = engine.dtype_name  # float32 / bfloat16 / float16
    return stats


def _distributed_state():
    """accelerate's PartialState when launched with several processes, else None."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    import torch  # noqa: PLC0415
    from accelerate import PartialState  # noqa: PLC0415

    use_cpu = os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes")
    return PartialState(cpu=use_cpu or not torch.cuda.is_available())


def write_reports(report: dict, benchmark: Benchmark, out: Path, worst: int = 16) -> dict[str, Path]:
    from wenchuang.evaluation.report import (  # noqa: PLC0415
        contact_sheet,
        markdown_table,
        plot_language_accuracy,
        plot_ned_histogram,
    )
    from wenchuang.images import save_json_atomic  # noqa: PLC0415

    (out / "plots").mkdir(parents=True, exist_ok=True)
    files = {
        "json": save_json_atomic(out / "report.json", report),
        "markdown": out / "report.md",
        "accuracy_plot": plot_language_accuracy(report, out / "plots" / "accuracy_per_language.png"),
        "ned_plot": plot_ned_histogram(report, out / "plots" / "ned_histogram.png"),
    }
    files["markdown"].write_text(markdown_table(report) + self_correct_markdown(report), encoding="utf-8")
    sheet = contact_sheet(report, benchmark, out / IMAGES, out / "worst_cases.png", count=worst)
    if sheet is not None:
        files["worst_cases"] = sheet
    return files


def run_benchmark(
    annotations: str | Path, config: BenchmarkConfig, out: str | Path, shard: str | None = None,
    metrics_only: bool = False, progress: bool = True, engine=None, reader=None, charset: str = "auto",
) -> dict:
    """Generate (resumably), then score and write the report files. Returns the report."""
    from wenchuang.evaluation.ocr_eval import evaluate_ocr  # noqa: PLC0415

    config.validate()
    benchmark = load_benchmark(annotations)
    if config.limit:
        benchmark.entries = benchmark.entries[: config.limit]
    out = Path(out)
    state = _distributed_state()
    shard_index, shard_count = parse_shard(shard)
    options = {}
    if state is not None:
        shard_index, shard_count = state.process_index, state.num_processes
        if state.device.type != "cpu" and config.engine != "classic":
            options["device"] = str(state.device)
    stats = {"generated": 0, "skipped": 0}
    if not metrics_only:
        stats = generate(benchmark, config, out, (shard_index, shard_count), engine=engine,
                         progress=progress, engine_options=options)
    if state is not None:
        state.wait_for_everyone()
        if not state.is_main_process:
            return {"generation": stats}
    elif shard_count > 1 and not metrics_only:
        return {"generation": stats, "note": "shard done; run again with --metrics-only when all shards are"}
    report = evaluate_ocr(benchmark, out / IMAGES, reader=reader, charset=charset, progress=progress)
    if config.self_correct:
        without = evaluate_ocr(benchmark, out / UNCORRECTED / IMAGES, reader=reader, charset=charset,
                               progress=progress)  # fmt: skip
        report["without_self_correct"] = {k: without[k] for k in ("sentence_accuracy", "ned", "lines", "images",
                                                                  "per_language")}  # fmt: skip
        report["self_correct"] = compare_self_correct(report, without, out, config.self_correct)
    report["generation"] = {**asdict(config), **stats, "shards": shard_count}
    report["report_files"] = {k: str(v) for k, v in write_reports(report, benchmark, out).items()}
    return report


def compare_self_correct(report: dict, without: dict, out: Path, rounds: int) -> dict:
    """Sentence accuracy, NED and seconds per image without and with self-correction, and the engine
    calls it took (from the images' metadata)."""
    import json  # noqa: PLC0415

    metas = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((out / IMAGES).glob("*.json"))]
    corrected = [m for m in metas if isinstance(m.get("self_correct"), dict)]
    count = max(len(corrected), 1)
    calls = sum(1 + m["self_correct"].get("repairs", 0) for m in corrected)
    return {
        "rounds": rounds,
        "without": {
            "sentence_accuracy": without["sentence_accuracy"],
            "ned": without["ned"],
            "seconds_per_image": sum(m.get("seconds_uncorrected", 0.0) for m in corrected) / count,
            "engine_calls": len(corrected),
        },
        "with": {
            "sentence_accuracy": report["sentence_accuracy"],
            "ned": report["ned"],
            "seconds_per_image": sum(m.get("seconds", 0.0) for m in corrected) / count,
            "engine_calls": calls,
        },
        "images": len(corrected),
        "lines": report["lines"],
    }


def self_correct_markdown(report: dict) -> str:
    """The with/without table of a self-corrected run ("" otherwise)."""
    sc = report.get("self_correct")
    if not sc:
        return ""
    rows = [
        f"\n## Self-correction (up to {sc['rounds']} rounds)\n",
        "| | sentence accuracy | NED | seconds per image | engine calls |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for label, key in (("without", "without"), ("with", "with")):
        s = sc[key]
        rows.append(f"| {label} | {s['sentence_accuracy']:.4f} | {s['ned']:.4f} | {s['seconds_per_image']:.3f} "
                    f"| {s['engine_calls']} |")  # fmt: skip
    return "\n".join(rows) + "\n"
