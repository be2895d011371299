"""Polygons: parsing, official find_polygon on drawn masks, validation, sort order, scaling."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from wenchuang.errors import RequestError
from wenchuang.layout.polygons import (
    SORT_GAP,
    fill_polygon,
    mask_regions,
    min_area_rect,
    order_points,
    parse_position,
    polygon_mask,
    polygons_from_mask,
    region_position,
    scale_polygon,
    sort_polygons,
    validate_polygon,
)


def test_parse_rectangle_gives_clockwise_corners():
    assert parse_position("10,20,110,60") == [(10, 20), (110, 20), (110, 60), (10, 60)]
    assert parse_position(" 10 20, 110.5 60 ") == [(10, 20), (110.5, 20), (110.5, 60), (10, 60)]


def test_parse_quad_keeps_point_order():
    quad = parse_position("5,5,100,20,95,60,0,45")
    assert quad == [(5, 5), (100, 20), (95, 60), (0, 45)]


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "is empty"),
        ("1,2,3", "got 3"),
        ("1,2,3,4,5,6,7", "got 7"),
        ("a,b,c,d", "expected numbers"),
        ("10,10,5,20", "x2 > x1"),
        ("1,2,1e999,4", "finite"),
        ("1,2,nan,4", "expected numbers"),
    ],
)
def test_parse_position_errors_name_the_field(text, fragment):
    with pytest.raises(RequestError) as info:
        parse_position(text, field_name="position[1]")
    assert info.value.field == "position[1]"
    assert fragment in info.value.message


@pytest.mark.parametrize("case", ["gen", "edit"])
def test_polygons_from_mask_reproduce_official_find_polygon(case, golden_cases, golden_dir, load_png):
    mask = load_png(golden_dir / case / "draw_pos.png")
    polygons = polygons_from_mask(mask, sort_priority="top-down")
    assert [[list(p) for p in poly] for poly in polygons] == golden_cases[case]["polygons"]


@pytest.mark.parametrize("case", ["gen", "edit"])
def test_region_positions_match_golden(case, golden_cases, golden_dir, load_png):
    mask = load_png(golden_dir / case / "draw_pos.png")
    regions = mask_regions(mask)
    for i, (region, poly) in enumerate(zip(regions, golden_cases[case]["polygons"])):
        expected = load_png(golden_dir / case / f"positions_{i}.png") / 255.0
        position = region_position(region, poly)
        assert position.dtype == np.float32
        np.testing.assert_array_equal(position, expected)


def _draw_boxes(size, boxes):
    mask = np.zeros(size, np.uint8)
    for centre, wh, angle in boxes:
        fill_polygon(mask, cv2.boxPoints((centre, wh, angle)), 255)
    return mask


def test_one_polygon_per_stroke_and_min_rect():
    mask = _draw_boxes((300, 400), [((100, 60), (120, 40), 0), ((300, 200), (150, 50), 30)])
    polys = polygons_from_mask(mask, min_rect=True)
    assert len(polys) == 2
    assert all(len(p) == 4 for p in polys)
    (cx, cy), (w, h), angle = min_area_rect(polys[1])
    assert abs(cx - 300) < 2 and abs(cy - 200) < 2
    assert sorted([w, h]) == pytest.approx([50, 150], abs=3)
    # boolean and 0-1 float masks are read the same way
    assert polygons_from_mask(mask > 0, min_rect=True) == polys
    assert polygons_from_mask(mask.astype(np.float32) / 255, min_rect=True) == polys
    assert polygons_from_mask(np.zeros((50, 50), np.uint8)) == []


def test_mask_sort_order_follows_priority():
    # two boxes side by side at the top, one at the bottom left
    boxes = [((300, 40), (80, 30), 0), ((60, 300), (80, 30), 0), ((60, 40), (80, 30), 0)]
    mask = _draw_boxes((400, 400), boxes)
    top_down = [min_area_rect(p)[0] for p in polygons_from_mask(mask, "top-down")]
    left_right = [min_area_rect(p)[0] for p in polygons_from_mask(mask, "left-right")]
    assert [(round(x), round(y)) for x, y in top_down] == [(60, 40), (300, 40), (60, 300)]
    assert [(round(x), round(y)) for x, y in left_right] == [(60, 40), (60, 300), (300, 40)]


def test_sort_polygons_uses_official_bands():
    def box(cx, cy):
        return [(cx - 20, cy - 10), (cx + 20, cy - 10), (cx + 20, cy + 10), (cx - 20, cy + 10)]

    # centres y=110 and y=150 share the band [102, 204): the one further left comes first
    polys = [box(300, 110), box(100, 150), box(200, 20)]
    assert sort_polygons(polys, "top-down") == [2, 1, 0]
    assert sort_polygons(polys, "left-right") == [1, 2, 0]
    # crossing a band boundary changes the order
    polys = [box(300, SORT_GAP - 1), box(100, SORT_GAP + 1)]
    assert sort_polygons(polys, "top-down") == [0, 1]
    with pytest.raises(RequestError, match="sort_priority"):
        sort_polygons(polys, "diagonal")


def test_scale_polygon_round_trip():
    poly = [(10, 20), (110, 20), (110, 60), (10, 60)]
    scaled = scale_polygon(poly, 2.0, 0.5)
    assert scaled == [(20, 10), (220, 10), (220, 30), (20, 30)]
    assert scale_polygon(scaled, 0.5, 2.0) == [(float(x), float(y)) for x, y in poly]
    assert scale_polygon(poly, 3) == [(30, 60), (330, 60), (330, 180), (30, 180)]


def test_order_points_rotated_and_shuffled():
    poly = [(110, 60), (10, 20), (10, 60), (110, 20)]
    assert order_points(poly) == [(10, 20), (110, 20), (110, 60), (10, 60)]
    rotated = cv2.boxPoints(((200, 200), (200, 60), 20)).tolist()
    ordered = np.array(order_points(rotated[::-1]))
    top = ordered[:2]
    # the first two corners form the long top edge, going right and slightly down
    assert np.linalg.norm(top[1] - top[0]) == pytest.approx(200, abs=1)
    assert top[1][0] > top[0][0] and top[1][1] > top[0][1]


def _top_edge(ordered):
    ordered = np.asarray(ordered)
    return ordered[1] - ordered[0]


@pytest.mark.parametrize(("angle", "top_length", "rising"), [(30, 160, False), (60, 50, True), (-30, 160, True)])
def test_order_points_top_edge_is_the_most_horizontal_one(angle, top_length, rising):
    box = cv2.boxPoints(((200, 150), (160, 50), angle)).tolist()
    for start in range(4):  # any starting corner, either direction
        for points in (box[start:] + box[:start], (box[start:] + box[:start])[::-1]):
            top = _top_edge(order_points(points))
            assert np.linalg.norm(top) == pytest.approx(top_length, abs=1)
            assert top[0] > 0 and (top[1] < 0) == rising


def test_one_quad_order_for_rendering_ocr_and_benchmark_crops():
    from wenchuang.evaluation.ocr_eval import min_area_box
    from wenchuang.ocr.reader import polygon_quad

    for angle in (0, 20, 45, 60, 100, 170):
        box = cv2.boxPoints(((200, 150), (160, 50), angle)).tolist()
        shuffled = [box[2], box[0], box[3], box[1]]
        expected = np.float32(order_points(shuffled))
        np.testing.assert_array_equal(polygon_quad(shuffled), expected)
        np.testing.assert_allclose(min_area_box(shuffled), expected, atol=1e-4)
    # more than four points: the minimum-area rectangle, in the same order
    many = [(10, 20), (60, 20), (110, 20), (110, 60), (10, 60)]
    assert order_points(many) == [(10, 20), (110, 20), (110, 60), (10, 60)]
    with pytest.raises(RequestError):
        order_points([(0, 0), (5, 5)])


def test_polygon_mask_rounds_points_and_fills_the_inside():
    polygon = [(1.4, 1.6), (5.5, 1.6), (5.5, 4.2), (1.4, 4.2)]  # -> (1, 2) .. (6, 4)
    mask = polygon_mask(polygon, 8, 6)
    expected = np.zeros((6, 8), np.uint8)
    expected[2:5, 1:7] = 1
    assert mask.dtype == np.uint8
    np.testing.assert_array_equal(mask, expected)
    position = polygon_mask(polygon, 8, 6, np.float32)
    assert position.dtype == np.float32
    np.testing.assert_array_equal(position, expected.astype(np.float32))
    # in place, any value, and the union of several polygons
    image = np.zeros((6, 8), np.uint8)
    assert fill_polygon(image, polygon, 255) is image
    fill_polygon(image, [(0, 0), (1, 0), (1, 1), (0, 1)], 7)
    assert image[3, 3] == 255 and image[0, 0] == 7 and image[5, 7] == 0


def test_validate_polygon_minimum_size_and_bounds():
    ok = validate_polygon([(10, 10), (100, 10), (100, 40), (10, 40)], 128, 128, "lines[0].polygon")
    assert ok[0] == (10.0, 10.0)
    with pytest.raises(RequestError) as info:
        validate_polygon([(10, 10), (100, 10), (100, 14), (10, 14)], 128, 128, "lines[0].polygon")
    assert info.value.field == "lines[0].polygon"
    with pytest.raises(RequestError, match="outside"):
        validate_polygon([(10, 10), (200, 10), (200, 40), (10, 40)], 128, 128, "lines[1].polygon")
    with pytest.raises(RequestError, match="too small"):
        validate_polygon([(0, 0), (100, 0), (100, 12), (0, 12)], 128, 128, min_side=16)
