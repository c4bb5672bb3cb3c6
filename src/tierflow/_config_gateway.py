"""The ``gateway:`` section of the project config: what ``tierflow serve`` reads (docs/gateway.md).

::

    gateway:
      passthrough: false          # true, or a list of provider names: allow model="provider/model"
      database: gateway.sqlite    # ledger, keys and spend (default $TIERFLOW_HOME/gateway.sqlite)
      store_content: false        # keep messages and answers in the ledger
      commit_interval_s: 0.2      # ledger rows are committed in groups: a crash loses at most this
      max_body_bytes: 4194304     # larger request bodies get 413
      max_messages: 1024          # longer message lists get 400
      budget_max_tokens: 4096     # max_tokens for requests of keys with a dollar budget that set none
      unknown_price_per_mtok: {input: 15, output: 75}   # budgets' estimate for models with no known price

The config loader validates it with the rest of the file (every problem with its ``file:line``),
so the same file serves ``tierflow call`` and ``tierflow serve``. A relative ``database`` is
relative to the config file.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PriceEstimate(BaseModel):
    """USD per million tokens assumed for a model with no known price (for budgets only)."""

    model_config = ConfigDict(extra="forbid")
    input: float = Field(default=15.0, ge=0)
    output: float = Field(default=75.0, ge=0)


class GatewaySettings(BaseModel):
    """What ``tierflow serve`` reads from the config's ``gateway:`` section."""

    model_config = ConfigDict(extra="forbid")

    passthrough: bool | list[str] = False
    """Allow ``model: "provider/model"``: ``true`` for every provider the config knows, or a list
    of provider names. Off by default: clients may only name roles."""
    database: str | None = None
    """SQLite file of the ledger, keys and spend; relative paths are relative to the config file."""
    store_content: bool = False
    commit_interval_s: float = Field(default=0.2, gt=0, le=60)
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    max_messages: int = Field(default=1024, ge=1)
    budget_max_tokens: int = Field(default=4096, ge=1)
    """``max_tokens`` given to requests of keys with a dollar budget that set none (the reservation's bound)."""
    unknown_price_per_mtok: PriceEstimate = Field(default_factory=PriceEstimate)

    def allows_passthrough(self, provider: str) -> bool:
        return self.passthrough is True or (isinstance(self.passthrough, list) and provider in self.passthrough)


__all__ = ["GatewaySettings", "PriceEstimate"]
