"""Reading YAML that may come from someone else: safe types only, and no alias bombs.

PyYAML's safe loader builds only plain data, but it expands aliases by reference: a 1 KB file whose
anchors refer to each other nine levels deep stands for billions of nodes, and the first code that
walks the result (validation, ``json.dumps``, a copy) exhausts memory. :func:`load_yaml` composes the
document, counts the nodes it stands for with every alias expanded (in time linear in the file),
and refuses a document over :data:`MAX_EXPANDED_NODES` before anything walks it. Ordinary anchors
(a shared block of defaults) stay allowed.
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_EXPANDED_NODES = 1_000_000
"""The most nodes a document may stand for once aliases are expanded (a 998-node flow is ~20,000)."""

_Loader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YAMLTooLargeError(yaml.YAMLError):
    """The document stands for more nodes than :data:`MAX_EXPANDED_NODES` once aliases are expanded."""

    def __init__(self, nodes: int, limit: int) -> None:
        super().__init__(f"the document expands to more than {limit:,} nodes through its aliases "
                         f"(anchors '&' referred to by '*'): refused as an alias bomb; write the values out "
                         f"or use fewer nested aliases")
        self.nodes = nodes
        self.limit = limit


def expanded_size(node: yaml.Node | None, limit: int = MAX_EXPANDED_NODES) -> int:
    """How many nodes ``node`` stands for with every alias expanded; raises past ``limit``."""
    if node is None:
        return 0
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()  # on the current path: meeting one again means a recursive alias
    # iterative post-order walk: a deep document must not hit Python's recursion limit
    stack: list[tuple[yaml.Node, bool]] = [(node, False)]
    while stack:
        current, children_done = stack.pop()
        key = id(current)
        if key in sizes:
            continue
        children = _children(current)
        if not children_done:
            if key in open_nodes:
                raise yaml.YAMLError("the document refers to itself through an alias (a recursive "
                                     "anchor): refused")
            missing = [c for c in children if id(c) not in sizes]
            if missing:
                open_nodes.add(key)
                stack.append((current, True))
                stack.extend((c, False) for c in missing)
                continue
        open_nodes.discard(key)
        total = 1 + sum(sizes[id(c)] for c in children)
        if total > limit:
            raise YAMLTooLargeError(total, limit)
        sizes[key] = total
    return sizes[id(node)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def compose_yaml(text: str, *, limit: int = MAX_EXPANDED_NODES) -> yaml.Node | None:
    """Compose ``text`` into its node graph (with marks, for line numbers), refusing alias bombs."""
    loader = _Loader(text)
    try:
        node: yaml.Node | None = loader.get_single_node()
    finally:
        loader.dispose()
    expanded_size(node, limit)
    return node


def load_yaml(text: str, *, limit: int = MAX_EXPANDED_NODES) -> Any:
    """``yaml.safe_load(text)``, refusing a document that expands past ``limit`` nodes.

    Raises :class:`yaml.YAMLError` (with marks) for invalid YAML and :class:`YAMLTooLargeError` for
    an alias bomb; callers turn both into their own domain error naming the file.
    """
    loader = _Loader(text)
    try:
        node: yaml.Node | None = loader.get_single_node()
        expanded_size(node, limit)
        return None if node is None else loader.construct_document(node)
    finally:
        loader.dispose()


__all__ = ["MAX_EXPANDED_NODES", "YAMLTooLargeError", "compose_yaml", "expanded_size", "load_yaml"]
