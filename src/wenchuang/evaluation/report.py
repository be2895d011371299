"""Benchmark report files: Markdown table, plots drawn with PIL (no matplotlib), worst-case sheet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from wenchuang.layout.fonts import load_font

BAR_COLORS = ((52, 101, 164), (237, 125, 49))  # sentence accuracy, NED
INK = (30, 30, 30)


def markdown_table(report: dict) -> str:
    """The headline numbers, per language, and the set-up that produced them."""
    ocr = report.get("ocr", {})
    gen = report.get("generation", {})
    rows = [
        "| subset | lines | sentence accuracy | NED |",
        "| --- | ---: | ---: | ---: |",
        f"| **all** | {report['lines']} | {report['sentence_accuracy']:.4f} | {report['ned']:.4f} |",
    ]
    for lang, s in report.get("per_language", {}).items():
        rows.append(f"| {lang} | {s['lines']} | {s['sentence_accuracy']:.4f} | {s['ned']:.4f} |")
    setup = [
        f"- annotations: `{report.get('annotations')}` ({report.get('entries')} entries, "
        f"{report.get('images')} images scored, {len(report.get('missing_images', []))} missing)",
        f"- OCR: {ocr.get('recognizer')} — {ocr.get('model')} ({ocr.get('package', ocr.get('runtime', ''))}), "
        f"charset {ocr.get('charset')}, precision {ocr.get('precision')}",
    ]
    if gen:
        setup.append(
            f"- generation: engine `{gen.get('engine')}`, model `{gen.get('model')}`, "
            f"{gen.get('images_per_entry')} image(s) per entry, seeds {gen.get('seed')}+k, "
            f"{gen.get('steps')} steps, {gen.get('width')}x{gen.get('height')}, precision {gen.get('precision')}"
        )
    return "# OCR benchmark\n\n" + "\n".join(rows) + "\n\n" + "\n".join(setup) + "\n"


def _font(size: int):
    return load_font(None, size)


def plot_language_accuracy(report: dict, path: Path) -> Path:
    """Horizontal bars: sentence accuracy and NED for each language and overall."""
    groups = [("all", report)] + list(report.get("per_language", {}).items())
    label_w, bar_w, row_h = 150, 420, 44
    width, height = label_w + bar_w + 90, 70 + row_h * len(groups)
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    font, small = _font(16), _font(13)
    draw.text((10, 8), "OCR accuracy per language", fill=INK, font=font)
    for i, (name, color) in enumerate(zip(("sentence accuracy", "NED"), BAR_COLORS)):
        x = label_w + i * 170
        draw.rectangle([x, 36, x + 12, 48], fill=color)
        draw.text((x + 18, 34), name, fill=INK, font=small)
    for r, (lang, s) in enumerate(groups):
        y = 60 + r * row_h
        draw.text((10, y + 10), f"{lang} ({s['lines']})", fill=INK, font=small)
        for b, key in enumerate(("sentence_accuracy", "ned")):
            value = float(s[key])
            y0 = y + b * 17
            draw.rectangle([label_w, y0, label_w + int(round(bar_w * value)), y0 + 14], fill=BAR_COLORS[b])
            draw.text((label_w + int(bar_w * value) + 6, y0), f"{value:.3f}", fill=INK, font=small)
    draw.line([label_w, 56, label_w, height - 6], fill=INK)
    img.save(path)
    return path


def ned_histogram_counts(values, bins: int = 10) -> np.ndarray:
    """Counts of NED values in `bins` equal bins over [0, 1] (1.0 falls in the last bin)."""
    values = np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0)
    idx = np.minimum((values * bins).astype(int), bins - 1)
    return np.bincount(idx, minlength=bins)


def plot_ned_histogram(report: dict, path: Path, bins: int = 10) -> Path:
    counts = ned_histogram_counts([d["ned"] for d in report.get("line_details", [])], bins)
    left, bottom, plot_w, plot_h = 50, 40, 520, 260
    img = Image.new("RGB", (left + plot_w + 20, plot_h + bottom + 60), "white")
    draw = ImageDraw.Draw(img)
    font, small = _font(16), _font(12)
    draw.text((10, 8), f"NED per line ({int(counts.sum())} lines)", fill=INK, font=font)
    top = 40
    peak = max(int(counts.max()), 1)
    bw = plot_w / bins
    for i, c in enumerate(counts):
        h = int(round(plot_h * c / peak))
        x0 = left + i * bw
        draw.rectangle([x0 + 2, top + plot_h - h, x0 + bw - 2, top + plot_h], fill=BAR_COLORS[1])
        draw.text((x0 + bw / 2 - 8, top + plot_h - h - 15), str(int(c)), fill=INK, font=small)
        draw.text((x0 - 6, top + plot_h + 6), f"{i / bins:.1f}", fill=INK, font=small)
    draw.text((left + plot_w - 12, top + plot_h + 6), "1.0", fill=INK, font=small)
    draw.line([left, top + plot_h, left + plot_w, top + plot_h], fill=INK)
    draw.line([left, top, left, top + plot_h], fill=INK)
    img.save(path)
    return path


def worst_cases(report: dict, count: int = 16) -> list[dict]:
    """The lines that scored lowest (NED, then sentence accuracy), worst first."""
    details = report.get("line_details", [])
    return sorted(details, key=lambda d: (d["ned"], d["sentence_accuracy"], d["image"], d["line"]))[:count]


def contact_sheet(report: dict, benchmark, images_dir: Path | None, path: Path, count: int = 16) -> Path | None:
    """A grid of the worst lines: the crop the OCR saw, the expected and the recognised text."""
    from wenchuang.evaluation.annotations import data_root_path  # noqa: PLC0415
    from wenchuang.evaluation.ocr_eval import crop_line, read_image_rgb  # noqa: PLC0415

    images_dir = Path(images_dir) if images_dir is not None else data_root_path(benchmark)

    cases = [c for c in worst_cases(report, count) if c["sentence_accuracy"] == 0 or c["ned"] < 1]
    if not cases:
        return None
    entries = {e.img_name: e for e in benchmark.entries}
    cell_w, cell_h, cols = 380, 120, 3
    rows = (len(cases) + cols - 1) // cols
    sheet = Image.new("RGB", (cell_w * cols, cell_h * rows), "white")
    draw = ImageDraw.Draw(sheet)
    font = _font(15)
    for i, case in enumerate(cases):
        x, y = (i % cols) * cell_w, (i // cols) * cell_h
        entry = entries[case["entry"]]
        line = entry.lines[case["line"]]
        crop = crop_line(read_image_rgb(images_dir / case["image"]), line.polygon, (entry.width, entry.height))
        tile = Image.fromarray(crop)
        tile.thumbnail((cell_w - 12, 48))
        sheet.paste(tile, (x + 6, y + 6))
        draw.text((x + 6, y + 58), f"want: {case['expected']}", fill=(0, 110, 0), font=font)
        draw.text((x + 6, y + 78), f"read: {case['predicted']}", fill=(180, 0, 0), font=font)
        draw.text((x + 6, y + 98), f"NED {case['ned']:.2f} · {case['image']}", fill=INK, font=_font(12))
        draw.rectangle([x, y, x + cell_w - 1, y + cell_h - 1], outline=(200, 200, 200))
    sheet.save(path)
    return path
