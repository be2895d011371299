#!/usr/bin/env bash
# Runs Wenchuang Studio (sets up .venv on first use). Extra arguments go to `wenchuang serve`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/bootstrap.sh"
cd "$root"
export GRADIO_ANALYTICS_ENABLED=False HF_HUB_DISABLE_TELEMETRY=1
exec .venv/bin/wenchuang serve "$@"
