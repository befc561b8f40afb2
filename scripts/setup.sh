#!/usr/bin/env bash
# Creates .venv (if missing) and installs snnkd with its test extras, CPU torch pinned.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q -c constraints.txt -e ".[dev]"
