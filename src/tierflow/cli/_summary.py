"""The one-line summaries ``tierflow call`` and ``tierflow run`` print on stderr.

No hidden mode switching (README, "Calls"): after every call the CLI says which model served,
what it cost and how long it took, with the route a routed role chose and the variant a split
chose; when the model that served is not the first target tried (a fallback), the line says so
and why the first failed. ``--quiet`` silences all of it; ``--json`` carries the same facts
(``fallback``, ``first_target``, ``variant``, ``decision``) on stdout.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tierflow.types import CallResult

PREFIX = "tierflow: "


def first_target(result: CallResult) -> str | None:
    """The target the call tried first (its role's first, or a routed / split choice's first)."""
    return result.attempts[0].target if result.attempts else None


def fell_back(result: CallResult) -> bool:
    """True when a target other than the first one tried served the call."""
    first = first_target(result)
    return first is not None and first != result.model_used


def facts(result: CallResult) -> dict[str, Any]:
    """What ``--json`` adds to a call's record: whether a fallback served, and which was first."""
    return {"fallback": fell_back(result), "first_target": first_target(result)}


def call_line(result: CallResult, name: str) -> str:
    """``tierflow: fast -> openai/gpt-4o-mini | 12+30 tokens | $0.000012 | 0.84 s``, with the
    route, the split variant and any fallback in words."""
    who = result.role or name
    choice = _choice(result)
    head = f"{who}{choice} -> {result.model_used}"
    if fell_back(result):
        head += f" (fallback: {_why(result)})"
    usage = result.usage
    parts = [head, f"{usage.input_tokens}+{usage.output_tokens} tokens", _cost(result.cost_usd),
             f"{result.latency_s:.2f} s"]
    return PREFIX + " | ".join(parts)


def cascade_line(role: str, record: Mapping[str, Any], elapsed_s: float) -> str:
    """``tierflow: auto [cascade: 2 calls, escalated] -> strong (srv/big) | ... | $0.000120 | 1.20 s``."""
    calls = record.get("calls") or []
    usage = record.get("usage") or {}
    how = f"cascade: {len(calls)} call{'s' if len(calls) != 1 else ''}"
    if record.get("escalated"):
        how += ", escalated"
    parts = [f"{role} [{how}] -> {record.get('role')} ({record.get('model_used')})",
             f"{usage.get('input_tokens', 0)}+{usage.get('output_tokens', 0)} tokens",
             _cost(record.get("cost_usd")), f"{elapsed_s:.2f} s"]
    return PREFIX + " | ".join(parts)


def run_line(result: Any, calls: Mapping[str, list[CallResult]]) -> str:
    """``tierflow: run ok in 4.20 s | 3 calls | 180 tokens | $0.000120 | models: a, b``, with the
    nodes whose call fell back, was routed or was split."""
    nodes = list(getattr(result, "nodes", {}).values())
    statuses = [getattr(r, "status", "") for r in nodes]
    failed = [s for s in statuses if s not in ("ok", "skipped")]
    made = [c for cs in calls.values() for c in cs]
    parts = [f"run {'ok' if not failed else ', '.join(sorted(set(failed)))} in {result.duration_s:.2f} s",
             f"{len(made)} call{'s' if len(made) != 1 else ''}",
             f"{sum(c.usage.input_tokens + c.usage.output_tokens for c in made)} tokens",
             _cost(_total(c.cost_usd for c in made))]
    models = list(dict.fromkeys(c.model_used for c in made))
    if models:
        parts.append("models: " + ", ".join(models))
    notes = [f"node {node!r} {note}" for node, cs in calls.items() for c in cs for note in _notes(c)]
    return PREFIX + " | ".join(parts + notes)


def calls_by_node(result: Any) -> dict[str, list[CallResult]]:
    """The calls each node of a run made: an LLM node's ``call``, a pattern node's ``result.calls``."""
    out: dict[str, list[CallResult]] = {}
    for node, value in (getattr(result, "node_outputs", None) or {}).items():
        if not isinstance(value, Mapping):
            continue
        call = value.get("call")
        calls = [call] if isinstance(call, CallResult) else list(getattr(value.get("result"), "calls", None) or [])
        calls = [c for c in calls if isinstance(c, CallResult)]
        if calls:
            out[node] = calls
    return out


def node_facts(calls: Iterable[CallResult]) -> dict[str, Any]:
    """What ``tierflow run --json`` adds to a node's record: fallbacks, routes and split variants."""
    made = list(calls)
    return {"fallback": any(fell_back(c) for c in made),
            "first_targets": [first_target(c) for c in made],
            "variants": [c.variant for c in made if c.variant is not None],
            "routes": [c.decision["chosen_role"] for c in made if c.decision and c.decision.get("chosen_role")]}


def node_notes(calls: Iterable[CallResult]) -> str:
    """The per-node remarks of ``tierflow run``'s table: fallbacks, routes, split variants."""
    return "; ".join(note for c in calls for note in _notes(c))


def _notes(result: CallResult) -> list[str]:
    notes = []
    variant = result.variant
    if variant is not None:
        notes.append(f"split {result.role} -> {variant}")
    elif result.decision is not None and result.decision.get("chosen_role"):
        notes.append(f"routed {result.role} -> {result.decision['chosen_role']}")
    if fell_back(result):
        notes.append(f"fallback to {result.model_used} ({_why(result)})")
    return notes


def _choice(result: CallResult) -> str:
    variant = result.variant
    if variant is not None:
        return f" [split: variant {variant}]"
    decision = result.decision
    if decision is not None and decision.get("chosen_role"):
        quality = decision.get("predicted_quality")
        detail = f", predicted quality {quality:.2f}" if isinstance(quality, (int, float)) else ""
        return f" [routed to {decision['chosen_role']}{detail}]"
    return ""


def _why(result: CallResult) -> str:
    """What happened to the targets tried before the one that served."""
    failed: dict[str, list[str]] = {}
    for a in result.attempts:
        if a.target == result.model_used and a.outcome == "ok":
            break
        reason = a.error or a.outcome
        if a.status_code:
            reason += f" HTTP {a.status_code}"
        failed.setdefault(a.target, []).append(reason)
    said = []
    for target, reasons in failed.items():
        counted = [f"{r} x{reasons.count(r)}" if reasons.count(r) > 1 else r for r in dict.fromkeys(reasons)]
        said.append(f"{target} {', '.join(counted)}")
    return "; ".join(said)


def _total(costs: Iterable[float | None]) -> float | None:
    values = list(costs)
    return None if any(c is None for c in values) else float(sum(c for c in values if c is not None))


def _cost(cost: float | None) -> str:
    return "cost unknown" if cost is None else f"${cost:.6f}"


__all__ = ["PREFIX", "call_line", "calls_by_node", "cascade_line", "facts", "fell_back", "first_target",
           "node_facts", "node_notes", "run_line"]
