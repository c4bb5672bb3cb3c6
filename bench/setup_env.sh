#!/usr/bin/env bash
# Creates .bench-venv: tierflow plus the libraries benchmarks compare against (litellm, httpx,
# langgraph, haystack...), pinned in bench/requirements-*.txt. Kept apart from the project's
# own environment so those libraries never become tierflow dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .bench-venv/bin/python ]; then python3 -m venv .bench-venv; fi
.bench-venv/bin/pip install -q -e . 
for req in bench/requirements-*.txt; do
  [ -f "$req" ] || continue
  # a file may ask for --no-deps installs on lines starting with "#nodeps "
  grep -vE '^\s*(#|$)' "$req" > /tmp/tierflow-bench-req.txt || true
  [ -s /tmp/tierflow-bench-req.txt ] && .bench-venv/bin/pip install -q -r /tmp/tierflow-bench-req.txt
  sed -n 's/^#nodeps //p' "$req" | xargs -r .bench-venv/bin/pip install -q --no-deps
done
echo ".bench-venv ready"
