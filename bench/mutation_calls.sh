#!/usr/bin/env bash
# Mutation testing of the call layer (not run in CI): are tests/calls strong enough to notice a
# wrong rule? mutmut (pinned in bench/requirements-mutation.txt) makes small changes to the source
# (a comparison flipped, a flag inverted, a constant changed, a call dropped...) and runs the tests
# covering each changed function; a mutant the tests do not notice "survives".
#
#   bash bench/setup_env.sh && bash bench/mutation_calls.sh [MODULE ...]
#
# MODULE: files under src/tierflow/calls/ (default: cooldown.py retry.py _attempts.py streaming.py).
# It works in a temporary copy of the repository (the checkout is left as it is) and prints the
# score over all mutants, and over the mutants that are not equivalent: the mutants listed in
# bench/mutation_calls_equivalent.txt change no behaviour a caller could observe (each line says
# why); every other survivor is shown with its diff. The goal is a score of at least 0.85.
# The load and subprocess tests are left out (they take seconds each and cover nothing else).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
py="$root/.bench-venv/bin/python"
[ -x "$py" ] && "$py" -c "import mutmut" 2>/dev/null || {
  echo "mutation_calls: run bash bench/setup_env.sh first (it installs mutmut into .bench-venv)" >&2; exit 1; }
modules=("$@")
[ ${#modules[@]} -gt 0 ] || modules=(cooldown.py retry.py _attempts.py streaming.py)

work="$(mktemp -d -t tierflow-mutation.XXXXXX)"
trap 'rm -rf "$work"' EXIT
cp -r src tests pyproject.toml "$work/"
{
  echo "[mutmut]"
  echo "source_paths = src/"
  echo "only_mutate ="
  for m in "${modules[@]}"; do echo "    src/tierflow/calls/$m"; done
  echo "pytest_add_cli_args_test_selection = tests/calls"
  echo "pytest_add_cli_args ="
  echo "    -p"
  echo "    no:cacheprovider"
  echo "    -k"
  echo "    not under_load and not never_closed"
  echo "use_git_change_detection = false"
} > "$work/setup.cfg"

cd "$work"
export HF_HUB_OFFLINE=1
"$py" -m mutmut run > mutmut-run.log 2>&1 || { tail -n 40 mutmut-run.log >&2; exit 1; }
"$py" -m mutmut export-cicd-stats > /dev/null
"$py" - "$root/bench/mutation_calls_equivalent.txt" <<'PY'
import json
import subprocess
import sys
from pathlib import Path

stats = json.loads(Path("mutants/mutmut-cicd-stats.json").read_text())
equivalent = {}
for line in Path(sys.argv[1]).read_text().splitlines():
    if line.strip() and not line.startswith("#"):
        name, _, why = line.partition(" ")
        equivalent[name] = why.strip()
out = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"], capture_output=True, text=True)
status = {}
for line in out.stdout.splitlines():
    name, _, state = line.strip().rpartition(": ")
    if name:
        status[name] = state
survivors = sorted(n for n, s in status.items() if s in ("survived", "no tests"))
killed = sum(1 for s in status.values() if s in ("killed", "timeout", "segfault"))
total = len(status)
explained = [n for n in survivors if n in equivalent]
unexplained = [n for n in survivors if n not in equivalent]
print(f"mutants: {total}, killed: {killed}, survived: {len(survivors)} "
      f"({len(explained)} equivalent, listed in bench/mutation_calls_equivalent.txt)")
print(f"score: {killed / total:.3f} of all mutants; "
      f"{killed / (total - len(explained)):.3f} of the mutants that change behaviour (goal: 0.85)")
for name in explained:
    print(f"  equivalent: {name}: {equivalent[name]}")
for name in unexplained:
    print(f"\n--- survived: {name} ({status[name]})")
    print(subprocess.run([sys.executable, "-m", "mutmut", "show", name], capture_output=True, text=True).stdout)
stale = sorted(set(equivalent) - set(survivors))
if stale:
    print(f"(listed as equivalent but not surviving now, the list may be stale: {', '.join(stale)})")
PY
