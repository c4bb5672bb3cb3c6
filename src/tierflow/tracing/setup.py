"""Tracers chosen by the environment, for the CLI and the gateway (docs/tracing.md, "Export").

OpenTelemetry export is on when ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (and ``OTEL_SDK_DISABLED`` is not ``true``); the exporter
reads the other standard ``OTEL_EXPORTER_OTLP_*`` variables (headers, timeout) itself.
``OTEL_SERVICE_NAME`` names the service; ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``
opts in to message content; ``PHOENIX_PROJECT_NAME`` picks a Phoenix project.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from tierflow.tracing.tracer import Tracer

_log = logging.getLogger("tierflow.tracing")


def otel_wanted(env: Mapping[str, str]) -> bool:
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return bool(env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


def tracers_from_environment(env: Mapping[str, str] | None = None) -> list[Tracer]:
    """``[OTelTracer(...)]`` when the environment asks for OTLP export, else ``[]``.

    Without the ``tierflow[otel]`` extra installed it logs a warning naming it and returns ``[]``:
    a missing exporter never stops a gateway or a run.
    """
    env = os.environ if env is None else env
    if not otel_wanted(env):
        return []
    try:
        from tierflow.tracing.otel import OTelTracer
    except Exception:  # noqa: BLE001 - the extra is missing: say so, trace nothing
        _log.warning("OTEL_EXPORTER_OTLP_* is set but the OpenTelemetry SDK is not installed: "
                     "pip install 'tierflow[otel]' to export traces")
        return []
    capture = env.get("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "").strip().lower() == "true"
    return [OTelTracer(service_name=env.get("OTEL_SERVICE_NAME") or "tierflow",
                       project=env.get("PHOENIX_PROJECT_NAME") or None, capture_content=capture)]


def tracers_from_config(config: Any, *, ledger: bool = True) -> list[Tracer]:
    """The tracers a config's ``tracing:`` section asks for (shared per ledger file and endpoint)."""
    settings = getattr(config, "tracing", None)
    if settings is None:
        return []
    tracers: list[Tracer] = []
    if ledger and settings.ledger:
        from tierflow.tracing.ledger import LedgerTracer

        path = None if settings.ledger is True else settings.ledger
        tracers.append(LedgerTracer.shared(path, store_content=settings.ledger_content))
    if settings.otel:
        tracers += _shared_otel(settings.otel_endpoint, settings.capture_content)
    return tracers


_otel: dict[tuple[str | None, bool], Tracer] = {}


def _shared_otel(endpoint: str | None, capture: bool) -> list[Tracer]:
    key = (endpoint, capture)
    if key not in _otel:
        try:
            from tierflow.tracing.otel import OTelTracer
        except Exception:  # noqa: BLE001 - the extra is missing: say so, trace nothing
            _log.warning("the config's tracing.otel is on but the OpenTelemetry SDK is not installed: "
                         "pip install 'tierflow[otel]' to export traces")
            return []
        env = os.environ
        _otel[key] = OTelTracer(endpoint=endpoint, capture_content=capture,
                                service_name=env.get("OTEL_SERVICE_NAME") or "tierflow",
                                project=env.get("PHOENIX_PROJECT_NAME") or None)
    return [_otel[key]]


__all__ = ["otel_wanted", "tracers_from_config", "tracers_from_environment"]
