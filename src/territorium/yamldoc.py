"""YAML documents that remember the line of every key and item (for messages such as
``rules.yaml:12: unknown field 'industri'``). Used by the routing rules and the alert rules.
"""
from __future__ import annotations

from typing import Any, Mapping

__all__ = ["Doc", "from_node", "plain", "load"]


class Doc:
    """A plain value with the line of each mapping key / sequence item (1-based)."""

    __slots__ = ("value", "line", "lines")

    def __init__(self, value: Any, line: int | None, lines: Any = None):
        self.value = value
        self.line = line
        self.lines = lines  # dict key -> Doc, list of Doc, or None for scalars


def from_node(loader, node) -> Doc:
    import yaml

    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        d, lines = {}, {}
        for k, v in node.value:
            key = loader.construct_object(k, deep=True)
            child = from_node(loader, v)
            child.line = k.start_mark.line + 1
            d[key] = child.value
            lines[key] = child
        return Doc(d, line, lines)
    if isinstance(node, yaml.SequenceNode):
        items = [from_node(loader, v) for v in node.value]
        return Doc([i.value for i in items], line, items)
    return Doc(loader.construct_object(node, deep=True), line, None)


def plain(value: Any, line: int | None = None) -> Doc:
    """A dict/list document without marks (the dict API): every line is ``line``."""
    if isinstance(value, Mapping):
        return Doc(dict(value), line, {k: plain(v, line) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return Doc(list(value), line, [plain(v, line) for v in value])
    return Doc(value, line, None)


def load(text: str) -> tuple[Doc | None, tuple[str, int | None] | None]:
    """``(document, None)``, or ``(None, (message, line))`` when the text is not YAML or empty.

    >>> doc, err = load("a: 1\\nb:\\n  - x\\n")
    >>> doc.lines["b"].line, doc.lines["b"].lines[0].line, err
    (2, 3, None)
    >>> load("a: [1")[1][0].startswith("not valid YAML")
    True
    """
    import yaml

    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        msg = getattr(exc, "problem", None) or str(exc)
        return None, (f"not valid YAML: {msg}", line)
    if node is None:
        return None, ("the file is empty", 1)
    return from_node(yaml.SafeLoader(""), node), None
