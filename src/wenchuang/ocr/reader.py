"""PP-OCRv4 recogniser and detector (rapidocr's ONNX models), crop rectification, line checks."""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from wenchuang.errors import ModelError
from wenchuang.layout.polygons import order_points
from wenchuang.request import LineReading, TextLine

ORT_THREADS_ENV = "WENCHUANG_ORT_THREADS"
VERTICAL_RATIO = 1.5  # a crop this much taller than wide holds vertical text
REC_BATCH = 6
MAX_DETECT_SIDE = 1536  # larger images are detected at this size (speed); boxes are scaled back
# DB post-processing: (box score threshold, unclip ratio). The default reads text; the recall setting
# serves text removal, where a missed line stays readable and a loose box costs only a little more
# segmentation (every candidate is checked to look like text before anything is erased)
DEFAULT_DB = (0.5, 1.6)
RECALL_DB = (0.3, 2.0)
Polygon = Sequence[Sequence[float]]


def ort_threads() -> int:
    """onnxruntime intra-op threads: ``WENCHUANG_ORT_THREADS`` (default 1)."""
    value = os.environ.get(ORT_THREADS_ENV, "1").strip()
    try:
        threads = int(value)
    except ValueError:
        threads = 1
    return max(1, min(threads, os.cpu_count() or 1))


def _models_dir() -> Path:
    try:
        import rapidocr_onnxruntime
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ModelError(f"OCR needs the rapidocr-onnxruntime package: {exc}") from None
    return Path(rapidocr_onnxruntime.__file__).parent / "models"


def _session_config(model_file: str, threads: int) -> dict[str, Any]:
    path = _models_dir() / model_file
    if not path.is_file():
        raise ModelError(f"OCR model {path} is missing; reinstall rapidocr-onnxruntime")
    return {
        "model_path": str(path),
        "intra_op_num_threads": threads,
        "inter_op_num_threads": 1,
        "use_cuda": False,
        "use_dml": False,
    }


# ------------------------------------------------------------------ geometry
def polygon_quad(polygon: Polygon) -> np.ndarray:
    """The polygon as an ordered quad (float32, 4x2; `wenchuang.layout.polygons.order_points`): itself
    when it has 4 points, else its minimum-area rotated rectangle."""
    return np.asarray(order_points(polygon), dtype=np.float32)


def quad_size(quad: np.ndarray) -> tuple[int, int]:
    """(width, height) of an ordered quad: its longer top/bottom edge and left/right edge."""
    width = max(np.linalg.norm(quad[1] - quad[0]), np.linalg.norm(quad[2] - quad[3]))
    height = max(np.linalg.norm(quad[3] - quad[0]), np.linalg.norm(quad[2] - quad[1]))
    return max(1, int(round(width))), max(1, int(round(height)))


def line_height(polygon: Polygon) -> float:
    """The short side of the polygon's quad: a horizontal line's height, a vertical line's width."""
    return float(min(quad_size(polygon_quad(polygon))))


def rectify_crop(image_rgb: np.ndarray, polygon: Polygon, *, rotate_vertical: bool = True) -> np.ndarray:
    """Warp the polygon's quad (its min-area rectangle when it has more than 4 points) to an upright
    crop. A crop at least 1.5x taller than wide holds vertical text and is turned 90° counter-clockwise
    so that it reads left to right (as PP-OCR does), unless `rotate_vertical` is False."""
    quad = polygon_quad(polygon)
    width, height = quad_size(quad)
    target = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    matrix = cv2.getPerspectiveTransform(quad, target)
    crop = cv2.warpPerspective(
        image_rgb, matrix, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
    )
    if rotate_vertical and height >= VERTICAL_RATIO * width:
        crop = np.ascontiguousarray(np.rot90(crop))
    return crop


# ------------------------------------------------------------------ models
class TextRecognizer:
    """PP-OCRv4 text recognition (CTC) of crops; each crop is one line of text, RGB uint8."""

    def __init__(self, threads: int | None = None):
        from rapidocr_onnxruntime.ch_ppocr_rec import TextRecognizer as _RapidRecognizer

        config = _session_config("ch_PP-OCRv4_rec_infer.onnx", threads or ort_threads())
        config.update({"rec_img_shape": [3, 48, 320], "rec_batch_num": REC_BATCH})
        self._model = _RapidRecognizer(config)
        self._lock = threading.Lock()

    def recognize(self, crops: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        """(text, confidence) per crop; an empty crop reads as ("", 0.0)."""
        results: list[tuple[str, float]] = [("", 0.0)] * len(crops)
        valid = [i for i, c in enumerate(crops) if c is not None and c.size and min(c.shape[:2]) >= 2]
        if not valid:
            return results
        bgr = [cv2.cvtColor(_as_rgb(crops[i]), cv2.COLOR_RGB2BGR) for i in valid]
        with self._lock:
            outputs, _ = self._model(bgr)
        for i, (text, score) in zip(valid, outputs):
            results[i] = (str(text), float(score))
        return results


@dataclass
class Detection:
    """A text region the detector found: its polygon (4 points, image pixels), text and confidence."""

    polygon: list[tuple[float, float]]
    text: str
    score: float


class TextDetector:
    """PP-OCRv4 DB text detection on a whole image, then recognition of each found box.
    `box_thresh` (mean probability inside a box to keep it) and `unclip_ratio` (how far a box is grown
    around the text's core) default to PP-OCR's reading settings; `RECALL_DB` finds more, looser."""

    def __init__(
        self,
        threads: int | None = None,
        recognizer: TextRecognizer | None = None,
        box_thresh: float = DEFAULT_DB[0],
        unclip_ratio: float = DEFAULT_DB[1],
    ):
        from rapidocr_onnxruntime.ch_ppocr_det import TextDetector as _RapidDetector

        config = _session_config("ch_PP-OCRv4_det_infer.onnx", threads or ort_threads())
        config.update(
            {
                "limit_side_len": 736,
                "limit_type": "min",
                "std": [0.5, 0.5, 0.5],
                "mean": [0.5, 0.5, 0.5],
                "thresh": 0.3,
                "box_thresh": float(box_thresh),
                "max_candidates": 1000,
                "unclip_ratio": float(unclip_ratio),
                "use_dilation": True,
                "score_mode": "fast",
            }
        )
        self._model = _RapidDetector(config)
        self._recognizer = recognizer
        self._lock = threading.Lock()

    def detect_boxes(self, image_rgb: np.ndarray) -> list[np.ndarray]:
        """Text boxes (4x2 float32, clockwise from top-left, image pixels) in reading order (rows from
        the top, each row from the left), without reading them.
        Images larger than `MAX_DETECT_SIDE` are detected at that size and the boxes scaled back."""
        bgr = cv2.cvtColor(_as_rgb(image_rgb), cv2.COLOR_RGB2BGR)
        scale = min(1.0, MAX_DETECT_SIDE / max(bgr.shape[:2]))
        if scale < 1.0:
            size = (max(1, round(bgr.shape[1] * scale)), max(1, round(bgr.shape[0] * scale)))
            bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
        with self._lock:
            boxes, _ = self._model(bgr)
        if boxes is None:
            return []
        found = [np.asarray(b, dtype=np.float32).reshape(4, 2) / scale for b in boxes]
        return _reading_order(found)

    def detect(self, image_rgb: np.ndarray, *, read: bool = True) -> list[Detection]:
        """Every text region of the image, with its text read by the recogniser (when `read`)."""
        boxes = self.detect_boxes(image_rgb)
        texts: list[tuple[str, float]] = [("", 0.0)] * len(boxes)
        if read and boxes:
            recognizer = self._recognizer or get_recognizer()
            texts = recognizer.recognize([rectify_crop(image_rgb, b) for b in boxes])
        return [
            Detection([(float(x), float(y)) for x, y in box], text, score)
            for box, (text, score) in zip(boxes, texts)
        ]


def _reading_order(boxes: list[np.ndarray]) -> list[np.ndarray]:
    """Rows from the top (a box joins a row when its centre lies within half a box height of the
    row's first box), each row from the left."""
    rows: list[list[np.ndarray]] = []
    for box in sorted(boxes, key=lambda b: float(b[:, 1].mean())):
        centre, height = float(box[:, 1].mean()), max(float(np.ptp(box[:, 1])), 1.0)
        if rows and abs(centre - float(rows[-1][0][:, 1].mean())) <= height / 2:
            rows[-1].append(box)
        else:
            rows.append([box])
    return [box for row in rows for box in sorted(row, key=lambda b: float(b[:, 0].min()))]


def _as_rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return np.ascontiguousarray(image[:, :, :3])
    return np.ascontiguousarray(image)


@functools.lru_cache(maxsize=4)
def get_recognizer(threads: int | None = None) -> TextRecognizer:
    """The shared recogniser (one per thread count; loaded on first use)."""
    return TextRecognizer(threads or ort_threads())


@functools.lru_cache(maxsize=4)
def get_detector(threads: int | None = None, recall: bool = False) -> TextDetector:
    """The shared detector (one per thread count and setting; loaded on first use). `recall`: the
    `RECALL_DB` post-processing (lower box threshold, larger unclip) used to find text to remove."""
    threads = threads or ort_threads()
    box_thresh, unclip_ratio = RECALL_DB if recall else DEFAULT_DB
    return TextDetector(threads, recognizer=get_recognizer(threads), box_thresh=box_thresh, unclip_ratio=unclip_ratio)


# ------------------------------------------------------------------ reading lines
def normalize_text(text: str) -> str:
    """The form compared by the line check: all whitespace removed."""
    return "".join(str(text).split())


def pad_for_recognition(crop: np.ndarray) -> np.ndarray:
    """Extend the crop's edges by a fifth of its height (at least 4 px). PP-OCR learnt from detector
    boxes with a margin around the text; text that touches the crop's edges reads worse (a capital W
    read as w, a lone stroke read as two characters)."""
    pad = max(4, int(round(0.2 * crop.shape[0])))
    return cv2.copyMakeBorder(crop, pad, pad, pad, pad, cv2.BORDER_REPLICATE)


BLANK_MAX_SPREAD = 12.0  # a crop's edges spread more than this around their background (median RGB distance): busy


def trim_blank_ends(crop: np.ndarray) -> np.ndarray:
    """Cut the blank stretches at the left and right ends of a line crop, keeping a margin of a quarter
    of its height. A region much longer than its text leaves empty background that the recogniser
    sometimes reads as a spurious character. "Blank" = every pixel of the column is close to the
    background there: the colour of the crop's top and bottom edges at that point of the line (smoothed
    along it, so a gradient or a picture that turns from dark to light along the line is followed). On a
    busy background (edges spread more than `BLANK_MAX_SPREAD` around it) nothing is cut: a threshold
    above the grain would take faint parts of the text for background and cut them off."""
    height, width = crop.shape[:2]
    if width < 2 * height or height < 4:
        return crop
    pixels = crop.astype(np.float32)
    edges = np.concatenate([pixels[:2], pixels[-2:]])  # 4 x width x 3
    smooth = max(3, (height // 2) * 2 + 1)  # odd, about the crop's height
    background = cv2.medianBlur(np.clip(np.median(edges, axis=0), 0, 255).astype(np.uint8)[None], min(smooth, 255))
    background = background[0].astype(np.float32)  # width x 3
    spread = float(np.median(np.linalg.norm(edges - background[None], axis=2)))
    if spread > BLANK_MAX_SPREAD:
        return crop
    distance = np.linalg.norm(pixels - background[None], axis=2)
    ink = np.nonzero((distance > max(40.0, 6.0 * spread)).any(axis=0))[0]
    if ink.size == 0:
        return crop
    margin = max(2, height // 4)
    left, right = max(0, int(ink[0]) - margin), min(width, int(ink[-1]) + margin + 1)
    return crop[:, left:right] if right - left < width else crop


def read_lines(image_rgb: np.ndarray, polygons: Sequence[Polygon]) -> list[tuple[str, float]]:
    """Read the text inside each polygon: rectified crop, blank ends trimmed, edges padded, then the
    recogniser only (never the detector)."""
    crops = [pad_for_recognition(trim_blank_ends(rectify_crop(image_rgb, p))) for p in polygons]
    return get_recognizer().recognize(crops)


def check_lines(image_rgb: np.ndarray, lines: Sequence[TextLine]) -> list[LineReading]:
    """OCR each line in its polygon; passed = exact match once whitespace is removed.
    A line without a polygon cannot be located and fails with an empty reading."""
    placed = [i for i, line in enumerate(lines) if line.polygon is not None]
    texts = read_lines(image_rgb, [lines[i].polygon for i in placed]) if placed else []
    readings = [LineReading(line.text, "", 0.0, False) for line in lines]
    for i, (text, score) in zip(placed, texts):
        expected = lines[i].text
        passed = bool(normalize_text(expected)) and normalize_text(text) == normalize_text(expected)
        readings[i] = LineReading(expected, text, round(float(score), 4), passed)
    return readings
