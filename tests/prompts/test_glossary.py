"""The built-in glossary, longest-first matching, and the user's glossary.toml."""

from __future__ import annotations

import pytest

from wenchuang.errors import WenchuangError
from wenchuang.prompts.glossary import (
    FALLBACK_CATEGORY,
    GlossaryError,
    load_glossary,
    read_glossary_file,
    user_glossary_path,
)

EXPECTED = {
    "三星堆": "Sanxingdui",
    "金沙遗址": "Jinsha Site",
    "故宫博物院": "the Palace Museum",
    "三星堆青铜纵目面具": "Sanxingdui bronze mask with protruding eyes",
    "太阳神鸟": "Golden Sun Bird",
    "青铜神树": "bronze sacred tree",
    "回纹": "Chinese fret pattern (huiwen)",
    "祥云": "auspicious clouds",
    "饕餮纹": "taotie motif",
    "景泰蓝": "cloisonné",
    "蜀绣": "Shu embroidery",
    "鼠标垫": "mouse pad",
    "书签": "bookmark",
    "明信片": "postcard",
    "冰箱贴": "fridge magnet",
    "帆布袋": "canvas tote bag",
}


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("WENCHUANG_HOME", str(tmp_path))
    return tmp_path


def test_builtin_glossary_size_and_terms(home):
    glossary = load_glossary()
    domain = [e for e in glossary.entries.values() if e.category != FALLBACK_CATEGORY]
    assert len(domain) >= 150
    assert {"sites", "artefacts", "motifs", "materials", "crafts", "products"} <= set(glossary.categories())
    for zh, en in EXPECTED.items():
        assert glossary.get(zh).en == en
        assert glossary.get(zh).source == "builtin"


def test_longest_match_first_without_overlap(home):
    glossary = load_glossary()
    matches = glossary.find("三星堆青铜纵目面具鼠标垫和三星堆书签")
    assert [(m.start, m.end, m.entry.en) for m in matches] == [
        (0, 9, "Sanxingdui bronze mask with protruding eyes"),
        (9, 12, "mouse pad"),
        (12, 13, "and"),
        (13, 16, "Sanxingdui"),
        (16, 18, "bookmark"),
    ]
    domain_only = glossary.find("三星堆青铜纵目面具鼠标垫和三星堆书签", include_words=False)
    assert [m.entry.zh for m in domain_only] == ["三星堆青铜纵目面具", "鼠标垫", "三星堆", "书签"]


def test_apply_spaces_terms_and_drops_particles(home):
    glossary = load_glossary()
    assert " ".join(glossary.apply("红色的帆布袋").split()) == "red canvas tote bag"


def test_user_entries_extend_and_override(home):
    user = user_glossary_path()
    assert user == home / "glossary.toml"
    user.write_text('[products]\n"鼠标垫" = "desk mat"\n\n[mine]\n"蜀道" = "Shu Road"\n', encoding="utf-8")
    glossary = load_glossary()
    assert glossary.get("鼠标垫").en == "desk mat"
    assert glossary.get("鼠标垫").source == str(user)
    assert glossary.get("蜀道").category == "mine"
    assert glossary.get("书签").en == "bookmark"  # built-ins stay
    # an edited file is read again
    user.write_text('[products]\n"鼠标垫" = "gaming mouse mat"\n', encoding="utf-8")
    assert load_glossary().get("鼠标垫").en == "gaming mouse mat"
    assert load_glossary().get("蜀道") is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('"鼠标垫" = "desk mat"\n', "must be a table"),
        ("[products]\n鼠标垫 = \n", "not valid TOML"),
        ('[products]\n"鼠标垫" = 3\n', "must map to a text"),
        ('[products]\n"鼠标垫" = ""\n', "has no English"),
        ('[products]\n" " = "blank"\n', "has an empty term"),
    ],
)
def test_bad_user_glossary_is_one_clear_error(home, content, message):
    user_glossary_path().write_text(content, encoding="utf-8")
    with pytest.raises(GlossaryError, match=message) as err:
        load_glossary()
    assert isinstance(err.value, WenchuangError)
    assert str(user_glossary_path()) in str(err.value)  # the message names the file to fix


def test_missing_file_is_a_glossary_error(tmp_path):
    with pytest.raises(GlossaryError, match="cannot read glossary") as err:
        read_glossary_file(tmp_path / "nope.toml")
    assert str(tmp_path / "nope.toml") in str(err.value)
