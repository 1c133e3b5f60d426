#!/usr/bin/env bash
# Lint, formatting, types and import contracts: what CI checks before it runs the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin
$PY/ruff check .
$PY/ruff format --check .
$PY/mypy
$PY/lint-imports
