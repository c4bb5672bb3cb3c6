#!/usr/bin/env bash
# Quick start, command 1: install everything (venv, llama-cpp-python, the local models) and run
# the main job: the cascading example on the embedded local models (no API key, no network).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python examples/cascading.py "$@"
