"""Branch conditions in flow files: a small expression language lowered to the IR condition JSON.

A condition is written on an edge leaving a branch node, as a Python-like expression::

    "'billing' in classify.content"            -> {"op": "contains", left: classify.content, right: 'billing'}
    "classify.content.startswith('URGENT')"    -> {"op": "startswith", ...}
    "score.value >= 0.7 and not review.flagged"
    "ref('node-1', 'content') == 'yes'"        (node ids that are not identifiers)
    "input.tier == 'gold'"                     (``input.key`` reads the run's inputs)

Operands are ``node.key`` references or literals (strings, numbers, booleans, None, lists).
A bare reference (``review.approved``) is true when its value is truthy. The expression is
parsed with :mod:`ast` and only the forms above are accepted; nothing is ever evaluated.
The IR condition JSON itself (``{"op": ...}``, see :mod:`tierflow.ir`) is accepted too.
"""

from __future__ import annotations

import ast
from typing import Any

from tierflow.errors import ConditionError
from tierflow.flowfile.format import INPUT_REF_NODE
from tierflow.ir import PARENT_ID

_COMPARE_OPS: dict[type, str] = {ast.Eq: "eq", ast.NotEq: "ne", ast.Lt: "lt", ast.LtE: "le",
                                 ast.Gt: "gt", ast.GtE: "ge"}
_METHOD_OPS = {"contains": "contains", "startswith": "startswith", "endswith": "endswith"}
_BINARY_OPS = {"contains", "eq", "ne", "lt", "le", "gt", "ge", "in", "startswith", "endswith"}


def lower_condition(cond: str | dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Lower a file condition to the IR condition JSON; also return the ``(node, key)`` refs it reads.

    References to the run's inputs are returned with ``PARENT_ID`` as the node.
    """
    refs: list[tuple[str, str]] = []
    if isinstance(cond, dict):
        _check_json(cond, refs)
        return cond, refs
    try:
        tree = ast.parse(cond.strip(), mode="eval")
    except SyntaxError as exc:
        raise ConditionError(f"cannot parse condition {cond!r}: {exc.msg} at column {exc.offset}") from None
    return _condition(tree.body, refs), refs


def _condition(node: ast.expr, refs: list[tuple[str, str]]) -> dict[str, Any]:
    if isinstance(node, ast.BoolOp):
        op = "and" if isinstance(node.op, ast.And) else "or"
        return {"op": op, "args": [_condition(v, refs) for v in node.values]}
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return {"op": "not", "arg": _condition(node.operand, refs)}
    if isinstance(node, ast.Compare):
        parts: list[dict[str, Any]] = []
        left = node.left
        for cmp, right in zip(node.ops, node.comparators):
            parts.append(_compare(left, cmp, right, refs))
            left = right
        return parts[0] if len(parts) == 1 else {"op": "and", "args": parts}
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
            and node.func.attr in _METHOD_OPS:
        if len(node.args) != 1 or node.keywords:
            raise ConditionError(f".{node.func.attr}() takes exactly one argument")
        return {"op": _METHOD_OPS[node.func.attr], "left": _operand(node.func.value, refs),
                "right": _operand(node.args[0], refs)}
    if isinstance(node, ast.Constant) and isinstance(node.value, bool):
        return {"op": "const", "value": node.value}
    return {"op": "truthy", "arg": _operand(node, refs)}


def _compare(left: ast.expr, op: ast.cmpop, right: ast.expr, refs: list[tuple[str, str]]) -> dict[str, Any]:
    if isinstance(op, (ast.In, ast.NotIn)):  # `a in b` is `b contains a`
        cond = {"op": "contains", "left": _operand(right, refs), "right": _operand(left, refs)}
        return {"op": "not", "arg": cond} if isinstance(op, ast.NotIn) else cond
    name = _COMPARE_OPS.get(type(op))
    if name is None:
        raise ConditionError(f"operator {type(op).__name__} is not supported; use ==, !=, <, <=, >, >=, "
                             "in, not in")
    return {"op": name, "left": _operand(left, refs), "right": _operand(right, refs)}


def _operand(node: ast.expr, refs: list[tuple[str, str]]) -> dict[str, Any]:
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return _ref(node.value.id, node.attr, refs)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "ref":
        args = node.args
        if len(args) == 2 and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in args):
            return _ref(args[0].value, args[1].value, refs)  # type: ignore[attr-defined]
        raise ConditionError("ref() takes two strings: ref('node_id', 'key')")
    try:
        return {"value": ast.literal_eval(node)}
    except ValueError:
        pass
    if isinstance(node, ast.Name):
        raise ConditionError(f"{node.id!r} is not a reference: write node_id.key (or input.{node.id} for a "
                             "run input)")
    raise ConditionError(f"unsupported expression {ast.unparse(node)!r}: an operand is node_id.key, "
                         "ref('node_id', 'key') or a literal")


def _ref(node_id: str, key: str, refs: list[tuple[str, str]]) -> dict[str, Any]:
    node_id = PARENT_ID if node_id == INPUT_REF_NODE else node_id
    refs.append((node_id, key))
    return {"ref": [node_id, key]}


def _check_json(cond: Any, refs: list[tuple[str, str]]) -> None:
    """Structural check of an IR condition JSON value, collecting its references."""
    if not isinstance(cond, dict) or not isinstance(cond.get("op"), str):
        raise ConditionError(f"expected a condition object with an 'op', got {cond!r}")
    op = cond["op"]
    if op in ("and", "or"):
        args = cond.get("args")
        if not isinstance(args, list) or not args:
            raise ConditionError(f"'{op}' needs a non-empty 'args' list")
        for a in args:
            _check_json(a, refs)
    elif op == "not":
        _check_json(cond.get("arg"), refs)
    elif op == "truthy":
        _check_operand(cond.get("arg"), refs)
    elif op == "const":
        if not isinstance(cond.get("value"), bool):
            raise ConditionError("'const' needs a boolean 'value'")
    elif op in _BINARY_OPS:
        _check_operand(cond.get("left"), refs)
        _check_operand(cond.get("right"), refs)
    else:
        raise ConditionError(f"unknown condition op {op!r}; expected one of "
                             f"{sorted(_BINARY_OPS | {'and', 'or', 'not', 'truthy', 'const'})}")


def _check_operand(operand: Any, refs: list[tuple[str, str]]) -> None:
    if isinstance(operand, dict) and "value" in operand and len(operand) == 1:
        return
    ref = operand.get("ref") if isinstance(operand, dict) else None
    if isinstance(ref, list) and len(ref) == 2 and all(isinstance(p, str) for p in ref):
        refs.append((ref[0], ref[1]))
        return
    raise ConditionError(f"expected an operand {{'ref': [node_id, key]}} or {{'value': ...}}, got {operand!r}")


__all__ = ["ConditionError", "lower_condition"]
