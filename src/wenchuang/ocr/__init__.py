"""Offline OCR on the PP-OCRv4 ONNX models shipped in the ``rapidocr-onnxruntime`` wheel.

- `rectify_crop(image, polygon)`: the polygon's region warped to an upright crop;
- `get_recognizer().recognize(crops)`: PP-OCRv4 text recognition of crops;
- `get_detector().detect(image)`: PP-OCRv4 text detection (+ recognition of each box);
- `read_lines(image, polygons)` and `check_lines(image, lines)`: read each line from its rectified
  crop with the recogniser only. Running the detector on a crop splits and doubles text, so it is
  used only to find text in a whole image ("remove all text").

onnxruntime runs with one thread unless ``WENCHUANG_ORT_THREADS`` says otherwise: on small shared
CPUs the default thread pool makes these small models many times slower.
"""

from wenchuang.ocr.reader import (
    Detection,
    TextDetector,
    TextRecognizer,
    check_lines,
    get_detector,
    get_recognizer,
    normalize_text,
    ort_threads,
    pad_for_recognition,
    read_lines,
    rectify_crop,
    trim_blank_ends,
)

__all__ = [
    "Detection",
    "TextDetector",
    "TextRecognizer",
    "check_lines",
    "get_detector",
    "get_recognizer",
    "normalize_text",
    "ort_threads",
    "pad_for_recognition",
    "read_lines",
    "rectify_crop",
    "trim_blank_ends",
]
