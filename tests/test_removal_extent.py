"""wenchuang.removal.detect: a detected box that cut off a letter of its line is lengthened over it
(`continuation`), and never into the picture beside it (issue 14)."""

from __future__ import annotations

import numpy as np
import pytest

from wenchuang.engines.classic import TextStyle, draw_line
from wenchuang.layout.polygons import polygon_mask
from wenchuang.ocr.reader import polygon_quad
from wenchuang.removal import find_text, remove_text, segment
from wenchuang.removal.detect import continuation, lengthen
from wenchuang.removal.verified import extend_line

WIDTH, HEIGHT = 360, 180
LINE = [(30, 60), (330, 60), (330, 120), (30, 120)]
INK = (70, 35, 20)


def background(seed: int = 0) -> np.ndarray:
    """A warm gradient with a little grain (a photograph's calm part)."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    image = np.stack([200 + 0.08 * xs, 170 + 0.1 * ys, 140 + 0.05 * (xs + ys)], axis=-1)
    image = image + rng.normal(0, 2.0, (HEIGHT, WIDTH, 1))
    return np.clip(image, 0, 255).astype(np.uint8)


def with_line(clean: np.ndarray, polygon=LINE, text: str = "HOTEL 88") -> np.ndarray:
    image = clean.copy()
    draw_line(image, text, polygon, None, TextStyle(INK))
    return image


def letters_along(image: np.ndarray, clean: np.ndarray, polygon) -> list[tuple[float, float]]:
    """(first, last) position along the line, from its start, of each run of text pixels (the letters)."""
    quad = polygon_quad(polygon).astype(np.float64)
    along = (quad[1] - quad[0]) / np.linalg.norm(quad[1] - quad[0])
    ys, xs = np.nonzero(np.abs(image.astype(int) - clean.astype(int)).max(axis=2) > 0)
    u = np.round((np.stack([xs, ys], axis=1) - quad[0]) @ along).astype(int)
    filled = np.zeros(u.max() + 2, bool)
    filled[u[u >= 0]] = True
    runs, start = [], None
    for position, on in enumerate(filled):
        if on and start is None:
            start = position
        if not on and start is not None:
            runs.append((float(start), float(position - 1)))
            start = None
    return runs


class CutDetector:
    """Stands in for PP-OCR's detector: always the same box (here, one that cuts a letter off)."""

    def __init__(self, box):
        self.box = np.asarray(box, np.float32)

    def detect_boxes(self, image):
        return [self.box]


def text_pixels(image: np.ndarray, clean: np.ndarray) -> np.ndarray:
    return np.abs(image.astype(int) - clean.astype(int)).max(axis=2) > 0


@pytest.mark.parametrize(
    "polygon, cut_end",
    [
        (LINE, "start"),  # the first letter lies before the detected box
        ([(40, 110), (300, 50), (314, 110), (54, 170)], "end"),  # a rotated line, the last letter after it
    ],
    ids=["first-letter", "rotated-last-letter"],
)
def test_a_letter_the_detected_box_cut_off_is_erased_whole(polygon, cut_end):
    clean = background()
    image = with_line(clean, polygon)
    runs = letters_along(image, clean, polygon)
    assert len(runs) >= 5  # the letters are apart, so one can be cut off
    length = float(np.linalg.norm(np.subtract(polygon[1], polygon[0])))
    if cut_end == "start":  # the box starts half-way between the first and the second letter
        cut = (runs[0][1] + runs[1][0]) / 2
        box, letter = lengthen(polygon, -cut, 0.0), (runs[0][0], runs[0][1])
        beyond = cut - letter[0]  # how far the letter reaches past the box's start
    else:
        cut = length - (runs[-2][1] + runs[-1][0]) / 2
        box, letter = lengthen(polygon, 0.0, -cut), (runs[-1][0], runs[-1][1])
        beyond = letter[1] - (length - cut)

    found = [c for c in find_text(image, detector=CutDetector(box)) if c.is_text]
    assert len(found) == 1
    cand = found[0]
    # the cut-off letter lies in the candidate's box now, and only the line's end moved
    before, after = continuation(image, box, segment(image, polygon_mask(box, WIDTH, HEIGHT)))
    moved, still = (before, after) if cut_end == "start" else (after, before)
    assert still == 0.0
    assert beyond <= moved <= beyond + 12  # over the whole letter, plus a small pad
    assert "lengthened" in cand.why

    # erased whole: every pixel the cut-off letter changed comes back (near) to the clean picture
    quad = polygon_quad(polygon).astype(np.float64)
    along = (quad[1] - quad[0]) / np.linalg.norm(quad[1] - quad[0])
    ys, xs = np.nonzero(text_pixels(image, clean))
    u = (np.stack([xs, ys], axis=1) - quad[0]) @ along
    in_letter = (u >= letter[0] - 1) & (u <= letter[1] + 1)
    ys, xs = ys[in_letter], xs[in_letter]
    assert len(ys) > 50
    contrast = np.abs(image[ys, xs].astype(int) - clean[ys, xs].astype(int)).max(axis=1)
    assert contrast.mean() > 40  # the letter is there to begin with

    done = remove_text(image, [cand.region])
    error = np.abs(done.image[ys, xs].astype(int) - clean[ys, xs].astype(int)).max(axis=1)
    assert error.mean() < 8 and np.percentile(error, 95) < 25
    # without the lengthening the letter stays (the test would fail)
    kept = remove_text(image, [polygon_mask(box, WIDTH, HEIGHT)])
    assert np.abs(kept.image[ys, xs].astype(int) - clean[ys, xs].astype(int)).max(axis=1).mean() > 30


@pytest.mark.parametrize("shape", ["edge", "pole"])
def test_a_box_beside_a_picture_of_the_same_colour_is_not_lengthened_into_it(shape):
    """Past the line's end the picture holds the text's own colour: a dark area whose edge runs across
    the line (a shadow, a doorway), or a pole about as wide as a stroke that runs across it. Neither is
    a letter of the line (they run beyond its band of strokes): the box is not lengthened, and not a
    pixel of them is erased."""
    clean = background(1)
    runs = letters_along(with_line(clean), clean, LINE)
    end = LINE[0][0] + runs[-1][1]  # the last letter's last column
    beside = int(end) + 10  # where the picture's shape begins, 6 px past the box
    if shape == "edge":
        clean[:, beside:] = INK
    else:
        clean[:, beside:beside + 5] = INK  # a little wider than the letters' strokes
    image = with_line(clean)
    box = lengthen(LINE, -(runs[0][0] - 4), -(LINE[1][0] - end - 4))  # the letters with a 4 px margin

    strokes = segment(image, polygon_mask(box, WIDTH, HEIGHT))
    assert strokes.mask.any()
    assert continuation(image, box, strokes) == (0.0, 0.0)
    found = [c for c in find_text(image, detector=CutDetector(box)) if c.is_text]
    assert len(found) == 1
    assert np.allclose(polygon_quad(found[0].polygon), polygon_quad(box))
    done = remove_text(image, [found[0].region])
    picture = np.zeros((HEIGHT, WIDTH), bool)
    picture[:, beside:] = True
    np.testing.assert_array_equal(done.image[picture], image[picture])


def test_lengthen_moves_only_the_ends_along_the_line():
    box = [(100, 40), (300, 40), (300, 80), (100, 80)]
    assert lengthen(box, 10, 0) == [(90, 40), (300, 40), (300, 80), (90, 80)]
    assert lengthen(box, 0, -20) == [(100, 40), (280, 40), (280, 80), (100, 80)]
    # a vertical line runs down its long side
    assert lengthen([(400, 60), (440, 60), (440, 300), (400, 300)], 5, 10) == [(400, 55), (440, 55), (440, 310), (400, 310)]
    # the read-back windows' reach is the same lengthening, in line heights
    assert extend_line(box, 0.5) == lengthen(box, 20, 20)
