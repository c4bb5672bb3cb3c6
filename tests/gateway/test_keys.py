"""The keys store on a real SQLite file: what a key's id or name stands for."""

from __future__ import annotations

from pathlib import Path

from tierflow.gateway.keys import KeyStore


def test_ids_for_takes_an_id_or_a_name_shared_by_several_keys(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "gw.sqlite")
    try:
        a, _ = store.create("ci")
        b, _ = store.create("ci")
        c, _ = store.create("batch")
        assert store.ids_for(c.key_id) == [c.key_id]
        assert store.ids_for("ci") == [a.key_id, b.key_id]  # names need not be unique: every key named so
        assert store.ids_for("nobody") == []
    finally:
        store.close()
