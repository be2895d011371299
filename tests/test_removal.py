"""wenchuang.removal: the one text-removal path (classic engine's edit, data prepare)."""

from __future__ import annotations

import cv2
import numpy as np

from wenchuang.layout.polygons import polygon_mask
from wenchuang.removal import TextRemoval, inpaint, remove_text, segment_strokes
from wenchuang.training.prepare import remove_regions

BOX = [(40, 40), (280, 40), (280, 110), (40, 110)]
OTHER = [(40, 150), (280, 150), (280, 220), (40, 220)]


def gradient(height=256, width=320) -> np.ndarray:
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.stack([200 + 0.1 * xs, 190 + 0.1 * ys, 170 + 0.05 * (xs + ys)], axis=-1)
    return np.clip(image, 0, 255).astype(np.uint8)


def with_text(background: np.ndarray, color=(150, 20, 20)) -> np.ndarray:
    image = background.copy()
    cv2.putText(image, "SALE 24", (50, 95), cv2.FONT_HERSHEY_SIMPLEX, 1.8, color, 5, cv2.LINE_AA)
    return image


def test_remove_text_erases_strokes_and_keeps_everything_else():
    background = gradient()
    image = with_text(background)
    before = image.copy()
    done = remove_text(image, [polygon_mask(BOX, 320, 256), polygon_mask(OTHER, 320, 256)])

    assert isinstance(done, TextRemoval)
    np.testing.assert_array_equal(image, before)  # the input is left untouched
    assert done.image.shape == image.shape and done.image.dtype == np.uint8
    assert done.mask.dtype == np.uint8 and set(np.unique(done.mask)) == {0, 1}
    # every text pixel is in the mask; the empty second region adds nothing and has no colour
    text = np.abs(image.astype(int) - background.astype(int)).max(axis=2) > 20
    assert done.mask[text].all()
    assert not done.mask[150:221, 40:281].any()
    assert done.colors[1] is None
    assert np.abs(np.array(done.colors[0]) - (150, 20, 20)).max() <= 25
    # outside the mask not a pixel changes; inside, the background comes back
    outside = done.mask == 0
    np.testing.assert_array_equal(done.image[outside], image[outside])
    error = np.abs(done.image.astype(int) - background.astype(int))[done.mask.astype(bool)]
    assert error.mean() < 3.0
    assert set(done.timings) == {"segment", "inpaint"} and min(done.timings.values()) >= 0


def test_remove_text_with_no_regions_returns_a_copy():
    image = with_text(gradient())
    done = remove_text(image, [])
    np.testing.assert_array_equal(done.image, image)
    assert done.image is not image
    assert not done.mask.any() and done.colors == []


def test_segment_strokes_of_an_empty_region_is_empty():
    mask, color = segment_strokes(gradient(), np.zeros((256, 320), np.uint8))
    assert color is None and not mask.any()


def test_inpaint_touches_only_masked_pixels():
    image = with_text(gradient())
    mask = np.zeros((256, 320), np.uint8)
    mask[60:80, 60:200] = 1
    out = inpaint(image, mask)
    np.testing.assert_array_equal(out[mask == 0], image[mask == 0])
    assert not np.array_equal(out[mask == 1], image[mask == 1])
    np.testing.assert_array_equal(inpaint(image, np.zeros_like(mask)), image)


def test_data_prepare_removes_watermarks_through_the_same_path():
    image = with_text(gradient())
    expected = remove_text(image, [polygon_mask(BOX, 320, 256)]).image
    np.testing.assert_array_equal(remove_regions(image, [BOX]), expected)
    assert not np.array_equal(expected, image)
