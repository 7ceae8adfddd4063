#!/usr/bin/env bash
# GRAM Studio on a GPU machine, in one run: set up, judge and adapt a few hundred demo pairs with
# the embedded model, and write the studio's throughput against raw vLLM's and the adaptation time.
#
#   benchmarks/gpu.sh [OUT_DIR]          (default: benchmarks/gpu-<date>)
#
# Set-up: the studio into .venv (scripts/setup.sh; TORCH_SPEC for a CUDA build of torch if the
# default wheel is not one), then vLLM's GPU build (`pip install vllm`) unless .venv has vLLM
# already. On a machine that cannot download, install both beforehand, or point VENV at a Python
# environment that holds torch, vLLM and the studio (`pip install -e .`).
# Each step writes one JSON file into OUT_DIR; a step that fails is said and the others still run.
set -uo pipefail
cd "$(dirname "$0")/.."

OUT=${1:-benchmarks/gpu-$(date +%F)}
VENV=${VENV:-.venv}
PY="$VENV/bin/python"
PAIRS=${PAIRS:-256}           # pairs judged per path
TOKENS=${TOKENS:-512}         # new tokens per rationale (GRAM's default cap), forced for equal work
ADAPT_SIZES=${ADAPT_SIZES:-"64 256"}
mkdir -p "$OUT"

if [ ! -x "$PY" ]; then
  scripts/setup.sh || { echo "set-up failed: install the studio into $VENV first" >&2; exit 1; }
fi
if ! "$PY" -c "import vllm" 2>/dev/null; then
  "$PY" -m pip install -q vllm || echo "vLLM could not be installed: its steps are skipped" >&2
fi
"$PY" - <<'EOF' >"$OUT/machine.json"
import json, platform, torch
cuda = torch.cuda.is_available()
print(json.dumps({
    "python": platform.python_version(), "torch": torch.__version__, "cuda": cuda,
    "gpu": torch.cuda.get_device_name(0) if cuda else None,
    "gpu_memory_gib": round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1) if cuda else None,
}, indent=2))
EOF
cat "$OUT/machine.json"
export GRAM_HOME=${GRAM_HOME:-$(mktemp -d)}  # a fresh data folder: the embedded model converted once into it
failed=()
step() {  # step NAME COMMAND...: run it, say how long it took, note a failure and go on
  local name=$1 began=$SECONDS; shift
  echo "== $name"
  if "$@"; then echo "== $name: $((SECONDS - began)) s"; else echo "== $name FAILED" >&2; failed+=("$name"); fi
}

if "$PY" -c "import vllm" 2>/dev/null; then
  # The studio's judging (prompt building, the engine, parsing) against raw vLLM.generate on the
  # same engine and prompts; and the label-only fast path.
  step raw-vllm "$PY" benchmarks/raw_vllm.py --pairs "$PAIRS" --max-new-tokens "$TOKENS" --out "$OUT/raw-vllm.json"
  step judge-speed "$PY" benchmarks/judge_speed.py --pairs "$PAIRS" --max-new-tokens "$TOKENS" \
    --min-new-tokens "$TOKENS" --transformers-batches 32 --out "$OUT/judge-speed.json"
else
  step judge-speed "$PY" benchmarks/judge_speed.py --pairs "$PAIRS" --max-new-tokens "$TOKENS" \
    --min-new-tokens "$TOKENS" --transformers-batches 8,32 --skip-vllm --out "$OUT/judge-speed.json"
fi
# Adaptation: LoRA on N simulated reviews (the reference labels accepted), before/after held out.
# shellcheck disable=SC2086  # the sizes are words
step adapt "$PY" benchmarks/adapt_demo.py --sizes $ADAPT_SIZES --out "$OUT/adapt.json"
# A head fitted from features the fast path kept, and judging with it from them.
step kept-features "$PY" benchmarks/kept_features.py --pairs "$PAIRS" --out "$OUT/kept-features.json"

echo "figures in $OUT: $(ls "$OUT" | tr '\n' ' ')"
if [ ${#failed[@]} -gt 0 ]; then echo "failed: ${failed[*]}" >&2; exit 1; fi
