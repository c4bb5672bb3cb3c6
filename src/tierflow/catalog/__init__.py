"""The model catalog: a local DuckDB database of models with prices, scores and provenance.

Build it (:func:`build_catalog`), query it read-only (:func:`run_query`), pick models for a
role (:func:`pick`, :data:`DEFAULT_REQUIREMENTS`), write a pick into a config
(:func:`write_role`), list it for a picker (:func:`group_by_prefix`) and estimate the cost of
single- versus multi-model plans (:func:`estimate`).

Names are imported on first use (PEP 562), so ``tierflow models query`` loads only the query
module and DuckDB: CLI start-up is measured.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "BuildReport": "build", "LLMS_SCHEMA": "build", "blend": "build", "build_catalog": "build",
    "Estimate": "estimate", "EstimateSpec": "estimate", "estimate": "estimate", "load_spec": "estimate",
    "parse_spec": "estimate",
    "OverrideRow": "overrides", "read_overrides": "overrides",
    "group_by_prefix": "picker",
    "QueryResult": "query", "connect": "query", "ensure_catalog": "query", "run_query": "query", "schema": "query",
    "DEFAULT_REQUIREMENTS": "requirements", "Candidate": "requirements", "RoleRequirement": "requirements",
    "fallback_for": "requirements", "load_requirements": "requirements", "pick": "requirements",
    "resolve_role": "requirements",
    "WriteResult": "roles", "write_role": "roles",
    "COLUMN_PROVENANCE": "sources", "SOURCE_FILES": "sources", "default_catalog_path": "sources",
    "find_data_dir": "sources",
}

__all__ = [
    "COLUMN_PROVENANCE", "DEFAULT_REQUIREMENTS", "LLMS_SCHEMA", "SOURCE_FILES", "BuildReport", "Candidate",
    "Estimate", "EstimateSpec", "OverrideRow", "QueryResult", "RoleRequirement", "WriteResult", "blend",
    "build_catalog", "connect", "default_catalog_path", "ensure_catalog", "estimate", "fallback_for",
    "find_data_dir", "group_by_prefix", "load_requirements", "load_spec", "parse_spec", "pick", "read_overrides",
    "resolve_role", "run_query", "schema", "write_role",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tierflow.catalog' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"tierflow.catalog.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
