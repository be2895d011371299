#!/usr/bin/env bash
# Runs Wenchuang Studio (sets up .venv on first use). Extra arguments go to `wenchuang serve`.
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/bootstrap.sh"  # cd to the checkout, sets VENV_PY
export GRADIO_ANALYTICS_ENABLED=False HF_HUB_DISABLE_TELEMETRY=1
exec "$VENV_PY" -m wenchuang serve "$@"
