"""Score images against benchmark annotations: crop each line, recognise it, compare (AnyText protocol).

Per line, as ``eval/eval_dgocr.py`` does: the line's polygon is reduced to its minimum-area
rectangle, the image is warped so that rectangle becomes an upright crop, a crop taller than
1.2x its width is turned 90 degrees counter-clockwise (vertical text), and the recogniser alone
(never a detector) reads it. Then `wenchuang.evaluation.metrics` scores it.

The recogniser is PP-OCRv4 from `rapidocr-onnxruntime` (through `wenchuang.ocr`) by default. The
official numbers used ModelScope's DuGuang OCR; scores move by more than 10 points with the OCR, so
every report names the recogniser, its model file and version, the charset, seeds and precision.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from wenchuang.errors import ModelError
from wenchuang.evaluation.annotations import Benchmark, Entry, images_for_entry
from wenchuang.evaluation.metrics import Charset, LineScore, get_charset, score_line, summarize
from wenchuang.layout.polygons import order_points

VERTICAL_RATIO = 1.2  # the benchmark turns a crop when height > 1.2 x width


class LineReader(Protocol):
    """Reads cropped text lines (H x W x 3 uint8 RGB) -> [(text, confidence)]."""

    info: dict

    def read(self, crops: Sequence[np.ndarray]) -> list[tuple[str, float]]: ...


def _sha256_prefix(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


@dataclass
class PPOCRReader:
    """PP-OCR recognition from rapidocr-onnxruntime, through `wenchuang.ocr.get_recognizer()`."""

    info: dict = field(default_factory=dict)

    def __post_init__(self):
        from importlib.metadata import version  # noqa: PLC0415

        import rapidocr_onnxruntime  # noqa: PLC0415

        from wenchuang.ocr import get_recognizer  # noqa: PLC0415

        self._recognizer = get_recognizer()
        models = sorted((Path(rapidocr_onnxruntime.__file__).parent / "models").glob("*rec*.onnx"))
        model = models[0] if models else None
        self.info = {
            "recognizer": "ppocr-onnx",
            "package": f"rapidocr-onnxruntime {version('rapidocr-onnxruntime')}",
            "model": model.name if model else "unknown",
            "model_sha256": _sha256_prefix(model) if model else None,
            "precision": "fp32",
            "runtime": f"onnxruntime {version('onnxruntime')} (CPU)",
            "output_cleanup": "leading/trailing whitespace stripped",
        }

    def read(self, crops):
        # PP-OCRv4's dictionary has a space class and it pads readings of loose crops with spaces
        # (also U+3000); the benchmark's recogniser does not, so leading/trailing whitespace goes.
        return [(str(t).strip(), float(s)) for t, s in self._recognizer.recognize(list(crops))]


class AnyTextReader:
    """The AnyText PP-OCRv3 torch recogniser (``ppv3_rec.pth``), when its weights are present."""

    def __init__(self, weights: str | Path, device: str = "cpu"):
        weights = Path(weights)
        if not weights.is_file():
            raise ModelError(
                f"AnyText OCR weights not found at {weights}; give the path of ppv3_rec.pth "
                "(from the AnyText release) or use the default recogniser"
            )
        # imported here: the default recogniser needs no torch
        from wenchuang.ocr.anytext_reader import load_recognizer  # noqa: PLC0415

        self._recognizer = load_recognizer(weights, device=device)
        self.info = {
            "recognizer": "anytext-ppocrv3",
            "model": weights.name,
            "model_sha256": _sha256_prefix(weights),
            "precision": "fp32",
            "runtime": f"torch ({device})",
        }

    def read(self, crops):
        return [(str(t), float(s)) for t, s in self._recognizer.recognize(list(crops))]


def min_area_box(polygon) -> np.ndarray:
    """The polygon's minimum-area rectangle, as 4 points (float32) in the project's one corner order
    (`wenchuang.layout.polygons.order_points`: top-left, top-right, bottom-right, bottom-left)."""
    box = cv2.boxPoints(cv2.minAreaRect(np.asarray(polygon, dtype=np.float32)))
    return np.asarray(order_points(box), dtype=np.float32)


def crop_line(image: np.ndarray, polygon, canvas: tuple[int, int] | None = None) -> np.ndarray:
    """Upright crop of one annotated line (RGB uint8), rotated when it is vertical."""
    from wenchuang.ocr import rectify_crop  # noqa: PLC0415

    poly = np.asarray(polygon, dtype=np.float32)
    if canvas is not None:
        h, w = image.shape[:2]
        poly = poly * np.array([w / canvas[0], h / canvas[1]], dtype=np.float32)
    box = [tuple(p) for p in min_area_box(poly).tolist()]
    crop = np.asarray(rectify_crop(image, box, rotate_vertical=False))
    if crop.ndim == 2:
        crop = np.stack([crop] * 3, axis=-1)
    if crop.shape[0] > VERTICAL_RATIO * crop.shape[1]:
        crop = np.ascontiguousarray(np.rot90(crop, k=1))
    return crop


def read_image_rgb(path: Path) -> np.ndarray:
    from wenchuang.images import load_image  # noqa: PLC0415

    return load_image(path)


def _sidecar_seed(image_path: Path):
    meta = image_path.with_suffix(".json")
    if meta.is_file():
        try:
            return json.loads(meta.read_text(encoding="utf-8")).get("seed")
        except (OSError, ValueError, AttributeError):
            return None
    return None


def score_entry_image(
    entry: Entry, image: np.ndarray, image_name: str, reader: LineReader, charset: Charset | None
) -> list[LineScore]:
    if not entry.lines:
        return []
    crops = [crop_line(image, line.polygon, (entry.width, entry.height)) for line in entry.lines]
    readings = reader.read(crops)
    return [
        score_line(image_name, entry.img_name, k, line.language, line.text, text, conf, charset)
        for k, (line, (text, conf)) in enumerate(zip(entry.lines, readings))
    ]


def charset_for(benchmark: Benchmark, name: str = "auto") -> Charset:
    """``auto`` follows the official script: English dictionary for a LAION set, Chinese otherwise."""
    if name == "auto":
        name = "en" if "laion" in str(benchmark.path).lower() else "ch"
    return get_charset(name)


def evaluate_ocr(
    benchmark: Benchmark,
    images_dir: str | Path | None = None,
    reader: LineReader | None = None,
    charset: str | Charset = "auto",
    progress: bool = True,
    image_loader: Callable[[Path], np.ndarray] = read_image_rgb,
) -> dict:
    """Score every image of every entry; return the report (a JSON-safe dict)."""
    from tqdm import tqdm  # noqa: PLC0415

    reader = reader or PPOCRReader()
    charset = charset if isinstance(charset, Charset) else charset_for(benchmark, charset)
    images_dir = Path(images_dir) if images_dir is not None else None
    scores: list[LineScore] = []
    missing: list[str] = []
    seeds: dict[str, object] = {}
    for entry in tqdm(benchmark.entries, desc="ocr eval", unit="entry", disable=not progress):
        paths = images_for_entry(benchmark, entry, images_dir)
        if not paths:
            missing.append(entry.img_name)
            continue
        for path in paths:
            seed = _sidecar_seed(path)
            if seed is not None:
                seeds[path.name] = seed
            scores.extend(score_entry_image(entry, image_loader(path), path.name, reader, charset))
    report = summarize(scores)
    report.update(
        {
            "annotations": str(benchmark.path),
            "images_dir": str(images_dir) if images_dir else None,
            "entries": len(benchmark.entries),
            "missing_images": missing,
            "ocr": {**reader.info, "charset": charset.name, "protocol": "AnyText eval_dgocr (min-area-rect crop)"},
            "seeds": seeds,
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "line_details": [s.to_dict() for s in scores],
        }
    )
    return report
