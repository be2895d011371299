"""The UI in a real browser: Debian's chromium driven by Playwright (no browser download).

Skipped where either is missing; set up with `apt-get install -y chromium` and `pip install playwright`.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from wenchuang.studio.config import StudioConfig

from .test_self_correct import garbling_engine  # noqa: F401 - fixture
from .test_server import LiveServer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not shutil.which("chromium"):
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def draw_stroke(page, editor_id: str, fx: float, fy: float, width_frac: float) -> None:
    """One zig-zag brush stroke on the ImageEditor's canvas, starting at (fx, fy) of its size."""
    page.locator(f"#{editor_id}").get_by_role("button", name="Brush").first.click()
    canvas = page.locator(f"#{editor_id} canvas").first
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    x0, y0 = box["x"] + box["width"] * fx, box["y"] + box["height"] * fy
    page.mouse.move(x0, y0)
    page.mouse.down()
    for k in range(1, 21):
        page.mouse.move(x0 + k * box["width"] * width_frac / 20, y0 + (k % 2) * 24, steps=2)
    page.mouse.up()


@pytest.mark.slow
def test_type_draw_generate_and_see_ocr_check(browser, data_dir):
    cfg = StudioConfig(data_dir=data_dir, render_examples=False)
    with LiveServer(cfg) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1300})
        origins = set()
        page.on("request", lambda req: origins.add(req.url.split("/")[2]))
        page.goto(url.replace("127.0.0.1", "localhost") + "/en/")
        page.locator("#g-line-0 textarea, #g-line-0 input").first.fill("三星堆", timeout=30_000)
        draw_stroke(page, "g-canvas", 0.3, 0.35, 0.4)
        page.locator("#params").get_by_text("Parameters").click()
        count = page.locator("#image-count input[type=number]")
        count.fill("2")
        count.press("Tab")
        page.locator("#g-run").click()
        page.wait_for_selector("#g-ocr table", timeout=30_000)
        rows = page.locator("#g-ocr table tbody tr").all_inner_texts()
        assert len(rows) == 2
        assert all("三星堆" in r and "✓" in r for r in rows), rows
        assert page.locator("#g-results img").count() >= 2
        page.close()
    assert origins == {url.split("/")[2].replace("127.0.0.1", "localhost")}  # nothing fetched from elsewhere
    saved = [json.loads(p.read_text()) for p in sorted((data_dir / "gallery").glob("*.json"))]
    assert len(saved) == 2 and saved[0]["source"] == "ui"
    (x1, y1), _, (x2, y2), _ = saved[0]["request"]["lines"][0]["polygon"]
    assert 60 < x1 < 220 and x2 - x1 > 100 and 100 < y1 < 250 and y2 - y1 > 20  # the drawn stroke


def pick_font(page, row: str, font: str) -> None:
    page.locator(f"#{row} input[role=combobox]").click()
    page.get_by_role("option", name=font, exact=True).click()


def pick_color(page, picker: str, hex_color: str) -> None:
    page.locator(f"#{picker} button.dialog-button").click()
    field = page.locator(f"#{picker} .color-picker input[type=text]")
    field.fill(hex_color)
    field.press("Enter")
    page.locator(f"#{picker} span[data-testid=block-info]").click()  # close the picker


@pytest.mark.slow
def test_pick_a_font_and_a_colour_for_one_line(browser, data_dir):
    cfg = StudioConfig(data_dir=data_dir, render_examples=False, default_engine="classic")
    with LiveServer(cfg) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1300})
        page.goto(url + "/en/")
        page.locator("#g-line-0 textarea, #g-line-0 input").first.fill("文创", timeout=30_000)
        page.locator("#g-line-1 textarea, #g-line-1 input").first.fill("ART")
        pick_font(page, "g-font-0", "noto-sans-tc")
        pick_color(page, "g-color-0", "#d01010")
        draw_stroke(page, "g-canvas", 0.2, 0.2, 0.4)
        draw_stroke(page, "g-canvas", 0.2, 0.65, 0.4)
        page.locator("#params").get_by_text("Parameters").click()
        count = page.locator("#image-count input[type=number]")
        count.fill("1")
        count.press("Tab")
        page.locator("#g-run").click()
        page.wait_for_selector("#g-ocr table", timeout=30_000)
        page.close()
    saved = [json.loads(p.read_text()) for p in sorted((data_dir / "gallery").glob("*.json"))]
    assert len(saved) == 1
    first, second = saved[0]["request"]["lines"]
    assert (first["text"], first["font"], first["color"]) == ("文创", "noto-sans-tc", "#d01010")
    assert (second["text"], second["font"], second["color"]) == ("ART", "noto-sans-sc", None)
    # the red ink is in the first line's region only
    from wenchuang.images import load_image

    image = load_image(data_dir / "gallery" / f"{saved[0]['id']}.png").astype(int)

    def nearest_red(polygon) -> int:
        xs, ys = [int(p[0]) for p in polygon], [int(p[1]) for p in polygon]
        region = image[min(ys) : max(ys), min(xs) : max(xs)]
        return int(np.abs(region - [0xD0, 0x10, 0x10]).sum(axis=2).min())

    assert nearest_red(first["polygon"]) < 30 and nearest_red(second["polygon"]) > 100


@pytest.mark.slow
@pytest.mark.usefixtures("garbling_engine")
def test_fix_wrong_text_option_shows_the_tries(browser, data_dir):
    """The "garbling" engine writes the line wrong first and right when repaired: with the option
    ticked, the OCR table lists both tries."""
    cfg = StudioConfig(data_dir=data_dir, render_examples=False, default_engine="garbling")
    with LiveServer(cfg) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1300})
        page.goto(url + "/en/")
        page.locator("#g-line-0 textarea, #g-line-0 input").first.fill("三星堆", timeout=30_000)
        draw_stroke(page, "g-canvas", 0.3, 0.35, 0.4)
        option = page.locator("#self-correct input[type=checkbox]")
        assert option.is_checked()  # on by default
        option.uncheck()
        option.check()
        page.locator("#g-run").click()
        page.wait_for_selector("#g-ocr table", timeout=30_000)
        header = page.locator("#g-ocr table thead").inner_text()
        rows = page.locator("#g-ocr table tbody tr").all_inner_texts()
        assert "Tries" in header, header
        assert len(rows) == 4, rows  # the default image count
        for row in rows:
            assert "\t2: " in row and " ✗ → 三星堆 ✓" in row, rows
        page.close()
    saved = [json.loads(p.read_text()) for p in (data_dir / "gallery").glob("*.json")]
    assert len(saved) == 4 and all(m["request"]["self_correct"] == 3 for m in saved)
    assert all([a["passed"] for a in m["self_correct"]["lines"][0]["attempts"]] == [False, True] for m in saved)
