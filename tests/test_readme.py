"""The README's examples run as written, so they cannot drift from the code.

A fenced block is run when an HTML comment right before it says how (each in a fresh folder
holding the README's files and a link to ``examples/``, as from a checkout):

- ``<!-- test: file NAME -->``: the block is a file the other examples use (a config, a flow file);
  it is written to ``NAME`` in every example's working folder.
- ``<!-- test: python -->``: run as a script with this interpreter.
- ``<!-- test: shell -->``: run by ``bash -e``, with ``python`` and ``tierflow`` on ``PATH`` as the
  README's reader has them and a loopback test server running at ``$TIERFLOW_TEST_SERVER``
  (the README says to start one; its scripts are reset before each block).
- ``<!-- test: config -->``: a project config, parsed with placeholder keys in the environment.
- ``local_model`` after the kind (``<!-- test: python local_model -->``) runs it on the local
  models: marked ``local_model`` and skipped when they are not installed.

A runnable block is followed by ``<!-- output -->`` and a ``text`` block: what it prints (stdout
and stderr, in the order a terminal shows them), compared as doctest does: ``...`` matches
anything and runs of whitespace are equal.
The shell session marked ``<!-- test-server-session -->`` runs in tests/testing/test_main.py.
"""

from __future__ import annotations

import doctest
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tierflow.testing import LLMTestServer

REPO_ROOT = Path(__file__).resolve().parent.parent
README = REPO_ROOT / "README.md"
_BLOCK = re.compile(r"<!-- test: (?P<spec>[^>]*?) -->\n```(?P<lang>[\w-]*)\n(?P<body>.*?)\n```\n"
                    r"(?:\s*<!-- output -->\n```text\n(?P<output>.*?)\n```\n)?", re.S)
_CHECKER = doctest.OutputChecker()
_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@dataclass(frozen=True)
class Block:
    """One marked block of the README: its kind, options, text and the output it promises."""

    kind: str
    options: tuple[str, ...]
    body: str
    output: str | None
    line: int

    @property
    def id(self) -> str:
        return f"{self.kind}-line-{self.line}"


def readme_blocks(text: str) -> list[Block]:
    """Every block with a ``<!-- test: ... -->`` marker, in the README's order."""
    blocks = []
    for m in _BLOCK.finditer(text):
        kind, *options = m["spec"].split()
        blocks.append(Block(kind, tuple(options), m["body"] + "\n", m["output"],
                            text.count("\n", 0, m.start()) + 1))
    return blocks


_ALL = readme_blocks(README.read_text(encoding="utf-8"))
_FILES = {b.options[0]: b.body for b in _ALL if b.kind == "file"}
_RUNNABLE = [b for b in _ALL if b.kind in ("python", "shell")]


def _local_models_installed() -> bool:
    from tierflow.local_models import installed_models

    names = {m.name for m in installed_models()}
    return {"smollm2-135m-instruct", "qwen2.5-coder-1.5b-instruct"} <= names


def _params(blocks: list[Block]) -> list[object]:
    marks = {"local_model": [pytest.mark.local_model, pytest.mark.skipif(
        not _local_models_installed(), reason="run `tierflow models pull` first")]}
    return [pytest.param(b, id=b.id, marks=[m for o in b.options for m in marks.get(o, [])]) for b in blocks]


@pytest.fixture(scope="module")
def server() -> Iterator[LLMTestServer]:
    srv = LLMTestServer.start_in_thread()
    try:
        yield srv
    finally:
        srv.stop()


def _workdir(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A folder holding the README's files, and an environment where `python` and `tierflow`
    are this checkout's."""
    for name, body in _FILES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(body, encoding="utf-8")
    (tmp_path / "examples").symlink_to(REPO_ROOT / "examples")  # the README runs from a checkout
    bin_dir = tmp_path / "_bin"
    bin_dir.mkdir()
    for name, run in (("python", f'"{sys.executable}" "$@"'), ("tierflow", f'"{sys.executable}" -m tierflow.cli "$@"')):
        (bin_dir / name).write_text(f"#!/bin/sh\nexec {run}\n")
        (bin_dir / name).chmod(0o755)
    src = str(REPO_ROOT / "src")
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "COLUMNS": "200",
           "PYTHONPATH": os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p),
           "PYTHONUNBUFFERED": "1"}
    env.pop("TIERFLOW_CONFIG", None)
    return tmp_path, env


def _check_output(block: Block, got: str) -> None:
    assert block.output is not None, f"README line {block.line}: a runnable block needs an <!-- output --> block"
    if not _CHECKER.check_output(block.output + "\n", got, _FLAGS):
        pytest.fail(f"README line {block.line}: the output differs from the README's\n"
                    f"--- README\n{block.output}\n--- got\n{got}")


def test_the_readme_has_the_tour_examples() -> None:
    kinds = [b.kind for b in _ALL]
    assert kinds.count("python") >= 3 and kinds.count("shell") >= 5 and "config" in kinds
    assert {"tour.yaml", "hello.json", "triage.json"} <= set(_FILES)
    assert "<!-- test-server-session -->\n```bash\n" in README.read_text(encoding="utf-8")  # tests/testing/test_main.py


@pytest.mark.parametrize("block", _params(_RUNNABLE))
def test_the_example_prints_what_the_readme_says(block: Block, tmp_path: Path, server: LLMTestServer) -> None:
    cwd, env = _workdir(tmp_path)
    server.reset()
    env["TIERFLOW_TEST_SERVER"] = server.base_url
    if block.kind == "python":
        (cwd / "example.py").write_text(block.body, encoding="utf-8")
        argv = [sys.executable, "example.py"]
    else:
        argv = ["bash", "-e", "-c", block.body]
    timeout = 600 if "local_model" in block.options else 120
    proc = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout)  # one stream, unbuffered: the order a terminal shows
    assert proc.returncode == 0, f"README line {block.line} failed:\n{proc.stdout}"
    _check_output(block, proc.stdout)


@pytest.mark.parametrize("block", _params([b for b in _ALL if b.kind == "config"]))
def test_the_config_examples_are_valid(block: Block) -> None:
    from tierflow.config import parse_config

    keys = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "AZURE_API_KEY")
    env = {**{k: "sk-placeholder-key" for k in keys}, "AZURE_ENDPOINT": "https://example.openai.azure.com"}
    config = parse_config(block.body, env=env, source=f"README.md:{block.line}")
    assert config.registry.roles, f"README line {block.line}: the config declares no role"


def test_the_readme_links_to_files_that_exist() -> None:
    text = README.read_text(encoding="utf-8")
    links = re.findall(r"\]\(((?:docs|examples)/[^)#\s]+)", text)
    assert links and [link for link in links if not (REPO_ROOT / link).exists()] == []
