"""Translation mechanics: term protection, restoration, the tiny MarianMT, the glossary-only path."""

from __future__ import annotations

import re

import pytest

from wenchuang.errors import ModelError
from wenchuang.prompts import (
    MarianTranslator,
    clear_translator_cache,
    get_translator,
    load_glossary,
    prompt_for_model,
    translate_prompt,
    translator_status,
)
from wenchuang.prompts.translate import protect, resolve_model_folder, restore

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("WENCHUANG_HOME", str(tmp_path / "home"))  # no user glossary
    monkeypatch.delenv("WENCHUANG_TRANSLATOR", raising=False)
    clear_translator_cache()
    yield
    clear_translator_cache()


class Recording:
    """A stand-in translator: records its input and answers with a function of it."""

    def __init__(self, answer=lambda text: text, name="recording"):
        self.name = name
        self.answer = answer
        self.seen: list[str] = []
        self.batches: list[list[str]] = []

    def translate(self, texts):
        self.batches.append(list(texts))
        self.seen.extend(texts)
        return [self.answer(text) for text in texts]


# prompts with the glossary's English that must come out, whatever the model does
TERM_PROMPTS = [
    (
        "三星堆青铜纵目面具鼠标垫，上面写着“三星堆”，红色背景",
        ["Sanxingdui bronze mask with protruding eyes", "mouse pad"],
    ),
    ("太阳神鸟金饰上写着“天路”", ["Golden Sun Bird gold ornament"]),
    ("卡通青铜神树书签，上方写着“神树”", ["bronze sacred tree", "bookmark"]),
    (
        "回纹和祥云图案的帆布袋，写着「金沙」和「太阳」",
        ["Chinese fret pattern (huiwen)", "auspicious clouds", "canvas tote bag"],
    ),
    ("饕餮纹冰箱贴，写着『国潮』", ["taotie motif", "fridge magnet"]),
    ("故宫博物院明信片，景泰蓝风格", ["the Palace Museum", "postcard", "cloisonné"]),
]


def test_english_prompts_pass_unchanged():
    recording = Recording()
    result = translate_prompt("a shop sign that reads  * , neon", translator=recording)
    assert result.text == "a shop sign that reads  * , neon"
    assert result.model is None and result.notes == [] and recording.seen == []


def test_english_scene_with_chinese_lines_is_not_translated():
    recording = Recording()
    parsed, result = prompt_for_model('a fridge magnet that reads "太阳神鸟"', translator=recording)
    assert parsed.lines == ["太阳神鸟"]
    assert result.text == "a fridge magnet that reads  * "
    assert recording.seen == [] and result.model is None


def test_protect_and_restore_round_trip():
    glossary = load_glossary()
    protected, slots = protect("三星堆鼠标垫，写着 * 和 * ", glossary)
    assert "三星堆" not in protected and "鼠标垫" not in protected and "*" not in protected
    assert [s.zh for s in slots] == ["三星堆", "鼠标垫", "*", "*"]
    assert protected.split() == ["ZZ0", "ZZ1", "，写着", "ZZ2", "和", "ZZ3"]
    text, missing = restore("A ZZ1 of ZZ0 reading ZZ2 and ZZ3", slots)
    assert text.split() == ["A", "mouse", "pad", "of", "Sanxingdui", "reading", "*", "and", "*"]
    assert missing == []


def test_restore_tolerates_mangled_tokens_and_appends_lost_ones():
    # the model lowercases and splits a token, repeats one, invents one and drops two
    recording = Recording(lambda text: "a zz 1 of Zz0 ZZ0 ZZ9, the words")
    result = translate_prompt("三星堆鼠标垫，写着 * ，回纹", translator=recording)
    assert result.text == "a mouse pad of Sanxingdui, the words, Chinese fret pattern (huiwen) *"
    assert result.model == "recording"
    assert any("lost some glossary terms" in note and "fret" in note for note in result.notes)
    assert any("lost 1 text placeholder" in note for note in result.notes)
    assert result.terms == [
        ("三星堆", "Sanxingdui"),
        ("鼠标垫", "mouse pad"),
        ("回纹", "Chinese fret pattern (huiwen)"),
    ]


def test_quoted_lines_never_reach_the_translator():
    recording = Recording()
    parsed, result = prompt_for_model("金沙遗址书签，写着“金沙遗址”和“太阳神鸟”，蓝色", translator=recording)
    assert parsed.lines == ["金沙遗址", "太阳神鸟"]
    sent = "".join(recording.seen)
    assert "太阳神鸟" not in sent and "金沙遗址" not in sent  # lines gone, the scene's term protected
    assert result.text.count("*") == 2
    assert result.text.startswith("Jinsha Site bookmark")


def test_sentences_are_translated_as_a_batch():
    recording = Recording()
    result = translate_prompt("青铜面具。红色背景；写着 * ", translator=recording)
    assert len(recording.seen) == 3
    assert len(recording.batches) == 1  # one call to the model for all three sentences
    assert [part.split() for part in recording.batches[0]] == [["ZZ0", "。"], ["红色背景；"], ["写着", "ZZ1"]]
    assert result.text.startswith("bronze mask.") and result.text.count("*") == 1


def test_glossary_only_path_when_switched_off(monkeypatch):
    monkeypatch.setenv("WENCHUANG_TRANSLATOR", "none")
    parsed, result = prompt_for_model("三星堆青铜纵目面具鼠标垫，上面写着“三星堆”，红色背景")
    assert result.model is None
    assert (
        result.text
        == "Sanxingdui bronze mask with protruding eyes mouse pad, with the words *, red background"
    )
    assert "switched off" in result.notes[0] and "glossary only" in result.notes[0]
    assert result.text.count("*") == len(parsed.lines) == 1


def test_missing_model_says_so_and_uses_the_glossary(tmp_path):
    result = translate_prompt("卡通青铜树，龟甲纹样，写着 * ", model=str(tmp_path / "no-such-model"))
    assert result.model is None
    assert "not available" in result.notes[0] and "wenchuang prompt download" in result.notes[0]
    assert "glossary only" in result.notes[0]
    assert "bronze" in result.text and "tree" in result.text and "*" in result.text
    assert any("left in Chinese" in note and "龟甲" in note for note in result.notes)
    ready, detail = translator_status(str(tmp_path / "no-such-model"))
    assert not ready and "glossary only" in detail


def test_hub_id_not_in_cache_is_a_clear_model_error():
    with pytest.raises(ModelError, match="not in the Hugging Face cache"):
        resolve_model_folder("wenchuang-tests/not-a-real-model")


def test_incomplete_folder_names_the_missing_files(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelError, match="source.spm, target.spm, vocab.json"):
        resolve_model_folder(tmp_path)


def test_tiny_marian_loads_translates_and_is_cached(tiny_marian):
    translator, reason = get_translator(str(tiny_marian))
    assert isinstance(translator, MarianTranslator) and reason == ""
    assert get_translator(str(tiny_marian))[0] is translator  # cached in-process
    translator.max_new_tokens = 8
    out = translator.translate(["三星堆鼠标垫", "红色背景，书签"])
    assert len(out) == 2 and all(isinstance(text, str) for text in out)
    assert translator.translate(["三星堆鼠标垫", "红色背景，书签"]) == out  # greedy decoding: deterministic
    assert translator.translate([]) == []
    clear_translator_cache()
    assert get_translator(str(tiny_marian))[0] is not translator  # the cache can be emptied
    ready, detail = translator_status(str(tiny_marian))
    assert ready and str(tiny_marian) in detail


@pytest.mark.parametrize(("prompt", "terms"), TERM_PROMPTS)
def test_glossary_terms_appear_with_the_tiny_model(tiny_marian, prompt, terms):
    translator = MarianTranslator(tiny_marian, max_new_tokens=8)
    parsed, result = prompt_for_model(prompt, translator=translator)
    assert result.model == str(tiny_marian)
    for term in terms:
        assert term in result.text
    assert result.text.count("*") == len(parsed.lines)  # one placeholder per line survives


@pytest.mark.parametrize(("prompt", "terms"), TERM_PROMPTS)
def test_glossary_terms_appear_without_a_model(prompt, terms):
    parsed, result = prompt_for_model(prompt, use_model=False)
    assert result.model is None
    for term in terms:
        assert term in result.text
    assert result.text.count("*") == len(parsed.lines)
    assert not CJK.search(result.text)  # these prompts are fully covered by the glossary


def test_to_dict_is_json_ready():
    result = translate_prompt("书签", use_model=False)
    assert result.to_dict() == {
        "text": "bookmark",
        "source": "书签",
        "model": None,
        "notes": ["translation model not used: translated with the glossary only"],
        "terms": [["书签", "bookmark"]],
    }
