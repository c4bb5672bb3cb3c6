#!/usr/bin/env python3
"""The clean-install check (run by scripts/test.sh, so CI runs it): what a new user gets from a wheel.

Builds tierflow's wheel, installs it with llama-cpp-python's cached wheel (built once by
scripts/bootstrap.sh, never rebuilt here) into a fresh virtual environment outside the checkout,
and, from a temporary folder with no ``../shared`` and a fresh ``TIERFLOW_HOME`` whose ``models``
links to the bootstrap's models, runs what a user runs first: ``tierflow --help``, ``config
check``, seed 002's four catalog queries, ``cost estimate``, ``compile``, ``route fit`` and ``route
eval`` on a small outcome table written here, and a call of the embedded default config on the
local models. The orchestrator query's top five must equal a reference built from
``../shared/data/catalog`` with the checkout's own code (this script may read ``../shared``; the
installed product never does).

    .venv/bin/python scripts/check_clean_install.py [--keep]

Uses ``uv`` (a dev dependency) to build and install, which links packages from its cache: about
2 s once the cache is warm, against minutes for pip unpacking the same 650 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED_CATALOG = Path(os.environ.get("TIERFLOW_SHARED_DATA", REPO.parent / "shared" / "data")) / "catalog"
LLAMA_VERSION = "0.3.36"
SEED_QUERIES = {  # seed 002, "Finding Models by Role"
    "orchestrator": "SELECT name, creator, intelligence, coding, price FROM llms WHERE intelligence >= 55 "
                    "AND coding >= 45 ORDER BY intelligence DESC LIMIT 5",
    "reasoning": "SELECT name, creator, intelligence, price FROM llms WHERE intelligence >= 45 ORDER BY price LIMIT 5",
    "tool": "SELECT name, creator, intelligence, coding, price FROM llms WHERE intelligence >= 40 AND coding >= 40 "
            "ORDER BY price LIMIT 5",
    "extraction": "SELECT name, creator, intelligence, price, tps FROM llms WHERE intelligence >= 25 "
                  "ORDER BY price LIMIT 5",
}


class CheckFailed(Exception):
    """One step of the check did not give what a user should get."""


def _boot_home() -> Path:
    env = os.environ.get("TIERFLOW_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "tierflow"


def _run(cmd: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None,
         timeout: float = 300) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise CheckFailed(f"`{' '.join(cmd)}` exited {proc.returncode}:\n{tail}")
    return proc


def _base_python() -> str:
    """The interpreter the checkout's venv was made from (a fresh venv must not inherit that venv)."""
    return str(getattr(sys, "_base_executable", sys.executable))


def _uv() -> list[str] | None:
    uv = Path(sys.executable).with_name("uv")
    return [str(uv)] if uv.is_file() else None


def install(tmp: Path) -> Path:
    """Build the wheel and install it, with the cached llama-cpp-python wheel, into a fresh venv."""
    wheels = sorted((_boot_home() / "wheels").glob(f"llama_cpp_python-{LLAMA_VERSION}-*.whl"))
    if not wheels:
        raise CheckFailed(f"no cached llama-cpp-python {LLAMA_VERSION} wheel in {_boot_home() / 'wheels'}: "
                          "run scripts/bootstrap.sh first")
    uv, venv = _uv(), tmp / "venv"
    if uv:
        _run([*uv, "build", "--wheel", "--quiet", "--out-dir", str(tmp / "dist"), str(REPO)])
        _run([*uv, "venv", "--quiet", "--python", _base_python(), str(venv)])
        wheel = next((tmp / "dist").glob("tierflow-*.whl"))
        _run([*uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), str(wheel), str(wheels[-1])])
    else:  # without uv (an older .venv): the same with pip, slower
        _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp / "dist"), str(REPO)])
        _run([_base_python(), "-m", "venv", str(venv)])
        wheel = next((tmp / "dist").glob("tierflow-*.whl"))
        _run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-compile", str(wheel),
              str(wheels[-1])])
    return venv


def user_env(tmp: Path, venv: Path) -> dict[str, str]:
    """A new user's environment: the fresh venv first on PATH, a fresh home, nothing of the checkout."""
    home = tmp / "home"
    home.mkdir()
    (home / "models").symlink_to(_boot_home() / "models", target_is_directory=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TIERFLOW_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", TIERFLOW_HOME=str(home), HF_HUB_OFFLINE="1")
    return env


def reference_top_five(tmp: Path) -> list[dict]:
    """The orchestrator query on a catalog built from ../shared/data/catalog by the checkout's code."""
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]);"
            "from tierflow.catalog.build import build_catalog; from tierflow.catalog.query import run_query;"
            "build_catalog(sys.argv[2], out=sys.argv[3]);"
            "print(json.dumps(run_query(sys.argv[4], path=sys.argv[3]).records()))")
    proc = _run([sys.executable, "-c", code, str(REPO / "src"), str(SHARED_CATALOG), str(tmp / "reference.duckdb"),
                 SEED_QUERIES["orchestrator"]])
    return json.loads(proc.stdout)


def _outcomes(path: Path) -> None:
    """A small outcome table with a known answer: the cheap model solves sums, only the strong one poems."""
    lines = []
    for i in range(60):
        math = i % 2 == 0
        prompt = f"Add {i} and {i + 7}, then give the total." if math else f"Write a short poem about autumn, no. {i}."
        for model, score, cost in (("cheap", 1.0 if math else 0.0, 0.0001), ("strong", 1.0, 0.001)):
            lines.append(json.dumps({"prompt_id": f"p{i}", "prompt": prompt, "model": model, "score": score,
                                     "task": "math" if math else "poem", "cost": cost}))
    path.write_text("\n".join(lines) + "\n")


def user_steps(work: Path, env: dict[str, str], tmp: Path) -> list[tuple[str, Callable[[], str]]]:
    """(name, step) pairs; each step runs commands as a user would and returns a one-line result."""
    def tf(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return _run(["tierflow", *args], cwd=work, env=env, timeout=timeout)

    def help_() -> str:
        out = tf("--help").stdout
        if "Usage" not in out or "models" not in out:
            raise CheckFailed(f"tierflow --help printed no usage:\n{out[:500]}")
        return "usage printed"

    def config_check() -> str:
        return tf("config", "check", "examples/tierflow.yaml").stdout.strip().splitlines()[-1][:100]

    def queries() -> str:
        for role, sql in SEED_QUERIES.items():
            rows = json.loads(tf("models", "query", sql, "--json").stdout)
            columns = [c.strip() for c in sql.split("SELECT ", 1)[1].split(" FROM", 1)[0].split(",")]
            if not rows or any(list(r) != columns for r in rows):
                raise CheckFailed(f"seed 002's {role} query gave {rows!r}; expected rows with columns {columns}")
            if any(r["intelligence"] is None for r in rows):
                raise CheckFailed(f"seed 002's {role} query has models without an intelligence score: {rows}")
        return f"{len(SEED_QUERIES)} queries, each with rows and the seed's columns"

    def orchestrator_reference() -> str:
        got = json.loads(tf("models", "query", SEED_QUERIES["orchestrator"], "--json").stdout)
        if not SHARED_CATALOG.is_dir():
            if os.environ.get("CI", "").lower() == "true":
                raise CheckFailed(f"no reference data at {SHARED_CATALOG} (CI must have ../shared)")
            return f"SKIPPED: no {SHARED_CATALOG} to build the reference from"
        want = reference_top_five(tmp)
        if got != want:
            raise CheckFailed(f"orchestrator top five differ from the reference:\n  got  {got}\n  want {want}")
        return "top five = reference: " + ", ".join(r["name"] for r in got)

    def cost() -> str:
        out = " ".join(tf("cost", "estimate", "examples/cost/seed004_cascade.yaml").stdout.split())
        if "savings" not in out:
            raise CheckFailed(f"cost estimate printed no savings: {out[:300]}")
        return out[out.index("savings"):][:60]

    def compile_() -> str:
        tf("compile", "examples/customer-support/flow.json", "-o", "support.ir.json")
        ir = json.loads((work / "support.ir.json").read_text())
        if not ir.get("nodes"):
            raise CheckFailed(f"compile wrote an IR without nodes: {str(ir)[:300]}")
        return f"IR with {len(ir['nodes'])} nodes and {len(ir.get('edges', []))} edges"

    def route() -> str:
        _outcomes(work / "outcomes.jsonl")
        tf("route", "fit", "outcomes.jsonl", "-o", "router.json", "--kind", "knn")
        report = json.loads(tf("route", "eval", "router.json", "outcomes.jsonl", "--json", "--bootstrap", "0").stdout)
        return f"fit and eval with the default embedder; eval keys: {', '.join(sorted(report)[:4])}"

    def call() -> str:
        text = tf("call", "Reply with one word: hello", "--role", "fast", "--max-tokens", "16").stdout.strip()
        if not text:
            raise CheckFailed("the embedded default's fast role answered nothing")
        return f"fast role answered {text[:40]!r}"

    return [("tierflow --help", help_), ("config check", config_check), ("seed 002 queries", queries),
            ("orchestrator vs reference", orchestrator_reference), ("cost estimate", cost),
            ("compile customer-support", compile_), ("route fit + eval", route), ("call (embedded default)", call)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (printed) for inspection")
    args = parser.parse_args()
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="tierflow-clean-install-"))
    passed, failed = 0, 0
    try:
        if (tmp.parent / "shared").exists():
            raise CheckFailed(f"{tmp.parent / 'shared'} exists: the check needs a folder with no ../shared")
        t0 = time.perf_counter()
        venv = install(tmp)
        print(f"clean-install: installed the wheel into a fresh venv in {time.perf_counter() - t0:.1f} s", flush=True)
        work = tmp / "work"
        shutil.copytree(REPO / "examples", work / "examples", ignore=shutil.ignore_patterns("__pycache__"))
        env = user_env(tmp, venv)
        for name, step in user_steps(work, env, tmp):
            t0 = time.perf_counter()
            try:
                result = step()
                passed += 1
                print(f"clean-install: ok   {name} ({time.perf_counter() - t0:.1f} s): {result}", flush=True)
            except (CheckFailed, subprocess.TimeoutExpired, ValueError, KeyError) as exc:
                failed += 1
                print(f"clean-install: FAIL {name} ({time.perf_counter() - t0:.1f} s): {exc}", flush=True)
    except CheckFailed as exc:
        failed += 1
        print(f"clean-install: FAIL setting up: {exc}", flush=True)
    finally:
        if args.keep:
            print(f"clean-install: kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"clean-install: {passed} steps passed, {failed} failed, in {time.perf_counter() - started:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
