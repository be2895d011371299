"""The English prompt for the model: POST /api/translate, translated_prompt through the API into the
gallery metadata, and the UI's translation logic (glossary-only path: WENCHUANG_TRANSLATOR=none)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from wenchuang.studio.api import create_app
from wenchuang.studio.config import StudioConfig
from wenchuang.studio.ui_logic import auto_translation, translate_for_ui, translated_field, typed_lines

BASE = "http://127.0.0.1:7860"
PROMPT = "太阳神鸟金饰上写着“天路”"


@pytest.fixture(autouse=True)
def glossary_only(monkeypatch):
    monkeypatch.setenv("WENCHUANG_TRANSLATOR", "none")
    from wenchuang.prompts import clear_translator_cache

    clear_translator_cache()
    yield
    clear_translator_cache()


def make_client(data_dir, ip="192.0.2.30", **overrides) -> TestClient:
    cfg = StudioConfig(data_dir=data_dir, ui=False, **overrides)
    return TestClient(create_app(cfg), base_url=BASE, client=(ip, 40000))


def test_translate_endpoint_uses_the_glossary_and_keeps_quoted_lines_out(data_dir):
    client = make_client(data_dir)
    r = client.post("/api/translate", json={"prompt": PROMPT}, headers={"Origin": BASE})
    assert r.status_code == 200, r.text
    body = r.json()
    assert "Golden Sun Bird" in body["text"]
    assert body["text"] == "Golden Sun Bird gold ornament with the words *"  # the same as the CLI
    assert "天路" not in body["text"] and body["text"].count("*") == 1  # the line is a placeholder
    assert body["lines"] == ["天路"] and "天路" not in body["prompt_with_placeholders"]
    assert body["model"] is None and any("glossary" in n for n in body["notes"])
    assert ["太阳神鸟金饰", "Golden Sun Bird gold ornament"] in body["terms"]
    # explicit lines: one placeholder each, never translated
    r = client.post("/api/translate", json={"prompt": "太阳神鸟书签", "lines": ["金沙", "成都"]})
    assert r.status_code == 200, r.text
    assert r.json()["text"].count("*") == 2 and "金沙" not in r.json()["text"]
    assert r.json()["text"] == "Golden Sun Bird bookmark, that reads *, *."
    assert r.json()["lines"] == ["金沙", "成都"]


@pytest.mark.parametrize(
    "payload, field",
    [
        ({}, "prompt"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": "x" * 10_000}, "prompt"),
        ({"prompt": "书签", "lines": "天路"}, "lines"),
        ({"prompt": "书签", "lines": [1]}, "lines"),
        ({"prompt": "书签", "path": "/etc/passwd"}, "request"),
    ],
)
def test_translate_endpoint_validates(data_dir, payload, field):
    r = make_client(data_dir).post("/api/translate", json=payload)
    assert r.status_code == 422 and r.json()["field"] == field


def test_translate_endpoint_is_guarded_like_the_others(data_dir):
    client = make_client(data_dir)
    r = client.post("/api/translate", json={"prompt": PROMPT}, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    r = client.post("/api/translate", json={"prompt": PROMPT}, headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403
    r = client.post("/api/translate", json={"prompt": PROMPT}, headers={"Host": "evil.example"})
    assert r.status_code == 421
    locked = make_client(data_dir, ip="192.0.2.31", auth_token="s3cret-token-123456")
    assert locked.post("/api/translate", json={"prompt": PROMPT}).status_code == 401
    ok = locked.post(
        "/api/translate", json={"prompt": PROMPT}, headers={"Authorization": "Bearer s3cret-token-123456"}
    )
    assert ok.status_code == 200
    limited = make_client(data_dir, ip="192.0.2.32", jobs_per_minute=1.0, jobs_burst=1)
    assert limited.post("/api/translate", json={"prompt": PROMPT}).status_code == 200
    again = limited.post("/api/translate", json={"prompt": PROMPT})
    assert again.status_code == 429 and "Retry-After" in again.headers


def test_translated_prompt_from_the_api_is_saved_in_the_metadata(data_dir):
    client = make_client(data_dir)
    english = "Golden Sun Bird gold ornament bookmark with the words *"
    r = client.post(
        "/api/generate?wait=true",
        json={
            "engine": "classic",
            "prompt": PROMPT,
            "translated_prompt": english,
            "width": 256,
            "height": 256,
            "seed": 5,
        },
    )
    assert r.status_code == 200, r.text
    entry = r.json()["result"]["images"][0]["id"]
    meta = client.get(f"/api/gallery/{entry}").json()
    assert meta["request"]["translated_prompt"] == english
    assert meta["request"]["prompt"] == PROMPT
    # multipart requests carry it too
    r = client.post(
        "/api/generate?wait=true",
        files={
            "request": (
                None,
                json.dumps(
                    {
                        "engine": "classic",
                        "prompt": PROMPT,
                        "width": 256,
                        "height": 256,
                        "translated_prompt": english,
                    }
                ),
            )
        },
    )
    assert r.status_code == 200, r.text
    entry = r.json()["result"]["images"][0]["id"]
    assert client.get(f"/api/gallery/{entry}").json()["request"]["translated_prompt"] == english


def test_ui_translation_logic():
    assert translate_for_ui("", []) == ("", "")
    text, notes = translate_for_ui(PROMPT, ["", None])
    assert "Golden Sun Bird" in text and "天路" not in text and text.count("*") == 1
    assert "glossary only" in notes and "太阳神鸟金饰 → Golden Sun Bird gold ornament" in notes
    # typed rows are the lines (the quotes then stay in the scene as the user wrote it)
    assert typed_lines([" 金沙 ", "", None]) == ["金沙"] and typed_lines(["", None]) is None
    text2, _ = translate_for_ui("太阳神鸟书签", ["金沙", "成都"], {"glossary_only": "仅用术语表"})
    assert text2.count("*") == 2
    assert text2 == "Golden Sun Bird bookmark, that reads *, *."
    assert "仅用术语表" in translate_for_ui("太阳神鸟书签", [], {"glossary_only": "仅用术语表"})[1]
    # automatic fill: empty box or the last automatic text is replaced, the user's edit is kept
    filled = auto_translation(PROMPT, "", "")
    assert filled is not None and filled[0] == filled[2] == text
    assert auto_translation("太阳神鸟书签", text, text)[0] != text
    refilled = auto_translation("太阳神鸟书签", text, text)
    assert refilled[0] == refilled[2] == "Golden Sun Bird bookmark"
    assert auto_translation("太阳神鸟书签", " " + text + " ", text)[0] == "Golden Sun Bird bookmark"
    assert auto_translation("太阳神鸟书签", "my own English *", text) is None
    # the box -> DesignRequest.translated_prompt
    assert translated_field("  ") is None and translated_field(None) is None
    assert translated_field(" a bird * ") == "a bird *"


def test_ui_handlers_pass_the_english_prompt_and_keep_it_in_both_languages(data_dir, fake_engine):
    from wenchuang.studio.examples import ExampleRenderer
    from wenchuang.studio.service import Studio
    from wenchuang.studio.ui import MAX_ROWS, StudioUI
    from wenchuang.studio.ui_logic import DRAW_RECTANGLES, canvas_with_boxes

    studio = Studio(StudioConfig(data_dir=data_dir))
    zh, en = (StudioUI(studio, lang, ExampleRenderer(data_dir / "examples")) for lang in ("zh", "en"))
    rows = [""] * MAX_ROWS
    zh_text, zh_notes, _ = zh.translate(PROMPT, 2, *rows)
    en_text, en_notes, _ = en.translate(PROMPT, 2, *rows)
    assert zh_text == en_text and "Golden Sun Bird" in en_text  # the UI language does not change it
    assert "glossary only" in en_notes and "术语表" in zh_notes
    assert en.auto_translate(PROMPT, "edited *", en_text, 2, *rows)[0] != en_text  # gr.update(): kept
    canvas = canvas_with_boxes(512, 512, [[(50, 40), (300, 40), (300, 120), (50, 120)]])
    params = ["fake", "__default__", 1, 20, 9.0, 1.0, 0.0, 9, 512, 512, "", "", "top-down", False]
    for prompt_en in ("a gold bird *", "  "):  # an empty box: None, the engine translates
        en.generate(
            None,
            PROMPT,
            prompt_en,
            canvas,
            DRAW_RECTANGLES,
            1,
            *rows,
            *([None] * MAX_ROWS),
            *([None] * MAX_ROWS),
            *params,
        )
    saved = sorted(str(m["request"].get("translated_prompt")) for m in studio.gallery.list())
    assert saved == ["None", "a gold bird *"]
