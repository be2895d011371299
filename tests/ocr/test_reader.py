"""The OCR reader on the PP-OCRv4 models shipped with rapidocr-onnxruntime (real models, no mocks)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw

from wenchuang import ocr
from wenchuang.layout.fonts import load_font
from wenchuang.request import TextLine


def _text_image(lines, size=(512, 384), font_size=40, bg=(236, 228, 210), fg=(30, 30, 70)):
    """Draw lines at given (x, y); return the image and each line's tight box (4 points)."""
    image = Image.new("RGB", size, bg)
    draw = ImageDraw.Draw(image)
    font = load_font(None, font_size)
    boxes = []
    for text, (x, y) in lines:
        draw.text((x, y), text, font=font, fill=fg)
        left, top, right, bottom = draw.textbbox((x, y), text, font=font)
        left, top, right, bottom = left - 6, top - 6, right + 6, bottom + 6
        boxes.append([(left, top), (right, top), (right, bottom), (left, bottom)])
    return np.asarray(image), boxes


def test_rectify_crop_upright_box_is_the_plain_crop():
    image = np.random.default_rng(0).integers(0, 255, (100, 200, 3), dtype=np.uint8)
    crop = ocr.rectify_crop(image, [(20, 10), (120, 10), (120, 50), (20, 50)])
    assert crop.shape == (40, 100, 3)
    # a pure translation: interior pixels equal the source
    np.testing.assert_array_equal(crop[2:-2, 2:-2], image[12:48, 22:118])


def test_rectify_crop_ignores_point_order_and_handles_many_points():
    image = np.random.default_rng(1).integers(0, 255, (100, 200, 3), dtype=np.uint8)
    reference = ocr.rectify_crop(image, [(20, 10), (120, 10), (120, 50), (20, 50)])
    shuffled = ocr.rectify_crop(image, [(120, 50), (20, 50), (20, 10), (120, 10)])
    np.testing.assert_array_equal(reference, shuffled)
    octagon = [(20, 10), (70, 10), (120, 10), (120, 30), (120, 50), (70, 50), (20, 50), (20, 30)]
    assert ocr.rectify_crop(image, octagon).shape[:2] in ((40, 100), (41, 101))


def test_rectify_crop_turns_tall_crops():
    image = np.zeros((300, 100, 3), np.uint8)
    image[:, :, 0] = np.arange(300)[:, None] % 256  # varies top to bottom
    crop = ocr.rectify_crop(image, [(10, 10), (60, 10), (60, 210), (10, 210)])
    assert crop.shape[:2] == (50, 200)  # turned: the column now runs left to right ...
    assert crop[25, 5, 0] < crop[25, -5, 0]  # ... counter-clockwise: its top is now on the left
    # rotate_vertical=False keeps it upright
    assert ocr.rectify_crop(image, [(10, 10), (60, 10), (60, 210), (10, 210)], rotate_vertical=False).shape[
        :2
    ] == (
        200,
        50,
    )


def test_read_lines_reads_horizontal_text_exactly():
    image, boxes = _text_image(
        [("文创工作室", (30, 40)), ("Hello 2024", (30, 160)), ("敦煌Museum", (30, 280))]
    )
    readings = ocr.read_lines(image, boxes)
    assert [ocr.normalize_text(t) for t, _ in readings] == ["文创工作室", "Hello2024", "敦煌Museum"]
    assert all(score > 0.8 for _, score in readings)


@pytest.mark.parametrize("angle", [-25, 12, 35])
def test_read_lines_reads_rotated_text_from_its_rotated_quad(angle):
    image, boxes = _text_image([("故宫文创", (150, 170))])
    center = (256, 192)
    matrix = cv2.getRotationMatrix2D(center, angle, 1.0)
    rotated = cv2.warpAffine(image, matrix, (512, 384), borderMode=cv2.BORDER_REPLICATE)
    quad = cv2.transform(np.float32(boxes[0])[None], matrix)[0]
    assert ocr.read_lines(rotated, [quad])[0][0] == "故宫文创"
    # the axis-aligned crop of the same text is not read correctly at this angle: rectifying matters
    if abs(angle) >= 25:
        x, y, w, h = cv2.boundingRect(quad.astype(np.int32))
        assert ocr.get_recognizer().recognize([rotated[y : y + h, x : x + w]])[0][0] != "故宫文创"


def test_recognize_handles_empty_crops():
    results = ocr.get_recognizer().recognize(
        [np.zeros((0, 5, 3), np.uint8), np.full((40, 120, 3), 255, np.uint8)]
    )
    assert results[0] == ("", 0.0)
    assert len(results) == 2


def test_check_lines_passes_exact_matches_only():
    image, boxes = _text_image([("长城 礼物", (30, 40)), ("ABC", (30, 160))])
    lines = [
        TextLine("长城礼物", polygon=boxes[0]),  # whitespace is ignored
        TextLine("ABD", polygon=boxes[1]),  # wrong text fails
        TextLine("无位置"),  # no polygon: cannot be read
    ]
    readings = ocr.check_lines(image, lines)
    assert [r.passed for r in readings] == [True, False, False]
    assert ocr.normalize_text(readings[0].read) == "长城礼物"
    assert readings[1].read == "ABC" and readings[1].expected == "ABD"
    assert readings[2].read == "" and readings[2].confidence == 0.0


def test_detector_finds_every_line_and_reads_it():
    image, boxes = _text_image([("文创工作室", (30, 40)), ("Summer 2024", (200, 250))])
    detections = ocr.get_detector().detect(image)
    assert [ocr.normalize_text(d.text) for d in detections] == ["文创工作室", "Summer2024"]  # reading order
    for det in detections:  # each detection overlaps the box of its own line
        cx = np.mean([p[0] for p in det.polygon])
        cy = np.mean([p[1] for p in det.polygon])
        assert any(b[0][0] <= cx <= b[1][0] and b[0][1] <= cy <= b[2][1] for b in boxes)


def test_detector_finds_nothing_on_a_plain_image():
    assert ocr.get_detector().detect(np.full((256, 256, 3), 200, np.uint8)) == []


def test_recall_detector_finds_faint_text_with_looser_boxes():
    """The removal setting (lower box threshold, larger unclip) is a separate shared detector: it finds
    every line the reading setting finds, in a box that encloses it, and faint text the other misses."""
    image, _ = _text_image([("文创工作室", (30, 40)), ("Summer 2024", (200, 250))])
    recall = ocr.get_detector(recall=True)
    assert recall is not ocr.get_detector() and recall is ocr.get_detector(recall=True)
    default_boxes = ocr.get_detector().detect_boxes(image)
    recall_boxes = recall.detect_boxes(image)
    assert len(recall_boxes) == len(default_boxes) == 2
    for tight, loose in zip(default_boxes, recall_boxes):
        assert loose[:, 0].min() <= tight[:, 0].min() and loose[:, 0].max() >= tight[:, 0].max()
        assert loose[:, 1].min() <= tight[:, 1].min() and loose[:, 1].max() >= tight[:, 1].max()
    faint, _ = _text_image([("低对比度的文字", (40, 150))], bg=(128, 128, 128), fg=(142, 142, 142))
    assert len(recall.detect_boxes(faint)) >= len(ocr.get_detector().detect_boxes(faint))


def test_thread_count_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(ocr.reader.ORT_THREADS_ENV, "1")
    assert ocr.ort_threads() == 1
    monkeypatch.setenv(ocr.reader.ORT_THREADS_ENV, "nonsense")
    assert ocr.ort_threads() == 1
    monkeypatch.setenv(ocr.reader.ORT_THREADS_ENV, "100000")
    assert 1 <= ocr.ort_threads() <= 100000
    assert ocr.get_recognizer() is ocr.get_recognizer()  # cached


def test_detector_scales_large_images_and_returns_full_size_boxes():
    image, boxes = _text_image([("大图文字", (100, 120))], size=(512, 384), font_size=60)
    big = cv2.resize(image, (2048, 1536), interpolation=cv2.INTER_CUBIC)  # 4x: above MAX_DETECT_SIDE
    (det,) = ocr.get_detector().detect(big)
    assert ocr.normalize_text(det.text) == "大图文字"
    xs, ys = [p[0] for p in det.polygon], [p[1] for p in det.polygon]
    (left, top), (right, bottom) = boxes[0][0], boxes[0][2]
    assert abs(min(xs) - 4 * left) < 40 and abs(max(xs) - 4 * right) < 40
    assert abs(min(ys) - 4 * top) < 40 and abs(max(ys) - 4 * bottom) < 40


def test_trim_blank_ends_keeps_the_text_and_a_margin():
    image, boxes = _text_image([("短", (200, 40))], size=(512, 120))
    crop = ocr.rectify_crop(image, [(10, 30), (500, 30), (500, 100), (10, 100)])
    trimmed = ocr.trim_blank_ends(crop)
    assert trimmed.shape[0] == crop.shape[0] and trimmed.shape[1] < crop.shape[1] // 2
    # the text is wholly inside what is kept
    (left, _), (right, _) = boxes[0][0], boxes[0][1]
    assert trimmed.shape[1] >= (right - left) - 12
    # a busy background is never cut
    noise = np.random.default_rng(0).integers(0, 255, (40, 300, 3), dtype=np.uint8)
    assert ocr.trim_blank_ends(noise).shape == noise.shape


def test_trim_blank_ends_keeps_text_whose_contrast_falls_along_a_busy_line():
    """Over a grainy picture, black letters at the left end and grey ones at the right: a colour threshold
    set by the grain finds only the black ones, and used to cut the grey ones away."""
    image, _ = _text_image([("文创", (20, 25))], size=(400, 110), font_size=56, bg=(200, 200, 200), fg=(0, 0, 0))
    grey, _ = _text_image([("设计", (150, 25))], size=(400, 110), font_size=56, bg=(200, 200, 200), fg=(110, 110, 110))
    lettered = np.minimum(image, grey).astype(np.float32)
    grain = np.random.default_rng(1).normal(0, 25, lettered.shape[:2])[..., None]
    crop = np.clip(lettered + grain, 0, 255).astype(np.uint8)
    assert ocr.trim_blank_ends(crop).shape == crop.shape


def test_detections_come_in_reading_order():
    image, _ = _text_image([("右上", (330, 40)), ("左上", (30, 48)), ("下面", (150, 250))], font_size=48)
    texts = [ocr.normalize_text(d.text) for d in ocr.get_detector().detect(image)]
    assert texts == ["左上", "右上", "下面"]
