"""Virtual keys: created, listed and revoked by the admin (``tierflow keys``, ``/admin/keys``), stored hashed.

A key's secret (``tf-`` and 43 random URL-safe characters) is shown once, at creation; the
database keeps its SHA-256 (the secret is 256 random bits, so a fast hash is enough: there is
nothing to guess); lists and messages name a key by its id (``key-`` and 12 hex digits, drawn
apart from the secret), never by a fragment of the secret. Each key may limit the roles it calls, its
requests and tokens per minute, and its dollars per UTC day and month (enforced by
:mod:`tierflow.gateway.budgets`). Limits are fixed at creation: to change them, create a new key
and revoke the old one. The store lives in the gateway database beside the ledger, so the CLI and
a running gateway see the same keys (a revocation takes effect on the next request).
"""

from __future__ import annotations

import builtins
import hashlib
import json
import secrets
import sqlite3
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tierflow.gateway.ledger import connect

ADMIN_KEY_ENV = "TIERFLOW_ADMIN_KEY"
ADMIN_ID = "admin"
"""The ``key_id`` recorded for requests made with the admin key."""
_COLUMNS = "key_id, name, created, revoked, roles, rpm, tpm, usd_per_day, usd_per_month"


@dataclass(frozen=True, slots=True)
class VirtualKey:
    """A key's public record (never its secret or hash)."""

    key_id: str
    name: str
    created: float
    revoked: float | None = None
    roles: tuple[str, ...] | None = None
    """The roles it may call; None: every role (and pass-through names)."""
    rpm: int | None = None
    tpm: int | None = None
    usd_per_day: float | None = None
    usd_per_month: float | None = None

    @property
    def has_budget(self) -> bool:
        return self.usd_per_day is not None or self.usd_per_month is not None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["roles"] = list(self.roles) if self.roles is not None else None
        return d


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _key(row: tuple[Any, ...]) -> VirtualKey:
    roles = json.loads(row[4]) if row[4] is not None else None
    return VirtualKey(row[0], row[1], row[2], row[3], tuple(roles) if roles is not None else None,
                      row[5], row[6], row[7], row[8])


class KeyStore:
    """The keys table of one gateway database (use from one thread at a time)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection = connect(self.path)

    def close(self) -> None:
        self._conn.close()

    def create(self, name: str, *, roles: list[str] | None = None, rpm: int | None = None, tpm: int | None = None,
               usd_per_day: float | None = None, usd_per_month: float | None = None) -> tuple[VirtualKey, str]:
        """A new key and its secret (shown once: only its hash is kept)."""
        secret = "tf-" + secrets.token_urlsafe(32)
        key = VirtualKey("key-" + secrets.token_hex(6), name, time.time(), None,
                         tuple(roles) if roles is not None else None, rpm, tpm, usd_per_day, usd_per_month)
        self._conn.execute("INSERT INTO keys VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           (key.key_id, name, _hash(secret), key.created, None,
                            json.dumps(list(roles)) if roles is not None else None, rpm, tpm, usd_per_day,
                            usd_per_month))
        return key, secret

    def list(self) -> list[VirtualKey]:
        return [_key(r) for r in self._conn.execute(f"SELECT {_COLUMNS} FROM keys ORDER BY created")]

    def get(self, key_id: str) -> VirtualKey | None:
        row = self._conn.execute(f"SELECT {_COLUMNS} FROM keys WHERE key_id = ?", (key_id,)).fetchone()
        return _key(row) if row else None

    def ids_for(self, ref: str) -> builtins.list[str]:  # `list` is the method below
        """The key ids ``ref`` stands for: itself when a key has that id, else the ids of the keys named
        ``ref`` (names need not be unique), oldest first; [] when none."""
        if self.get(ref) is not None:
            return [ref]
        return [r[0] for r in self._conn.execute("SELECT key_id FROM keys WHERE name = ? ORDER BY created", (ref,))]

    def revoke(self, key_id: str) -> VirtualKey | None:
        """Revoke ``key_id`` (kept, for the ledger's sake); None when there is no such key."""
        self._conn.execute("UPDATE keys SET revoked = ? WHERE key_id = ? AND revoked IS NULL", (time.time(), key_id))
        return self.get(key_id)

    def lookup(self, secret: str) -> VirtualKey | None:
        """The key whose secret this is (revoked ones too: the caller says why it is refused)."""
        row = self._conn.execute(f"SELECT {_COLUMNS} FROM keys WHERE hash = ?", (_hash(secret),)).fetchone()
        return _key(row) if row else None

    def has_active(self) -> bool:
        return bool(self._conn.execute("SELECT EXISTS (SELECT 1 FROM keys WHERE revoked IS NULL)").fetchone()[0] == 1)

    def has_any(self) -> bool:
        """Was any key ever created (revoked ones count: revoking the last key does not open the gateway)?"""
        return bool(self._conn.execute("SELECT EXISTS (SELECT 1 FROM keys)").fetchone()[0] == 1)

    def charged_since(self, key_id: str, since: float) -> float:
        """Dollars charged to ``key_id`` by requests that arrived at or after ``since`` (Unix seconds)."""
        row = self._conn.execute("SELECT COALESCE(SUM(charged_usd), 0) FROM requests WHERE key_id = ? AND ts >= ?",
                                 (key_id, since)).fetchone()
        return float(row[0])


__all__ = ["ADMIN_ID", "ADMIN_KEY_ENV", "KeyStore", "VirtualKey"]
