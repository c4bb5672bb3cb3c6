"""Atomic file writes: every file tierflow writes appears whole or not at all.

One helper for every writer (configs, compiled flows, router files, reports, caches): the data goes
to a uniquely named temporary file in the destination's folder, is flushed to disk, takes the mode
the destination already had (or the mode a plain ``open()`` would give a new file), and is moved into
place with :func:`os.replace`. Two writers running at once never share a temporary name; a failure or
an interruption leaves the destination exactly as it was and removes the temporary file.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _umask() -> int:
    # os.umask can only be read by setting it; done once per write, the race window is a few instructions
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _target_mode(path: Path) -> int:
    """The destination's current permission bits, or what ``open(path, "w")`` would create."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return 0o666 & ~_umask()


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a fresh path with ``path``'s file name; on a clean exit that file replaces ``path``.

    For writers that need a file name (DuckDB, NumPy, matplotlib): write the whole file to the
    yielded path inside the ``with`` block. The path lies in a new private folder beside ``path``
    (same file system, so the final move is atomic) and keeps the name and extension, for
    libraries that choose a format by extension; nothing exists there until the writer creates it.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    tmp_dir = Path(tempfile.mkdtemp(dir=folder, prefix=f".{path.name}."))
    tmp = tmp_dir / path.name
    try:
        yield tmp
        os.chmod(tmp, _target_mode(path))
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


def atomic_write(path: str | Path, data: str | bytes, *, encoding: str = "utf-8") -> None:
    """Write ``data`` (text or bytes) to ``path`` atomically, keeping an existing file's mode."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode(encoding) if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _target_mode(path))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


__all__ = ["atomic_path", "atomic_write"]
