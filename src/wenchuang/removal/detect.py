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
3. a text candidate whose strokes go on past an end of its box (the detector's box cut off a faint first
   or last letter) is lengthened along its line to take them in, segmented and read again
   (`continuation`): only where letters of the line's own flat colour, stroke width and band follow
   within about a letter's height, so a picture of a similar colour beside the box is never taken.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

import cv2
import numpy as np

from wenchuang.layout.polygons import polygon_mask
from wenchuang.ocr import normalize_text, rectify_crop
from wenchuang.ocr.reader import polygon_quad, quad_size
from wenchuang.removal.strokes import (
    FLAT_JOINED,
    GLYPH_MAX,
    GLYPH_MIN,
    StrokeMask,
    _flat_colour,
    _joined_share,
    segment,
)

__all__ = [
    "Candidate",
    "continuation",
    "find_text",
    "is_readable",
    "lengthen",
    "looks_like_text",
    "reads_as_text",
    "variants",
    "word_chars",
]

READ_SCORE = 0.5  # a reading below this confidence counts as "nothing read"
TEXT_SCORE = 0.6  # a detection is text only when read at least this confidently ...
SINGLE_CHAR_SCORE = 0.8  # ... and a lone character (an eye read as "O") more so
ROUND_CHARS = set("OoQD0〇○◯°")  # what a coin, a ring or an eye reads as: never text on its own
MIN_FRACTION = 0.02  # strokes cover at least this much of a text box ...
MAX_BLOB = 0.5  # ... and at most this share of them survives an opening (solid shapes do)
MERGE_OVERLAP = 0.5  # two boxes whose intersection covers this much of the smaller are one
# a letter the box cut off (`continuation`): lengths in the height of the line's band of strokes, except
EXTEND_MAX = 3.0  # the box is never lengthened by more than this many of its own heights at either end
EXTEND_GAP = 1.0  # it begins within this of the line's last stroke (or of the letter taken before it)
EXTEND_BAND = 0.15  # it lies within the line's band of strokes, give or take this share of the band
EXTEND_WIDTH = (0.6, 1.7)  # its strokes' width, of the line's (not a thin edge, not a solid patch)
EXTEND_PAD = 0.15  # the lengthened box ends this far past the letter
EXTEND_HELD = 0.75  # a letter with this share of its pixels in the line's mask is held already


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


def reads_as_text(text: str, score: float) -> tuple[bool, str]:
    """(is text, why not) for a reading alone: letters, digits or CJK characters read at `TEXT_SCORE`, a
    lone character at `SINGLE_CHAR_SCORE` and never a round one (what eyes, coins and rings read as)."""
    chars = word_chars(text)
    if not chars or score < TEXT_SCORE:
        return False, f"not read as text (read {text!r} at {score:.2f})"
    if len(chars) == 1 and (score < SINGLE_CHAR_SCORE or chars[0] in ROUND_CHARS):
        return False, f"a lone character {chars[0]!r} read at {score:.2f} (eyes, coins and rings read as O, D, 0)"
    return True, ""


def looks_like_text(text: str, score: float, strokes: StrokeMask | None) -> tuple[bool, str]:
    """(is text, why not / why) for a detector candidate: its reading and its stroke mask."""
    read, why = reads_as_text(text, score)
    if not read:
        return False, why
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
        if cand.is_text:
            _take_in_cut_letters(image, cand, recognizer)
    return sorted(merged, key=lambda c: not c.is_text)


def _take_in_cut_letters(image: np.ndarray, cand: Candidate, recognizer) -> None:
    """Lengthen a text candidate's box over the letters its strokes go on with past its ends
    (`continuation`), segment and read it again; kept when it is still judged text."""
    before, after = continuation(image, cand.polygon, cand.strokes)
    if not before and not after:
        return
    height, width = image.shape[:2]
    polygon = lengthen(cand.polygon, before, after)
    region = polygon_mask(polygon, width, height)
    strokes = segment(image, region)
    (text, score), = recognizer.recognize([rectify_crop(image, polygon)])
    if not is_readable(text, score, TEXT_SCORE):  # the old reading still describes the strokes
        text, score = cand.text, cand.score
    is_text, why = looks_like_text(text, score, strokes)
    if is_text:
        cand.polygon, cand.region, cand.strokes, cand.text, cand.score = polygon, region, strokes, text, float(score)
        cand.why = f"{why}; lengthened by {before:.0f} / {after:.0f} px over letters its box cut off"


def _line_axes(quad: np.ndarray) -> tuple[np.ndarray, tuple[int, int], tuple[int, int]]:
    """The unit vector along an ordered quad's line (its top edge; its left edge, downwards, for a
    vertical line), and the corners at the line's start and at its end."""
    top_left, top_right, _, bottom_left = quad
    width, height = quad_size(quad)
    if width >= height:
        return (top_right - top_left) / max(width, 1), (0, 3), (1, 2)
    return (bottom_left - top_left) / max(height, 1), (0, 1), (3, 2)


def lengthen(polygon, before: float, after: float) -> list[tuple[float, float]]:
    """The polygon's quad lengthened along its line by `before` pixels at its start and `after` at its end."""
    quad = polygon_quad(polygon).astype(np.float64)
    along, starts, ends = _line_axes(quad)
    for index in starts:
        quad[index] = quad[index] - along * before
    for index in ends:
        quad[index] = quad[index] + along * after
    return [(float(x), float(y)) for x, y in quad]


def continuation(image: np.ndarray, polygon, strokes: StrokeMask | None) -> tuple[float, float]:
    """How far (pixels, at the start and at the end) the line's strokes go on past its box: a detector's
    box may cut off a faint first or last letter ("Latte 2024" over a dark saucer was boxed "atte2024").

    In a frame along the line (the box with `EXTEND_MAX` heights beyond each end), the line's text colour
    is the one flat colour of its strokes' inside (`strokes._flat_colour`; none: nothing is judged), and it
    must not run from the strokes into the picture (`strokes._joined_share` over `FLAT_JOINED`: light
    letters crossing a white cup; then colour cannot tell a letter from the picture and nothing is taken). A
    connected part of that colour beyond an end is a letter of the line when it has the shape of one: it
    lies within the line's band of strokes (`EXTEND_BAND`; a picture's shape that runs on across the
    line is not a letter), is letter-sized (`GLYPH_MIN`..`GLYPH_MAX` of the band), and its strokes are
    about as wide as the line's (`EXTEND_WIDTH`: not the thin edge where two of the picture's colours
    meet, not a solid patch). Letters are taken one after the other while each begins within
    `EXTEND_GAP` of the last; the box ends `EXTEND_PAD` past the last one taken."""
    if strokes is None or not strokes.mask.any():
        return 0.0, 0.0
    quad = polygon_quad(polygon).astype(np.float64)
    along, starts, ends = _line_axes(quad)
    across = np.array([-along[1], along[0]])
    thick = float(min(quad_size(quad)))
    u, v = quad @ along, quad @ across
    box_start, box_end = float(u[list(starts)].mean()), float(u[list(ends)].mean())
    reach, side = EXTEND_MAX * thick, 0.5 * thick
    u0, v0 = box_start - reach, float(v.min()) - side  # (the start corners lie before the end ones along the line)
    size = (int(np.ceil(box_end - box_start + 2 * reach)), int(np.ceil(float(v.max()) - float(v.min()) + 2 * side)))
    origin = along * u0 + across * v0
    # canvas (x, y) -> image: origin + x * along + y * across
    frame = np.array([[along[0], across[0], origin[0]], [along[1], across[1], origin[1]]], np.float64)
    flags = cv2.WARP_INVERSE_MAP
    canvas = cv2.warpAffine(image.astype(np.float32), frame, size, flags=flags | cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=(-1e4, -1e4, -1e4))
    mask = cv2.warpAffine(strokes.mask, frame, size, flags=flags | cv2.INTER_NEAREST) > 0
    ys, xs = np.nonzero(mask)
    if len(ys) < 8:
        return 0.0, 0.0
    deep = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3) >= 1.5
    found = _flat_colour(canvas[deep]) if deep.sum() >= 8 else None
    if found is None:  # no one painted colour: the strokes cannot be followed by it
        return 0.0, 0.0
    colour, tolerance = found
    pure = np.linalg.norm(canvas - colour, axis=2) <= tolerance
    if _joined_share(pure, deep & pure, mask) > FLAT_JOINED:
        # the text's colour runs from the strokes into the picture (light letters crossing a white cup):
        # colour cannot tell a letter from the picture here
        return 0.0, 0.0
    pure = pure.astype(np.uint8)
    pen = _pen_width(pure & mask)
    if pen is None:
        return 0.0, 0.0
    top, bottom = np.percentile(ys, 1), np.percentile(ys, 99)
    band = max(bottom - top + 1, 1.0)
    slack = EXTEND_BAND * band
    count, labels, stats, _ = cv2.connectedComponentsWithStats(pure, connectivity=8)
    letters = []  # (first x, last x) of each part that has a letter's shape
    for label in range(1, count):
        x, y, w, h, area = stats[label]
        if y < top - slack or y + h - 1 > bottom + slack or max(w, h) < GLYPH_MIN * band or w > GLYPH_MAX * band:
            continue
        part = labels[y:y + h, x:x + w] == label
        if (part & mask[y:y + h, x:x + w]).sum() > EXTEND_HELD * area:  # a letter the strokes already hold
            continue
        if EXTEND_WIDTH[0] * pen <= _thickness(part) <= EXTEND_WIDTH[1] * pen:
            letters.append((float(x), float(x + w - 1)))
    pad = max(2.0, EXTEND_PAD * band)
    lo, hi = reach, reach + box_end - box_start  # the box's ends on the canvas
    held = xs[(xs >= lo) & (xs <= hi)]  # the line's strokes inside its box
    if not held.size:
        return 0.0, 0.0
    first, last = float(held.min()), float(held.max())
    gap, before, after = EXTEND_GAP * band, 0.0, 0.0
    grown = True
    while grown:
        grown = False
        for a, b in letters:
            if b > last and a <= last + gap and b > hi:
                last, after, grown = b, b - hi + pad, True
            if a < first and b >= first - gap and a < lo:
                first, before, grown = a, lo - a + pad, True
    return before, after


def _thickness(pixels: np.ndarray) -> float:
    """A part's mean stroke width: twice its area over its outline's length (holes included); about the
    pen's width for strokes, 1 for a thin edge, large for a solid patch."""
    contours, _ = cv2.findContours(pixels.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    outline = sum(cv2.arcLength(c, True) for c in contours)
    return 2.0 * float(pixels.sum()) / max(outline, 1.0)


def _pen_width(pixels: np.ndarray) -> float | None:
    """The line's stroke width: the area-weighted median `_thickness` of its parts (of 10 pixels or more)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(pixels.astype(np.uint8), connectivity=8)
    parts = [(_thickness(labels == k), int(stats[k, cv2.CC_STAT_AREA])) for k in range(1, count) if stats[k, cv2.CC_STAT_AREA] >= 10]
    if not parts:
        return None
    widths, areas = np.array(parts, np.float64).T
    order = np.argsort(widths)
    cumulative = np.cumsum(areas[order])
    return float(widths[order][np.searchsorted(cumulative, cumulative[-1] / 2)])


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
