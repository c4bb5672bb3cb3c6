#!/usr/bin/env bash
# Quick start, command 2: install everything and run the test suite (what CI runs): the linter, the
# clean-install check (scripts/check_clean_install.py: the built wheel in a fresh venv, used as a new
# user would; TIERFLOW_SKIP_INSTALL_CHECK=1 skips it outside CI), then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export HF_HUB_OFFLINE=1
set +e
# the linter (rules in pyproject.toml) first; the tests run either way, and either failing fails
.venv/bin/ruff check --quiet .
lint=$?
# the type checker (the files it checks and its settings: pyproject.toml's [tool.mypy])
.venv/bin/python -m mypy
types=$?
install_check=0
if [ "${TIERFLOW_SKIP_INSTALL_CHECK:-0}" != "1" ] || [ "${CI:-}" = "true" ]; then
  .venv/bin/python scripts/check_clean_install.py
  install_check=$?
fi
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
rc=$?
set -e
[ $lint -eq 0 ] || echo "test.sh: ruff check found problems (see above); fix them or run: .venv/bin/ruff check --fix ." >&2
[ $types -eq 0 ] || echo "test.sh: mypy found type errors (see above) in the files listed under [tool.mypy] in pyproject.toml" >&2
[ $install_check -eq 0 ] || echo "test.sh: the clean-install check failed (see its FAIL lines above)" >&2
# pytest exits 5 when no test was collected: that is a failure here, not a pass.
[ $rc -ne 0 ] && exit $rc
[ $install_check -ne 0 ] && exit $install_check
[ $lint -ne 0 ] && exit $lint
exit $types
