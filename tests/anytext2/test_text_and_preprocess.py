"""AnyText2 prompt rules (placeholders, the "A", "B" trap) and per-line preprocessing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wenchuang.anytext2.preprocess import (
    _umeyama,
    crop_line,
    draw_glyph_colored,
    font_hint_image,
    parse_color,
    split_positions,
)
from wenchuang.anytext2.text import (
    encode_prompts,
    merged_placeholder_warning,
    parse_prompt,
    safe_placeholder_prompt,
    text_prompt_ids,
)
from wenchuang.layout.fonts import available_fonts


@pytest.fixture(scope="module")
def tokenizer(golden2):
    from wenchuang.anytext.tokenizer import load_clip_tokenizer

    return load_clip_tokenizer(golden2 / "tokenizer")


def test_parse_prompt_official_rules():
    assert parse_prompt('that reads "天路" and "KEDA"') == ("that reads * and *", ["天路", "KEDA"])
    assert parse_prompt("a “curly” quote") == ("a * quote", ["curly"])
    assert parse_prompt("no text at all") == ("no text at all", [" "])


def test_comma_trap_is_reproduced_and_warned(tokenizer):
    trap, texts = parse_prompt('"A", "B"')
    assert trap == "*, *"
    ids = text_prompt_ids(tokenizer, trap)[0].tolist()
    assert 41895 in ids and ids.count(265) == 1  # '*,' and one '*'
    warning = merged_placeholder_warning(tokenizer, trap, len(texts))
    assert warning and '"A" and "B"' in warning
    safe = safe_placeholder_prompt('"A", "B"', texts)
    assert merged_placeholder_warning(tokenizer, safe, 2) is None
    assert text_prompt_ids(tokenizer, safe)[0].tolist().count(265) == 2


def test_comma_trap_writes_line_zero_at_the_second_star(tokenizer, golden2_pipe):
    encoder = golden2_pipe.text_encoder
    lines = torch.randn(2, encoder.config.hidden_size) * 3
    trap = encode_prompts(tokenizer, encoder, "x", "*, *", lines)
    manual = encode_prompts(tokenizer, encoder, "x", "*, *", None)
    assert not torch.allclose(trap["context_text"], manual["context_text"])
    # only the second '*' is a placeholder: replacing line 1 changes nothing
    lines2 = lines.clone()
    lines2[1] = 0
    again = encode_prompts(tokenizer, encoder, "x", "*, *", lines2)
    assert torch.equal(trap["context_text"], again["context_text"])


def test_running_placeholder_index_continues_over_image_chunks(tokenizer, golden2_pipe):
    encoder = golden2_pipe.text_encoder
    lines = torch.randn(2, encoder.config.hidden_size)
    long_prompt = "word " * 80 + "*"  # the '*' falls into the second 77-token window
    out = encode_prompts(tokenizer, encoder, "* " + long_prompt, "a * b *", lines)
    assert out["context_img"].shape[1] == 154 and out["context_text"].shape[1] == 77
    with pytest.raises(ValueError, match="more '\\*' placeholders"):
        encode_prompts(tokenizer, encoder, "* * *", "", lines)


def test_colors():
    assert parse_color("#FF2828") == (255, 40, 40)
    assert parse_color("30,144,255") == (30, 144, 255)
    assert parse_color(None) == (500, 500, 500)
    with pytest.raises(ValueError):
        parse_color("1,2")


def test_split_positions_drops_tiny_regions_and_sorts_top_down():
    mask = np.zeros((128, 128, 3), np.uint8)
    mask[80:110, 10:100] = 255
    mask[10:40, 10:100] = 255
    mask[60:63, 60:63] = 255  # 9 pixels: ignored, as the official wrapper does
    polygons, positions = split_positions(mask)
    assert len(polygons) == 2
    assert positions[0][20, 50] == 1 and positions[1][90, 50] == 1
    assert positions[0].dtype == np.float32


def test_umeyama_recovers_a_similarity():
    angle, scale = 0.3, 1.7
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) * scale
    src = np.array([[0, 0], [4, 0], [4, 2], [0, 2]], np.float64)
    dst = src @ rot.T + [5, -3]
    out = _umeyama(src, dst)
    np.testing.assert_allclose(out[:2, :2], rot, atol=1e-12)
    np.testing.assert_allclose(out[:2, 2], [5, -3], atol=1e-12)


def test_crop_line_cuts_an_upright_region():
    image = torch.zeros(3, 100, 200)
    image[:, 30:50, 40:120] = 255.0
    mask = np.zeros((100, 200), np.uint8)
    mask[30:50, 40:120] = 255
    crop = crop_line(image, mask)
    assert crop.shape[0] == 3 and abs(crop.shape[1] - 19) <= 1 and abs(crop.shape[2] - 79) <= 1
    assert float(crop[:, 2:-2, 2:-2].min()) > 254 and float(crop.max()) <= 255


@pytest.mark.skipif("noto-sans-sc" not in available_fonts(), reason="the default CJK font is not installed")
def test_coloured_glyphs_and_font_hint():
    poly = [(20, 20), (236, 20), (236, 80), (20, 80)]
    red = draw_glyph_colored("noto-sans-sc", "文创", poly, (255, 40, 40), 1, 256, 128)
    assert red.shape == (128, 256, 3)
    ink = red.sum(axis=2) > 0
    assert ink.any() and not ink[:, :15].any()
    assert red[..., 0].max() == 1.0 and red[..., 2].max() == pytest.approx(40 / 255)
    dark = draw_glyph_colored("noto-sans-sc", "文创", poly, (0, 0, 0), 1, 256, 128)  # raised to 10
    assert dark.max() == pytest.approx(10 / 255)
    assert not draw_glyph_colored(None, "文创", poly).any()  # no font: nothing drawn
    white = draw_glyph_colored("noto-sans-sc", "文创", poly, (255, 255, 255), 1, 256, 128)
    plain = font_hint_image([white], False, 128, 256)
    hollow = font_hint_image([white], True, 128, 256)
    assert plain.max() == 1.0 and ((plain > 0) == (white[..., 0] > 0)).all()
    assert hollow.shape == (128, 256) and (hollow[~ink] > 0).any()  # noise texture around the text
