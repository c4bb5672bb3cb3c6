"""The model catalog: a local DuckDB database of models with prices, scores and provenance.

Build it (:func:`build_catalog`), query it read-only (:func:`run_query`), pick models for a
role (:func:`pick`, :data:`DEFAULT_REQUIREMENTS`), list it for a picker (:func:`group_by_prefix`)
and estimate the cost of single- versus multi-model plans (:func:`estimate`). Heavy modules
(DuckDB, genai-prices) are imported only when used.
"""

from tierflow.catalog.build import LLMS_SCHEMA, BuildReport, blend, build_catalog
from tierflow.catalog.estimate import Estimate, EstimateSpec, estimate, load_spec, parse_spec
from tierflow.catalog.overrides import OverrideRow, read_overrides
from tierflow.catalog.picker import group_by_prefix
from tierflow.catalog.query import QueryResult, connect, ensure_catalog, run_query, schema
from tierflow.catalog.requirements import (DEFAULT_REQUIREMENTS, Candidate, RoleRequirement, fallback_for,
                                           load_requirements, pick, resolve_role)
from tierflow.catalog.roles import write_role
from tierflow.catalog.sources import COLUMN_PROVENANCE, SOURCE_FILES, default_catalog_path, find_data_dir

__all__ = [
    "BuildReport", "COLUMN_PROVENANCE", "Candidate", "DEFAULT_REQUIREMENTS", "Estimate", "EstimateSpec",
    "LLMS_SCHEMA", "OverrideRow", "QueryResult", "RoleRequirement", "SOURCE_FILES", "blend", "build_catalog",
    "connect", "default_catalog_path", "ensure_catalog", "estimate", "fallback_for", "find_data_dir",
    "group_by_prefix", "load_requirements", "load_spec", "parse_spec", "pick", "read_overrides",
    "resolve_role", "run_query", "schema", "write_role",
]
