#!/usr/bin/env bash
# GPU check for the AnyText engine: the figures the "runs in 8 GB" promise rests on.
#
#   bash benchmarks/gpu_check.sh [OUT_DIR]        (default OUT_DIR: gpu_check_results)
#
# Needs a CUDA GPU and this repository's environment; downloads nothing (full-size random weights are
# built in code). For each of float16 and bfloat16, at 512x512, 20 DDIM steps with guidance: peak VRAM
# and seconds per image without and with model CPU offload, and the time to the first step from a
# cold start; then float16 with DPM-Solver++ at 10 steps. Each run has its own time limit; the whole
# check takes about 2-4 minutes on an H100-class card (building and saving the model is most of it).
# Writes OUT_DIR/<name>.json and OUT_DIR/summary.txt.
# Dry run on a CPU (checks the script, not the figures): GPU_CHECK_DEVICE=cpu GPU_CHECK_TINY=1.
set -u
cd "$(dirname "$0")/.."
OUT=${1:-gpu_check_results}
DEVICE=${GPU_CHECK_DEVICE:-cuda}
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
EXTRA=()
[ "${GPU_CHECK_TINY:-0}" = "1" ] && EXTRA+=(--tiny --size 128 --steps 3)
mkdir -p "$OUT"
{
  echo "gpu_check $(date -u +%FT%TZ) device=$DEVICE"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "nvidia-smi: not available"
  "$PY" -c "import torch, diffusers; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'diffusers', diffusers.__version__)"
} | tee "$OUT/summary.txt"

run() {  # name, limit in seconds, benchmark arguments...
  local name=$1 limit=$2; shift 2
  local start=$SECONDS
  if timeout "$limit" "$PY" benchmarks/anytext_step.py --device "$DEVICE" "$@" "${EXTRA[@]}" --json "$OUT/$name.json" \
      > "$OUT/$name.log" 2>&1; then
    echo "$name: ok in $((SECONDS - start)) s" | tee -a "$OUT/summary.txt"
    "$PY" - "$OUT/$name.json" <<'PY' | tee -a "$OUT/summary.txt"
import json, sys
result = json.load(open(sys.argv[1]))
for dtype, run in result.get("runs", {}).items():
    keys = [k for k in run if k.startswith(("seconds_per_image", "peak_vram", "time_to_first", "seconds_per_step", "peak_rss"))]
    print("  ", dtype, run.get("sampler"), run.get("steps"), "steps:", ", ".join(f"{k}={run[k]}" for k in keys))
PY
  else
    echo "$name: FAILED or over ${limit} s (see $OUT/$name.log)" | tee -a "$OUT/summary.txt"
    tail -5 "$OUT/$name.log" | tee -a "$OUT/summary.txt"
  fi
}

MODELS=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check_models.XXXXXX")
trap 'rm -rf "$MODELS"' EXIT
# builds the random pipeline once (float16 and bfloat16 folders), then measures each dtype in its own process
run ddim20_fp16_bf16 200 --dtype float16,bfloat16 --sampler ddim --steps 20 --models "$MODELS"
run dpmpp10_fp16 60 --dtype float16 --sampler dpmpp_2m --steps 10 --models "$MODELS"
echo "done in ${SECONDS} s; results in $OUT" | tee -a "$OUT/summary.txt"
