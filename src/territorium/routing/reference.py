"""The per-account reading of a rule set: a plain Python loop over accounts and rules.

This is what a CRM's assignment engine does one record at a time. It is the specification
the vectorised :mod:`territorium.routing.masks` must agree with (tests compare the two on
random tables) and the peer of ``bench/routing_throughput.py``. Do not use it for bulk work.
"""
from __future__ import annotations

import math
import re
from typing import Any, Iterable, Mapping, Sequence

from territorium.routing.masks import norm_zip
from territorium.routing.rules import All, AnyOf, Condition, RuleSet

__all__ = ["matches", "first_match"]


def _missing(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    try:
        import pandas as pd

        if v is pd.NA:
            return True
    except ImportError:  # pragma: no cover
        pass
    return isinstance(v, str) and v.strip() == ""


def _text(v: Any, kind: str) -> str:
    if kind == "zip":
        return norm_zip(v)
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v).strip()


def matches(node, row: Mapping[str, Any], kinds: Mapping[str, str]) -> bool:
    """Does ``row`` (field → value) satisfy ``node``?"""
    if node is None:
        return True
    if isinstance(node, All):
        return all(matches(it, row, kinds) for it in node.items)
    if isinstance(node, AnyOf):
        return any(matches(it, row, kinds) for it in node.items)
    c: Condition = node
    v = row.get(c.field)
    kind = kinds.get(c.field, "text")
    miss = _missing(v)
    if c.op == "missing":
        return miss == bool(c.value)
    if miss:
        return c.op == "not_in"
    if kind == "number":
        x = float(v)
        if c.op == "in":
            return any(x == float(a) for a in c.value)
        if c.op == "not_in":
            return all(x != float(a) for a in c.value)
        lo, hi = c.value
        return (lo is None or x >= float(lo)) and (hi is None or x <= float(hi))
    s = _text(v, kind)
    if c.op == "regex":
        return re.search(c.value, s) is not None
    f = s.casefold()
    if kind == "list":
        elems = {e.strip() for e in f.split(";")}
        hit = bool(elems & {str(a).strip().casefold() for a in c.value})
        return hit if c.op in ("in", "contains") else not hit
    if c.op in ("in", "not_in"):
        conv = norm_zip if kind == "zip" else (lambda a: str(a).strip())
        hit = f in {conv(a).casefold() for a in c.value}
        return hit if c.op == "in" else not hit
    if c.op == "prefix":
        return any(f.startswith(str(a).strip().casefold()) for a in c.value)
    if c.op == "contains":
        return any(str(a).strip().casefold() in f for a in c.value)
    lo, hi = c.value  # zip range
    return (lo is None or f >= norm_zip(lo)) and (hi is None or f <= norm_zip(hi))


def first_match(ruleset: RuleSet, rows: Iterable[Mapping[str, Any]], kinds: Mapping[str, str]) -> list[int]:
    """Index of the first matching rule of each row (-1: none), one row and rule at a time."""
    rules: Sequence = ruleset.rules
    out = []
    for row in rows:
        hit = -1
        for i, r in enumerate(rules):
            if matches(r.when, row, kinds):
                hit = i
                break
        out.append(hit)
    return out
