"""Re-make the mock-up pictures of docs/products.md: .venv/bin/python docs/products/make_mockups.py

For each product: a "Golden Sun Bird" background drawn here in the product's proportions, its text
lines written by `wenchuang generate --engine classic` (so NAME.json carries the lines), then
`wenchuang product mockup` and `wenchuang product export` (the print file is checked, not kept).
"""

from __future__ import annotations

import math
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from wenchuang.cli import main

HERE = Path(__file__).resolve().parent

# product: (design size, [(text, x1,y1,x2,y2)], sun centre as a fraction of the size, sun radius)
DESIGNS = {
    "mousepad": ((768, 640), [("太阳神鸟", 224, 520, 544, 600), ("金沙遗址", 600, 56, 712, 96)], (0.5, 0.43), 230),
    "bookmark": ((256, 704), [("太阳神鸟", 96, 420, 160, 664)], (0.5, 0.36), 110),
    "postcard": ((704, 512), [("成都 · 金沙", 420, 200, 660, 260), ("太阳神鸟", 420, 290, 660, 370)], (0.3, 0.5), 190),
    "poster-a3": ((512, 704), [("太阳神鸟", 96, 540, 416, 620), ("金沙遗址博物馆", 136, 636, 376, 672)], (0.5, 0.38), 210),
    "mug": ((768, 320), [("太阳神鸟", 284, 228, 484, 270)], (0.5, 0.38), 100),
}


def sun_bird(size: tuple[int, int], centre: tuple[float, float], radius: float) -> Image.Image:
    """A red lacquer ground with a gold sun of twelve curled rays and four birds, drawn 3x and reduced."""
    ss = 3
    w, h = size[0] * ss, size[1] * ss
    cx, cy, r = centre[0] * w, centre[1] * h, radius * ss
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dist = np.hypot(xx - cx, yy - cy)
    ground = np.float32([132, 26, 22]) * (1.15 - 0.45 * np.clip(dist / max(w, h), 0, 1))[..., None]
    img = Image.fromarray(np.clip(ground, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    gold = (236, 186, 72)
    for k in range(12):  # curled rays: thin wedges whose angle turns with the radius
        pts = []
        for t in np.linspace(0.0, 1.0, 24):
            rad = r * (0.34 + 0.42 * t)
            ang = 2 * math.pi * k / 12 + 0.9 * t
            pts.append((cx + rad * math.cos(ang), cy + rad * math.sin(ang)))
        for t in np.linspace(1.0, 0.0, 24):
            rad = r * (0.34 + 0.42 * t)
            ang = 2 * math.pi * k / 12 + 0.9 * t + 0.22 * (1 - t) + 0.05
            pts.append((cx + rad * math.cos(ang), cy + rad * math.sin(ang)))
        draw.polygon(pts, fill=gold)
    draw.ellipse((cx - 0.26 * r, cy - 0.26 * r, cx + 0.26 * r, cy + 0.26 * r), fill=gold)
    for k in range(4):  # four birds flying round the ring
        a0 = 2 * math.pi * k / 4
        pts = [(cx + r * (0.86 + 0.12 * math.sin(math.pi * t)) * math.cos(a0 - 1.1 * t),
                cy + r * (0.86 + 0.12 * math.sin(math.pi * t)) * math.sin(a0 - 1.1 * t)) for t in np.linspace(0, 1, 30)]
        pts += [(cx + r * 0.86 * math.cos(a0 - 1.1 * t), cy + r * 0.86 * math.sin(a0 - 1.1 * t)) for t in np.linspace(1, 0, 30)]
        draw.polygon(pts, fill=gold)
    img = img.filter(ImageFilter.GaussianBlur(0.6))
    return img.resize(size, Image.Resampling.LANCZOS)


def run(*argv: object) -> None:
    code = main([str(a) for a in argv])
    if code:
        sys.exit(f"failed ({code}): wenchuang {' '.join(map(str, argv))}")


def main_() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for product, (size, lines, centre, radius) in DESIGNS.items():
            background = tmp / f"{product}-background.png"
            sun_bird(size, centre, radius).save(background)
            args = ["generate", "--engine", "classic", "--image", background, "--color", "#F6D889", "--seed", "1"]
            for text, *box in lines:
                args += ["--text", text, "--position", ",".join(map(str, box))]
            run(*args, "--out", tmp / product)
            (design,) = sorted((tmp / product).glob("*.png"))
            run("product", "export", design, "--product", product, "--out", tmp / f"{product}.pdf", "--dpi", "72")
            run("product", "mockup", design, "--product", product, "--out", HERE / f"{product}.png", "--width", "1024")


if __name__ == "__main__":
    main_()
