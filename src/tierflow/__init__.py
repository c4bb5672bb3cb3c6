"""tierflow: declare models by role, route each request to the cheapest model that handles it,
survive provider failures, and know what every call cost."""

from tierflow.errors import *  # noqa: F403
from tierflow.errors import __all__ as _errors_all
from tierflow.registry import ModelEntry, Registry, Target, parse_registry
from tierflow.types import Attempt, CallResult, ChatRequest, ChatResponse, StreamChunk, Usage

__version__ = "0.1.0"

__all__ = [
    *_errors_all,
    "ModelEntry", "Registry", "Target", "parse_registry",
    "Attempt", "CallResult", "ChatRequest", "ChatResponse", "StreamChunk", "Usage",
    "__version__",
]
