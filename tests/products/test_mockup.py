"""Mock-ups: the design is in the picture (SIFT matches + a RANSAC homography find it), the shape is cut."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from wenchuang.products import ProductError, get_product, load_design
from wenchuang.products.mockup import render_mockup


def locate(design: np.ndarray, picture: np.ndarray) -> tuple[int, np.ndarray | None]:
    """(RANSAC inliers, homography design -> picture) from SIFT matches with Lowe's ratio test."""
    sift = cv2.SIFT_create()
    kp1, d1 = sift.detectAndCompute(cv2.cvtColor(design, cv2.COLOR_RGB2GRAY), None)
    kp2, d2 = sift.detectAndCompute(cv2.cvtColor(picture, cv2.COLOR_RGB2GRAY), None)
    if d1 is None or d2 is None:
        return 0, None
    pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(d1, d2, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < 0.75 * p[1].distance]
    if len(good) < 8:
        return len(good), None
    src = np.float32([kp1[m.queryIdx].pt for m in good])
    dst = np.float32([kp2[m.trainIdx].pt for m in good])
    matrix, inliers = cv2.findHomography(src, dst, cv2.RANSAC, 6.0)
    return (int(inliers.sum()) if inliers is not None else 0), matrix


@pytest.fixture(scope="module")
def design(tmp_path_factory, kit):
    return load_design(kit.write_design(tmp_path_factory.mktemp("m"), "d", kit.textured((640, 480), 11)))


@pytest.mark.parametrize("name", ["postcard", "bookmark", "mousepad", "poster-a3"])
def test_flat_mockup_contains_the_design(design, kit, name):
    mockup = render_mockup(design, get_product(name), width=1024)
    assert mockup.image.shape == (768, 1024, 3) and mockup.image.dtype == np.uint8
    inliers, matrix = locate(design.image, mockup.image)
    assert inliers >= 60, inliers
    # the homography puts the design's centre inside the product's face, inside the picture
    centre = cv2.perspectiveTransform(np.float32([[[320, 240]]]), matrix)[0, 0]
    face = mockup.corners.astype(np.float32)
    assert cv2.pointPolygonTest(face.reshape(-1, 1, 2), (float(centre[0]), float(centre[1])), False) >= 0
    # a different picture is not found (the check can fail)
    other, _ = locate(kit.textured((640, 480), 99), mockup.image)
    assert other < 15


def test_mug_mockup_shows_the_front_of_the_wrap(design, kit):
    mockup = render_mockup(design, get_product("mug"), width=1024)
    assert mockup.image.shape == (768, 1024, 3)
    inliers, _ = locate(design.image, mockup.image)  # the front of a cylinder is close to a plane
    assert inliers >= 30, inliers
    other, _ = locate(kit.textured((640, 480), 99), mockup.image)
    assert other < 15


def test_bookmark_hole_and_rounded_corners_show_the_table(tmp_path, kit):
    white = load_design(kit.write_design(tmp_path, "white", np.full((600, 200, 3), 255, np.uint8)))
    black = load_design(kit.write_design(tmp_path, "black", np.zeros((600, 200, 3), np.uint8)))
    product = get_product("bookmark")
    a = render_mockup(white, product, width=1024)
    b = render_mockup(black, product, width=1024)
    changed = np.abs(a.image.astype(int) - b.image.astype(int)).sum(axis=2) > 150  # where the print shows
    face = a.corners
    hole = product.holes[0]
    # the hole's centre, mapped like the face: through the homography from the trim to the picture
    matrix = cv2.getPerspectiveTransform(
        np.float32([[0, 0], [50, 0], [50, 150], [0, 150]]), face.astype(np.float32)
    )
    hx, hy = cv2.perspectiveTransform(np.float32([[[hole.x_mm, hole.y_mm]]]), matrix)[0, 0]
    assert not changed[int(round(hy)), int(round(hx))]  # the print is cut away at the hole
    cx, cy = cv2.perspectiveTransform(np.float32([[[25, 75]]]), matrix)[0, 0]
    assert changed[int(round(cy)), int(round(cx))]  # and shows in the middle
    corner = cv2.perspectiveTransform(np.float32([[[0.3, 149.7]]]), matrix)[0, 0]
    assert not changed[int(round(corner[1])), int(round(corner[0]))]  # rounded corner: cut


def test_mockup_width_is_checked(design):
    for width in (512, 5000):
        with pytest.raises(ProductError, match="width: .* is out of range; give 1024 to 4096"):
            render_mockup(design, get_product("postcard"), width=width)
