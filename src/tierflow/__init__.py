"""tierflow: declare models by role, route each request to the cheapest model that handles it,
survive provider failures, and know what every call cost.

The public surface is listed in ``__all__``. Names are imported on first use (PEP 562) so
that ``import tierflow`` and the CLI start fast; ``from tierflow import Client`` works as usual.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:  # what editors and type checkers see; at run time __getattr__ imports on first use
    from tierflow.calls import (
        Client,
        acall,
        call,
    )
    from tierflow.config import (
        ProjectConfig,
        load_config,
    )
    from tierflow.engine import (
        Engine,
        RunResult,
    )
    from tierflow.errors import (
        AllTargetsFailedError,
        APIConnectionError,
        APIStatusError,
        APITimeoutError,
        AuthenticationError,
        BadRequestError,
        CatalogError,
        ClientClosedError,
        ConfigError,
        DeadlineExceededError,
        FlowCompileError,
        GraphBuildError,
        MissingEnvVarError,
        NodeExecutionError,
        NotFoundError,
        PermissionDeniedError,
        PriceUnknownError,
        Problem,
        ProviderError,
        RateLimitError,
        ResponseFormatError,
        RoutingError,
        ServerError,
        StreamInterruptedError,
        TierflowError,
        UnknownRoleError,
        UnprocessableEntityError,
    )
    from tierflow.flowfile import (
        compile_flow,
        load_flow,
    )
    from tierflow.ir import (
        IREdge,
        IRModule,
        IRNode,
        IRRef,
    )
    from tierflow.patterns import (
        Cascade,
        CostGate,
        Ensemble,
        RoutedCascade,
        Router,
        Verifier,
    )
    from tierflow.registry import (
        ModelEntry,
        Registry,
        Target,
        parse_registry,
    )
    from tierflow.types import (
        Attempt,
        CallResult,
        ChatRequest,
        ChatResponse,
        StreamChunk,
        Usage,
    )

_EXPORTS: dict[str, str] = {
    # errors
    **{name: "tierflow.errors" for name in (
        "Problem", "TierflowError", "ConfigError", "MissingEnvVarError", "UnknownRoleError",
        "ProviderError", "APIStatusError", "BadRequestError", "AuthenticationError",
        "PermissionDeniedError", "NotFoundError", "UnprocessableEntityError", "RateLimitError",
        "ServerError", "APITimeoutError", "APIConnectionError", "ResponseFormatError",
        "StreamInterruptedError", "AllTargetsFailedError", "DeadlineExceededError", "ClientClosedError",
        "PriceUnknownError", "GraphBuildError", "FlowCompileError", "NodeExecutionError",
        "CatalogError", "RoutingError")},
    # registry, config, call types
    "ModelEntry": "tierflow.registry", "Registry": "tierflow.registry", "Target": "tierflow.registry",
    "parse_registry": "tierflow.registry",
    "ProjectConfig": "tierflow.config", "load_config": "tierflow.config",
    "Attempt": "tierflow.types", "CallResult": "tierflow.types", "ChatRequest": "tierflow.types",
    "ChatResponse": "tierflow.types", "StreamChunk": "tierflow.types", "Usage": "tierflow.types",
    # the call layer
    "Client": "tierflow.calls", "acall": "tierflow.calls", "call": "tierflow.calls",
    # graphs, the engine, patterns, flow files
    "Engine": "tierflow.engine", "RunResult": "tierflow.engine",
    "Cascade": "tierflow.patterns", "Router": "tierflow.patterns", "Ensemble": "tierflow.patterns",
    "Verifier": "tierflow.patterns", "CostGate": "tierflow.patterns", "RoutedCascade": "tierflow.patterns",
    "load_flow": "tierflow.flowfile", "compile_flow": "tierflow.flowfile",
    # the IR
    "IRModule": "tierflow.ir", "IRNode": "tierflow.ir", "IREdge": "tierflow.ir", "IRRef": "tierflow.ir",
}

# a literal list, so tools read it without running the module (tests/test_package.py keeps it equal
# to the names above)
__all__ = [
    "APIConnectionError", "APIStatusError", "APITimeoutError", "AllTargetsFailedError", "Attempt",
    "AuthenticationError", "BadRequestError", "CallResult", "Cascade", "CatalogError", "ChatRequest",
    "ChatResponse", "Client", "ClientClosedError", "ConfigError", "CostGate", "DeadlineExceededError", "Engine",
    "Ensemble", "FlowCompileError", "GraphBuildError", "IREdge", "IRModule", "IRNode", "IRRef",
    "MissingEnvVarError", "ModelEntry", "NodeExecutionError", "NotFoundError", "PermissionDeniedError",
    "PriceUnknownError", "Problem", "ProjectConfig", "ProviderError", "RateLimitError", "Registry",
    "ResponseFormatError", "RoutedCascade", "Router", "RoutingError", "RunResult", "ServerError", "StreamChunk",
    "StreamInterruptedError", "Target", "TierflowError", "UnknownRoleError", "UnprocessableEntityError", "Usage",
    "Verifier", "__version__", "acall", "call", "compile_flow", "load_config", "load_flow", "parse_registry",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tierflow' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
