import pytest

from wenchuang.errors import FontError
from wenchuang.layout import fonts


def test_default_font_is_simplified_chinese_noto_and_draws_cjk_and_latin():
    spec = fonts.resolve_font(None)
    assert spec.path.endswith("NotoSansCJK-Regular.ttc") and spec.index == 2
    assert fonts.missing_characters("三星堆 Bronze 太阳神鸟 2026") == []
    font = fonts.load_font(None, 40)
    left, top, right, bottom = font.getbbox("文创")
    assert right - left > 40 and bottom - top > 20


def test_missing_characters_are_named_in_the_error():
    with pytest.raises(FontError) as info:
        fonts.check_text("天路\U0001f600\U00013000", None, "lines[0].text")
    msg = str(info.value)
    assert "U+1F600" in msg and "U+13000" in msg and msg.startswith("lines[0].text")


def test_font_paths_and_bad_specs(tmp_path):
    spec = fonts.resolve_font(None)
    by_path = fonts.resolve_font(f"{spec.path}#2")
    assert by_path == spec
    with pytest.raises(FontError, match="neither a known font"):
        fonts.resolve_font("no-such-font")
    bogus = tmp_path / "x.txt"
    bogus.write_text("hi")
    with pytest.raises(FontError, match="TTF/OTF/TTC"):
        fonts.resolve_font(str(bogus))
    broken = tmp_path / "broken.ttf"
    broken.write_bytes(b"not a font")
    with pytest.raises(FontError, match="cannot"):
        fonts.missing_characters("a", str(broken))
