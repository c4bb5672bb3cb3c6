"""Compiling the IR's condition JSON (see ``tierflow.ir``) into fast closures over node outputs.

A compiled condition takes the run's ``values`` list (outputs per node index, ``None`` for a
skipped node) and returns a bool. An output of a skipped node reads as ``None``; ordering
comparisons with ``None`` are false rather than an error, ``contains`` on ``None`` is false.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

Values = list[Any]
Getter = Callable[[Values], Any]
Predicate = Callable[[Values], bool]


def _ordered(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        return a is not None and b is not None and op(a, b)
    return compare


def _contains(a: Any, b: Any) -> bool:
    return a is not None and b is not None and b in a


def _is_in(a: Any, b: Any) -> bool:
    return b is not None and a in b


def _startswith(a: Any, b: Any) -> bool:
    return isinstance(a, str) and isinstance(b, str) and a.startswith(b)


def _endswith(a: Any, b: Any) -> bool:
    return isinstance(a, str) and isinstance(b, str) and a.endswith(b)


_BINARY: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq, "ne": operator.ne, "lt": _ordered(operator.lt), "le": _ordered(operator.le),
    "gt": _ordered(operator.gt), "ge": _ordered(operator.ge), "contains": _contains, "in": _is_in,
    "startswith": _startswith, "endswith": _endswith,
}


def _operand(spec: Any, index: Mapping[str, int]) -> Getter:
    if isinstance(spec, Mapping) and "ref" in spec:
        node, key = spec["ref"]
        src = index[node]

        def read(values: Values) -> Any:
            out = values[src]
            return None if out is None else out.get(key)
        return read
    if isinstance(spec, Mapping) and "value" in spec:
        value = spec["value"]
        return lambda _values: value
    raise ValueError(f"a condition operand is {{'ref': [node, key]}} or {{'value': ...}}, got {spec!r}")


def compile_condition(spec: Any, index: Mapping[str, int]) -> Predicate:
    """JSON condition -> predicate over ``values``. ``index`` maps node ids to value slots."""
    if not isinstance(spec, Mapping) or "op" not in spec:
        raise ValueError(f"a condition is an object with an 'op', got {spec!r}")
    op = spec["op"]
    if op in _BINARY:
        fn, left, right = _BINARY[op], _operand(spec["left"], index), _operand(spec["right"], index)
        return lambda values: bool(fn(left(values), right(values)))
    if op in ("and", "or", "not"):
        return _logical(op, spec, index)
    if op == "truthy":
        get = _operand(spec["arg"], index)
        return lambda values: bool(get(values))
    if op == "const":
        value = bool(spec["value"])
        return lambda _values: value
    raise ValueError(f"unknown condition op {op!r}; expected one of "
                     f"{sorted([*_BINARY, 'and', 'or', 'not', 'truthy', 'const'])}")


def _logical(op: str, spec: Mapping[str, Any], index: Mapping[str, int]) -> Predicate:
    """``and`` / ``or`` over ``args``, ``not`` of ``arg``."""
    if op == "not":
        inner = compile_condition(spec["arg"], index)
        return lambda values: not inner(values)
    parts = [compile_condition(a, index) for a in spec["args"]]
    if op == "and":
        return lambda values: all(p(values) for p in parts)
    return lambda values: any(p(values) for p in parts)


__all__ = ["compile_condition"]
