"""The public surface pinned name by name (as httpx does): adding, renaming or dropping an export
is a deliberate change to this file, not an accident of an import."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import tierflow

ROOT_ALL = [
    "APIConnectionError", "APIStatusError", "APITimeoutError", "AllTargetsFailedError", "Attempt",
    "AuthenticationError", "BadRequestError", "CallResult", "Cascade", "CatalogError", "ChatRequest", "ChatResponse",
    "Client", "ClientClosedError", "ConfigError", "CostGate", "DeadlineExceededError", "Engine", "Ensemble",
    "FlowCompileError", "GraphBuildError", "IREdge", "IRModule", "IRNode", "IRRef", "MissingEnvVarError",
    "ModelEntry", "NodeExecutionError", "NotFoundError", "PermissionDeniedError", "PriceUnknownError", "Problem",
    "ProjectConfig", "ProviderError", "RateLimitError", "Registry", "ResponseFormatError", "RoutedCascade", "Router",
    "RoutingError", "RunResult", "ServerError", "StreamChunk", "StreamInterruptedError", "Target", "TierflowError",
    "UnknownRoleError", "UnprocessableEntityError", "Usage", "Verifier", "__version__", "acall", "call",
    "compile_flow", "load_config", "load_flow", "parse_registry",
]

SUBPACKAGE_ALL = {
    "calls": [
        "AttemptFinished", "AttemptStarted", "CallEvent", "CallFinished", "CallStream", "CircuitBreakers", "Client",
        "FirstToken", "Observer", "Plan", "PlannedTarget", "Planner", "RetryPolicy", "RouteDecided", "acall", "call",
        "counts_as_failure", "default_client", "falls_back",
    ],
    "catalog": [
        "BuildReport", "COLUMN_PROVENANCE", "Candidate", "DEFAULT_REQUIREMENTS", "Estimate", "EstimateSpec",
        "LLMS_SCHEMA", "OverrideRow", "QueryResult", "RoleRequirement", "SOURCE_FILES", "WriteResult", "blend",
        "build_catalog", "connect", "default_catalog_path", "ensure_catalog", "estimate", "fallback_for",
        "find_data_dir", "group_by_prefix", "load_requirements", "load_spec", "parse_spec", "pick", "read_overrides",
        "resolve_role", "run_query", "schema", "write_role",
    ],
    "engine": [
        "Engine", "ExecutionPlan", "Hush", "NodeRecord", "RunResult", "compile_plan",
    ],
    "flowfile": [
        "ALLOW_ALL", "CodePolicy", "ConditionError", "DSLViewWarning", "FLOW_NODE_KINDS", "FLOW_SCHEMA_VERSION",
        "FORMATS", "FlowEdge", "FlowFile", "bind_callables", "compile_file", "compile_flow", "dsl_omissions",
        "emit_dsl", "emit_ir", "emit_yaml", "flow_json_schema", "import_manifest", "import_manifest_text",
        "ir_to_json", "load_flow", "lower_condition", "lower_flow", "manifest_from_flow", "parse_flow_data",
        "parse_flow_text", "role_problem", "write_atomic",
    ],
    "graph": [
        "Branch", "CodeNode", "Condition", "END", "GraphNode", "LLMNode", "Node", "OutputRef", "PARENT",
        "PromptNode", "START", "Soft", "check", "role_of", "validate",
    ],
    "patterns": [
        "CALLABLE_SETTINGS", "Cascade", "CostGate", "Ensemble", "Logprobs", "PATTERNS", "PATTERN_OUTPUTS", "Pattern",
        "PatternResult", "RoutedCascade", "Router", "SchemaValid", "SelfConsistency", "Signal", "Verifier",
        "VerifierScore", "agreement", "bind_patterns", "estimate_cost", "logprob_confidence", "pattern_for_checks",
        "pattern_from_config", "pattern_of",
    ],
    "providers": [
        "Provider", "ProviderSettings", "TimeoutSettings", "Timeouts", "create_provider", "register_provider",
    ],
    "routing": [
        "CachedEmbedder", "CalibrationTarget", "Decision", "Embedder", "HashingEmbedder", "LearnedRouter",
        "MiniLMEmbedder", "OperatingPoints", "OutcomeTable", "Question", "RoutedRole", "RouterCurve", "aiq",
        "calibrate", "evaluate", "evaluate_router", "fit_router", "get_embedder", "load_outcomes", "load_routed_role",
        "load_router", "load_router_curve", "read_long_jsonl", "read_outcomes", "read_prices", "read_questions",
        "record_outcomes", "register_router", "retarget", "routed_role_curve", "router_class", "router_curve",
        "router_kinds", "save_router", "score_answer", "write_long_jsonl",
    ],
    "testing": [
        "Answer", "Behaviour", "CutStream", "Garbage", "Hang", "LLMTestServer", "ReceivedRequest", "RecordedRequest",
        "RecordingServer", "Redirect", "SlowStream", "Status", "behaviour_from_dict", "behaviour_to_dict",
    ],
}


def test_root_all_is_pinned() -> None:
    assert sorted(tierflow.__all__) == ROOT_ALL


@pytest.mark.parametrize("package", sorted(SUBPACKAGE_ALL))
def test_subpackage_all_is_pinned(package: str) -> None:
    module = importlib.import_module(f"tierflow.{package}")
    assert sorted(module.__all__) == SUBPACKAGE_ALL[package]
    assert len(set(module.__all__)) == len(module.__all__), "a name listed twice"


def _type_checking_imports(path: Path) -> dict[str, str]:
    """name -> module of every ``from M import name`` under ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom) and stmt.module
                found.update({alias.name: stmt.module for alias in stmt.names})
    return found


def test_type_checkers_see_every_lazy_export() -> None:
    # editors and mypy read the TYPE_CHECKING imports; at run time __getattr__ reads _EXPORTS: same names, same homes
    seen = _type_checking_imports(Path(tierflow.__file__))
    assert seen == tierflow._EXPORTS
    assert sorted([*tierflow._EXPORTS, "__version__"]) == ROOT_ALL


def test_exported_names_are_unique_across_packages() -> None:
    # one name, one concept: a class exported by two packages under one name would be ambiguous
    homes: dict[str, set[str]] = {}
    for package in ["tierflow", *(f"tierflow.{p}" for p in SUBPACKAGE_ALL)]:
        module = importlib.import_module(package)
        for name in module.__all__:
            value = getattr(module, name)
            if isinstance(value, type):
                homes.setdefault(name, set()).add(f"{value.__module__}.{value.__qualname__}")
    clashes = {name: sorted(where) for name, where in homes.items() if len(where) > 1}
    assert clashes == {}
