"""What self-correction buys: sentence accuracy before/after, engine calls and time, on this CPU.

Usage: python benchmarks/self_correct.py [--entries 40] [--rounds 3] [--p 0.3 0.5] [--out DIR]

Writes a generated benchmark (AnyWord-3M JSON format: `--entries` images of 3 lines each, Chinese
and English, 512 x 512) and runs `wenchuang.evaluation.runner.run_benchmark` on it with
`--self-correct ROUNDS` and the garbling engine (`wenchuang.engines.garbling`: the classic engine
writing each line wrong with probability p per attempt), for each p. The runner scores the first
attempts and the corrected images with the same OCR, as `wenchuang benchmark --self-correct` does
with a real model. With independent attempts the expected sentence accuracy is 1 - p before and
1 - p^(N+1) after N rounds; the same formula applied to AnyText's published accuracy (0.69 on the
Chinese benchmark) gives the ceiling a real model can approach when its errors are independent of the
seed. Prints a Markdown section for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ANYTEXT_SENTENCE_ACCURACY = 0.69  # AnyText paper, Chinese benchmark (wukong), sentence accuracy

CHINESE = [
    "文创工作室", "三星堆", "故宫博物院", "山水有清音", "限量发售", "福满人间", "青花瓷", "敦煌飞天",
    "茶香四溢", "书画同源", "长城礼物", "熊猫家园", "丝路花雨", "锦绣中华", "春江花月夜", "岁岁平安",
    "金玉满堂", "龙凤呈祥", "水墨江南", "天府之国",
]  # fmt: skip
ENGLISH = [
    "HELLO WORLD", "Museum Shop", "LIMITED 100", "Tea House", "Silk Road", "Panda Home", "Great Wall",
    "Ink and Water", "Spring 2025", "Jade Garden", "OPEN DAILY", "Paper Crafts", "Bronze Age",
    "Summer Sale", "City Guide", "Moon Festival", "Lucky Cat", "Good Fortune", "Art Studio", "Gift Box",
]  # fmt: skip
ROWS = [
    [[40, 40], [472, 40], [472, 130], [40, 130]],
    [[40, 200], [472, 200], [472, 290], [40, 290]],
    [[40, 360], [472, 360], [472, 450], [40, 450]],
]


def write_benchmark(path: Path, entries: int) -> Path:
    """`entries` images of 3 lines each (alternating Chinese/English), in the AnyWord-3M layout. Every
    caption differs (the benchmark uses one seed for all entries; a model's output, and the garbling
    engine's, depends on the prompt)."""
    data = []
    for i in range(entries):
        annotations = []
        for row, polygon in enumerate(ROWS):
            chinese = (i + row) % 2 == 0
            words = CHINESE if chinese else ENGLISH
            annotations.append({
                "polygon": polygon, "text": words[(3 * i + row) % len(words)],
                "language": "Chinese" if chinese else "English", "valid": True,
            })  # fmt: skip
        data.append({"img_name": f"sc_{i:03d}.jpg", "caption": f"cultural-creative product no. {i}: * , * , *",
                     "annotations": annotations})  # fmt: skip
    path.write_text(json.dumps({"data_root": "imgs", "data_list": data}, ensure_ascii=False), encoding="utf-8")
    return path


def run(p: float, rounds: int, annotations: Path, out: Path) -> dict:
    from wenchuang.engines.garbling import GarblingEngine
    from wenchuang.evaluation.runner import BenchmarkConfig, run_benchmark

    engine = GarblingEngine(p=p)
    config = BenchmarkConfig(engine="garbling", images_per_entry=1, self_correct=rounds)
    start = time.perf_counter()
    report = run_benchmark(annotations, config, out, progress=False, engine=engine)
    return {"p": p, "wall_s": time.perf_counter() - start, **report["self_correct"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=40, help="images of 3 lines each (default 40: 120 lines)")
    parser.add_argument("--rounds", type=int, default=3, help="self-correction rounds N (default 3)")
    parser.add_argument("--p", type=float, nargs="+", default=[0.3, 0.5], help="garbling probabilities")
    parser.add_argument("--out", help="folder for the benchmark and the runs (default: a temporary one)")
    args = parser.parse_args()

    root = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="wenchuang-self-correct-"))
    root.mkdir(parents=True, exist_ok=True)
    annotations = write_benchmark(root / "benchmark.json", args.entries)
    results = [run(p, args.rounds, annotations, root / f"p{p:g}") for p in args.p]

    n = args.rounds
    print(f"### Self-correction (`python benchmarks/self_correct.py --entries {args.entries} --rounds {n}`)\n")
    print(f"- machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU(s), "
          f"Python {sys.version.split()[0]}, OCR threads {os.environ.get('WENCHUANG_ORT_THREADS', '1')}")  # fmt: skip
    print(f"- benchmark: {args.entries} generated images x 3 lines = {results[0]['lines']} lines scored, "
          "512x512, classic engine garbling each line with probability p per attempt (seeded)\n")
    print("| p | N | Sen.ACC before | expected 1-p | Sen.ACC after | expected 1-p^(N+1) | NED before → after "
          "| engine calls before → after | s/image before → after |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        w, c = r["without"], r["with"]
        print(f"| {r['p']:g} | {n} | {w['sentence_accuracy']:.3f} | {1 - r['p']:.3f} | "
              f"{c['sentence_accuracy']:.3f} | {1 - r['p'] ** (n + 1):.3f} | {w['ned']:.3f} → {c['ned']:.3f} | "
              f"{w['engine_calls']} → {c['engine_calls']} | {w['seconds_per_image']:.3f} → "
              f"{c['seconds_per_image']:.3f} |")  # fmt: skip
    fail = 1 - ANYTEXT_SENTENCE_ACCURACY
    expected = ", ".join(f"N={k}: {1 - fail ** (k + 1):.3f}" for k in (1, 2, 3, 5))
    print(f"\nAnyText's published sentence accuracy {ANYTEXT_SENTENCE_ACCURACY} (Chinese) would become, with "
          f"independent repairs, {expected} (1 - {fail:.2f}^(N+1)); each repair of a line costs one "
          "edit of that line.")  # fmt: skip
    print(f"\nFiles: {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
