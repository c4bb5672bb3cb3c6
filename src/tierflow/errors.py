"""The tierflow error hierarchy: small, flat, named after the domain.

Every error a user can cause says *what* is wrong, *where* (file, field, role, node or line)
and, where possible, *how to fix it*. Errors that collect several problems (a config, a graph,
a flow file) carry them all in ``problems`` so a user fixes everything in one pass.

No error message ever contains a secret: API keys are held as ``pydantic.SecretStr`` and
messages are built from names, never from values of secret fields.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tierflow.types import Attempt


def did_you_mean(name: str, known: Iterable[str], *, cutoff: float = 0.6) -> str | None:
    """The known name closest to ``name`` (a typo's likely intent), or None when none is close."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=cutoff)
    return close[0] if close else None


@dataclass(frozen=True, slots=True)
class Problem:
    """One located problem: ``where`` names the file/field/node, ``message`` says what and how."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


class TierflowError(Exception):
    """Base class of every error tierflow raises on purpose."""


class _ProblemsError(TierflowError):
    """An error that reports every problem found, not just the first."""

    title = "invalid input"

    def __init__(self, problems: list[Problem] | Problem | str, *, source: str | None = None) -> None:
        if isinstance(problems, (Problem, str)):
            problems = [problems if isinstance(problems, Problem) else Problem("", problems)]
        self.problems: list[Problem] = list(problems)
        self.source = source
        super().__init__(self._render())

    def _render(self) -> str:
        head = f"{self.title} in {self.source}" if self.source else self.title
        n = len(self.problems)
        lines = [f"{head} ({n} problem{'s' if n != 1 else ''}):"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


# --- configuration and registry -------------------------------------------------------------


class ConfigError(_ProblemsError):
    """A config file, resources file or registry is invalid (every problem is listed)."""

    title = "invalid configuration"


class MissingEnvVarError(ConfigError):
    """A ``${VAR}`` in a config file names an environment variable that is not set."""


class UnknownRoleError(TierflowError, LookupError):
    """A call or node names a role the registry does not declare."""

    def __init__(self, role: str, declared: list[str]) -> None:
        self.role = role
        self.declared = declared
        self.suggestion = did_you_mean(role, declared)
        hint = f" Did you mean {self.suggestion!r}?" if self.suggestion else ""
        super().__init__(
            f"unknown role {role!r}: the registry declares {declared}.{hint} "
            f"Declare it under `models:` in the config, or use a 'provider/model' string."
        )


class ModalityError(TierflowError, ValueError):
    """A chat call (LLM node, ``tierflow call``, pattern) names a role without a chat modality."""

    def __init__(self, role: str, modalities: list[str], chat_roles: list[str]) -> None:
        self.role = role
        self.modalities = modalities
        self.chat_roles = chat_roles
        super().__init__(
            f"role {role!r} has modalities {modalities}, so it cannot serve a chat call: LLM nodes, "
            f"`tierflow call` and patterns need a role with 'text' or 'structured_output' (chat roles: "
            f"{chat_roles}). Name one of those, or add 'text' to the role's modalities if its model chats."
        )


class VisionModalityError(TierflowError, ValueError):
    """A call sends image parts to a role without the ``vision`` modality. ``index``: the message."""

    def __init__(self, role: str, index: int, modalities: list[str]) -> None:
        self.role = role
        self.index = index
        self.modalities = modalities
        super().__init__(
            f"messages[{index}] has an image part, but role {role!r} has modalities {modalities}, not "
            "'vision': send text only, call a role whose model takes images, or add 'vision' to the "
            "role's modalities if its model does."
        )


class EmbeddingRoleError(TierflowError, ValueError):
    """An embedding call names a role that does not make embeddings (no ``embedding`` modality,
    a routed role or a traffic split)."""

    def __init__(self, role: str, why: str, embedding_roles: list[str]) -> None:
        self.role = role
        self.embedding_roles = embedding_roles
        super().__init__(f"role {role!r} {why}, so it cannot make embeddings (embedding roles: {embedding_roles}). "
                         "Name one of those, or add 'embedding' to a role's modalities if its model embeds.")


# --- provider calls ---------------------------------------------------------------------------


class ProviderError(TierflowError):
    """An upstream call failed. ``target`` is ``"ref/model"``; never contains a secret.

    ``retryable``: trying the same target again may succeed (429, 5xx, timeouts, resets).
    ``fallbackable``: trying the next target in the role's chain may succeed.
    ``attempts``: when the error ends a call (a stream interrupted, an error no other target can
    help with), every attempt the call made; empty when a provider raised it outside a call.
    """

    retryable: bool = False
    fallbackable: bool = True
    attempts: list[Attempt]

    def __init__(self, message: str, *, target: str = "", status_code: int | None = None,
                 retry_after_s: float | None = None, attempts: list[Attempt] | None = None) -> None:
        self.target = target
        self.status_code = status_code
        self.retry_after_s = retry_after_s
        self.attempts = [] if attempts is None else attempts
        prefix = f"{target}: " if target else ""
        super().__init__(prefix + message)


class APIStatusError(ProviderError):
    """The provider answered with an HTTP error status."""


class BadRequestError(APIStatusError):
    """400: the request itself is wrong; another model may accept it (e.g. context length)."""


class AuthenticationError(APIStatusError):
    """401: the key is wrong for this provider; another provider has its own key."""


class PermissionDeniedError(APIStatusError):
    """403."""


class NotFoundError(APIStatusError):
    """404: unknown model or endpoint."""


class UnprocessableEntityError(APIStatusError):
    """422."""


class RateLimitError(APIStatusError):
    """429: retried after ``Retry-After`` / backoff."""

    retryable = True


class ServerError(APIStatusError):
    """5xx, 408 and 409: transient on the provider's side."""

    retryable = True


class APITimeoutError(ProviderError):
    """Connect, total or stream-idle timeout of one attempt."""

    retryable = True


class APIConnectionError(ProviderError):
    """The provider could not be reached or dropped the connection."""

    retryable = True


class ResponseFormatError(ProviderError):
    """The provider answered something that is not a valid response of its protocol."""

    retryable = True


class StreamInterruptedError(ProviderError):
    """A stream failed after its first chunk was delivered: never replayed, never fallen back."""

    retryable = False
    fallbackable = False


class AllTargetsFailedError(TierflowError):
    """Every target of a role's chain failed (or was cooling down). ``attempts`` says how.

    ``retry_after_s``: when every target of the chain is cooling down, the seconds until the first
    of them may be tried again (0 when one is being probed right now); None otherwise.
    """

    attempts: list[Attempt]
    retry_after_s: float | None

    def __init__(self, role: str, attempts: list[Attempt], last_error: BaseException | None = None, *,
                 retry_after_s: float | None = None) -> None:
        self.role = role
        self.attempts = attempts
        self.last_error = last_error
        self.retry_after_s = retry_after_s
        lines = [f"all targets of role {role!r} failed:"]
        for a in attempts:
            lines.append(f"  - {a.target}: {a.outcome}" + (f" ({a.error})" if a.error else ""))
        if last_error is not None:  # provider messages are already redacted
            lines.append(f"  last error: {last_error}")
        if retry_after_s is not None:
            lines.append(f"  every target is cooling down: retry in {retry_after_s:.1f} s"
                         + (" (a probe of one is running now)" if retry_after_s == 0 else ""))
        super().__init__("\n".join(lines))


class DeadlineExceededError(TierflowError, TimeoutError):
    """The overall deadline of a call ran out before any target answered. ``attempts`` says how."""

    attempts: list[Attempt]

    def __init__(self, message: str, *, attempts: list[Attempt] | None = None) -> None:
        self.attempts = [] if attempts is None else attempts
        super().__init__(message)


class ClientClosedError(TierflowError, RuntimeError):
    """A call was made on a closed :class:`~tierflow.calls.Client`, or was in flight when it closed."""


class PriceUnknownError(TierflowError):
    """Strict cost mode: no price is known for a model, so the call is refused."""


# --- local models -----------------------------------------------------------------------------


class LocalModelError(TierflowError):
    """Installing or checking a local model failed."""


class UnknownLocalModelError(LocalModelError, LookupError):
    """A name that is not in the local model catalogue."""

    def __init__(self, name: str, known: Sequence[str] = ()) -> None:
        self.name = name
        super().__init__(f"unknown local model {name!r}; known: {', '.join(known)}")


class ChecksumMismatchError(LocalModelError):
    """An assembled or installed file does not hash to the catalogue's sha256."""


class LocalModelNotFoundError(NotFoundError):
    """A local model is not installed (or a .gguf path does not exist): nothing to load."""


class LocalModelLoadError(ProviderError):
    """llama.cpp could not load a GGUF file (corrupt, truncated or unsupported)."""


# --- graphs, flows, engine --------------------------------------------------------------------


class GraphBuildError(_ProblemsError):
    """A graph (Python API or flow file) is wired wrongly; every problem is listed."""

    title = "invalid graph"


class FlowCompileError(_ProblemsError):
    """A flow file failed to compile; every diagnostic is listed."""

    title = "flow compilation failed"


class CodeNotAllowedError(FlowCompileError):
    """A flow names code (a code node's or a pattern's callable) in a module the user did not allow."""

    title = "code not allowed"


class NodeExecutionError(TierflowError):
    """A node failed while the graph ran. ``node`` names it; ``__cause__`` keeps the traceback."""

    def __init__(self, node: str, cause: BaseException) -> None:
        self.node = node
        self.cause = cause
        super().__init__(f"node {node!r} failed: {type(cause).__name__}: {cause}")


class ConditionError(TierflowError, ValueError):
    """A flow file's condition that cannot be lowered; the message says what was expected."""


class MissingOutputError(TierflowError, KeyError):
    """A node read an output key that the (completed) producing node did not return."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "missing output"


class RunInputError(TierflowError, ValueError):
    """A run was started without an input the graph reads (``PARENT["name"]``)."""

    def __init__(self, graph: str, missing: dict[str, list[str]]) -> None:
        self.missing = missing
        parts = [f"{name!r} (read by {', '.join(repr(n) for n in readers)})"
                 for name, readers in sorted(missing.items())]
        super().__init__(f"graph {graph!r} is missing run input(s): {'; '.join(parts)}; pass them "
                         f"in inputs={{...}}")


class RunKeywordError(TierflowError, TypeError):
    """``Engine.run(...)`` got keyword arguments that are not run inputs the graph reads."""

    def __init__(self, graph: str, unknown: list[str], reads: list[str], notes: list[str] | None = None) -> None:
        self.unknown = unknown
        self.reads = reads
        parts = [f"graph {graph!r}: run() got unexpected keyword argument(s) "
                 f"{', '.join(k + '=' for k in unknown)}; keyword arguments are run inputs, and this graph "
                 f"reads {reads}"]
        parts += [f"{k}=: did you mean {s}=?" for k in unknown if (s := did_you_mean(k, reads))]
        parts += notes or []
        super().__init__(". ".join(parts))


# --- catalog and routing ----------------------------------------------------------------------


class CatalogError(_ProblemsError):
    """The model catalog, a catalog query or an override file is invalid."""

    title = "catalog error"


class RoutingError(_ProblemsError):
    """Outcome tables, router files or routing targets are invalid."""

    title = "routing error"


# --- the loopback test server -----------------------------------------------------------------


class WireError(TierflowError):
    """A request the loopback test server cannot accept for its protocol: it answers 400 with this."""


# --- the gateway ------------------------------------------------------------------------------


class LedgerError(TierflowError):
    """A ledger file that cannot be read (missing, damaged, not a tierflow ledger): the message names it."""


class GatewayError(TierflowError):
    """``tierflow serve`` refuses a request: an HTTP ``status`` and OpenAI's error fields.

    ``kind`` is OpenAI's error ``type`` (``invalid_request_error``, ``rate_limit_error``...),
    ``param`` the request field at fault, ``code`` a stable machine-readable name. The message is
    sent to the client as is, so it is built from names, never from secrets.
    """

    def __init__(self, status: int, message: str, *, kind: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None, retry_after_s: float | None = None) -> None:
        self.status = status
        self.kind = kind
        self.param = param
        self.code = code
        self.retry_after_s = retry_after_s
        super().__init__(message)


__all__ = [
    "Problem", "TierflowError", "ConfigError", "MissingEnvVarError", "UnknownRoleError", "ModalityError",
    "CodeNotAllowedError", "RunKeywordError", "LedgerError", "did_you_mean",
    "ProviderError", "APIStatusError", "BadRequestError", "AuthenticationError",
    "PermissionDeniedError", "NotFoundError", "UnprocessableEntityError", "RateLimitError",
    "ServerError", "APITimeoutError", "APIConnectionError", "ResponseFormatError",
    "StreamInterruptedError", "AllTargetsFailedError", "DeadlineExceededError", "ClientClosedError",
    "PriceUnknownError", "GraphBuildError", "FlowCompileError", "NodeExecutionError", "RunInputError",
    "CatalogError", "RoutingError", "GatewayError", "LocalModelError", "UnknownLocalModelError",
    "ChecksumMismatchError", "LocalModelNotFoundError", "LocalModelLoadError", "ConditionError",
    "MissingOutputError", "WireError",
]
