"""Removal of large text on a reduced copy (`wenchuang.removal.scale`)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from wenchuang.engines.classic import TextStyle, draw_line
from wenchuang.ocr import read_lines
from wenchuang.ocr.reader import line_height
from wenchuang.removal.detect import is_readable
from wenchuang.removal.scale import (
    MAX_BOX,
    MIN_BOX,
    SHARP_EDGE,
    edge_width,
    erase_text_at_scale,
    split_scale,
    working_scale,
)


@pytest.mark.parametrize(
    ("heights", "expected"),
    [
        ([], 1.0),  # nothing to measure
        ([60.0, MAX_BOX], 1.0),  # within what the removal was measured on
        ([96.0, 105.0], 1.0),  # a reduction by under 10 %: not worth a copy
        ([400.0], MAX_BOX / 400.0),  # the tallest brought down to MAX_BOX
        ([400.0, 80.0], MIN_BOX / 80.0),  # ... but small text beside it is kept at MIN_BOX
    ],
)
def test_working_scale(heights, expected):
    assert working_scale(heights) == pytest.approx(expected)
    assert working_scale(heights, SHARP_EDGE) == pytest.approx(expected)  # sharp edges change nothing


def test_soft_edges_are_brought_back_to_sharp_ones_but_not_below_min_box():
    soft = 1.0 + 2 * (SHARP_EDGE - 1.0)  # rendered text enlarged 2x measures this (1 px is the gradient's own)
    assert working_scale([100.0, 90.0], soft) == pytest.approx(0.5)  # boxes up to MAX_BOX: the edges decide
    assert working_scale([300.0, 120.0], soft) == pytest.approx(MAX_BOX / 300.0)  # the smaller scale wins
    assert working_scale([90.0, 60.0], soft) == pytest.approx(MIN_BOX / 60.0)  # the shortest keeps MIN_BOX
    assert working_scale([90.0], SHARP_EDGE + 0.1) == 1.0  # under 10 % less: not worth a copy


@pytest.mark.parametrize(
    ("heights", "edge", "expected"),
    [
        ([400.0, 60.0], None, MAX_BOX / 400.0),  # the 60 px line would be 15 px: erased apart, at full size
        ([400.0, 80.0], None, 1.0),  # 20 px is still found: one scale for both (MIN_BOX keeps it at 40)
        ([225.0, 32.0, 191.0], 5.1, (SHARP_EDGE - 1.0) / 4.1),  # soft large lines, a 32 px name tag
        ([400.0, 300.0], None, 1.0),  # one scale suits both: no second pass
        ([60.0, 30.0], None, 1.0),  # nothing worth reducing
        ([], None, 1.0),
    ],
)
def test_split_scale(heights, edge, expected):
    assert split_scale(heights, edge) == pytest.approx(expected)


def test_small_text_beside_large_text_does_not_keep_the_large_text_at_full_size():
    """Chelsea enlarged 3x: a 180 px line over the face and a 30 px line at the bottom. One scale for
    both would be the small line's (MIN_BOX), which leaves the large line at almost full size."""
    data = pytest.importorskip("skimage.data", reason="scikit-image (the dev extra) provides the photograph")
    image = cv2.resize(data.chelsea(), None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
    large = [(135, 558), (1217, 558), (1217, 774), (135, 774)]
    small = [(300, 840), (700, 840), (700, 880), (300, 880)]
    draw_line(image, "文创 2025", large, None, TextStyle((250, 245, 230)), size=180)
    draw_line(image, "Museum Shop", small, None, TextStyle((250, 245, 230)), size=30)
    assert all(is_readable(*reading) for reading in read_lines(image, [large, small]))

    erasure, scale = erase_text_at_scale(image, [], find_all=True)

    assert scale < 0.6  # the large line was erased on a reduced copy ...
    assert erasure.clean and not any(is_readable(*reading) for reading in read_lines(erasure.image, [large, small]))
    # ... and the small one at full size, by the second pass: both are reported, at the original's size
    tops = sorted(min(p[1] for p in region.polygon) for region in erasure.regions)
    assert len(tops) >= 2 and 480 < tops[0] < 650 and 800 < tops[-1] < 860, tops
    assert erasure.mask[850:870, 320:680].any() and erasure.mask[600:700, 200:1100].any()


def _sign(scale: float) -> tuple[np.ndarray, list]:
    """A dark line rendered on a light gradient at 512 px, then enlarged `scale` times (bicubic)."""
    ys, xs = np.mgrid[0:512, 0:512].astype(np.float32) / 512
    image = np.stack([230 - 30 * ys, 225 - 20 * xs, 200 - 10 * ys], axis=-1).astype(np.uint8)
    box = [(60, 200), (400, 200), (400, 250), (60, 250)]
    draw_line(image, "Museum 文创", box, None, TextStyle((40, 30, 30)))
    if scale != 1:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    return image, [[(x * scale, y * scale) for x, y in box]]


def test_edge_width_measures_how_soft_the_text_is():
    sharp = edge_width(*_sign(1))
    assert abs(sharp - SHARP_EDGE) < 0.4, sharp
    for scale in (2, 3):
        soft = edge_width(*_sign(scale))
        # the soft part grows with the enlargement: about `scale` times the sharp text's (beyond the 1 px
        # the gradient adds), so the working scale brings it back near 1 / scale
        assert abs((soft - 1.0) / (sharp - 1.0) - scale) < 0.5 * scale, (scale, soft)
        image, box = _sign(scale)
        assert abs(working_scale([line_height(box[0])], soft) * scale - 1) < 0.3
    flat = np.full((300, 300, 3), 128, np.uint8)
    assert edge_width(flat, [[(10, 10), (200, 10), (200, 80), (10, 80)]]) is None  # no edge to measure
    assert edge_width(flat, []) is None


def test_large_text_is_erased_on_a_reduced_copy_and_pasted_back():
    """Chelsea (scikit-image's photograph) enlarged 3x with a 180 px line over the cat's face."""
    data = pytest.importorskip("skimage.data", reason="scikit-image (the dev extra) provides the photograph")
    clean = cv2.resize(data.chelsea(), None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
    image = clean.copy()
    box = [(135, 558), (1217, 558), (1217, 774), (135, 774)]
    draw_line(image, "文创 2025", box, None, TextStyle((250, 245, 230)), size=180)
    assert is_readable(*read_lines(image, [box])[0])

    erasure, scale = erase_text_at_scale(image, [], find_all=True)

    assert scale < 0.6  # worked on a copy where the text box is about MAX_BOX tall
    assert erasure.image.shape == image.shape and erasure.mask.shape == image.shape[:2]
    assert erasure.clean and not is_readable(*read_lines(erasure.image, [box])[0])
    # the report is at the original's size: the region found lies around the drawn line
    (region,) = erasure.regions
    xs, ys = [p[0] for p in region.polygon], [p[1] for p in region.polygon]
    assert 60 < min(xs) < 300 and 1050 < max(xs) < 1300 and 480 < min(ys) < 650 and 680 < max(ys) < 850
    # away from the erased strokes every pixel is exactly the original's
    near = cv2.dilate(erasure.mask, np.ones((41, 41), np.uint8)) > 0
    assert np.array_equal(erasure.image[~near], image[~near])
    # and inside the box the picture is back: the letters differed from it by ~19 on average
    inside = np.zeros(image.shape[:2], bool)
    inside[558:774, 135:1217] = True
    error = np.abs(erasure.image[inside].astype(int) - clean[inside]).mean()
    assert error < 4, error


def test_small_text_is_erased_where_it_is():
    rng = np.random.default_rng(1)
    image = np.clip(cv2.GaussianBlur(rng.normal(150, 40, (512, 512, 3)), (0, 0), 6), 0, 255).astype(np.uint8)
    box = [(60, 200), (440, 200), (440, 270), (60, 270)]
    draw_line(image, "文创设计", box, None, TextStyle((20, 20, 30)))
    erasure, scale = erase_text_at_scale(image, [(box, np.zeros(image.shape[:2], np.uint8))])
    assert scale == 1.0 and erasure.regions[0].polygon == box


def test_a_picture_of_the_measured_size_is_erased_as_it_is_without_measuring(monkeypatch):
    """Up to MEASURED_SIDE nothing is reduced, so no detection is spent measuring the boxes."""
    import wenchuang.removal.scale as scale

    def no_detector():
        raise AssertionError("the boxes of a small picture are measured")

    monkeypatch.setattr(scale, "get_detector", no_detector)
    image = np.full((scale.MEASURED_SIDE, scale.MEASURED_SIDE, 3), 200, np.uint8)
    erasure, factor = erase_text_at_scale(image, [], find_all=True)
    assert factor == 1.0 and erasure.regions == [] and np.array_equal(erasure.image, image)


def test_every_reported_polygon_comes_back_at_the_original_size(monkeypatch):
    """Regions, their leftovers and the windows read as text in the picture are scaled back."""
    import wenchuang.removal.scale as scale
    from wenchuang.removal.verified import ErasedRegion, Erasure

    def fake_erase(image, regions, **_):
        (polygon, _mask), = regions
        window = [(x, y) for x, y in polygon]
        region = ErasedRegion(polygon=list(polygon), source="request", leftovers=[{"polygon": window, "read": "A", "score": 0.9}])
        region.in_picture = [{"polygon": window, "read": "L", "score": 0.7}]
        mask = np.zeros(image.shape[:2], np.uint8)
        return Erasure(image.copy(), mask, [region], [], [{"polygon": window, "read": "A", "score": 0.9, "region": 0}], 1, {})

    monkeypatch.setattr(scale, "erase_text", fake_erase)
    image = np.full((1600, 1600, 3), 200, np.uint8)
    box = [(200.0, 400.0), (1400.0, 400.0), (1400.0, 800.0), (200.0, 800.0)]  # 400 px tall: worked at 1/4
    erasure, factor = erase_text_at_scale(image, [(box, np.zeros((1600, 1600), np.uint8))])
    assert factor == pytest.approx(0.25)
    (region,) = erasure.regions
    for polygon in (region.polygon, region.leftovers[0]["polygon"], region.in_picture[0]["polygon"], erasure.remaining[0]["polygon"]):
        assert np.allclose(polygon, box), polygon


def test_two_passes_report_what_is_left_at_the_end():
    """A region of the first pass that read as text is read again once the second pass is done: text the
    second pass erased is not reported, text still there is (with the first pass's region number)."""
    from wenchuang.removal.scale import _joined
    from wenchuang.removal.verified import ErasedRegion, Erasure

    final = np.full((300, 900, 3), 200, np.uint8)
    still_there = [(500, 180), (860, 180), (860, 250), (500, 250)]
    draw_line(final, "Museum", still_there, None, TextStyle((20, 20, 20)))
    erased_later = [(40, 40), (420, 40), (420, 110), (40, 110)]  # blank in the final image

    def region(polygon, read):
        return ErasedRegion(polygon=polygon, source="detected", read_before=read, read_after=read, score_after=0.99)

    def erasure(image, regions):
        mask = np.zeros(image.shape[:2], np.uint8)
        return Erasure(image, mask, regions, [], [], 1, {"total": 1.0})

    first = erasure(final, [region(erased_later, "文创礼品"), region(still_there, "Museum")])
    joined = _joined(first, erasure(final, []))

    assert not joined.regions[0].remains and joined.regions[1].remains
    assert [r["region"] for r in joined.remaining] == [1] and "Museum" in joined.remaining[0]["read"]
    assert not joined.clean and joined.passes == 2 and joined.timings["total"] == 2.0
