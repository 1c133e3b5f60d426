#!/usr/bin/env bash
# Creates .venv and installs the pinned requirements (REQS=requirements-dev.txt for tests).
set -euo pipefail
cd "$(dirname "$0")/.."
REQS="${REQS:-requirements.txt}"
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$REQS"
