"""Router files: a versioned, inspectable JSON document plus a ``.npz`` of arrays beside it.

``save_router(router, "routers/auto.json")`` writes ``routers/auto.<sha>.npz`` (plain arrays,
loaded with ``allow_pickle=False``; ``<sha>`` is the first 16 hex digits of its sha256) and then
``routers/auto.json``, which names the arrays file and its full sha256, the format and version,
the router kind, its models, knob and calibration, and the embedder. Each file is written
atomically (:func:`tierflow._files.atomic_write`), and the arrays of a new fit never take the
name of the arrays the old JSON refers to, so a pair is replaced as a unit: until the new JSON is
in place the old pair loads unchanged, and a write killed between the two files leaves at most an
unreferenced ``.npz`` behind. The arrays the old JSON named are removed once the new JSON is in
place. Files written before this naming (``auto.json`` + ``auto.npz``) load as they are.

The arrays also hold the fingerprints of the prompts the router was fitted on, so that
``route eval`` can leave them out. A damaged pair (truncated or foreign JSON, wrong version,
missing keys or arrays, a ``.npz`` that does not match) is refused with a
:class:`~tierflow.errors.RoutingError` naming the file and what to do, never a traceback.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from tierflow._files import atomic_write
from tierflow.errors import Problem, RoutingError
from tierflow.routing.routers import LearnedRouter, router_class
from tierflow.routing.routers.base import knob_json

FORMAT = "tierflow-router"
VERSION = 1
_FITTED_ON = "_fitted_on"  # the fingerprints of the prompts the router was fitted on (routing.data.split)
_REQUIRED = ("kind", "models", "knob", "state", "arrays")
_REFIT = "refit it with `tierflow route fit`"


def _json_path(path: str | Path) -> Path:
    path = Path(path)
    return path if path.suffix == ".json" else path.with_suffix(".json")


def _arrays_name(path: Path, sha256: str) -> str:
    """The arrays file of a router file: its stem, the start of the arrays' sha256, ``.npz``."""
    return f"{path.stem}.{sha256[:16]}.npz"


def _arrays_blob(router: LearnedRouter, arrays: dict[str, np.ndarray]) -> tuple[bytes, list[str]]:
    """The router's arrays (and its fitted-on fingerprints) as ``.npz`` bytes, and their names."""
    if router.fitted_on is not None:
        arrays = {**arrays, _FITTED_ON: router.fitted_on}
    buf = io.BytesIO()
    # dict[str, Any]: numpy's stub would otherwise match a name against savez's own allow_pickle flag
    named: dict[str, Any] = {k: np.asarray(v) for k, v in arrays.items()}
    np.savez_compressed(buf, **named)
    return buf.getvalue(), sorted(arrays)


def _document(router: LearnedRouter, meta: dict[str, Any], arrays: dict[str, Any], info: dict[str, Any] | None
              ) -> dict[str, Any]:
    """The JSON document of a router (its state ``meta``) whose arrays file is ``arrays`` (file, sha256, names)."""
    knob = {"name": router.knob_name, "value": knob_json(router.knob),
            "mix": None if router.mix is None else {"value": knob_json(router.mix[0]), "share": router.mix[1]}}
    fitted_on = None if router.fitted_on is None else {
        "prompts": len(router.fitted_on), "array": _FITTED_ON,
        "fingerprint": "first 8 bytes of the sha256 of each prompt's text, big-endian"}
    return {"format": FORMAT, "version": VERSION, "kind": router.kind, "models": router.models,
            "strong": router.strong, "knob": knob, "params": router.params, "embedder": router.embedder,
            "prefixes": router.prefixes, "suffixes": router.suffixes, "calibration": router.calibration,
            "state": meta, "info": info or {}, "fitted_on": fitted_on,
            "arrays": arrays}


def _named_arrays(path: Path) -> Path | None:
    """The arrays file the router file at ``path`` names now (None when it names none readable)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        name = Path(str(doc["arrays"]["file"])).name
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return path.parent / name if name.endswith(".npz") else None


def save_router(router: LearnedRouter, path: str | Path, *, info: dict[str, Any] | None = None) -> Path:
    """Write ``router`` to ``path`` (.json) and its arrays beside it (.npz), replacing an existing
    pair as a unit (see the module docstring); returns the JSON file's path."""
    path = _json_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta, state_arrays = router.state()
    blob, names = _arrays_blob(router, state_arrays)
    sha256 = hashlib.sha256(blob).hexdigest()
    arrays = path.with_name(_arrays_name(path, sha256))
    doc = _document(router, meta, {"file": arrays.name, "sha256": sha256, "names": names}, info)
    text = json.dumps(doc, indent=1, default=_json_default)  # before anything is written: a failure writes nothing
    previous = _named_arrays(path) if path.exists() else None
    atomic_write(arrays, blob)
    atomic_write(path, text)  # from here on the new pair is the router
    if previous is not None and previous != arrays:
        previous.unlink(missing_ok=True)
    return path


def _knob_value(value: float | None) -> float:
    return float("inf") if value is None else float(value)  # JSON has no infinity: None stands for it


def _mix(mix: Any, where: str) -> tuple[float, float] | None:
    """The stored ``knob.mix`` (None: one setting), or a RoutingError naming the field."""
    if mix is None:
        return None
    value = mix.get("value", "missing") if isinstance(mix, dict) else "missing"
    share = mix.get("share") if isinstance(mix, dict) else None
    if not (value is None or isinstance(value, (int, float))) or not isinstance(share, (int, float)) \
            or isinstance(share, bool) or not 0 < share < 1:
        raise RoutingError([Problem(f"{where}: knob.mix", f"expected {{value: knob value or null, share: a number "
                                    f"between 0 and 1}} or null, got {mix!r}; refit the router or re-target it")])
    return _knob_value(value), float(share)


def _strings(doc: dict[str, Any], key: str, where: str, default: list[str] | None = None) -> list[str]:
    """``doc[key]`` as a list of strings (absent: ``default``, else empty), or a RoutingError naming the field."""
    value = doc.get(key, [] if default is None else default)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RoutingError([Problem(f"{where}: {key}", f"expected a list of strings, got {type(value).__name__}; "
                                    f"the file is damaged: {_REFIT}")])
    return value


def _damaged(where: str, what: str) -> RoutingError:
    return RoutingError([Problem(where, f"{what}; the router file is damaged or was not written by "
                                        f"`tierflow route fit`: {_REFIT}")])


def _read_json(path: Path) -> Any:
    """The parsed contents of the router file at ``path``."""
    if not path.is_file():
        raise RoutingError([Problem(str(path), "no such router file (write one with `tierflow route fit`)")])
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RoutingError([Problem(str(path), f"not a JSON router file ({exc}); if it was cut short, {_REFIT}")]) \
            from None


def _check_format(doc: Any, where: str) -> None:
    """Refuse a document that is not a tierflow router file of the version this code reads."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise RoutingError([Problem(f"{where}: format", f"expected {FORMAT!r}; this is not a tierflow router file")])
    if doc.get("version") != VERSION:
        raise RoutingError([Problem(f"{where}: version", f"router file version {doc.get('version')!r} is not "
                                    f"supported (this tierflow reads version {VERSION}); {_REFIT}")])


def _check_keys(doc: dict[str, Any], where: str) -> None:
    """Refuse a document missing a key every router file has, or holding one of the wrong shape."""
    missing = [k for k in _REQUIRED if k not in doc]
    if missing:
        raise _damaged(where, f"it lacks {missing}")
    shapes = {"arrays": (_is_mapping_of(doc["arrays"], str, "file", "sha256"),
                         "expected {file: name of the .npz, sha256: its digest}"),
              "knob": (_is_mapping_of(doc["knob"], object, "value"), "expected {name, value, mix}"),
              "state": (isinstance(doc["state"], dict) and isinstance(doc.get("params", {}), dict),
                        "expected a mapping of the router's parameters")}
    for key, (ok, expected) in shapes.items():
        if not ok:
            raise _damaged(f"{where}: {key}", expected)


def _is_mapping_of(value: Any, kind: type, *keys: str) -> bool:
    """Whether ``value`` is a mapping holding each of ``keys`` with a value of type ``kind``."""
    return isinstance(value, dict) and all(k in value and isinstance(value[k], kind) for k in keys)


def _read_document(path: Path) -> dict[str, Any]:
    """The router file's JSON document, checked for format, version and the keys every router has."""
    doc = _read_json(path)
    _check_format(doc, str(path))
    _check_keys(doc, str(path))
    assert isinstance(doc, dict), "_check_format refuses anything but an object"
    return doc


def _arrays_file(path: Path, doc: dict[str, Any]) -> Path:
    """The arrays file of the pair: the one the JSON names, else one renamed along with the JSON."""
    sha256 = doc["arrays"]["sha256"]
    candidates = [path.parent / Path(doc["arrays"]["file"]).name, path.with_name(_arrays_name(path, sha256)),
                  path.with_suffix(".npz")]  # renamed together; the sha256 still binds them
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        raise RoutingError([Problem(str(candidates[0]), f"the arrays file of {path.name} is missing (keep it "
                                                        f"beside {path.name}, or {_REFIT})")])
    return found


def _read_arrays(path: Path, doc: dict[str, Any]) -> dict[str, np.ndarray]:
    """The pair's arrays, after checking they are the ones the JSON was written with."""
    arrays_file = _arrays_file(path, doc)
    blob = arrays_file.read_bytes()
    if hashlib.sha256(blob).hexdigest() != doc["arrays"]["sha256"]:
        raise RoutingError([Problem(str(arrays_file), f"does not match {path.name} (sha256 differs): the pair "
                                    f"was not written together; {_REFIT}")])
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise RoutingError([Problem(str(arrays_file), f"not a readable .npz of arrays ({exc}); {_REFIT}")]) from None


def _restore(doc: dict[str, Any], arrays: dict[str, np.ndarray], where: str) -> LearnedRouter:
    """The router a checked document and its arrays describe."""
    try:
        router = router_class(str(doc["kind"]))(**doc.get("params", {}))
    except RoutingError as exc:
        raise RoutingError([Problem(f"{where}: kind", f"{p.message} (import the package that registers it, or "
                                                      f"{_REFIT})") for p in exc.problems]) from None
    router.models, router.strong = _strings(doc, "models", where), doc.get("strong")
    router.knob = _knob_value(doc["knob"]["value"])
    router.mix = _mix(doc["knob"].get("mix"), where)
    router.embedder = str(doc.get("embedder", "minilm"))
    router.prefixes, router.suffixes = _strings(doc, "prefixes", where), _strings(doc, "suffixes", where)
    calibration = doc.get("calibration")
    router.calibration = calibration if isinstance(calibration, dict) else {}
    fitted_on = arrays.pop(_FITTED_ON, None)
    try:
        router.load_state(doc["state"], arrays)
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        detail = f"no {exc.args[0]!r}" if isinstance(exc, KeyError) and exc.args else str(exc)
        raise _damaged(f"{where}: state", f"the {router.kind} router's state is incomplete ({detail})") from None
    router.fitted_on = None if fitted_on is None else fitted_on.astype(np.uint64)
    info = doc.get("info")
    router.info = info if isinstance(info, dict) else {}
    return router


def load_router(path: str | Path) -> LearnedRouter:
    """Read a router file written by :func:`save_router` (or by an older tierflow, with ``.npz`` named
    after the JSON), checking format, version, keys and arrays; a RoutingError names what is wrong."""
    path = Path(path)
    doc = _read_document(path)
    return _restore(doc, _read_arrays(path, doc), str(path))


def in_router_file(path: str | Path, exc: RoutingError) -> RoutingError:
    """``exc``'s problems, each named as one of the router file ``path`` (``path: where``)."""
    return RoutingError([Problem(f"{path}: {p.where}" if p.where else str(path), p.message) for p in exc.problems])


def _json_float(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return _json_float(float(obj))
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


__all__ = ["FORMAT", "VERSION", "in_router_file", "load_router", "save_router"]
