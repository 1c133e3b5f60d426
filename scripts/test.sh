#!/usr/bin/env bash
# Sets up and runs the whole test suite (unit, integration with real servers, browser e2e).
set -euo pipefail
cd "$(dirname "$0")/.."
REQS=requirements-dev.txt scripts/setup.sh
if [ ! -x /usr/bin/chromium ]; then
  # Browser tests drive Debian's Chromium; Playwright's own browser download is never used.
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium >/dev/null
fi
set +e
.venv/bin/python -m pytest "$@"
code=$?
set -e
if [ "$code" = 5 ]; then
  echo "no tests were collected: that is a failure here" >&2
  exit 1
fi
exit "$code"
