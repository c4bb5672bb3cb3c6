"""Learned routing: recorded outcomes, embeddings, routers, calibration, evaluation, live use.

Heavy parts (onnxruntime, scikit-learn) load only when a router is fitted or an embedding is
computed, so importing this package stays cheap.
"""

from __future__ import annotations

from tierflow.routing import blend as _blend  # noqa: F401  (registers the "blend" kind)
from tierflow.routing import cascade as _cascade  # noqa: F401  (registers the "cascade" kind)
from tierflow.routing import knn as _knn  # noqa: F401  (registers the "knn" kind)
from tierflow.routing import predictors as _predictors  # noqa: F401  (registers the "cluster", "linear" and "task" kinds)
from tierflow.routing.calibrate import Target, calibrate, retarget
from tierflow.routing.embed import CachedEmbedder, Embedder, HashingEmbedder, MiniLMEmbedder, get_embedder
from tierflow.routing.evaluate import evaluate
from tierflow.routing.formats import load_outcomes, read_long_jsonl, read_outcomes, write_long_jsonl
from tierflow.routing.io import load_router, save_router
from tierflow.routing.live import RoutedRole, load_routed_role
from tierflow.routing.metrics import OperatingPoints, aiq
from tierflow.routing.outcomes import OutcomeTable, read_prices
from tierflow.routing.pipeline import evaluate_router, fit_router
from tierflow.routing.record import Question, read_questions, record_outcomes, score_answer
from tierflow.routing.routers import Decision, Router, register_router, router_class, router_kinds

__all__ = [
    "CachedEmbedder", "Decision", "Embedder", "HashingEmbedder", "MiniLMEmbedder", "OperatingPoints",
    "OutcomeTable", "Question", "RoutedRole", "Router", "Target", "aiq", "calibrate", "evaluate", "evaluate_router",
    "fit_router", "get_embedder", "load_outcomes", "load_router", "load_routed_role", "read_long_jsonl",
    "read_outcomes", "read_prices", "read_questions", "record_outcomes", "register_router", "retarget",
    "router_class", "router_kinds", "save_router", "score_answer", "write_long_jsonl",
]
