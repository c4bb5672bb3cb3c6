"""Atomic writes: whole or nothing, the destination's mode kept, no shared temporary names."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from tierflow._files import atomic_path, atomic_write


def test_new_file_gets_the_mode_open_would_give(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "a.txt", "hello")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").read_text() == "hello"
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644


def test_existing_file_keeps_its_mode(tmp_path: Path) -> None:
    for mode in (0o644, 0o600, 0o640):
        target = tmp_path / f"keep{mode:o}.json"
        target.write_text("old")
        target.chmod(mode)
        atomic_write(target, b"new")
        assert target.read_bytes() == b"new"
        assert stat.S_IMODE(target.stat().st_mode) == mode


def test_failure_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "cfg.yaml"
    target.write_text("old")
    with pytest.raises(TypeError):
        atomic_write(target, 42)  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cfg.yaml"]


def test_atomic_path_replaces_on_success_and_cleans_up_on_error(tmp_path: Path) -> None:
    target = tmp_path / "plot.png"
    target.write_bytes(b"old")
    target.chmod(0o640)
    with atomic_path(target) as tmp:
        assert tmp.name == "plot.png" and tmp.parent != tmp_path and not tmp.exists()
        tmp.write_bytes(b"new")
        assert target.read_bytes() == b"old"  # nothing moves before the block ends
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("writer failed")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plot.png"]


def test_concurrent_writers_never_mix(tmp_path: Path) -> None:
    target = tmp_path / "shared.txt"
    payloads = [(str(i) * 50_000).encode() for i in range(8)]
    errors: list[BaseException] = []

    def write(data: bytes) -> None:
        try:
            for _ in range(20):
                atomic_write(target, data)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(p,)) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert target.read_bytes() in payloads
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shared.txt"]
