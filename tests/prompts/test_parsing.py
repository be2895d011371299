"""Quote extraction: the official AnyText rule for "…" and its extension to Chinese quote styles."""

from __future__ import annotations

import pytest

from wenchuang.errors import RequestError
from wenchuang.prompts import check_line_count, is_chinese, parse_prompt, quoted_texts

# (prompt, lines, prompt with placeholders, scene): 30 museum-shop prompts in every quote style
MUSEUM_SHOP_PROMPTS = [
    ("太阳神鸟金饰上写着“天路”", ["天路"], "太阳神鸟金饰上写着 * ", "太阳神鸟金饰上写着"),
    ("卡通青铜树，上方写着“神树”", ["神树"], "卡通青铜树，上方写着 * ", "卡通青铜树，上方写着"),
    (
        "三星堆青铜纵目面具鼠标垫，写着“三星堆”",
        ["三星堆"],
        "三星堆青铜纵目面具鼠标垫，写着 * ",
        "三星堆青铜纵目面具鼠标垫，写着",
    ),
    ('金沙遗址书签，上面写着"金沙"', ["金沙"], "金沙遗址书签，上面写着 * ", "金沙遗址书签，上面写着"),
    (
        "故宫明信片，印着「紫禁城」和「故宫博物院」",
        ["紫禁城", "故宫博物院"],
        "故宫明信片，印着 * 和 * ",
        "故宫明信片，印着和",
    ),
    ("祥云纹冰箱贴，写着『吉祥如意』", ["吉祥如意"], "祥云纹冰箱贴，写着 * ", "祥云纹冰箱贴，写着"),
    ("回纹帆布袋，中间写着‘天府之国’", ["天府之国"], "回纹帆布袋，中间写着 * ", "回纹帆布袋，中间写着"),
    (
        "饕餮纹青铜器造型的茶杯，杯身写着'国潮'",
        ["国潮"],
        "饕餮纹青铜器造型的茶杯，杯身写着 * ",
        "饕餮纹青铜器造型的茶杯，杯身写着",
    ),
    (
        "熊猫帆布袋，写着“成都”和“CHENGDU”",
        ["成都", "CHENGDU"],
        "熊猫帆布袋，写着 * 和 * ",
        "熊猫帆布袋，写着和",
    ),
    ("“敦煌”飞天丝巾，蓝色背景", ["敦煌"], " * 飞天丝巾，蓝色背景", "飞天丝巾，蓝色背景"),
    ("青花瓷书签“青花”“瓷韵”", ["青花", "瓷韵"], "青花瓷书签 *  * ", "青花瓷书签"),
    ("兵马俑钥匙扣，底座刻着“秦”", ["秦"], "兵马俑钥匙扣，底座刻着 * ", "兵马俑钥匙扣，底座刻着"),
    (
        '马踏飞燕徽章，写着"中国旅游"，金色',
        ["中国旅游"],
        "马踏飞燕徽章，写着 * ，金色",
        "马踏飞燕徽章，写着，金色",
    ),
    (
        "剪纸风格的红色窗花，中间写着「福」",
        ["福"],
        "剪纸风格的红色窗花，中间写着 * ",
        "剪纸风格的红色窗花，中间写着",
    ),
    (
        "莫高窟壁画风格的笔记本封面，写着“九色鹿”",
        ["九色鹿"],
        "莫高窟壁画风格的笔记本封面，写着 * ",
        "莫高窟壁画风格的笔记本封面，写着",
    ),
    ("故宫猫咪帆布包，写着『朕知道了』", ["朕知道了"], "故宫猫咪帆布包，写着 * ", "故宫猫咪帆布包，写着"),
    ("苏绣团扇，扇面绣着“姑苏”两个字", ["姑苏"], "苏绣团扇，扇面绣着 * 两个字", "苏绣团扇，扇面绣着两个字"),
    (
        'a fridge magnet of the bronze mask that reads "SANXINGDUI"',
        ["SANXINGDUI"],
        "a fridge magnet of the bronze mask that reads  * ",
        "a fridge magnet of the bronze mask that reads",
    ),
    (
        "the museum's gift shop tote bag, it reads 'JINSHA' in gold",
        ["JINSHA"],
        "the museum's gift shop tote bag, it reads  *  in gold",
        "the museum's gift shop tote bag, it reads in gold",
    ),
    (
        "don't crop: a postcard that says ‘Golden Sun Bird’",
        ["Golden Sun Bird"],
        "don't crop: a postcard that says  * ",
        "don't crop: a postcard that says",
    ),
    ("景泰蓝书签，写着“ 京 ”", ["京"], "景泰蓝书签，写着 * ", "景泰蓝书签，写着"),
    (
        "宋代山水画风格的雨伞，伞面写着“千里江山”，还有“宋”",
        ["千里江山", "宋"],
        "宋代山水画风格的雨伞，伞面写着 * ，还有 * ",
        "宋代山水画风格的雨伞，伞面写着，还有",
    ),
    (
        "甲骨文主题的帆布袋，印着「甲骨文」「殷墟」「安阳」",
        ["甲骨文", "殷墟", "安阳"],
        "甲骨文主题的帆布袋，印着 *  *  * ",
        "甲骨文主题的帆布袋，印着",
    ),
    (
        "三彩马摆件，底座写着“唐三彩”，背景是博物馆展柜",
        ["唐三彩"],
        "三彩马摆件，底座写着 * ，背景是博物馆展柜",
        "三彩马摆件，底座写着，背景是博物馆展柜",
    ),
    ("红色中国结挂件", [], "红色中国结挂件", "红色中国结挂件"),
    (
        "长信宫灯造型台灯，灯座写着“长信”",
        ["长信"],
        "长信宫灯造型台灯，灯座写着 * ",
        "长信宫灯造型台灯，灯座写着",
    ),
    ('青铜神树徽章，写着""和"神树"', ["神树"], "青铜神树徽章，写着 和 * ", "青铜神树徽章，写着和"),
    (
        "良渚玉琮纹样的杯垫，写着“良渚”和“5000”",
        ["良渚", "5000"],
        "良渚玉琮纹样的杯垫，写着 * 和 * ",
        "良渚玉琮纹样的杯垫，写着和",
    ),
    (
        "漆器风格的手机壳，写着『漆』，黑红配色",
        ["漆"],
        "漆器风格的手机壳，写着 * ，黑红配色",
        "漆器风格的手机壳，写着，黑红配色",
    ),
    (
        "博物馆门票风格的书签，写着“金沙遗址博物馆”和‘JINSHA SITE MUSEUM’",
        ["金沙遗址博物馆", "JINSHA SITE MUSEUM"],
        "博物馆门票风格的书签，写着 * 和 * ",
        "博物馆门票风格的书签，写着和",
    ),
]


def test_thirty_prompts():
    assert len(MUSEUM_SHOP_PROMPTS) == 30


@pytest.mark.parametrize(("prompt", "lines", "with_placeholders", "scene"), MUSEUM_SHOP_PROMPTS)
def test_museum_shop_prompts(prompt, lines, with_placeholders, scene):
    parsed = parse_prompt(prompt)
    assert parsed.lines == lines
    assert parsed.prompt_with_placeholders == with_placeholders
    assert parsed.scene == scene
    assert parsed.prompt_with_placeholders.count("*") == len(lines)
    # what the model sees: the quoted texts are gone, the placeholders are separate tokens
    for line in lines:
        assert f'"{line}"' not in parsed.prompt_with_placeholders


def test_official_example_exactly():
    parsed = parse_prompt('a shop sign that reads "天路" and "KEDA", neon lights at night')
    assert parsed.prompt_with_placeholders == "a shop sign that reads  *  and  * , neon lights at night"
    assert parsed.lines == ["天路", "KEDA"]


def test_official_double_quote_rule_is_non_greedy_and_mixes_chinese_quotes():
    # the official code turns “ and ” into " first, so they pair with straight quotes too
    parsed = parse_prompt('写着“甲" and "乙”')
    assert parsed.lines == ["甲", "乙"]
    assert parsed.prompt_with_placeholders == "写着 *  and  * "


def test_apostrophes_are_not_quotes():
    parsed = parse_prompt("the museum's shop, don't panic, it's the artists' corner")
    assert parsed.lines == []
    assert parsed.prompt_with_placeholders == "the museum's shop, don't panic, it's the artists' corner"
    parsed = parse_prompt("it’s a sign: ‘OPEN’ and the museum’s logo")
    assert parsed.lines == ["OPEN"]


def test_explicit_lines_take_precedence_and_keep_quote_positions():
    parsed = parse_prompt("书签上写着“金沙”和“太阳”", explicit_lines=["金沙遗址", "太阳神鸟"])
    assert parsed.lines == ["金沙遗址", "太阳神鸟"]
    assert parsed.prompt_with_placeholders == "书签上写着 * 和 * "
    assert parsed.notes == ["the explicit lines replace the prompt's quoted texts"]


def test_explicit_lines_append_official_placeholders():
    parsed = parse_prompt("a bronze mask mouse pad", explicit_lines=["三星堆", "", "SANXINGDUI"])
    assert parsed.lines == ["三星堆", "SANXINGDUI"]
    assert parsed.prompt_with_placeholders == "a bronze mask mouse pad, that reads * , * ."
    assert parsed.scene == "a bronze mask mouse pad"
    # a mismatching quote count: the quoted text goes, the explicit lines win
    parsed = parse_prompt("一个书签，写着“金沙”。", explicit_lines=["A", "B"])
    assert parsed.lines == ["A", "B"]
    assert parsed.prompt_with_placeholders == "一个书签，写着, that reads * , * ."
    assert "金沙" not in parsed.prompt_with_placeholders
    assert any("explicit" in note for note in parsed.notes)
    assert parsed.notes == [
        "the prompt quotes 1 text(s) but 2 explicit line(s) were given: "
        "the explicit lines are used and the quoted texts removed"
    ]


def test_empty_quotes_are_dropped_with_a_note():
    parsed = parse_prompt('a sign "" and “ ”')
    assert parsed.lines == []
    assert "*" not in parsed.prompt_with_placeholders
    assert parsed.notes == ["ignored 2 empty quote(s)"]


def test_non_text_prompt_is_a_request_error():
    with pytest.raises(RequestError, match="prompt") as err:
        parse_prompt(None)
    assert err.value.field == "prompt" and str(err.value) == "prompt: must be text, got NoneType"
    with pytest.raises(RequestError, match="must be text, got bytes"):
        parse_prompt("写着“天路”".encode())


def test_check_line_count():
    check_line_count(2, 2)
    check_line_count(3, 0)  # no drawn positions: the layout places the lines
    with pytest.raises(RequestError) as err:
        check_line_count(2, 3, ["天路", "KEDA"])
    assert err.value.field == "lines"
    assert "2 text line(s)" in str(err.value) and "3 position(s)" in str(err.value)
    assert '"天路", "KEDA"' in str(err.value)
    with pytest.raises(RequestError, match="1 position"):
        check_line_count(2, 1)


def test_is_chinese():
    assert is_chinese("a 金 b")
    assert not is_chinese("a shop sign, 2024 ，")


def test_a_prompt_already_in_placeholder_form_is_kept():
    # e.g. the translated prompt handed back with the lines: no second set of placeholders
    parsed = parse_prompt("a mouse pad, with the words *, red background", explicit_lines=["三星堆"])
    assert parsed.prompt_with_placeholders == "a mouse pad, with the words *, red background"
    assert parsed.scene == "a mouse pad, with the words, red background"
    assert parsed.lines == ["三星堆"] and parsed.notes == []
    # a count that does not match: the stray placeholders go, the right number is appended
    parsed = parse_prompt("a 5*5 grid, words * and *", explicit_lines=["A"])
    assert parsed.prompt_with_placeholders == "a 5*5 grid, words and, that reads * ."
    assert any("removed 2 placeholder" in note for note in parsed.notes)


def test_quoted_texts_are_the_parsed_lines():
    prompt = '海报写着“故宫文创”和「Museum」, don\'t forget "" and \'茶\''
    assert quoted_texts(prompt) == ["故宫文创", "Museum", "茶"] == parse_prompt(prompt).lines
    assert quoted_texts("no quotes here") == []
