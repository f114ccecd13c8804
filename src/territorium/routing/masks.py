"""Vectorised condition evaluation: one boolean mask per condition over a whole table.

Text columns are factorised once per field; a text test runs on the distinct values only and
is broadcast back through the codes, so an ``in`` over 100,000 accounts costs a ``take`` of a
few hundred booleans. Numbers compare as float arrays (NaN = missing).

Semantics (shared with :mod:`territorium.routing.reference`, the per-account reading):

- text compares case-insensitively after stripping; ``regex`` is applied to the stripped
  original text (``(?i)`` for case-insensitive);
- ``zip`` fields compare 5-digit strings (ZIP+4 and lost leading zeros normalised), so
  ``range: ["01000", "02799"]`` is a ZIP range;
- ``list`` fields (``product_lines``, ``skills``: ``;``-separated) match ``in`` / equals /
  ``contains`` when any element is listed, ``not_in`` when none is;
- a missing value (null or blank) fails every test except ``missing: true`` and ``not_in``.
"""
from __future__ import annotations

import re
from typing import Mapping

import numpy as np
import pandas as pd

from territorium.routing.rules import All, AnyOf, Condition

__all__ = ["FIELD_KINDS", "infer_field_kinds", "norm_zip", "Evaluator", "OPS_BY_KIND"]

FIELD_KINDS = ("number", "text", "zip", "list")
#: Which operators make sense on which kind of field.
OPS_BY_KIND = {
    "number": {"in", "not_in", "range", "missing"},
    "text": {"in", "not_in", "prefix", "regex", "missing", "contains"},
    "zip": {"in", "not_in", "range", "prefix", "regex", "missing"},
    "list": {"in", "not_in", "contains", "missing", "regex"},
}
_LIST_NAMES = {"product_lines", "skills", "tags"}


def infer_field_kinds(frame: pd.DataFrame) -> dict[str, str]:
    """Kind of every column: numbers by dtype, ZIPs by name, ``;``-lists by name.

    >>> infer_field_kinds(pd.DataFrame({"zip": ["02134"], "employees": [3], "product_lines": ["a;b"], "x": ["y"]}))
    {'zip': 'zip', 'employees': 'number', 'product_lines': 'list', 'x': 'text'}
    """
    kinds = {}
    for c in frame.columns:
        s = frame[c]
        name = str(c).lower()
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            kinds[c] = "number"
        elif name == "zip" or name.endswith("_zip") or name in ("postal_code", "zipcode", "zip_code"):
            kinds[c] = "zip"
        elif name in _LIST_NAMES:
            kinds[c] = "list"
        else:
            kinds[c] = "text"
    return kinds


def norm_zip(v) -> str:
    """``2134`` → ``"02134"``; ``"02134-1234"`` → ``"02134"``; other text stripped."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    if isinstance(v, (int, np.integer)) or (isinstance(v, float) and float(v).is_integer()):
        return str(int(v)).zfill(5)
    s = str(v).strip().split("-")[0]
    return s.zfill(5) if s.isdigit() and len(s) < 5 else s


def _norm_text(v) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v).strip()


class Evaluator:
    """Masks of conditions over one table (cached by condition identity).

    Parameters
    ----------
    frame : the table (accounts, or reps for team selectors).
    kinds : field → kind (:data:`FIELD_KINDS`); missing entries are inferred.
    """

    def __init__(self, frame: pd.DataFrame, kinds: Mapping[str, str] | None = None):
        self.frame = frame
        self.n = len(frame)
        inferred = infer_field_kinds(frame)
        self.kinds = {**inferred, **{k: v for k, v in (kinds or {}).items() if k in frame.columns}}
        self._text: dict[str, tuple] = {}
        self._num: dict[str, np.ndarray] = {}
        self._masks: dict[tuple, np.ndarray] = {}

    # -- column preparation -----------------------------------------------------------
    def _text_col(self, f: str):
        """(codes with -1 for missing, stripped originals, folded values)."""
        if f not in self._text:
            # factorise the raw column (C speed), normalise only the distinct values, merge
            raw_codes, raw_uniq = pd.factorize(self.frame[f], use_na_sentinel=True)
            conv = norm_zip if self.kinds.get(f, "text") == "zip" else _norm_text
            index: dict[str, int] = {}
            remap = np.empty(len(raw_uniq) + 1, dtype=np.int64)
            for i, u in enumerate(raw_uniq):
                v = conv(u)
                remap[i] = -1 if v == "" else index.setdefault(v, len(index))
            remap[-1] = -1
            codes = remap[raw_codes]
            orig = np.asarray(list(index), dtype=object)
            folded = np.asarray([u.casefold() for u in orig], dtype=object)
            self._text[f] = (codes, orig, folded)
        return self._text[f]

    def _num_col(self, f: str) -> np.ndarray:
        if f not in self._num:
            self._num[f] = pd.to_numeric(self.frame[f], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        return self._num[f]

    # -- evaluation ---------------------------------------------------------------------
    def mask(self, node) -> np.ndarray:
        """Boolean mask of ``node`` (a Condition, All, AnyOf or None = every row)."""
        if node is None:
            return np.ones(self.n, dtype=bool)
        if isinstance(node, Condition):
            k = node.key()
            m = self._masks.get(k)
            if m is None:
                m = self._atom(node)
                self._masks[k] = m
            return m
        if isinstance(node, All):
            out = self.mask(node.items[0]).copy()
            for it in node.items[1:]:
                out &= self.mask(it)
            return out
        if isinstance(node, AnyOf):
            out = self.mask(node.items[0]).copy()
            for it in node.items[1:]:
                out |= self.mask(it)
            return out
        raise TypeError(f"not a condition: {node!r}")

    def _atom(self, c: Condition) -> np.ndarray:
        if c.field not in self.frame.columns:
            raise KeyError(f"unknown field {c.field!r}")
        kind = self.kinds.get(c.field, "text")
        if kind == "number":
            return self._number_atom(c)
        codes, orig, folded = self._text_col(c.field)
        per_unique, if_missing = self._text_atom(c, kind, orig, folded)
        ext = np.append(np.asarray(per_unique, dtype=bool), bool(if_missing))
        return ext[codes]  # code -1 picks the trailing "missing" entry

    def _number_atom(self, c: Condition) -> np.ndarray:
        x = self._num_col(c.field)
        nan = np.isnan(x)
        if c.op == "missing":
            return nan if c.value else ~nan
        if c.op in ("in", "not_in"):
            vals = np.asarray([float(v) for v in c.value], dtype=np.float64)
            hit = np.isin(x, vals)
            return hit if c.op == "in" else ~hit
        if c.op == "range":
            lo, hi = c.value
            m = ~nan
            if lo is not None:
                m &= x >= float(lo)
            if hi is not None:
                m &= x <= float(hi)
            return m
        raise TypeError(f"{c.op} does not apply to the number field {c.field!r}")

    @staticmethod
    def _text_atom(c: Condition, kind: str, orig: np.ndarray, folded: np.ndarray):
        """(result per distinct value, result for a missing value)."""
        op = c.op
        if op == "missing":
            return np.full(len(orig), not c.value), bool(c.value)
        if op == "regex":
            rx = re.compile(c.value)
            return np.fromiter((rx.search(u) is not None for u in orig), bool, len(orig)), False
        if kind == "list":
            wanted = {str(v).strip().casefold() for v in c.value}
            elems = [{e.strip() for e in u.split(";")} for u in folded]
            any_in = np.fromiter((bool(e & wanted) for e in elems), bool, len(elems))
            if op in ("in", "contains"):
                return any_in, False
            if op == "not_in":
                return ~any_in, True
            raise TypeError(f"{op} does not apply to the list field {c.field!r}")
        if op in ("in", "not_in"):
            conv = norm_zip if kind == "zip" else (lambda v: str(v).strip())
            wanted = {conv(v).casefold() for v in c.value}
            hit = np.fromiter((u in wanted for u in folded), bool, len(folded))
            return (hit, False) if op == "in" else (~hit, True)
        if op == "prefix":
            pre = tuple(str(v).strip().casefold() for v in c.value)
            return np.fromiter((u.startswith(pre) for u in folded), bool, len(folded)), False
        if op == "contains":
            subs = [str(v).strip().casefold() for v in c.value]
            return np.fromiter((any(s in u for s in subs) for u in folded), bool, len(folded)), False
        if op == "range":
            if kind != "zip":
                raise TypeError(f"range does not apply to the text field {c.field!r}")
            lo, hi = c.value
            lo = None if lo is None else norm_zip(lo)
            hi = None if hi is None else norm_zip(hi)
            ok = np.ones(len(folded), dtype=bool)
            if lo is not None:
                ok &= np.fromiter((u >= lo for u in folded), bool, len(folded))
            if hi is not None:
                ok &= np.fromiter((u <= hi for u in folded), bool, len(folded))
            return ok, False
        raise TypeError(f"unknown operator {op!r}")
