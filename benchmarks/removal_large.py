"""Remove all text from a large, soft photograph with a headline and a line of small print (a phone photo's case).

    .venv/bin/python benchmarks/removal_large.py [--out DIR] [--factor 5]

scikit-image's astronaut enlarged `--factor` times (bicubic, so its edges are as soft as a phone photo's at
full size), a 220 px white headline over the suit and a 40 px line of small print under it, JPEG quality 92.
Runs the classic engine's "remove all text" and prints the time, the working scale, what the OCR still
reads in the two boxes and the engine's own verdict; with --out, writes the input and the result.
Results are recorded in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import io
import json
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from wenchuang.engines.classic import ClassicEngine, TextStyle, draw_line
from wenchuang.ocr import read_lines
from wenchuang.request import DesignRequest

HEADLINE = "故宫文创 2026"
SMALL = "Museum shop · open daily"


def scene(factor: float) -> tuple[np.ndarray, list, list]:
    from skimage import data

    image = cv2.resize(data.astronaut(), None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
    k = factor / 5
    head = [(300 * k, 1900 * k), (2200 * k, 1900 * k), (2200 * k, 2150 * k), (300 * k, 2150 * k)]
    small = [(400 * k, 2250 * k), (1400 * k, 2250 * k), (1400 * k, 2300 * k), (400 * k, 2300 * k)]
    draw_line(image, HEADLINE, head, None, TextStyle((250, 250, 250)), size=round(220 * k))
    draw_line(image, SMALL, small, None, TextStyle((250, 250, 250)), size=round(40 * k))
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=92)
    return np.asarray(Image.open(buffer).convert("RGB")), head, small


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--factor", type=float, default=5.0, help="enlargement of the 512 px photograph (default 5)")
    parser.add_argument("--out", help="write input.jpg and result.png here")
    args = parser.parse_args()
    if not 1.5 <= args.factor <= 12:
        parser.error(f"--factor must be between 1.5 and 12 (a photo larger than the 640 px the removal erases as it is), got {args.factor}")
    image, head, small = scene(args.factor)
    start = time.perf_counter()
    result = ClassicEngine().edit(DesignRequest(mode="edit", image=image, remove_all_text=True, seed=1))
    seconds = time.perf_counter() - start
    out = result.images[0]
    removal = result.extra["removal"]
    report = {
        "size": list(image.shape[:2]),
        "seconds": round(seconds, 1),
        "scale": removal.get("scale"),
        "read_before": [f"{t} ({s:.2f})" for t, s in read_lines(image, [head, small])],
        "read_after": [f"{t} ({s:.2f})" for t, s in read_lines(out, [head, small])],
        "clean": removal["clean"],
        "remaining": [f'{r["read"]} ({r["score"]:.2f})' for r in removal["remaining"]],
        "regions": len(removal["regions"]),
    }
    print(json.dumps(report, ensure_ascii=False, indent=1))
    if args.out:
        folder = Path(args.out)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / "input.jpg", quality=92)
        Image.fromarray(out).save(folder / "result.png")


if __name__ == "__main__":
    main()
