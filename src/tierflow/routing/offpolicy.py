"""Off-policy estimates: what a candidate router would score and cost, judged on logged traffic.

Feedback covers only the model that answered, so a candidate that would have chosen another model
cannot be scored by averaging the log. When the logging policy recorded the probability of every
choice it made (exploration: a small share of traffic sent to a model drawn at random), the
candidate's value is estimated without bias by re-weighting each logged request by
``pi(chosen | request) / mu(chosen | request)``:

- ``ips``: inverse propensity scoring, ``mean(w * reward)``;
- ``snips``: self-normalised IPS, ``sum(w * reward) / sum(w)`` (lower variance, tiny bias);
- ``dr``: doubly robust, ``mean(sum_a pi(a) q(a) + w * (reward - q(chosen)))`` with a reward model
  ``q`` (unbiased when either the propensities or ``q`` are right).

Quality and cost are estimated alike; intervals are percentile bootstrap intervals over requests.
An estimate resting on fewer than ``min_n`` requests, or on an effective sample size
``(sum w)^2 / sum w^2`` below ``min_effective``, says so (``enough`` is False) instead of being
used to promote. See docs/routing.md and the test on a synthetic log with a known answer
(tests/routing/test_offpolicy.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

Policy = Sequence[Mapping[str, float]]
"""Per logged request: the probability the evaluated policy gives each arm (role)."""


@dataclass(frozen=True, slots=True)
class Logged:
    """One logged request: the arm that answered, the probability the logging policy had of choosing
    it, the feedback (quality) and what it cost."""

    chosen: str
    propensity: float
    reward: float
    cost: float


@dataclass(frozen=True, slots=True)
class Estimate:
    """A policy's estimated mean quality and cost per request on the logged traffic."""

    method: str
    quality: float
    quality_ci: tuple[float, float]
    cost: float
    cost_ci: tuple[float, float]
    n: int
    effective_n: float
    enough: bool
    note: str


def _weights(log: Sequence[Logged], policy: Policy) -> np.ndarray:
    if len(policy) != len(log):
        raise ValueError(f"the policy gives {len(policy)} choices for {len(log)} logged requests")
    mu = np.array([r.propensity for r in log], dtype=float)
    if np.any(mu <= 0) or np.any(mu > 1):
        raise ValueError("every logged propensity must be in (0, 1]: a choice logged with probability 0 "
                         "cannot be re-weighted (was the exploration share recorded?)")
    pi = np.array([p.get(r.chosen, 0.0) for r, p in zip(log, policy)], dtype=float)
    return np.asarray(pi / mu)


def _point(method: str, w: np.ndarray, y: np.ndarray, direct: np.ndarray | None, q_chosen: np.ndarray | None
           ) -> float:
    if method == "ips":
        return float(np.mean(w * y))
    if method == "snips":
        total = float(np.sum(w))
        return float(np.sum(w * y) / total) if total > 0 else float("nan")
    assert direct is not None and q_chosen is not None
    return float(np.mean(direct + w * (y - q_chosen)))


def _model_terms(log: Sequence[Logged], policy: Policy, model: Sequence[Mapping[str, float]] | None
                 ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """For ``dr``: the model's value of the policy per request, and its prediction for the chosen arm."""
    if model is None:
        return None, None
    if len(model) != len(log):
        raise ValueError(f"the reward model gives {len(model)} predictions for {len(log)} logged requests")
    direct = np.array([sum(p * m.get(a, 0.0) for a, p in pol.items()) for pol, m in zip(policy, model)])
    chosen = np.array([m.get(r.chosen, 0.0) for r, m in zip(log, model)])
    return direct, chosen


def estimate(log: Sequence[Logged], policy: Policy, *, method: str = "snips",
             quality_model: Sequence[Mapping[str, float]] | None = None,
             cost_model: Sequence[Mapping[str, float]] | None = None, n_boot: int = 1000,
             level: float = 0.95, min_n: int = 200, min_effective: float = 50.0, seed: int = 0) -> Estimate:
    """Estimate ``policy``'s mean quality and cost per request on ``log`` (see the module doc).

    ``method="dr"`` needs ``quality_model`` (and uses ``cost_model`` when given, else the logged
    cost's SNIPS estimate). Intervals: ``n_boot`` bootstrap resamples of the requests.
    """
    if method not in ("ips", "snips", "dr"):
        raise ValueError(f"method {method!r}: expected 'ips', 'snips' or 'dr'")
    if method == "dr" and quality_model is None:
        raise ValueError("method 'dr' needs a quality_model (predicted quality per arm for each request)")
    n = len(log)
    if n == 0:
        nan = float("nan")
        return Estimate(method, nan, (nan, nan), nan, (nan, nan), 0, 0.0, False, "no logged requests")
    w = _weights(log, policy)
    y = np.array([r.reward for r in log], dtype=float)
    c = np.array([r.cost for r in log], dtype=float)
    qd, qc = _model_terms(log, policy, quality_model)
    cd, cc = _model_terms(log, policy, cost_model)
    cost_method = "dr" if method == "dr" and cost_model is not None else ("snips" if method == "dr" else method)
    quality = _point(method, w, y, qd, qc)
    cost = _point(cost_method, w, c, cd, cc)
    rng = np.random.default_rng(seed)
    qs, cs = np.empty(n_boot), np.empty(n_boot)
    for b in range(n_boot):
        i = rng.integers(0, n, n)
        qs[b] = _point(method, w[i], y[i], None if qd is None else qd[i], None if qc is None else qc[i])
        cs[b] = _point(cost_method, w[i], c[i], None if cd is None else cd[i], None if cc is None else cc[i])
    tail = (1 - level) / 2 * 100
    q_ci = (float(np.nanpercentile(qs, tail)), float(np.nanpercentile(qs, 100 - tail)))
    c_ci = (float(np.nanpercentile(cs, tail)), float(np.nanpercentile(cs, 100 - tail)))
    ess = float(np.sum(w) ** 2 / np.sum(w ** 2)) if np.any(w > 0) else 0.0
    enough = n >= min_n and ess >= min_effective
    note = f"rests on {n} logged requests (effective sample size {ess:.0f})"
    if not enough:
        note += f": too few to decide (needs at least {min_n} requests and an effective size of {min_effective:.0f})"
    return Estimate(method, quality, q_ci, cost, c_ci, n, ess, enough, note)


def deterministic(choices: Sequence[str]) -> list[dict[str, float]]:
    """A policy that picks ``choices[i]`` for request ``i`` with probability 1 (a router's decisions)."""
    return [{a: 1.0} for a in choices]


def meets_target(candidate: Estimate, live: Estimate, *, max_quality_drop: float = 0.0,
                 max_cost_ratio: float | None = None) -> tuple[bool, str]:
    """Whether ``candidate`` may replace ``live``: enough data, the lower end of its quality interval
    within ``max_quality_drop`` of the live quality, and (optionally) its cost at most
    ``max_cost_ratio`` x the live cost. Returns (verdict, the reason in words)."""
    if not candidate.enough:
        return False, f"not promoted: the candidate's estimate {candidate.note}"
    floor = live.quality - max_quality_drop
    if candidate.quality_ci[0] < floor:
        return False, (f"not promoted: the candidate's quality may be as low as {candidate.quality_ci[0]:.3f} "
                       f"(95% interval), below the target {floor:.3f} (live {live.quality:.3f} - "
                       f"{max_quality_drop})")
    if max_cost_ratio is not None and candidate.cost > live.cost * max_cost_ratio:
        return False, (f"not promoted: the candidate costs {candidate.cost:.6f} per request, above "
                       f"{max_cost_ratio} x the live {live.cost:.6f}")
    return True, (f"promotable: quality {candidate.quality:.3f} [{candidate.quality_ci[0]:.3f}, "
                  f"{candidate.quality_ci[1]:.3f}] vs live {live.quality:.3f}; cost {candidate.cost:.6f} vs "
                  f"{live.cost:.6f}; {candidate.note}")


__all__ = ["Estimate", "Logged", "Policy", "deterministic", "estimate", "meets_target"]
