"""The README's dependency graph is regenerated from the imports and must match."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import depgraph  # noqa: E402


def test_readme_graph_is_fresh() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "depgraph.py"), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_units_and_type_checking_imports() -> None:
    assert depgraph.unit_of("tierflow.calls.client") == "calls"
    assert depgraph.unit_of("tierflow.errors") == "core"
    assert depgraph.unit_of("tierflow.config") == "support"
    assert depgraph.unit_of("json") is None
    # calls/_attempts.py imports the Client only for type checking: not an edge of its own
    found = depgraph.imports_of(ROOT / "src" / "tierflow" / "calls" / "_attempts.py")
    assert "tierflow.calls.client" not in found
    assert "tierflow.errors" in found


def test_cycles_are_found() -> None:
    # each edge of the loop a -> b -> c -> a is reported once, by its (smaller, larger) names
    assert depgraph.cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [("a", "b"), ("b", "c")]
    assert depgraph.cycles({"a": {"b"}, "b": set()}) == []


def test_dependencies_point_one_way() -> None:
    graph = depgraph.edges()
    # no two units depend on each other: the traced units reach tracing through the core's hooks
    # (tierflow._trace_frame), and the console mounts itself onto the gateway's app from `tierflow serve`
    assert depgraph.cycles(graph) == []
    assert "tracing" not in graph["calls"] | graph["engine"] | graph["patterns"] | graph["gateway"]
    assert "console" not in graph["gateway"]
    # the layers named in the README: the config does not import the providers, the engine not the patterns
    assert "providers" not in graph["support"]
    assert "patterns" not in graph["engine"]
