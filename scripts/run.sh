#!/usr/bin/env bash
# Sets up and starts the whole app on embedded defaults: database, API and UI.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python -m crm serve "$@"
