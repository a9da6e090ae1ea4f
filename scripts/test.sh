#!/usr/bin/env bash
# Set up everything the test suite needs on a fresh machine, then run it.
#   bash scripts/test.sh [pytest args...]
# Creates .venv (unless VENV points elsewhere), installs terranb with all extras and the
# test tools, installs Debian's chromium for the browser tests when running as root,
# and runs pytest (unit, wire, emulator end-to-end, notebooks under nbval, browser).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY=${PYTHON:-python3}

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e '.[all,test]'

# Browser tests use the distribution's Chromium (no browser download); skip quietly if we can't.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "note: chromium could not be installed; browser tests will be skipped"
  else
    echo "note: chromium not found; browser tests will be skipped"
  fi
fi
# The report's PDF test reads the PDF's text with pdftotext (Debian: poppler-utils).
if ! command -v pdftotext >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils >/dev/null) \
      || echo "note: poppler-utils could not be installed; the PDF text test will be skipped"
  fi
fi

exec "$VENV/bin/python" -m pytest "$@"
