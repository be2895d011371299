#!/usr/bin/env bash
# Runs Wenchuang Studio (sets up .venv on first use). Extra arguments go to `wenchuang serve`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/bootstrap.sh"
cd "$root"
export GRADIO_ANALYTICS_ENABLED=False HF_HUB_DISABLE_TELEMETRY=1
if .venv/bin/python -c "import wenchuang.commands.studio" 2>/dev/null; then
  exec .venv/bin/wenchuang serve "$@"
fi
# No studio in this build yet: make an example design with the offline classic engine instead.
exec .venv/bin/wenchuang generate --engine classic --prompt "bronze mask bookmark" \
  --text "三星堆" --position 96,160,416,288 --text "Sanxingdui" --position 128,320,384,384 \
  --size 512x512 --out out/example "$@"
