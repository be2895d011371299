"""Where Wenchuang keeps things on the user's machine: the one reading of ``$WENCHUANG_HOME``.

- `data_home()`: the data folder (gallery, block list, the user's glossary and products):
  ``$WENCHUANG_HOME`` or ``~/.wenchuang``.
- `weights_home(name)`: the default download folder of a model's weights:
  ``$WENCHUANG_HOME/NAME`` or ``~/.cache/wenchuang/NAME``.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "WENCHUANG_HOME"


def _env_home() -> Path | None:
    value = os.environ.get(ENV_VAR, "").strip()
    return Path(value).expanduser() if value else None


def data_home() -> Path:
    """The data folder: ``$WENCHUANG_HOME`` or ``~/.wenchuang`` (absolute)."""
    return (_env_home() or Path.home() / ".wenchuang").resolve()


def weights_home(name: str) -> Path:
    """Default folder for the weights called `name` (``anytext``, ``anytext2``, ...)."""
    return (_env_home() or Path.home() / ".cache" / "wenchuang") / name
