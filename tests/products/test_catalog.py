"""Products as data: the built-in table, the user's products.toml, and its checks."""

from __future__ import annotations

import subprocess
import sys

import pytest

from wenchuang.products import ProductError, get_product, load_products, user_products_path

BUILTIN = {
    "mousepad": (240, 200),
    "bookmark": (50, 150),
    "postcard": (148, 105),
    "poster-a3": (297, 420),
    "mug": (200, 85),
}


@pytest.fixture(autouse=True)
def data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("WENCHUANG_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_builtin_products_sizes_and_defaults():
    products = load_products()
    assert list(products)[:5] == list(BUILTIN)
    for name, (w, h) in BUILTIN.items():
        p = products[name]
        assert (p.width_mm, p.height_mm) == (w, h)
        assert p.bleed_mm == 3.0 and p.dpi == 300
        assert p.label_zh and p.label_en and p.source == "builtin"
    assert products["mousepad"].corner_radius_mm > 0
    (hole,) = products["bookmark"].holes
    assert hole.diameter_mm == 5 and 0 < hole.x_mm < 50 and 0 < hole.y_mm < 150
    assert products["bookmark"].orientation == "portrait" and products["mug"].orientation == "landscape"
    assert products["mug"].mockup == "mug" and products["mousepad"].material == "cloth"


def test_user_file_overrides_fields_and_adds_products(data_home):
    data_home.mkdir()
    (data_home / "products.toml").write_text(
        '[mousepad]\ndpi = 600\n\n[coaster]\nlabel_zh = "杯垫"\nlabel_en = "Coaster"\nwidth_mm = 95\n'
        "height_mm = 95\ncorner_radius_mm = 47.5\n",
        encoding="utf-8",
    )
    assert user_products_path() == data_home / "products.toml"
    products = load_products()
    assert products["mousepad"].dpi == 600 and products["mousepad"].width_mm == 240  # only dpi changed
    assert products["mousepad"].source == str(data_home / "products.toml")
    coaster = products["coaster"]
    assert (coaster.width_mm, coaster.orientation, coaster.bleed_mm) == (95, "square", 3.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[mug]\nwidth_mm = "wide"\n', "[mug].width_mm: expected a number"),
        ("[mug]\ncolour = 1\n", "unknown field(s) ['colour']"),
        ('[x]\nlabel_zh = "x"\nlabel_en = "x"\nwidth_mm = 10\n', "[x]: height_mm is missing"),
        ('[bookmark]\norientation = "landscape"\n', "does not match 50 x 150 mm (that is portrait)"),
        (
            "[bookmark]\nholes = [{ x_mm = 1, y_mm = 10, diameter_mm = 5 }]\n",
            "holes[0].x_mm: 1 is out of range",
        ),
        ("[mug]\ndpi = 5000\n", "[mug].dpi: expected a whole number from 10 to 1200"),
        ("[mug\n", "not valid TOML"),
    ],
)
def test_bad_user_file_is_one_clear_error(data_home, text, message):
    data_home.mkdir()
    (data_home / "products.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ProductError) as info:
        load_products()
    assert message in str(info.value)
    assert str(data_home / "products.toml") in str(info.value)


def test_unknown_product_names_the_known_ones():
    with pytest.raises(ProductError, match=r"unknown product 'keyring'; known: mousepad, bookmark, postcard"):
        get_product("keyring")


def test_products_import_no_torch():
    """Print files and mock-ups are a light layer: the CLI's `product` commands start fast."""
    code = (
        "import sys, wenchuang.products, wenchuang.products.mockup, wenchuang.commands.products\n"
        "print(','.join(m for m in ('torch', 'diffusers', 'transformers', 'gradio') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""
