"""Shadow a candidate router on the ledger's logged traffic, and promote it when it meets a target.

``shadow`` reads a routed role's answered requests that carry feedback (``POST /v1/feedback``) and
the probability of the choice made (the role's ``explore:`` share logs it), asks the candidate
router what it would have chosen for each stored prompt, and estimates the candidate's and the
live router's quality and cost per request off-policy (:mod:`tierflow.routing.offpolicy`), with
bootstrap intervals and the number of requests the estimate rests on. ``promote`` swaps the
candidate into the role's router file (as a unit, :func:`tierflow.routing.io.save_router`) only
when the estimate meets the target, keeping the previous router beside it for ``rollback``; a
running gateway or client reloads the file within a second. See docs/routing.md, "Closed loop".
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tierflow.errors import LedgerError, Problem, RoutingError
from tierflow.routing.offpolicy import Estimate, Logged, deterministic, estimate, meets_target


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    request_id: str
    messages: list[dict[str, Any]]
    chosen: str
    propensity: float
    router_choice: str
    reward: float
    cost: float


@dataclass(frozen=True, slots=True)
class ShadowReport:
    role: str
    candidate: Estimate
    live: Estimate
    promotable: bool
    reason: str
    left_out: dict[str, int]


_SQL = """
SELECT r.request_id, r.messages, r.decision, COALESCE(r.cost_usd, 0), AVG(f.score) FROM requests r
JOIN feedback f ON f.request_id = r.request_id
WHERE (r.requested = ? OR r.role = ?) AND r.outcome = 'ok' GROUP BY r.request_id ORDER BY r.ts
"""


def read_log(ledger: str | Path, role: str) -> tuple[list[LoggedRequest], dict[str, int]]:
    """The routed role's answered, scored requests, and how many were left out and why."""
    path = Path(ledger)
    if not path.is_file():
        raise LedgerError(f"ledger {str(path)!r} does not exist")
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            rows = conn.execute(_SQL, (role, role)).fetchall()
    except sqlite3.DatabaseError as exc:
        raise LedgerError(f"ledger {str(path)!r} is damaged or not a tierflow ledger ({exc})") from None
    out: list[LoggedRequest] = []
    left = {"no propensity logged": 0, "no prompt stored": 0}
    for rid, messages, decision, cost, score in rows:
        d = json.loads(decision) if decision else {}
        if not d.get("propensity"):
            left["no propensity logged"] += 1
            continue
        if not messages:
            left["no prompt stored"] += 1
            continue
        out.append(LoggedRequest(rid, json.loads(messages), str(d["chosen"]), float(d["propensity"]),
                                 str(d.get("router_choice") or d["chosen"]), float(score), float(cost)))
    return out, left


def _routed_entry(config: Any, role: str) -> dict[str, Any]:
    entry = config.routed_roles.get(role)
    if entry is None:
        raise RoutingError([Problem(f"--role {role!r}", f"is not a routed role of {config.source} (routed roles: "
                                                        f"{sorted(config.routed_roles)})")])
    return dict(entry)


def _base_dir(config: Any) -> Path | None:
    source = Path(config.source)
    return source.parent if source.is_file() else None


def shadow(config: Any, role: str, candidate: str | Path, ledger: str | Path, *, method: str = "snips",
           max_quality_drop: float = 0.0, max_cost_ratio: float | None = None, min_n: int = 200,
           min_effective: float = 50.0, n_boot: int = 1000, seed: int = 0) -> ShadowReport:
    """Estimate ``candidate`` (a router file) against the live router of ``role`` on ``ledger``."""
    from tierflow.routing.live import load_routed_role

    entry = _routed_entry(config, role)
    logged, left = read_log(ledger, role)
    cand = load_routed_role({**entry, "router": str(candidate), "explore": 0}, config.registry,
                            base_dir=None, watch=False)
    log = [Logged(r.chosen, r.propensity, r.reward, r.cost) for r in logged]
    cand_policy = deterministic([cand.choose(r.messages).chosen_role or "" for r in logged])
    live_policy = deterministic([r.router_choice for r in logged])
    model = _reward_model(log) if method == "dr" else None
    kwargs: dict[str, Any] = {"method": method, "min_n": min_n, "min_effective": min_effective, "n_boot": n_boot,
                              "seed": seed}
    c_est = estimate(log, cand_policy, quality_model=model, **kwargs)
    l_est = estimate(log, live_policy, quality_model=model, **kwargs)
    ok, reason = meets_target(c_est, l_est, max_quality_drop=max_quality_drop, max_cost_ratio=max_cost_ratio)
    return ShadowReport(role, c_est, l_est, ok, reason, left)


def _reward_model(log: list[Logged]) -> list[dict[str, float]]:
    """A rough reward model for ``dr``: each arm's mean logged feedback (the same for every request)."""
    arms = {r.chosen for r in log}
    means = {a: float(np.mean([r.reward for r in log if r.chosen == a])) for a in arms}
    return [means] * len(log)


def outcomes_from_ledger(config: Any, role: str, ledger: str | Path) -> Any:
    """An outcome table for ``route fit`` from the role's logged, scored requests, weighted by their
    propensities: each candidate's score is the doubly robust pseudo-outcome
    ``q(a) + [a chosen] / p * (reward - q(a))`` (``q``: the arm's self-normalised mean feedback),
    clipped to [0, 1]; an arm's cost is the logged cost where it answered, else its mean cost.
    Unbiased per request in expectation (before clipping) when the propensities are right."""
    from tierflow.routing.data.outcomes import OutcomeTable
    from tierflow.routing.live import prompt_text

    entry = _routed_entry(config, role)
    logged, left = read_log(ledger, role)
    if not logged:
        raise RoutingError([Problem(str(ledger), f"has no scored requests of {role!r} with a logged propensity and "
                                                 f"a stored prompt (left out: {left}); explore: and "
                                                 "store_content: true log them")])
    arms = [str(a) for a in entry["candidates"]]
    w = np.array([1.0 / r.propensity for r in logged])
    y = np.array([r.reward for r in logged])
    cost = np.array([r.cost for r in logged])
    scores = np.empty((len(logged), len(arms)))
    costs = np.empty_like(scores)
    for j, arm in enumerate(arms):
        mine = np.array([r.chosen == arm for r in logged])
        q = float(np.sum(w[mine] * y[mine]) / np.sum(w[mine])) if mine.any() else 0.5
        c = float(np.mean(cost[mine])) if mine.any() else float(np.mean(cost))
        scores[:, j] = np.clip(q + mine * w * (y - q), 0.0, 1.0)
        costs[:, j] = np.where(mine, cost, c)
    note = (f"from ledger {ledger}: {len(logged)} scored requests of {role!r}, doubly robust pseudo-outcomes "
            f"weighted by the logged propensities" + "".join(f"; {v} left out ({k})" for k, v in left.items() if v))
    return OutcomeTable(ids=[r.request_id for r in logged], prompts=[prompt_text(r.messages) for r in logged],
                        tasks=["ledger"] * len(logged), models=arms, scores=scores, costs=costs, notes=[note])


def router_path(config: Any, role: str) -> Path:
    path = Path(str(_routed_entry(config, role)["router"]))
    base = _base_dir(config)
    return path if path.is_absolute() or base is None else base / path


def previous_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}.previous.json")


def promote(config: Any, role: str, candidate: str | Path, report: ShadowReport) -> Path:
    """Swap ``candidate`` into ``role``'s router file when ``report`` says it may; keep the old one."""
    from tierflow.routing.io import load_router, save_router

    if not report.promotable:
        raise RoutingError([Problem(f"role {role!r}", report.reason)])
    live = router_path(config, role)
    save_router(load_router(live), previous_path(live))
    save_router(load_router(candidate), live)
    return live


def rollback(config: Any, role: str) -> Path:
    """Put the router kept by the last :func:`promote` back in place."""
    from tierflow.routing.io import load_router, save_router

    live = router_path(config, role)
    previous = previous_path(live)
    if not previous.is_file():
        raise RoutingError([Problem(str(previous), "does not exist: no previous router to roll back to "
                                                   "(`tierflow route promote` keeps one)")])
    save_router(load_router(previous), live)
    return live


__all__ = ["LoggedRequest", "ShadowReport", "outcomes_from_ledger", "previous_path", "promote", "read_log",
           "rollback", "router_path", "shadow"]
