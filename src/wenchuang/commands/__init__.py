"""Subcommands of the `wenchuang` CLI, one module per area (see wenchuang.cli)."""

from __future__ import annotations

import os
from pathlib import Path

from wenchuang.errors import RequestError


def check_output_file(value: str | os.PathLike, option: str) -> Path:
    """Refuse, before any long work starts, an output file path that could not be written later:
    an existing folder, or a parent that is a file (or a folder this user cannot write to).
    Missing parent folders are fine: they are created when the file is written."""
    path = Path(value).expanduser()
    if path.is_dir():
        raise RequestError(option, f"{path} is a folder; give a file name")
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise RequestError(option, f"cannot create {path}: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise RequestError(option, f"cannot create {path}: no permission to write in {ancestor}")
    return path
