#!/usr/bin/env bash
# Runs the whole test suite (sets up .venv on first use). Extra arguments go to pytest.
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/bootstrap.sh"  # cd to the checkout, sets VENV_PY
export GRADIO_ANALYTICS_ENABLED=False HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1
if [ -d .venv/reference-pillow/PIL ]; then export WENCHUANG_REFERENCE_PILLOW="$PWD/.venv/reference-pillow"; fi
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
exec "$VENV_PY" -m pytest -q "$@"
