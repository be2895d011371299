"""`wenchuang data prepare`: turn a folder of photos into a clean, captioned training set.

For every image under SRC (sorted by path): decode it (corrupt files are skipped and reported),
skip it when too small, drop it when its perceptual hash (dHash) is within a Hamming distance of
an image already kept, resize and crop it to a square (centre, or the window with the most edge
energy), look for watermarks (OCR text in the corners, or text with watermark words anywhere),
caption it with a WD14-style tagger plus a trigger token, and write DST/NAME.png with DST/NAME.txt
beside it (the kohya convention). DST/prepare_report.json lists what happened to every file.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
from PIL import Image

from wenchuang.errors import WenchuangError
from wenchuang.images import load_image
from wenchuang.layout.polygons import polygon_mask
from wenchuang.removal import remove_text
from wenchuang.training.anyword import is_watermark_text

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
PHOTO_TYPES = ("png", "jpeg", "webp", "bmp", "tiff", "gif")  # by content; the suffixes only pick the files
MAX_PIXELS = 80_000_000
MAX_BYTES = 512 * 1024 * 1024
MAX_SIZE = 4096  # output side; larger squares only exhaust memory
CORNER_X, CORNER_Y = 0.3, 0.2  # a corner region is this share of the width / height from two edges


@dataclass
class PrepareConfig:
    size: int = 512
    crop: str = "center"  # or "saliency"
    min_side: int = 256
    dedup_distance: int = 4
    watermarks: str = "flag"  # flag | skip | remove | off
    tagger: str | None = None
    trigger: str = ""
    general_threshold: float = 0.35
    character_threshold: float = 0.85
    keep_underscores: bool = False


@dataclass
class PrepareReport:
    source: str
    output: str
    kept: list[dict[str, Any]] = field(default_factory=list)
    corrupt: list[dict[str, str]] = field(default_factory=list)
    too_small: list[dict[str, Any]] = field(default_factory=list)
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    watermarked: list[dict[str, Any]] = field(default_factory=list)
    watermark_action: str = "flag"
    captions: str = ""

    def summary(self) -> str:
        lines = [
            f"{len(self.kept)} images written to {self.output}",
            f"  corrupt (skipped): {len(self.corrupt)}",
            f"  too small (skipped): {len(self.too_small)}",
            f"  duplicates (skipped): {len(self.duplicates)}",
            f"  likely watermarks ({self.watermark_action}): {len(self.watermarked)}",
            f"  captions: {self.captions}",
        ]
        for item in self.corrupt:
            lines.append(f"  corrupt: {item['source']}: {item['error']}")
        return "\n".join(lines)


class Detector(Protocol):
    def detect(self, image_rgb: np.ndarray) -> list: ...


# ------------------------------------------------------------------ image helpers
def dhash(image_rgb: np.ndarray, bits: int = 8) -> int:
    """Difference hash: `bits`×`bits` comparisons of horizontally adjacent cells of a grey thumbnail."""
    grey = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2GRAY)
    small = cv2.resize(grey, (bits + 1, bits), interpolation=cv2.INTER_AREA).astype(np.int16)
    diff = (small[:, 1:] > small[:, :-1]).flatten()
    return int("".join("1" if d else "0" for d in diff), 2)


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def crop_square(image_rgb: np.ndarray, size: int, mode: str = "center") -> np.ndarray:
    """Resize the shorter side to `size` and crop a square: centred, or ("saliency") the window of
    the long axis holding the most edge energy (Sobel magnitude)."""
    h, w = image_rgb.shape[:2]
    scale = size / min(h, w)
    new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    resized = cv2.resize(image_rgb, (new_w, new_h), interpolation=interpolation)
    extra = max(new_w, new_h) - size
    offset = extra // 2
    if mode == "saliency" and extra > 0:
        grey = cv2.cvtColor(resized, cv2.COLOR_RGB2GRAY).astype(np.float32)
        energy = np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))
        profile = energy.sum(axis=0 if new_w > new_h else 1)
        window = np.convolve(profile, np.ones(size, np.float32), mode="valid")  # extra + 1 positions
        best = float(window.max())
        candidates = np.flatnonzero(window >= best - 1e-6 * max(best, 1.0))
        offset = int(candidates[np.argmin(np.abs(candidates - extra // 2))])  # closest to the centre
    elif mode not in ("center", "saliency"):
        raise WenchuangError(f"crop must be 'center' or 'saliency', not {mode!r}")
    if new_w > new_h:
        return np.ascontiguousarray(resized[:size, offset : offset + size])
    return np.ascontiguousarray(resized[offset : offset + size, :size])


def _in_corner(polygon, width: int, height: int) -> bool:
    xs = [p[0] for p in polygon]
    ys = [p[1] for p in polygon]
    cx, cy = sum(xs) / len(xs), sum(ys) / len(ys)
    left_or_right = cx < CORNER_X * width or cx > (1 - CORNER_X) * width
    top_or_bottom = cy < CORNER_Y * height or cy > (1 - CORNER_Y) * height
    return left_or_right and top_or_bottom


def find_watermarks(image_rgb: np.ndarray, detector: Detector) -> list[dict[str, Any]]:
    """Detected text that looks like a watermark: in a corner, or with watermark words/URLs."""
    h, w = image_rgb.shape[:2]
    found = []
    for det in detector.detect(image_rgb):
        corner = _in_corner(det.polygon, w, h)
        words = is_watermark_text(det.text)
        if corner or words:
            found.append(
                {
                    "text": det.text,
                    "polygon": [[round(float(x), 1), round(float(y), 1)] for x, y in det.polygon],
                    "why": "corner text" if corner and not words else "watermark words",
                }
            )
    return found


def remove_regions(image_rgb: np.ndarray, polygons: list) -> np.ndarray:
    """Erase the text in the given regions (`wenchuang.removal.remove_text`, as the classic engine's
    edit does: stroke segmentation, then inpainting)."""
    h, w = image_rgb.shape[:2]
    return remove_text(image_rgb, [polygon_mask(polygon, w, h) for polygon in polygons]).image


def _output_name(relative: Path, used: set[str]) -> str:
    stem = "_".join(relative.with_suffix("").parts)
    stem = re.sub(r"[^\w\-]+", "_", stem, flags=re.UNICODE).strip("_") or "image"
    name, n = stem, 2
    while name.lower() in used:
        name, n = f"{stem}_{n}", n + 1
    used.add(name.lower())
    return name


# ------------------------------------------------------------------ the command
def prepare_dataset(
    src: str | Path,
    dst: str | Path,
    config: PrepareConfig | None = None,
    detector: Detector | None = None,
    progress: bool = True,
) -> PrepareReport:
    from tqdm import tqdm

    config = config or PrepareConfig()
    src, dst = Path(src), Path(dst)
    if not src.is_dir():
        raise WenchuangError(f"{src}: not a folder")
    if config.watermarks not in ("flag", "skip", "remove", "off"):
        raise WenchuangError(f"watermarks must be flag, skip, remove or off, not {config.watermarks!r}")
    if not 64 <= config.size <= MAX_SIZE:
        raise WenchuangError(f"size must be between 64 and {MAX_SIZE}, not {config.size}")
    for name in ("min_side", "dedup_distance"):
        if getattr(config, name) < 0:
            raise WenchuangError(f"{name} must be at least 0, not {getattr(config, name)}")
    for name in ("general_threshold", "character_threshold"):
        if not 0 <= getattr(config, name) <= 1:
            raise WenchuangError(f"{name} must be between 0 and 1, not {getattr(config, name)}")
    if dst.resolve() == src.resolve():
        raise WenchuangError("the output folder must differ from the source folder (outputs would replace sources)")
    files = sorted(p for p in src.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    report = PrepareReport(str(src), str(dst), watermark_action=config.watermarks)

    tagger = None
    if config.tagger:
        from wenchuang.training.tagger import WD14Tagger

        tagger = WD14Tagger(
            config.tagger, config.general_threshold, config.character_threshold, config.keep_underscores
        )
        report.captions = f"WD14 tagger {config.tagger}" + (
            f", trigger {config.trigger!r}" if config.trigger else ""
        )
    elif config.trigger:
        report.captions = f"no tagger given: captions hold only the trigger {config.trigger!r}"
    else:
        report.captions = "no tagger given: captioning skipped (pass --tagger, --trigger or both)"
    if config.watermarks != "off" and detector is None:
        from wenchuang.ocr import get_detector

        detector = get_detector()
    dst.mkdir(parents=True, exist_ok=True)  # only once the tagger and the detector are loaded

    hashes: list[tuple[int, str]] = []
    used: set[str] = set()
    for path in tqdm(files, desc="prepare", unit=" images", disable=not progress):
        relative = path.relative_to(src)
        try:
            image = load_image(path, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS, types=PHOTO_TYPES)
        except WenchuangError as exc:
            report.corrupt.append({"source": str(relative), "error": str(exc)})
            continue
        h, w = image.shape[:2]
        if min(h, w) < config.min_side:
            report.too_small.append({"source": str(relative), "size": [w, h]})
            continue
        digest = dhash(image)
        twin = next((name for other, name in hashes if hamming(digest, other) <= config.dedup_distance), None)
        if twin is not None:
            report.duplicates.append({"source": str(relative), "duplicate_of": twin})
            continue
        hashes.append((digest, str(relative)))
        square = crop_square(image, config.size, config.crop)
        marks = find_watermarks(square, detector) if config.watermarks != "off" else []
        if marks:
            report.watermarked.append({"source": str(relative), "regions": marks})
            if config.watermarks == "skip":
                continue
            if config.watermarks == "remove":
                square = remove_regions(square, [m["polygon"] for m in marks])
        name = _output_name(relative, used)
        Image.fromarray(square).save(dst / f"{name}.png")
        caption = tagger.caption(square, config.trigger) if tagger else config.trigger
        if caption:
            (dst / f"{name}.txt").write_text(caption + "\n", encoding="utf-8")
        report.kept.append(
            {"source": str(relative), "output": f"{name}.png", "caption": caption, "watermark": bool(marks)}
        )
    (dst / "prepare_report.json").write_text(
        json.dumps(asdict(report), ensure_ascii=False, indent=2), encoding="utf-8"
    )
    return report
