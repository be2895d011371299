"""Finding the text to remove: high recall from the detector, then only what looks like text.

`find_text(image)`:
1. candidates: PP-OCR's detector with the recall setting (`wenchuang.ocr.reader.RECALL_DB`: lower box
   threshold, larger unclip) on the image, on a contrast-enhanced copy (CLAHE on Lab lightness: dark
   text on dark bark, light on a lit sky) and on that copy inverted; overlapping boxes merged (the one
   read with the higher confidence kept);
2. each candidate is read by the recogniser and segmented (`wenchuang.removal.strokes.segment`), and
   kept only when it looks like text: the recogniser reads letters, digits or CJK characters with
   confidence (`TEXT_SCORE`, more for a lone character, which eyes and coins imitate), the stroke mask
   covers a plausible part of the box (`MIN_FRACTION` .. `MAX_CORE_FRACTION`), and its shapes are
   strokes, not solid blobs (`MAX_BLOB`). A face, a coin or fur is therefore never erased.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

import cv2
import numpy as np

from wenchuang.layout.polygons import polygon_mask
from wenchuang.ocr import normalize_text, rectify_crop
from wenchuang.removal.strokes import StrokeMask, segment

__all__ = ["Candidate", "find_text", "is_readable", "looks_like_text", "variants", "word_chars"]

READ_SCORE = 0.5  # a reading below this confidence counts as "nothing read"
TEXT_SCORE = 0.6  # a detection is text only when read at least this confidently ...
SINGLE_CHAR_SCORE = 0.8  # ... and a lone character (an eye read as "O") more so
ROUND_CHARS = set("OoQD0〇○◯°")  # what a coin, a ring or an eye reads as: never text on its own
MIN_FRACTION = 0.02  # strokes cover at least this much of a text box ...
MAX_BLOB = 0.5  # ... and at most this share of them survives an opening (solid shapes do)
MERGE_OVERLAP = 0.5  # two boxes whose intersection covers this much of the smaller are one


@dataclass
class Candidate:
    """A box the detector found: polygon (4 points), reading, stroke mask, and the verdict."""

    polygon: list[tuple[float, float]]
    text: str
    score: float
    variant: str
    strokes: StrokeMask | None = None
    is_text: bool = False
    why: str = ""
    region: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        return {
            "polygon": [[round(float(x), 1), round(float(y), 1)] for x, y in self.polygon],
            "read": self.text,
            "score": round(float(self.score), 4),
            "found_in": self.variant,
            "text": self.is_text,
            "why": self.why,
        }


def is_readable(text: str, score: float, floor: float = READ_SCORE) -> bool:
    """A reading that counts: at least one letter, digit or CJK character, read with confidence."""
    return score >= floor and any(_is_word_char(c) for c in normalize_text(text))


def _is_word_char(char: str) -> bool:
    return char.isalnum() or unicodedata.category(char).startswith("L")


def word_chars(text: str) -> list[str]:
    """The letters, digits and CJK characters of a reading (punctuation and spaces left out)."""
    return [c for c in normalize_text(text) if _is_word_char(c)]


def looks_like_text(text: str, score: float, strokes: StrokeMask | None) -> tuple[bool, str]:
    """(is text, why not / why) for a detector candidate: its reading and its stroke mask."""
    chars = word_chars(text)
    if not chars or score < TEXT_SCORE:
        return False, f"not read as text (read {text!r} at {score:.2f})"
    if len(chars) == 1 and (score < SINGLE_CHAR_SCORE or chars[0] in ROUND_CHARS):
        return False, f"a lone character {chars[0]!r} read at {score:.2f} (eyes, coins and rings read as O, D, 0)"
    if strokes is None or strokes.method in ("empty", "refused"):
        return False, "no stroke mask (the box holds no separable strokes, or too many)"
    if strokes.fraction < MIN_FRACTION:
        return False, f"strokes cover only {strokes.fraction:.1%} of the box"
    if strokes.blob_fraction > MAX_BLOB:
        return False, f"solid shapes, not strokes ({strokes.blob_fraction:.0%} survive an opening)"
    return True, f"read {text!r} at {score:.2f}; strokes {strokes.fraction:.0%} of the box"


def variants(image: np.ndarray) -> dict[str, np.ndarray]:
    """The copies the detector looks at: the image, a contrast-enhanced copy, that copy inverted."""
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)
    clahe = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(8, 8))
    lab[:, :, 0] = clahe.apply(lab[:, :, 0])
    enhanced = cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)
    return {"image": image, "enhanced": enhanced, "inverted": 255 - enhanced}


def find_text(image: np.ndarray, detector=None, recognizer=None) -> list[Candidate]:
    """Every candidate box (merged over `variants`), read, segmented and judged; text ones first."""
    from wenchuang.ocr.reader import get_detector, get_recognizer

    detector = detector or get_detector(recall=True)
    recognizer = recognizer or get_recognizer()
    height, width = image.shape[:2]
    boxes: list[tuple[np.ndarray, str]] = []
    for name, copy in variants(image).items():
        boxes.extend((box, name) for box in detector.detect_boxes(copy))
    if not boxes:
        return []
    readings = recognizer.recognize([rectify_crop(image, box) for box, _ in boxes])
    found = [
        Candidate([(float(x), float(y)) for x, y in box], text, float(score), name)
        for (box, name), (text, score) in zip(boxes, readings)
    ]
    merged = _merge(found, width, height)
    for cand in merged:
        cand.strokes = segment(image, cand.region)
        cand.is_text, cand.why = looks_like_text(cand.text, cand.score, cand.strokes)
    return sorted(merged, key=lambda c: not c.is_text)


def _merge(found: list[Candidate], width: int, height: int) -> list[Candidate]:
    """One candidate per place: of boxes overlapping by `MERGE_OVERLAP` of the smaller, the one read
    with the higher confidence (then the larger)."""
    for cand in found:
        cand.region = polygon_mask(cand.polygon, width, height)
    order = sorted(found, key=lambda c: (-c.score, -int(c.region.sum())))
    kept: list[Candidate] = []
    for cand in order:
        area = int(cand.region.sum())
        if area == 0:
            continue
        if any(
            int((cand.region & other.region).sum()) >= MERGE_OVERLAP * min(area, int(other.region.sum()))
            for other in kept
        ):
            continue
        kept.append(cand)
    return kept
