"""Router files: a versioned, inspectable JSON document plus a sibling ``.npz`` of arrays.

``save_router(router, "routers/auto.json")`` writes ``routers/auto.json`` and
``routers/auto.npz`` (plain arrays, loaded with ``allow_pickle=False``). The JSON names the
format and version, the router kind, its models, knob and calibration, the embedder, and the
sha256 of the arrays file, so a stale or foreign pair is refused with a clear message. The
arrays also hold the fingerprints of the prompts the router was fitted on, so that ``route eval``
can leave them out. Both
files are written to temporary names first and renamed into place: nothing is half-written.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from tierflow.errors import Problem, RoutingError
from tierflow.routing.routers import Router, knob_json, router_class

FORMAT = "tierflow-router"
VERSION = 1
_FITTED_ON = "_fitted_on"  # the fingerprints of the prompts the router was fitted on (routing.split)


def _arrays_path(path: Path) -> Path:
    return path.with_suffix(".npz")


def save_router(router: Router, path: str | Path, *, info: dict[str, Any] | None = None) -> Path:
    """Write ``router`` to ``path`` (.json) and its arrays beside it (.npz)."""
    path = Path(path)
    if path.suffix != ".json":
        path = path.with_suffix(".json")
    path.parent.mkdir(parents=True, exist_ok=True)
    meta, arrays = router._state()
    if router.fitted_on is not None:
        arrays = {**arrays, _FITTED_ON: router.fitted_on}
    buf = io.BytesIO()
    np.savez_compressed(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    blob = buf.getvalue()
    doc = {
        "format": FORMAT, "version": VERSION, "kind": router.kind, "models": router.models,
        "strong": router.strong, "knob": {"name": router.knob_name, "value": knob_json(router.knob),
                                           "mix": None if router.mix is None else
                                           {"value": knob_json(router.mix[0]), "share": router.mix[1]}},
        "params": router.params, "embedder": router.embedder, "prefixes": router.prefixes,
        "suffixes": router.suffixes,
        "calibration": router.calibration, "state": meta, "info": info or {},
        "fitted_on": None if router.fitted_on is None else {
            "prompts": len(router.fitted_on), "array": _FITTED_ON,
            "fingerprint": "first 8 bytes of the sha256 of each prompt's text, big-endian"},
        "arrays": {"file": _arrays_path(path).name, "sha256": hashlib.sha256(blob).hexdigest(),
                   "names": sorted(arrays)},
    }
    tmp_arrays, tmp_json = path.with_name(path.name + ".npz.tmp"), path.with_name(path.name + ".tmp")
    tmp_arrays.write_bytes(blob)
    tmp_json.write_text(json.dumps(doc, indent=1, default=_json_default), encoding="utf-8")
    os.replace(tmp_arrays, _arrays_path(path))
    os.replace(tmp_json, path)
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


def _strings(doc: dict, key: str, where: str) -> list[str]:
    """``doc[key]`` as a list of strings (absent: empty), or a RoutingError naming the field."""
    value = doc.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RoutingError([Problem(f"{where}: {key}", f"expected a list of strings, got {type(value).__name__}; "
                                    "the file is damaged: refit it with `tierflow route fit`")])
    return value


def load_router(path: str | Path) -> Router:
    """Read a router file written by :func:`save_router`, checking format, version and arrays."""
    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise RoutingError([Problem(where, "no such router file (write one with `tierflow route fit`)")])
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RoutingError([Problem(where, f"not a JSON router file ({exc})")]) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise RoutingError([Problem(f"{where}: format", f"expected {FORMAT!r}; this is not a tierflow router file")])
    if doc.get("version") != VERSION:
        raise RoutingError([Problem(f"{where}: version", f"router file version {doc.get('version')!r} is not "
                                    f"supported (this tierflow reads version {VERSION}); refit it with "
                                    "`tierflow route fit`")])
    missing = [k for k in ("kind", "models", "knob", "state", "arrays") if k not in doc]
    if missing:
        raise RoutingError([Problem(where, f"router file lacks {missing}; it is damaged or was not written by "
                                           "`tierflow route fit`")])
    arrays_file = path.parent / Path(str(doc["arrays"]["file"])).name
    if not arrays_file.is_file() and _arrays_path(path).is_file():
        arrays_file = _arrays_path(path)  # the pair was renamed together; the sha256 below still binds them
    if not arrays_file.is_file():
        raise RoutingError([Problem(str(arrays_file), f"the router's arrays file is missing (keep it beside "
                                                      f"{path.name}, or refit with `tierflow route fit`)")])
    blob = arrays_file.read_bytes()
    if hashlib.sha256(blob).hexdigest() != doc["arrays"]["sha256"]:
        raise RoutingError([Problem(str(arrays_file), f"does not match {path.name} (sha256 differs); the pair "
                                    "was not written together")])
    with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    fitted_on = arrays.pop(_FITTED_ON, None)
    router = router_class(doc["kind"])(**doc.get("params", {}))
    router.models, router.strong = list(doc["models"]), doc.get("strong")
    router.knob = _knob_value(doc["knob"]["value"])
    router.mix = _mix(doc["knob"].get("mix"), where)
    router.embedder = doc.get("embedder", "minilm")
    router.prefixes, router.suffixes = _strings(doc, "prefixes", where), _strings(doc, "suffixes", where)
    router.calibration = doc.get("calibration", {})
    router._load_state(doc["state"], arrays)
    router.fitted_on = None if fitted_on is None else fitted_on.astype(np.uint64)
    router.info = doc.get("info") if isinstance(doc.get("info"), dict) else {}
    return router


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
