"""The Products tab in a real browser (Debian's chromium through Playwright; skipped without them)."""

from __future__ import annotations

import httpx
import pytest

from wenchuang.studio.config import StudioConfig

from .test_browser import browser  # noqa: F401  (the module's chromium fixture)
from .test_server import LiveServer

EDGE = [[200, 0], [312, 0], [312, 40], [200, 40]]


@pytest.mark.slow
def test_products_tab_shows_a_mockup_and_offers_the_pdf(browser, data_dir, fake_engine):  # noqa: F811
    cfg = StudioConfig(data_dir=data_dir, render_examples=False)
    with LiveServer(cfg) as url:
        body = {"engine": "fake", "prompt": "p", "seed": 3, "width": 512, "height": 512}
        body["lines"] = [{"text": "书签边缘", "polygon": EDGE}]
        with httpx.Client(base_url=url, timeout=60) as http:
            entry = http.post("/api/generate?wait=true", json=body).json()["result"]["images"][0]["id"]
        page = browser.new_page(viewport={"width": 1400, "height": 1300})
        page.goto(url.replace("127.0.0.1", "localhost") + "/en/")
        page.get_by_role("tab", name="Products").click(timeout=30_000)
        page.locator("#p-image input").first.wait_for(timeout=30_000)
        page.wait_for_function(
            "id => document.querySelector('#p-image input').value === id", arg=entry, timeout=30_000
        )
        page.locator("#p-product input").first.click()
        page.get_by_role("option", name="书签 Bookmark (50 × 150 mm)").click()
        page.locator("#p-run").click()
        page.wait_for_selector("#p-mockup img", timeout=60_000)
        page.wait_for_selector("#p-file a", timeout=60_000)
        hrefs = [a.get_attribute("href") or "" for a in page.locator("#p-file a").all()]
        assert any(".pdf" in h for h in hrefs), hrefs
        assert ".pdf" in page.locator("#p-file").inner_text()  # the file's name is shown
        pdf = page.request.get(next(h for h in hrefs if ".pdf" in h))
        assert pdf.ok and pdf.body().startswith(b"%PDF")
        warnings = page.locator("#p-warnings").inner_text()
        assert '"书签边缘" is cut at the bookmark\'s top edge' in warnings, warnings
        page.close()
    exports = sorted(p.name for p in (data_dir / "gallery" / "exports").iterdir())
    assert (
        len(exports) == 2
        and any(n.endswith(".pdf") for n in exports)
        and all(n.startswith(entry) for n in exports)
    )
