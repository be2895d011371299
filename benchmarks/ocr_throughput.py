"""OCR evaluation throughput: annotated lines scored per second (crop + PP-OCRv4 recognition + metrics).

Renders the 30-entry test set (60 lines) with the classic engine once, then times `evaluate_ocr`
over it several times. onnxruntime threads come from WENCHUANG_ORT_THREADS (default 1).

    .venv/bin/python benchmarks/ocr_throughput.py [--repeats 3] [--images-per-entry 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from wenchuang.evaluation.annotations import load_benchmark
from wenchuang.evaluation.ocr_eval import PPOCRReader, evaluate_ocr
from wenchuang.evaluation.runner import BenchmarkConfig, generate

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "evaluation" / "fixtures" / "bench30.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--images-per-entry", type=int, default=1)
    args = parser.parse_args()
    benchmark = load_benchmark(FIXTURE)
    with tempfile.TemporaryDirectory() as tmp:
        config = BenchmarkConfig(engine="classic", images_per_entry=args.images_per_entry)
        t0 = time.perf_counter()
        generate(benchmark, config, tmp, progress=False)
        gen_s = time.perf_counter() - t0
        reader = PPOCRReader()
        evaluate_ocr(benchmark, Path(tmp) / "images", reader=reader, progress=False)  # warm-up
        rates = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            report = evaluate_ocr(benchmark, Path(tmp) / "images", reader=reader, progress=False)
            rates.append(report["lines"] / (time.perf_counter() - t0))
    print(f"ORT threads: {os.environ.get('WENCHUANG_ORT_THREADS', '1')}, cores: {os.cpu_count()}")
    print(f"classic generation: {len(benchmark.entries) * args.images_per_entry / gen_s:.1f} images/s")
    print(f"OCR evaluation: {report['lines']} lines, median {statistics.median(rates):.1f} lines/s "
          f"(min {min(rates):.1f}, max {max(rates):.1f}); sentence accuracy {report['sentence_accuracy']:.4f}, "
          f"NED {report['ned']:.4f}")


if __name__ == "__main__":
    main()
