"""Learned routing: recorded outcomes, embeddings, routers, calibration, evaluation, live use.

The package is grouped by what a reader looks for (docs/routing.md, "Reference"):

- :mod:`.data`: outcome tables and their formats, the held-out split, recording outcomes;
- :mod:`.features`: what routers read from prompts and responses (embeddings, boilerplate,
  extracted answers, code behaviour);
- :mod:`.routers`: the plug-in interface and the built-in kinds (one table of them there);
- :mod:`.fit`: fitting, calibration, metrics, baselines, evaluation and its report;
- :mod:`.live` and :mod:`.io`: what a running role needs: router files and one decision per request;
- :mod:`.router_curve`: a saved router's cost-quality curve as the console draws it;
- :mod:`.curves` (operating points and AIQ) and :mod:`.targets` (calibration targets), shared by
  both sides.

Names are exported lazily, so ``import tierflow.routing`` stays cheap and the live path
(``tierflow.routing.live``) never loads the fitting or evaluation code.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tierflow.routing.curves import OperatingPoints, aiq
    from tierflow.routing.data.formats import load_outcomes, read_long_jsonl, read_outcomes, write_long_jsonl
    from tierflow.routing.data.outcomes import OutcomeTable, read_prices
    from tierflow.routing.data.record import Question, read_questions, record_outcomes, score_answer
    from tierflow.routing.features.embed import (
        CachedEmbedder,
        Embedder,
        HashingEmbedder,
        MiniLMEmbedder,
        get_embedder,
    )
    from tierflow.routing.fit.calibrate import calibrate
    from tierflow.routing.fit.evaluate import evaluate, evaluate_router
    from tierflow.routing.fit.train import fit_router
    from tierflow.routing.io import load_router, save_router
    from tierflow.routing.live import RoutedRole, load_routed_role
    from tierflow.routing.router_curve import RouterCurve, load_router_curve, routed_role_curve, router_curve
    from tierflow.routing.routers import Decision, LearnedRouter, register_router, router_class, router_kinds
    from tierflow.routing.targets import CalibrationTarget, retarget

_WHERE = {
    "OperatingPoints": "curves", "aiq": "curves",
    "load_outcomes": "data.formats", "read_long_jsonl": "data.formats", "read_outcomes": "data.formats",
    "write_long_jsonl": "data.formats",
    "OutcomeTable": "data.outcomes", "read_prices": "data.outcomes",
    "Question": "data.record", "read_questions": "data.record", "record_outcomes": "data.record",
    "score_answer": "data.record",
    "CachedEmbedder": "features.embed", "Embedder": "features.embed", "HashingEmbedder": "features.embed",
    "MiniLMEmbedder": "features.embed", "get_embedder": "features.embed",
    "calibrate": "fit.calibrate", "evaluate": "fit.evaluate", "evaluate_router": "fit.evaluate",
    "fit_router": "fit.train",
    "load_router": "io", "save_router": "io",
    "RoutedRole": "live", "load_routed_role": "live",
    "RouterCurve": "router_curve", "load_router_curve": "router_curve", "router_curve": "router_curve",
    "routed_role_curve": "router_curve",
    "Decision": "routers", "LearnedRouter": "routers", "register_router": "routers", "router_class": "routers",
    "router_kinds": "routers",
    "CalibrationTarget": "targets", "retarget": "targets",
}

__all__ = [
    "CachedEmbedder", "CalibrationTarget", "Decision", "Embedder", "HashingEmbedder", "LearnedRouter",
    "MiniLMEmbedder", "OperatingPoints", "OutcomeTable", "Question", "RoutedRole", "RouterCurve", "aiq", "calibrate",
    "evaluate", "evaluate_router", "fit_router", "get_embedder", "load_outcomes", "load_routed_role", "load_router",
    "load_router_curve", "read_long_jsonl", "read_outcomes", "read_prices", "read_questions", "record_outcomes",
    "register_router", "retarget", "routed_role_curve", "router_class", "router_curve", "router_kinds",
    "save_router", "score_answer", "write_long_jsonl",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'tierflow.routing' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"tierflow.routing.{_WHERE[name]}"), name)
    globals()[name] = value  # once imported, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
