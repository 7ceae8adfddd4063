#!/usr/bin/env bash
# The checks and the tests, as CI runs them (after scripts/setup.sh --test):
# lint and format (ruff), types (mypy, configured in pyproject.toml), then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
