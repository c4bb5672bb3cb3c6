"""Saving an edit: refuse a file changed on disk since it was loaded, write atomically, reload the gateway.

The page sends the version (sha256) of the text it loaded. If the file on disk is no longer that
text, nothing is written and the answer (409) shows the difference between what was loaded and
what is on disk now, so the user merges by hand; the console never overwrites edits made in
another editor. A valid edit is written with :func:`tierflow._files.atomic_write`. For the
gateway's own config the new config is built and checked as ``tierflow serve`` would (every
role's plan) before the file is written, and only then swapped into the running gateway; a
config that does not load is refused and the running gateway keeps the old one.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
import re
from collections import OrderedDict
from typing import Any

from tierflow._files import atomic_write
from tierflow.console.checks import check
from tierflow.console.files import Edit, EditableFile, candidate_text, read_text, version_of
from tierflow.errors import TierflowError
from tierflow.gateway.core import Gateway

_log = logging.getLogger("tierflow.console")
_SECRET_LINE = re.compile(r"^([-+ ]\s*[\w.-]*(?:key|secret|token|password|authorization)[\w.-]*\s*:).*$",
                          re.IGNORECASE)
_LOADED: OrderedDict[tuple[str, str], str] = OrderedDict()
"""(file, version) -> text the page loaded, to show what changed on disk since (the last 32)."""


def remember(name: str, text: str) -> None:
    """Keep the text a page loaded, so a later conflict can show what changed on disk since."""
    _LOADED[(name, version_of(text))] = text
    _LOADED.move_to_end((name, version_of(text)))
    while len(_LOADED) > 32:
        _LOADED.popitem(last=False)


def _diff(f: EditableFile, before: str | None, after: str) -> str:
    if before is None:
        return "(the loaded version is no longer known: reload the file to see it as it is on disk)"
    lines = difflib.unified_diff(before.splitlines(), after.splitlines(), f"{f.name} (as you loaded it)",
                                 f"{f.name} (on disk now)", lineterm="", n=2)
    if f.kind == "gateway":  # provider settings may hold keys: never send one to the page
        lines = (_SECRET_LINE.sub(r"\1 <hidden>", line) for line in lines)
    return "\n".join(lines)


async def save(gateway: Gateway, f: EditableFile, version: str, edit: Edit,
               retired: list[Any]) -> tuple[int, dict[str, Any]]:
    """(HTTP status, answer): 200 saved, 409 changed on disk, 400 the edit has problems.

    A reload puts the replaced client in ``retired`` (closed when the server stops)."""
    on_disk = await asyncio.to_thread(read_text, f)
    if version_of(on_disk) != version:
        return 409, {"saved": False, "conflict": True, "diff": _diff(f, _LOADED.get((f.name, version)), on_disk),
                     "message": f"{f.name} changed on disk since you loaded it: nothing was written. Reload it "
                                "(your edits are lost) or copy them, reload and apply them again."}
    text = candidate_text(f, on_disk, edit)
    result = await asyncio.to_thread(check, f, text, gateway.config)
    if result.problems:
        return 400, {"saved": False, **result.to_json()}
    fresh: Gateway | None = None
    if f.kind == "gateway" and _is_served(gateway, f):
        try:
            fresh = await asyncio.to_thread(_build, gateway, result.project, result.settings)
        except TierflowError as exc:
            return 400, {"saved": False, "ok": False, "summary": f"the gateway cannot serve this config: {exc}",
                         "problems": [{"text": str(exc), "message": str(exc), "where": "", "row": None,
                                       "node": None}]}
    await asyncio.to_thread(atomic_write, f.path, text)
    remember(f.name, text)
    reloaded = False
    if fresh is not None:
        retired.append(_swap(gateway, fresh))
        reloaded = True
    return 200, {"saved": True, "version": version_of(text), "reloaded": reloaded, **result.to_json()}


def _is_served(gateway: Gateway, f: EditableFile) -> bool:
    from pathlib import Path

    try:
        return Path(gateway.config.source).resolve() == f.path
    except (OSError, ValueError):
        return False


def _build(gateway: Gateway, project: Any, settings: Any) -> Gateway:
    """The gateway for the new config, checked as ``tierflow serve`` checks it at start. It keeps the
    tracers the running gateway was given (``tierflow serve``'s OTLP export from ``OTEL_EXPORTER_OTLP_*``),
    unless the new config's ``tracing.otel`` exports itself, as ``tierflow serve`` would decide at start."""
    settings = settings.model_copy(update={"database": str(gateway.database)})  # the open ledger stays
    tracers = [] if project.tracing.otel else gateway.given_tracers
    fresh = Gateway(project, settings, admin_key=gateway.admin_key, require_auth=gateway.require_auth,
                    tracers=tracers)
    fresh.check()
    return fresh


def _swap(gateway: Gateway, fresh: Gateway) -> Any:
    """Serve ``fresh``'s config from now on; requests in flight finish on the old client (returned)."""
    old_client = gateway.client
    gateway.config, gateway.settings, gateway.client = fresh.config, fresh.settings, fresh.client
    gateway.tracers, gateway.given_tracers = fresh.tracers, fresh.given_tracers
    gateway.models, gateway.names, gateway.passthrough = fresh.models, fresh.names, fresh.passthrough
    try:
        limiter = gateway.limiter
    except RuntimeError:
        limiter = None
    if limiter is not None:
        limiter.settings, limiter.client = fresh.settings, fresh.client
    _log.info("gateway config reloaded from %s (%d models)", gateway.config.source, len(gateway.names))
    return old_client


__all__ = ["remember", "save"]
