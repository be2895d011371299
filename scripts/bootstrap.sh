#!/usr/bin/env bash
# Creates .venv in the checkout on demand and (re)installs the project when pyproject.toml changed.
# Sourced by scripts/studio.sh and scripts/test.sh, which then run "$VENV_PY"; safe to run again at
# any time. Works in Linux shells and in Git Bash on Windows (where the venv keeps python.exe in
# .venv/Scripts).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

venv_python() {
  if [ -x .venv/bin/python ]; then echo .venv/bin/python
  elif [ -x .venv/Scripts/python.exe ]; then echo .venv/Scripts/python.exe
  fi
}

if [ -z "$(venv_python)" ]; then
  py="${PYTHON:-}"
  if [ -z "$py" ]; then
    for candidate in python3 python py; do
      if command -v "$candidate" >/dev/null; then py="$candidate"; break; fi
    done
  fi
  if [ -z "$py" ]; then
    echo "[wenchuang] no Python found: install Python 3.11 or newer (or set PYTHON=/path/to/python)" >&2
    exit 1
  fi
  echo "[wenchuang] creating virtual environment .venv with $py ..." >&2
  "$py" -m venv .venv
  "$(venv_python)" -m pip install --quiet --upgrade pip >&2
fi
VENV_PY="$(venv_python)"
export VENV_PY
"$VENV_PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "[wenchuang] .venv has Python $("$VENV_PY" -c 'import platform; print(platform.python_version())'); 3.11 or newer is needed: delete .venv and run again with PYTHON=/path/to/python3.11" >&2
  exit 1
}

stamp=".venv/.wenchuang-installed"
want="$("$VENV_PY" -c 'import hashlib; print(hashlib.sha256(open("pyproject.toml", "rb").read()).hexdigest()[:16])')"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[wenchuang] installing wenchuang and its dependencies into .venv (first run takes a few minutes) ..." >&2
  # torch first and pinned, so pip takes the CPU wheel that lies on this machine's disk (or the
  # standard wheel from PyPI elsewhere; a CUDA wheel installed beforehand satisfies the pin) and
  # nothing later pulls a different build.
  "$VENV_PY" -m pip install --quiet "torch==2.13.0" >&2
  "$VENV_PY" -m pip install --quiet -e ".[dev]" >&2
  # Pillow 9.5 (FreeType 2.13.0) beside the venv, only for the pixel-exact glyph parity test against the
  # official reference images; optional, the test skips without it.
  "$VENV_PY" -m pip install --quiet --no-deps --target .venv/reference-pillow "Pillow==9.5.0" >&2 \
    || echo "[wenchuang] note: reference Pillow 9.5 not installed; the exact glyph parity test will skip" >&2
  echo "$want" > "$stamp"
fi
