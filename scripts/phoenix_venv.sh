#!/usr/bin/env bash
# Installs Arize Phoenix (the OTLP receiver the tracing tests export to) in its own virtualenv,
# once: $TIERFLOW_HOME/phoenix/<version> (default ~/.cache/tierflow), reused while it exists.
# Its own venv because its pins (sqlalchemy, fastapi, protobuf...) are not tierflow's concern.
# Prints the venv's python on stdout. PHOENIX_VERSION overrides the pinned version.
set -euo pipefail
VERSION="${PHOENIX_VERSION:-20.26.1}"
HOME_DIR="${TIERFLOW_HOME:-$HOME/.cache/tierflow}"
VENV="$HOME_DIR/phoenix/$VERSION"
if [ ! -x "$VENV/bin/phoenix" ]; then
  PY="${PYTHON:-python3}"
  TMP="$VENV.partial.$$"
  rm -rf "$TMP"
  mkdir -p "$(dirname "$VENV")"
  LOG="$(mktemp -t tierflow-phoenix.XXXXXX)"
  # built in a temporary folder then moved, so an interrupted install leaves no broken venv
  if ! { "$PY" -m venv "$TMP" && "$TMP/bin/python" -m pip install --quiet --disable-pip-version-check \
         "arize-phoenix==$VERSION"; } >"$LOG" 2>&1; then
    echo "phoenix_venv: FAILED to install arize-phoenix==$VERSION; last lines:" >&2
    tail -n 30 "$LOG" >&2
    rm -rf "$TMP" "$LOG"
    exit 1
  fi
  rm -f "$LOG"
  rm -rf "$VENV"
  mv "$TMP" "$VENV"
  # a venv's scripts name its folder: point them at the final one
  sed -i "s#$TMP#$VENV#g" "$VENV"/bin/* 2>/dev/null || true
fi
echo "$VENV/bin/python"
