#!/usr/bin/env bash
# Creates .venv in the checkout on demand and (re)installs the project when pyproject.toml changed.
# Used by scripts/studio.sh and scripts/test.sh; safe to run again at any time.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
py="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "[wenchuang] creating virtual environment .venv ..." >&2
  "$py" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip >&2
fi
stamp=".venv/.wenchuang-installed"
want="$(cat pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[wenchuang] installing wenchuang and its dependencies into .venv (first run takes a few minutes) ..." >&2
  # torch first and pinned, so pip takes the CPU wheel that lies on this machine's disk (or the
  # standard wheel from PyPI elsewhere) and nothing later pulls a different build.
  .venv/bin/python -m pip install --quiet "torch==2.13.0" >&2
  .venv/bin/python -m pip install --quiet -e ".[dev]" >&2
  # Pillow 9.5 (FreeType 2.13.0) beside the venv, only for the pixel-exact glyph parity test against the
  # official reference images; optional, the test skips without it.
  .venv/bin/python -m pip install --quiet --no-deps --target .venv/reference-pillow "Pillow==9.5.0" >&2 \
    || echo "[wenchuang] note: reference Pillow 9.5 not installed; the exact glyph parity test will skip" >&2
  echo "$want" > "$stamp"
fi
