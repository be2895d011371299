"""Speed of glyph rendering (layout) and of the classic engine on this CPU, at 512 x 512.

Usage: python benchmarks/layout_classic.py [--repeat 30] [--threads 1]

Measures, as the median over `--repeat` runs after one warm-up:
- glyph rendering of 5 lines: `layout.glyphs.build_text_conditions` (glyph canvases, glyph lines,
  positions, hint), target <= 10 ms;
- one classic edit: replace the text of one line (stroke segmentation, inpainting, rendering and
  the OCR check of the new line), target <= 150 ms; also a removal of two regions, a removal of all
  detected text, and a 5-line generate, for reference.
Prints a Markdown section (machine, command, numbers) for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np

LINES = ["文创工作室", "Hello World", "故宫 Museum", "限量 100 件", "山水有清音"]
POLYGONS = [
    [(30, 20), (480, 20), (480, 100), (30, 100)],
    [(40, 130), (400, 130), (400, 190), (40, 190)],
    [(60, 250), (440, 210), (450, 280), (70, 320)],
    [(40, 360), (330, 360), (330, 420), (40, 420)],
    [(420, 150), (490, 150), (490, 500), (420, 500)],
]


def median_ms(fn, repeat: int) -> tuple[float, float]:
    fn()  # warm-up: fonts, OCR sessions
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), min(times)


def edit_scene():
    from wenchuang.engines.classic import TextStyle, draw_line, make_background

    rng = np.random.default_rng(0)
    image = make_background(512, 512, 1).astype(np.float32) + rng.normal(0, 2.0, (512, 512, 1))
    image = np.clip(image, 0, 255).astype(np.uint8)
    draw_line(image, "旧品清仓", POLYGONS[0], None, TextStyle((140, 30, 30)))
    draw_line(image, "Old Sale", POLYGONS[1], None, TextStyle((30, 30, 30)))
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=30, help="timed runs per measurement (default 30)")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime threads for the OCR (default 1)")
    args = parser.parse_args()
    os.environ["WENCHUANG_ORT_THREADS"] = str(args.threads)

    from wenchuang.engines.classic import ClassicEngine
    from wenchuang.layout.glyphs import build_text_conditions
    from wenchuang.request import DesignRequest, TextLine

    rows = []
    glyphs = median_ms(lambda: build_text_conditions(LINES, POLYGONS, 512, 512), args.repeat)
    rows.append(("glyph rendering, 5 lines (build_text_conditions)", glyphs, "≤ 10"))

    engine = ClassicEngine()
    image = edit_scene()

    def replace():
        request = DesignRequest(mode="edit", image=image, lines=[TextLine("新品上市", POLYGONS[0])])
        return engine.edit(request)

    result = replace()
    assert result.readings[0][0].passed, result.readings
    rows.append(("classic edit: replace 1 line (incl. OCR check)", median_ms(replace, args.repeat), "≤ 150"))
    stages = [replace().timings for _ in range(max(3, args.repeat // 3))]
    breakdown = ", ".join(
        f"{name} {statistics.median(t[name] for t in stages) * 1000:.1f}"
        for name in ("detect", "erase", "verify", "render", "ocr")
    )

    def remove():
        return engine.edit(DesignRequest(mode="edit", image=image, remove_regions=POLYGONS[:2]))

    rows.append(("classic edit: remove 2 regions (incl. OCR check)", median_ms(remove, args.repeat), ""))

    def remove_all():
        return engine.edit(DesignRequest(mode="edit", image=image, remove_all_text=True))

    rows.append(("classic edit: remove all text (detector)", median_ms(remove_all, max(3, args.repeat // 3)), ""))

    def generate():
        lines = [TextLine(t, p) for t, p in zip(LINES, POLYGONS)]
        return engine.generate(DesignRequest(lines=lines, seed=1))

    rows.append(("classic generate: 5 lines (incl. OCR check)", median_ms(generate, max(3, args.repeat // 3)), ""))

    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in open("/proc/cpuinfo", encoding="utf-8")
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        cpu = platform.processor() or "unknown CPU"
    print("## Layout glyphs and classic engine (512 x 512)\n")
    print(f"Machine: {cpu}, {os.cpu_count()} logical cores (shared), Python {sys.version.split()[0]}, "
          f"onnxruntime threads {args.threads}.  ")
    print(f"Command: `.venv/bin/python benchmarks/layout_classic.py --repeat {args.repeat} --threads {args.threads}`\n")
    print("| what | median ms | best ms | target ms |")
    print("|---|---:|---:|---:|")
    for label, (med, best), target in rows:
        print(f"| {label} | {med:.1f} | {best:.1f} | {target} |")
    print(f"\nReplace edit by stage (median ms): {breakdown}.")
    try:
        load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
        print(f"Load average during the run: {load} (other jobs share these cores; best = least contended).")
    except OSError:
        pass


if __name__ == "__main__":
    main()
