"""`erase_text`: removal that is checked, not assumed.

1. Erase the given regions (the user's boxes, mask parts, lines to replace) and, with `find_all`, every
   candidate `find_text` judges to be text.
2. With `find_all`, detect again on the result and erase what is left or newly found (a line the
   first pass missed, a fragment), up to `MAX_PASSES` passes or until nothing is found; the last
   detection covers the whole image and is the verification.
3. Every erased region is read again, as a whole line and in overlapping windows a few characters wide
   along it (`WINDOWS`: a letter left over in a line otherwise erased is read confidently on its own and
   drowned in the whole line's reading); where text is still read, its mask is widened and filled again,
   and a window that still reads is segmented again on the current image and filled, kept only where
   that window then stops reading (`_fill_checked`; up to `MAX_RETRIES` times). Where the line's first
   mask missed strokes (a light letter over a white cup, hardly different from it), the windows still
   read (every window when only the whole line is) are also segmented against their own local background in the original image (`_missed_strokes`).
   A window in whose retry nothing of the line is found (`_picture_window`) is the picture read as a
   letter: it widens nothing and is listed apart (`read_as_text_in_picture`), not as text left.
4. The report lists every region (polygon, what was read before and after, the passes that touched
   it, how its mask was made) and every text still readable anywhere it looked.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from wenchuang.layout.polygons import polygon_mask
from wenchuang.ocr import normalize_text, read_lines
from wenchuang.ocr.reader import line_height, polygon_quad, quad_size
from wenchuang.removal.core import Eraser, remove_text
from wenchuang.removal.detect import (
    MAX_BLOB,
    ROUND_CHARS,
    TEXT_SCORE,
    Candidate,
    find_text,
    is_readable,
    lengthen,
    reads_as_text,
    word_chars,
)
from wenchuang.removal.fill import inpaint
from wenchuang.removal.strokes import _disk, local_strokes, segment

__all__ = ["MAX_PASSES", "MAX_RETRIES", "WINDOWS", "Erasure", "ErasedRegion", "erase_text", "left_over", "line_windows", "read_back_windows", "resembles"]

MAX_PASSES = 3  # detect-and-erase rounds with find_all
MAX_RETRIES = 2  # widen-and-refill rounds for a region still read
WIDEN_STEP = 3  # pixels added to a retried region's mask per round (times the round)
CONFIDENT = 0.9  # a reading this confident counts as remaining text even when unlike the original
# read-back windows along an erased line: (length, step) in line heights (the polygon's short side, about
# 1.5 times the letters' height). A lone leftover letter reads best in a window about its own width
# (SPACE's "A": 0.97 at 1.2 heights, 0.72-0.82 at 1.5). One window costs the recogniser as much as a whole
# line; adding 1.5/0.75 windows doubled the reads and moved no box on the benchmark or the held-out scenes by more than 0.3 dB
WINDOWS = ((1.2, 0.6),)
# the windows run this far (line heights) beyond each end of the line: a detector's box may cut off the
# first or last character, part of which the stroke mask's halo then erases and part of which stays
WINDOW_REACH = 0.5
# a retry segments a window still read against its own local background; where the line's first mask already
# holds this share of what that finds, the strokes were found there and the rest is the picture
LOCAL_EXPLAINED = 0.8
# a window's strokes segmented again in a retry are a leftover of the line only in the line's colour (within
# this RGB distance of it): a brick wall's mortar, read as an "L" once the letters over it were filled, is not
LEFTOVER_COLOUR = 40.0
# a window still read in whose retry nothing of the line is found (its strokes segmented again are not in the
# line's colour, its own-background strokes are none or solid shapes) is the picture read as a letter, but only
# when the window also holds fewer than this many pixels within `LEFTOVER_COLOUR` of the line's colour (per
# square line height): a leftover letter of the line's colour, however it segments, is never called picture
PICTURE_COLOUR_SHARE = 0.002


def resembles(read: str, original: str) -> bool:
    """At least half of the characters read now occur in what was read before (a fragment, a ghost)."""
    read, original = normalize_text(read).lower(), normalize_text(original).lower()
    return bool(read) and sum(c in original for c in read) >= len(read) / 2


@dataclass
class ErasedRegion:
    polygon: list[tuple[float, float]]
    source: str  # "request" (given) or "detected"
    read_before: str = ""
    score_before: float = 0.0
    read_after: str = ""
    score_after: float = 0.0
    passes: list[int] = field(default_factory=list)
    retries: int = 0
    method: str = ""
    stroke_fraction: float = 0.0
    color: tuple[int, int, int] | None = None
    # windows along the line still read as its text after the fill: polygon, read, score
    leftovers: list[dict] = field(default_factory=list)
    # windows whose reading is the picture read as a letter (`_picture_window`): polygon, read, score; they
    # neither widen the line's mask nor count as text left
    in_picture: list[dict] = field(default_factory=list)

    @property
    def line_remains(self) -> bool:
        """The whole line is still read: a reading that counts (`is_readable`) which is either confident
        or made of what was there before (not a letter the recogniser sees in the filled texture)."""
        if not is_readable(self.read_after, self.score_after):
            return False
        return self.score_after >= CONFIDENT or not self.read_before or resembles(self.read_after, self.read_before)

    @property
    def remains(self) -> bool:
        """Text is still read here: in the whole line, or in a window along it (`leftovers`)."""
        return self.line_remains or bool(self.leftovers)

    @property
    def verdict_reading(self) -> tuple[str, float]:
        """(text, score) that explains `remains`: the most confident leftover when only a window along
        the line still reads text, else the whole line's read-back."""
        if self.leftovers and not self.line_remains:
            best = max(self.leftovers, key=lambda d: d["score"])
            return best["read"], float(best["score"])
        return self.read_after, float(self.score_after)

    def to_dict(self) -> dict:
        return {
            "polygon": [[round(float(x), 1), round(float(y), 1)] for x, y in self.polygon],
            "source": self.source,
            "read_before": self.read_before,
            "score_before": round(float(self.score_before), 4),
            "read_after": self.read_after,
            "score_after": round(float(self.score_after), 4),
            "passes": list(self.passes),
            "retries": self.retries,
            "mask": self.method,
            "stroke_fraction": round(float(self.stroke_fraction), 4),
            # what the windows still read (their polygons are in the report's `remaining`, where the
            # result's polygons are rescaled with the image)
            "leftovers": [{"read": d["read"], "score": d["score"]} for d in self.leftovers],
            "read_as_text_in_picture": [{"read": d["read"], "score": d["score"]} for d in self.in_picture],
            "text_remains": self.remains,
        }


@dataclass
class Erasure:
    """What `erase_text` did: the image, the union of the erased masks, every region, the detector
    candidates it did not erase (and why), the text still readable, the passes and timings."""

    image: np.ndarray
    mask: np.ndarray
    regions: list[ErasedRegion]
    rejected: list[Candidate]
    remaining: list[dict]  # polygon, read, score, region (index into regions, or None)
    passes: int
    timings: dict[str, float]

    @property
    def clean(self) -> bool:
        return not self.remaining

    def warnings(self) -> list[str]:
        notes = []
        if self.remaining:
            texts = ", ".join(f'"{r["read"]}"' for r in self.remaining)
            notes.append(f"text still readable after removal: {texts}")
        return notes

    def to_dict(self) -> dict:
        return {
            "regions": [r.to_dict() for r in self.regions],
            "passes": self.passes,
            "not_text": [c.to_dict() for c in self.rejected],
            "remaining": self.remaining,
            # windows along an erased line where the picture left after the fill reads as one of its
            # letters (a brick wall's mortar as an "L"): no stroke of the line's colour was found there
            "read_as_text_in_picture": [
                _left(d["polygon"], d["read"], d["score"], index)
                for index, r in enumerate(self.regions) for d in r.in_picture
            ],
            "clean": self.clean,
        }


def erase_text(
    image: np.ndarray,
    regions: list[tuple[list, np.ndarray]] = (),
    *,
    find_all: bool = False,
    eraser: Eraser | None = None,
    max_passes: int = MAX_PASSES,
    max_retries: int = MAX_RETRIES,
    finder=find_text,
) -> Erasure:
    """Erase `regions` ((reading polygon, uint8 {0,1} mask) pairs) and, with `find_all`, every text the
    detector finds, checked as the module says. `finder(image) -> [Candidate]` is `find_text` (tests
    may pass another)."""
    start = time.perf_counter()
    height, width = image.shape[:2]
    current = image.copy()
    union = np.zeros((height, width), np.uint8)
    done: list[ErasedRegion] = []
    masks: list[np.ndarray] = []
    rejected: dict[tuple, Candidate] = {}
    timings = {"detect": 0.0, "erase": 0.0, "verify": 0.0}

    strokes_of: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # id(entry) -> its first (mask, wide)

    def erase(items: list[tuple[ErasedRegion, np.ndarray]], pass_no: int, widen: int = 0, band_first: bool = False) -> None:
        nonlocal current, union
        t0 = time.perf_counter()
        if widen:
            # a retry: the region's own stroke mask grown by `widen`, filled again on the current image
            # (outside the first mask the current image is still the original, so this is the same as
            # filling the original with the wider mask); the filled strokes cannot be segmented again
            known = [(e, m) for e, m in items if id(e) in strokes_of]
            if known:
                wider = np.zeros_like(union)
                for entry, _ in known:
                    first, wide = strokes_of[id(entry)]
                    # a read-back retry where the first fill left out the band next to the strokes
                    # (`StrokeMask.wide`): the first retry adds that band alone, the next one widens it
                    # one step less than usual (a later detection pass widens it as usual)
                    grow = widen - WIDEN_STEP if band_first and (wide != first).any() else widen
                    wider |= cv2.dilate(wide, _disk(grow)) if grow else wide
                    entry.passes.append(pass_no)
                current = (eraser or inpaint)(current, wider)
                union |= wider
            items = [(e, m) for e, m in items if id(e) not in strokes_of]
            if not items:
                timings["erase"] += time.perf_counter() - t0
                return
        removal = remove_text(current, [m for _, m in items], eraser=eraser, widen=widen)
        current = removal.image
        union |= removal.mask
        for (entry, _), strokes in zip(items, removal.strokes):
            entry.passes.append(pass_no)
            if not entry.method or strokes.method != "empty":
                entry.method, entry.stroke_fraction = strokes.method, strokes.fraction
            entry.color = entry.color or strokes.color
            if strokes.mask.any() and id(entry) not in strokes_of:
                # a retry first fills the wide mask (with the band next to the strokes the first fill
                # may have left out, `StrokeMask.wide`), then widens it
                strokes_of[id(entry)] = (strokes.mask, strokes.wide if strokes.wide is not None else strokes.mask)
        timings["erase"] += time.perf_counter() - t0

    # pass 1: the given regions, read first so the report can say what was there
    given = [ErasedRegion([tuple(map(float, p)) for p in poly], "request") for poly, _ in regions]
    if given:
        for entry, (text, score) in zip(given, read_lines(image, [e.polygon for e in given])):
            entry.read_before, entry.score_before = text, float(score)
        done.extend(given)
        masks.extend(m for _, m in regions)
        erase(list(zip(given, masks)), 1)

    passes = 1 if given else 0
    remaining: list[dict] = []
    if find_all:
        for pass_no in range(1, max_passes + 2):
            t0 = time.perf_counter()
            found = finder(current)
            timings["detect"] += time.perf_counter() - t0
            for cand in found:
                if not cand.is_text:
                    rejected.setdefault(tuple(np.round(np.asarray(cand.polygon).ravel())), cand)
            text = [c for c in found if c.is_text]
            if not text or pass_no > max_passes:
                # nothing left (or the pass limit): this detection over the whole image is the check
                for cand in text:
                    at = _overlapping(polygon_mask(cand.polygon, width, height), masks)
                    remaining.append(_left(cand.polygon, cand.text, cand.score, at))
                break
            number = pass_no + (1 if given else 0)
            fresh, residue = [], []
            for cand in text:
                mask = polygon_mask(cand.polygon, width, height)
                known = _overlapping(mask, masks)
                if known is not None:  # what is left of a region already erased: its mask widened
                    residue.append((done[known], masks[known]))
                    continue
                entry = ErasedRegion(cand.polygon, "detected", cand.text, cand.score)
                done.append(entry)
                masks.append(mask)
                fresh.append((entry, mask))
            if fresh:
                erase(fresh, number)
            if residue:
                erase(residue, number, widen=WIDEN_STEP * pass_no)
            passes = number

    # read every erased region again; widen and refill where text is still read
    t0 = time.perf_counter()
    if done:
        read_back(current, done)
        for retry in range(1, max_retries + 1):
            still = [(e, m) for e, m in zip(done, masks) if e.remains]
            if not still:
                break
            for entry, _ in still:
                entry.retries = retry
            # the whole line still read as a detection reads text: what the next detection pass would have
            # found and widened had the detector boxed it (light letters with a soft shadow over fur); widened
            # as that pass would, not by the windows' steps (which take the fur beside the letters)
            as_pass = [(e, m) for e, m in still if e.line_remains and reads_as_text(e.read_after, e.score_after)[0]]
            if as_pass:
                erase(as_pass, passes, widen=WIDEN_STEP * (passes + retry))
                read_back(current, [e for e, _ in as_pass])
                still = [(e, m) for e, m in still if all(e is not a for a, _ in as_pass)]
                if not still:
                    continue
            # a window still read: its leftover segmented again on the current image (what is left is no
            # longer hidden among the line's strokes), grown one step less than the widening, and filled
            # before the region's widened mask is filled again; kept only where its window then stops reading
            t1 = time.perf_counter()
            found = []  # (window, the line's first reading, the window's strokes segmented again)
            for entry, _ in still:
                picture = []
                for d in entry.leftovers:
                    window = polygon_mask(d["polygon"], width, height)
                    again = segment(current, window, widen=WIDEN_STEP * (retry - 1))
                    if again.mask.any() and _line_colour(again.color, entry.color):
                        found.append((d["polygon"], entry.read_before, again.mask))
                    elif _picture_window(image, current, window, entry, strokes_of.get(id(entry), (union, union))[1]):
                        picture.append(d)
                if picture:
                    # the picture read as a letter: listed apart, and it widens nothing
                    entry.in_picture.extend(picture)
                    entry.leftovers = [d for d in entry.leftovers if all(d is not p for p in picture)]
            still = [(e, m) for e, m in still if e.remains]
            if found:
                current, kept = _fill_checked(current, found, eraser or inpaint)
                union |= kept
            # where the line's mask missed strokes (a light letter over a white cup): the windows still
            # read (or, when only the whole line is, every window along it) segmented against their own
            # local background in the original image, filled where that finds strokes the mask lacks
            local = np.zeros_like(union)
            for entry, _ in still:
                local |= _missed_strokes(image, entry, strokes_of.get(id(entry), (union, union))[1])
            if local.any():
                current = (eraser or inpaint)(current, local)
                union |= local
            timings["erase"] += time.perf_counter() - t1
            if not still:
                continue
            erase(still, passes, widen=WIDEN_STEP * retry, band_first=True)
            read_back(current, [e for e, _ in still])
        for index, entry in enumerate(done):
            if not any(r["region"] == index for r in remaining):
                remaining.extend(still_read(entry, index))
    timings["verify"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - start
    return Erasure(current, union, done, list(rejected.values()), remaining, passes, timings)


def _fill_checked(image: np.ndarray, found: list[tuple], fill: Eraser) -> tuple[np.ndarray, np.ndarray]:
    """Fill the strokes segmented again in windows still read (`found`: (window, the line's first
    reading, strokes)), read the windows on the result, and keep only the strokes whose window then
    no longer reads a leftover: where the letter is still read, what was segmented again was not the
    letter (fur beside it: cat fur's "萌猫 Kitty" lost 0.9 dB to such fills, and the widened refill
    that follows erased the letters on its own). Returns the image (filled only with the kept
    strokes) and the kept strokes."""
    union = np.zeros(image.shape[:2], np.uint8)
    for _, _, strokes in found:
        union |= strokes
    trial = fill(image, union)
    kept = np.zeros_like(union)
    for (_, original, strokes), (read, score) in zip(found, read_lines(trial, [w for w, _, _ in found])):
        if not left_over(read, score, original):
            kept |= strokes
    if not kept.any():
        return image, kept
    return (trial if np.array_equal(kept, union) else fill(image, kept)), kept


def _line_colour(colour, line) -> bool:
    """Strokes of `colour` can be a leftover of a line painted in `line` (within `LEFTOVER_COLOUR`; any colour
    when the line's is unknown)."""
    if line is None:
        return True
    return colour is not None and float(np.linalg.norm(np.subtract(colour, line, dtype=np.float64))) <= LEFTOVER_COLOUR


def _missed_strokes(image: np.ndarray, entry: ErasedRegion, first: np.ndarray) -> np.ndarray:
    """The strokes of `entry`'s line that its first mask (`first`, the wide one) missed: in each window
    still read (`leftovers`; every read-back window along the line when only the whole line is read),
    what differs from its own local background (`local_strokes`, in the original image), kept where
    the first mask explains under `LOCAL_EXPLAINED` of it (elsewhere the strokes were found and what
    the local test adds is the picture: a launch tower's lattice next to letters already erased)."""
    height, width = image.shape[:2]
    line = line_height(entry.polygon)
    if entry.leftovers:
        windows = [d["polygon"] for d in entry.leftovers]
    else:
        windows = read_back_windows(entry.polygon) or [entry.polygon]
    near = cv2.dilate(first, _disk(2))
    found = np.zeros((height, width), np.uint8)
    for window in windows:
        verdict, strokes = _window_strokes(image, polygon_mask(window, width, height), line, near)
        if verdict == "strokes":
            found |= strokes
    return found


def _window_strokes(image: np.ndarray, window: np.ndarray, line: float, near: np.ndarray) -> tuple[str, np.ndarray]:
    """What a window's own-background segmentation (`local_strokes`, in the original image) finds, and its
    verdict: "none" (nothing), "explained" (the line's first mask, `near`, holds `LOCAL_EXPLAINED` of it:
    the strokes were found there), "solid" (solid shapes, not strokes: more than `detect.MAX_BLOB` of it
    survives an opening by a disk a sixth of the line's height, the test a detection must pass; bricks
    and mortar blocks) or "strokes" (strokes the first mask missed)."""
    strokes = local_strokes(image, window, line)
    total = int(strokes.sum())
    if not total:
        return "none", strokes
    if (strokes & near).sum() >= LOCAL_EXPLAINED * total:
        return "explained", strokes
    opened = cv2.morphologyEx(strokes, cv2.MORPH_OPEN, _disk(max(2, int(round(line / 6)))))
    return ("strokes" if opened.sum() <= MAX_BLOB * total else "solid"), strokes


def _picture_window(image: np.ndarray, current: np.ndarray, window: np.ndarray, entry: ErasedRegion, first: np.ndarray) -> bool:
    """A window still read whose reading is the picture, not the line: called only when its strokes
    segmented again on the current image are not in the line's colour; it also holds almost no pixel of
    the line's colour (fewer than `PICTURE_COLOUR_SHARE` per square line height, within `LEFTOVER_COLOUR`)
    and its own-background segmentation in the original image finds nothing or solid shapes (not strokes
    the first mask missed, nor the line's strokes the first mask holds). Without the line's colour known
    nothing is called picture."""
    if entry.color is None:
        return False
    line = line_height(entry.polygon)
    inside = window.astype(bool)
    distance = np.linalg.norm(current[inside].astype(np.float64) - np.asarray(entry.color, np.float64), axis=1)
    if int((distance <= LEFTOVER_COLOUR).sum()) >= max(1.0, PICTURE_COLOUR_SHARE * line * line):
        return False
    verdict, _ = _window_strokes(image, window, line, cv2.dilate(first, _disk(2)))
    return verdict in ("none", "solid")


def _overlapping(mask: np.ndarray, masks: list[np.ndarray]) -> int | None:
    """The index of the erased region `mask` mostly lies in (half of the smaller of the two), if any."""
    area = int(mask.sum())
    for index, other in enumerate(masks):
        if area and int((mask & other).sum()) >= 0.5 * min(area, int(other.sum())):
            return index
    return None


def read_back(image: np.ndarray, entries: list[ErasedRegion]) -> None:
    """Read each region again on `image` (after its fill, or after later changes to the image): the whole
    line and its `read_back_windows`, in one batch for the recogniser; `read_after` and `leftovers` are
    updated in place (then `remains` and `still_read` tell what is still there)."""
    if not entries:
        return
    windows = [read_back_windows(e.polygon) for e in entries]
    polygons = [e.polygon for e in entries] + [w for ws in windows for w in ws]
    readings = read_lines(image, polygons)
    lines, rest = readings[: len(entries)], iter(readings[len(entries):])
    for entry, (text, score), ws in zip(entries, lines, windows):
        entry.read_after, entry.score_after = text, float(score)
        entry.leftovers = []
        picture, entry.in_picture = {_key(d["polygon"]) for d in entry.in_picture}, []
        for window, (read, conf) in zip(ws, rest):
            if not left_over(read, conf, entry.read_before):
                continue
            found = {k: v for k, v in _left(window, read, conf, None).items() if k != "region"}
            # a window judged the picture read as a letter in an earlier retry stays apart while it reads
            (entry.in_picture if _key(found["polygon"]) in picture else entry.leftovers).append(found)


def still_read(entry: ErasedRegion, index: int) -> list[dict]:
    """What `Erasure.remaining` lists for a region (number `index`) after its read-back: the whole line
    when it is still read, else each window along it that still reads its text."""
    if entry.line_remains:
        return [_left(entry.polygon, entry.read_after, entry.score_after, index)]
    return [_left(d["polygon"], d["read"], d["score"], index) for d in entry.leftovers]


def _key(polygon) -> tuple:
    """A window's polygon as a hashable key (rounded as the report rounds it)."""
    return tuple(round(float(v), 1) for point in polygon for v in point)


def left_over(read: str, score: float, original: str) -> bool:
    """A window's reading that is text left over from `original` (the line's reading before): it counts
    (`is_readable`), it is made of the original's characters (`resembles`), and a lone character is read
    as confidently as a detection must be (`TEXT_SCORE`) and is not a round one (a ring, an eye).
    A window reading unlike the original never counts, however confident: a window of filled brick
    wall reads as "H" at 0.95 (the whole-line reading and the whole-image detection still catch
    confident new text)."""
    if not is_readable(read, score) or not original or not resembles(read, original):
        return False
    chars = word_chars(read)
    return len(chars) > 1 or (score >= TEXT_SCORE and chars[0] not in ROUND_CHARS)


def extend_line(polygon, by: float) -> list[tuple[float, float]]:
    """The polygon's quad lengthened at both ends by `by` line heights (its short side), along the line."""
    thick = line_height(polygon)
    return lengthen(polygon, by * thick, by * thick)


def read_back_windows(polygon) -> list[list[tuple[float, float]]]:
    """The windows a region is read back in: `line_windows` along the line lengthened by `WINDOW_REACH`."""
    return line_windows(extend_line(polygon, WINDOW_REACH))


def line_windows(polygon) -> list[list[tuple[float, float]]]:
    """Overlapping windows along a line's polygon (its quad), each `length` line heights long, every
    `step` heights, the last one flush with the end; none where the line is barely longer than a window.
    The line's height is the quad's short side (a vertical line runs down its long side)."""
    quad = polygon_quad(polygon).astype(np.float64)
    top_left, top_right, bottom_right, bottom_left = quad
    width, height = quad_size(quad)
    across = width >= height
    length, thick = (width, height) if across else (height, width)
    # a, b: the two long edges, each from the line's start to its end
    a0, a1, b0, b1 = (top_left, top_right, bottom_left, bottom_right) if across else (top_left, bottom_left, top_right, bottom_right)
    found = []
    for size, step in WINDOWS:
        span, stride = size * thick, step * thick
        if length <= 1.25 * span:
            continue
        for start in [*np.arange(0.0, length - span, stride), length - span]:
            f0, f1 = start / length, (start + span) / length
            p0, p1 = a0 + f0 * (a1 - a0), a0 + f1 * (a1 - a0)
            q0, q1 = b0 + f0 * (b1 - b0), b0 + f1 * (b1 - b0)
            corners = (p0, p1, q1, q0) if across else (p0, q0, q1, p1)
            found.append([(float(x), float(y)) for x, y in corners])
    return found


def _left(polygon, text: str, score: float, region: int | None) -> dict:
    """A text still readable: where, what, how confidently, and the erased region it lies in (index
    into the report's regions) or None (text no pass erased)."""
    return {
        "polygon": [[round(float(x), 1), round(float(y), 1)] for x, y in polygon],
        "read": text,
        "score": round(float(score), 4),
        "region": region,
    }
