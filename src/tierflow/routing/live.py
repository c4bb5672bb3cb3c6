"""Live routing: a registry role backed by a router file, decided per request.

This is what a running role imports (the call layer loads it lazily for ``{role: auto, router: ...}``
entries): router files, the router kinds, the embedder and the stored calibration curve, never the
fitting or evaluation code of :mod:`tierflow.routing.fit` (tests/routing/test_live.py checks it).

A config entry ``{role: auto, router: routers/auto.json, candidates: [fast, primary],
target: {quality: 0.95}}`` becomes a :class:`RoutedRole`. Its ``choose(messages)`` embeds the
last user message, asks the router, and returns a :class:`~tierflow.routing.routers.base.Decision`
naming the chosen candidate *role*, its predicted quality and cost, and the runner-up. The
call layer then dispatches to the chosen role and records the decision in the result.

The router's model names (those of the outcome tables it was fitted on) are matched to the
candidate roles by role name, by ``"ref/model"``, or by model id; an explicit
``models: {router_model: role}`` mapping in the entry overrides the matching.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tierflow.errors import ConfigError, Problem, RoutingError
from tierflow.routing.features.boilerplate import strip_prefixes
from tierflow.routing.features.embed import Embedder, get_embedder
from tierflow.routing.features.prompts import embed_prompts
from tierflow.routing.io import in_router_file, load_router
from tierflow.routing.routers import Decision, LearnedRouter
from tierflow.routing.routers.base import knob_json
from tierflow.routing.targets import CalibrationTarget, retarget

_log = logging.getLogger("tierflow.routing")
_ENTRY_KEYS = {"role", "router", "candidates", "target", "models", "explore"}
_RELOAD_CHECK_S = 1.0
"""How often (at most) a routed role checks whether its router file was replaced (``tierflow route promote``)."""


def prompt_text(messages: Sequence[Mapping[str, Any]] | str) -> str:
    """The text a router decides on: the last user message (or the string itself)."""
    if isinstance(messages, str):
        return messages
    for msg in reversed(list(messages)):
        if msg.get("role", "user") == "user":
            content = msg.get("content", "")
            if isinstance(content, list):  # content parts
                return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
            return str(content)
    return ""


def _match(model: str, role: str, registry: Any) -> bool:
    if model == role:
        return True
    try:
        entry = registry.get(role)
    except Exception:  # noqa: BLE001 - unknown roles are reported by the caller
        return False
    return model in (f"{entry.ref}/{entry.model}", entry.model) or model.endswith("/" + entry.model)


class RoutedRole:
    """A role whose target is chosen per request by a router, among candidate roles."""

    def __init__(self, role: str, router: LearnedRouter, role_of_model: dict[str, str], *, explore: float = 0.0,
                 reload: Any = None, seed: int | None = None) -> None:
        self.role, self.router, self.role_of_model = role, router, role_of_model
        self._allowed = [router.models.index(m) for m in role_of_model]
        self._embedder: Embedder | None = None
        self._last: tuple[str, np.ndarray] | None = None
        self.explore = explore
        """The share of requests sent to a candidate drawn at random (each choice's probability is logged)."""
        self._rng = np.random.default_rng(seed)
        self._reload = reload  # () -> RoutedRole | None: a fresh role when the router file changed
        self._next_check = time.monotonic() + _RELOAD_CHECK_S

    @property
    def candidates(self) -> list[str]:
        return list(dict.fromkeys(self.role_of_model.values()))

    def _embed(self, text: str) -> np.ndarray:
        if self._last is not None and self._last[0] == text:  # a cascade asks once per consulted model
            return self._last[1]
        if self._embedder is None:
            self._embedder = get_embedder(self.router.embedder, cache=False)
        emb = embed_prompts(self.router, [text], self._embedder)[0]
        self._last = (text, emb)
        return np.asarray(emb)

    def choose(self, messages: Sequence[Mapping[str, Any]] | str) -> Decision:
        """Pick the candidate role for one request; with ``explore`` > 0, a share of requests goes to a
        candidate drawn at random. ``details`` records ``propensity`` (the probability this choice had),
        ``explored`` and ``router_choice``, which off-policy estimates need (docs/routing.md)."""
        self._maybe_reload()
        decision = self._route(messages)
        routed = decision.chosen_role
        candidates = self.candidates
        p_routed = 1.0 - self.explore + self.explore / len(candidates)
        explored = self.explore > 0 and self._rng.random() < self.explore
        if explored:
            pick = candidates[int(self._rng.integers(len(candidates)))]
            if pick != routed:
                decision.runner_up, decision.chosen_role = routed, pick
                decision.chosen_model = next(m for m, r in self.role_of_model.items() if r == pick)
        chosen = decision.chosen_role
        decision.details["router_choice"] = routed
        decision.details["explored"] = explored
        decision.details["propensity"] = p_routed if chosen == routed else self.explore / len(candidates)
        return decision

    def _maybe_reload(self) -> None:
        if self._reload is None or time.monotonic() < self._next_check:
            return
        self._next_check = time.monotonic() + _RELOAD_CHECK_S
        fresh = self._reload()
        if fresh is not None:
            self.router, self.role_of_model, self._allowed = fresh.router, fresh.role_of_model, fresh._allowed
            self._embedder, self._last = None, None

    def _route(self, messages: Sequence[Mapping[str, Any]] | str) -> Decision:
        text = prompt_text(messages)
        emb = self._embed(text)
        knob = self.router.knob_for(text)
        decision = self.router.choose(emb, knob=knob, allowed=self._allowed,
                                      text=strip_prefixes(text, self.router.prefixes))
        decision.chosen_role = self.role_of_model[decision.chosen_model]
        if decision.runner_up_model in self.role_of_model:
            decision.runner_up = self.role_of_model[decision.runner_up_model]
        decision.details.setdefault("router_kind", self.router.kind)
        decision.details.setdefault("routed_role", self.role)
        decision.details.setdefault("knob", knob_json(knob))  # under a mix, this prompt's setting
        return decision

    def next_step(self, messages: Sequence[Mapping[str, Any]] | str, answers: Mapping[str, str | None]
                  ) -> dict[str, Any]:
        """What to do next for one request, given the ``answers`` of the roles consulted so far:
        ``{"action": "consult" | "answer", "role", "model", "confidence", "threshold", "stage"}``.
        A cascade router runs its chain (its learned estimator decides when to stop); any other
        router consults its choice and answers with it (see :meth:`LearnedRouter.next_step`)."""
        text = prompt_text(messages)
        responses = {j: answers[self.role_of_model[m]] for j, m in enumerate(self.router.models)
                     if self.role_of_model.get(m) in answers}
        step = self.router.next_step(self._embed(text), text, responses, knob=self.router.knob_for(text),
                                     allowed=self._allowed)
        model = self.router.models[step.model]
        return {"action": step.action, "role": self.role_of_model[model], "model": model,
                "confidence": step.confidence, "threshold": step.threshold, "stage": step.stage}


def _entry_problems(entry: Mapping[str, Any], registry: Any, where: str) -> list[Problem]:
    """What is wrong with a routed role's config entry (keys, candidates, router path)."""
    problems: list[Problem] = []
    unknown = set(entry) - _ENTRY_KEYS
    if unknown:
        problems.append(Problem(where, f"unknown key(s) {sorted(unknown)} for a routed role; expected "
                                       f"{sorted(_ENTRY_KEYS)}"))
    candidates = entry.get("candidates")
    if not isinstance(candidates, list) or not candidates:
        problems.append(Problem(f"{where}.candidates", "a routed role needs a non-empty list of candidate roles"))
    else:
        problems += [Problem(f"{where}.candidates", f"{c!r} is not a declared role") for c in candidates
                     if c not in registry]
    if not entry.get("router"):
        problems.append(Problem(f"{where}.router", "path of a router file (from `tierflow route fit`) is required"))
    explore = entry.get("explore", 0)
    if isinstance(explore, bool) or not isinstance(explore, (int, float)) or not 0 <= explore <= 0.5:
        problems.append(Problem(f"{where}.explore", f"expected the share of requests to explore, a number from 0 "
                                                   f"to 0.5 (e.g. 0.05), got {explore!r}"))
    return problems


def _roles_of_models(router: LearnedRouter, entry: Mapping[str, Any], registry: Any, where: str) -> dict[str, str]:
    """The candidate role each of the router's models maps to (``models:`` first, then by name)."""
    mapping = dict(entry.get("models") or {})
    candidates = list(entry["candidates"])
    role_of_model: dict[str, str] = {}
    for model in router.models:
        role = str(mapping[model]) if model in mapping else \
            next((c for c in candidates if _match(model, c, registry)), None)
        if role is not None:
            role_of_model[model] = role
    if not role_of_model:
        raise ConfigError([Problem(f"{where}.candidates", f"none of the router's models {router.models} matches "
                                   f"a candidate role {candidates}; name them in `models: {{router_model: role}}`")])
    return role_of_model


def _retarget(router: LearnedRouter, target: Any, where: str, path: Path) -> None:
    """Set the router's knob (and mix) for the entry's ``target`` from the curve its file stores."""
    if not isinstance(target, Mapping):
        raise ConfigError([Problem(f"{where}.target", f"expected a mapping such as {{quality: 0.95}}, got {target!r}")])
    try:
        wanted = CalibrationTarget.from_dict(dict(target))
    except (RoutingError, TypeError, ValueError) as exc:
        raise ConfigError([Problem(f"{where}.target", str(exc))]) from None
    try:
        router.knob, router.mix = retarget(router, wanted)
    except RoutingError as exc:
        raise in_router_file(path, exc) from None


def load_routed_role(entry: Mapping[str, Any], registry: Any, *, base_dir: str | Path | None = None,
                     watch: bool = True) -> RoutedRole:
    """Build the :class:`RoutedRole` of a config entry (paths relative to ``base_dir`` or the cwd).
    ``watch``: the role reloads its router file when it is replaced (``tierflow route promote``); a
    one-off reader (the console's Routers view, ``tierflow route shadow``) passes False.

    A bad entry raises :class:`~tierflow.errors.ConfigError` naming the field; a missing or damaged
    router file, or a target its stored curve cannot meet, a RoutingError naming the file.
    """
    role = str(entry.get("role", "?"))
    where = f"models (role {role!r})"
    problems = _entry_problems(entry, registry, where)
    if problems:
        raise ConfigError(problems)
    path = Path(str(entry["router"]))
    if base_dir is not None and not path.is_absolute():
        path = Path(base_dir) / path
    router = load_router(path)
    role_of_model = _roles_of_models(router, entry, registry, where)
    if entry.get("target"):
        _retarget(router, entry["target"], where, path)
    stamp = [_stamp(path)]

    def reload() -> RoutedRole | None:
        """The role rebuilt from its router file if the file was replaced since (``route promote``)."""
        now = _stamp(path)
        if now == stamp[0]:
            return None
        stamp[0] = now
        try:
            return load_routed_role({**entry, "explore": 0}, registry, base_dir=base_dir, watch=False)
        except (RoutingError, ConfigError, OSError):  # a bad new file: keep serving with the old router
            _log.exception("routed role %r: the replaced router file %s could not be loaded; keeping the "
                           "previous router", role, path)
            return None

    return RoutedRole(role, router, role_of_model, explore=float(entry.get("explore") or 0.0),
                      reload=reload if watch else None)


def _stamp(path: Path) -> tuple[int, int, int]:
    try:
        st = path.stat()
    except OSError:
        return (0, 0, 0)
    return (st.st_mtime_ns, st.st_size, st.st_ino)


__all__ = ["RoutedRole", "load_routed_role", "prompt_text"]
