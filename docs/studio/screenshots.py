"""Take the screenshots in docs/studio/ (one per tab), with Debian's chromium driven by Playwright.

    apt-get install -y chromium && pip install playwright      # no browser download
    python docs/studio/screenshots.py                          # writes docs/studio/*.jpg

Starts `wenchuang serve` on a spare port with a temporary data folder (classic engine, no weights).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

HERE = Path(__file__).resolve().parent
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stroke(page, editor: str, fx: float, fy: float, fw: float, zigzag: int = 24) -> None:
    page.locator(f"#{editor}").get_by_role("button", name="Brush").first.click()
    canvas = page.locator(f"#{editor} canvas").first
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    x0, y0 = box["x"] + box["width"] * fx, box["y"] + box["height"] * fy
    page.mouse.move(x0, y0)
    page.mouse.down()
    for k in range(1, 21):
        page.mouse.move(x0 + k * box["width"] * fw / 20, y0 + (k % 2) * zigzag, steps=2)
    page.mouse.up()


def upload(page, editor: str, path: Path) -> None:
    page.locator(f"#{editor} input[type=file]").first.set_input_files(str(path))
    page.wait_for_timeout(1500)


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="wenchuang-shots-"))
    port = free_port()
    env = dict(os.environ, WENCHUANG_HOME=str(home))
    server = subprocess.Popen([sys.executable, "-m", "wenchuang", "serve", "--port", str(port)], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(url + "/healthz")
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        while len(list((home / "examples").glob("*.png"))) < 12:  # the previews, rendered in the background
            time.sleep(0.5)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1200})

            # Generate (Chinese): load the first example, generate, OCR check
            page.goto(url + "/zh/")
            page.locator("#examples img").first.click(timeout=30_000)
            page.wait_for_timeout(1500)
            page.locator("#g-run").click()
            page.wait_for_selector("#g-ocr table", timeout=60_000)
            page.wait_for_timeout(1000)
            page.screenshot(path=str(HERE / "generate_zh.jpg"), full_page=True, type="jpeg", quality=80)

            # Generate (English): type a line, draw a box
            page.goto(url + "/en/")
            page.locator("#g-line-0 textarea, #g-line-0 input").first.fill("SANXINGDUI", timeout=30_000)
            stroke(page, "g-canvas", 0.25, 0.4, 0.5)
            page.locator("#g-run").click()
            page.wait_for_selector("#g-ocr table", timeout=60_000)
            page.wait_for_timeout(1000)
            page.screenshot(path=str(HERE / "generate_en.jpg"), full_page=True, type="jpeg", quality=80)

            # Edit text: upload an example preview, paint over its first line, new text
            page.goto(url + "/en/")
            page.get_by_role("tab", name="Edit text").click()
            upload(page, "e-canvas", home / "examples" / "mask_mousepad.png")
            stroke(page, "e-canvas", 0.16, 0.36, 0.36, zigzag=36)
            page.locator("#e-line-0 textarea, #e-line-0 input").first.fill("金沙遗址")
            page.locator("#e-run").click()
            page.wait_for_selector("#e-ocr table", timeout=60_000)
            page.wait_for_timeout(1000)
            page.screenshot(path=str(HERE / "edit_en.jpg"), full_page=True, type="jpeg", quality=80)

            # Remove text: upload, remove all detected text
            page.get_by_role("tab", name="Remove text").click()
            upload(page, "r-canvas", home / "examples" / "tree_postcard.png")
            page.locator("#r-all input").check()
            page.locator("#r-run").click()
            page.wait_for_selector("#r-ocr table", timeout=60_000)
            page.wait_for_timeout(1000)
            page.screenshot(path=str(HERE / "remove_en.jpg"), full_page=True, type="jpeg", quality=80)

            # Gallery
            page.get_by_role("tab", name="Gallery").click()
            page.locator("#h-refresh").click()
            page.wait_for_selector("#history img", timeout=30_000)
            page.locator("#history img").first.click(timeout=30_000)
            page.wait_for_timeout(1500)
            page.screenshot(path=str(HERE / "gallery_en.jpg"), full_page=True, type="jpeg", quality=80)

            # Products: the newest gallery image on the first product (the mouse pad)
            page.get_by_role("tab", name="Products").click()
            page.wait_for_function("document.querySelector('#p-image input').value !== ''", timeout=30_000)
            page.locator("#p-run").click()
            page.wait_for_selector("#p-mockup img", timeout=120_000)
            page.wait_for_selector("#p-file a", timeout=120_000)
            page.wait_for_timeout(1500)
            page.screenshot(path=str(HERE / "products_en.jpg"), full_page=True, type="jpeg", quality=80)
            browser.close()
    finally:
        server.terminate()
        server.wait(10)
    print("screenshots written to", HERE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
