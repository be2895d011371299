"""The layer rules of docs/architecture.md, checked: light modules stay light, no import cycles."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CYCLE_TOOL = ROOT.parent / "shared" / "tools" / "import_cycles.py"

LIGHT_MODULES = [
    "wenchuang.request",
    "wenchuang.images",
    "wenchuang.errors",
    "wenchuang.layout",
    "wenchuang.layout.fonts",
    "wenchuang.layout.polygons",
    "wenchuang.layout.glyphs",
    "wenchuang.layout.auto",
    "wenchuang.removal",
    "wenchuang.anytext.weights",
]


@pytest.mark.parametrize("module", LIGHT_MODULES)
def test_light_module_imports_no_torch(module):
    code = (
        "import importlib, sys\n"
        f"importlib.import_module({module!r})\n"
        "heavy = sorted(m for m in ('torch', 'diffusers', 'transformers', 'gradio') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"{module} pulls in {proc.stdout.strip()}"


def test_no_import_cycles():
    if not CYCLE_TOOL.is_file():
        pytest.skip(f"the cycle checker {CYCLE_TOOL} is not beside this checkout (developers' shared folder)")
    proc = subprocess.run(
        [sys.executable, str(CYCLE_TOOL), "src", "wenchuang"], capture_output=True, text=True, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr
    assert "cycle" not in proc.stdout, proc.stdout
