"""Text cells that spreadsheets would run as formulas, neutralised and restored.

Excel, LibreOffice Calc and Google Sheets read a CSV cell that starts with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return as a formula (CSV or formula injection, CWE-1236).
OWASP's guidance is to make sure no cell begins with one of those characters by prefixing
it with a single quote, which the spreadsheet shows as text. :func:`neutralize` does that
for every text cell the exports write to CSV; :func:`restore` undoes it when such a file is
read back, so the round trip gives the exact original value.

The rule is reversible: a value that itself starts with a quote followed by a risky
character or another quote (``'=x``, ``''x``) gets one more quote on export, and
:func:`restore` removes exactly one quote from any cell that starts with a quote followed by
a risky character or a quote. Any other value is left alone both ways (``'6011110949048``,
Shopify's own guard, is not touched here). Numbers are not text: a negative amount written
as a number stays a number.

>>> neutralize('=HYPERLINK("http://evil.example","T")')
'\\'=HYPERLINK("http://evil.example","T")'
>>> [restore(neutralize(v)) for v in ["-5", "'=x", "''", "plain", "'kept"]]
['-5', "'=x", "''", 'plain', "'kept"]
"""
from __future__ import annotations

import pandas as pd

__all__ = ["RISKY_FIRST", "is_risky", "neutralize", "restore", "neutralize_frame", "restore_frame", "write_csv"]

#: First characters that make a spreadsheet evaluate a cell (OWASP CSV injection).
RISKY_FIRST = ("=", "+", "-", "@", "\t", "\r")
_QUOTE = "'"
_AFTER_QUOTE = RISKY_FIRST + (_QUOTE,)


def is_risky(value: object) -> bool:
    """Whether a text cell would be read as a formula (or needs a quote to stay reversible)."""
    if not isinstance(value, str) or not value:
        return False
    return value.startswith(RISKY_FIRST) or (value.startswith(_QUOTE) and value[1:2] != ""
                                             and value[1:2] in _AFTER_QUOTE)


def neutralize(value):
    """``value`` safe to open in a spreadsheet: text starting with ``= + - @``, tab or CR
    gets a leading ``'``; anything else (numbers, None, other text) is returned unchanged."""
    return _QUOTE + value if is_risky(value) else value


def restore(value):
    """The value :func:`neutralize` was given: one leading ``'`` removed where it is
    followed by a risky character or another quote; anything else unchanged."""
    if isinstance(value, str) and len(value) > 1 and value[0] == _QUOTE and value[1] in _AFTER_QUOTE:
        return value[1:]
    return value


def _text_columns(df: pd.DataFrame) -> list:
    return [c for c in df.columns if df[c].dtype == object or pd.api.types.is_string_dtype(df[c])]


def neutralize_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with every text cell (and column name) passed through
    :func:`neutralize`; numeric columns are not touched."""
    out = df.copy()
    for c in _text_columns(out):
        out[c] = out[c].map(neutralize, na_action="ignore")
    out.columns = [neutralize(c) if isinstance(c, str) else c for c in out.columns]
    return out


def restore_frame(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with every text cell passed through :func:`restore` (in place; returned)."""
    for c in _text_columns(df):
        col = df[c]
        if col.astype(str).str.startswith(_QUOTE).any():
            df[c] = col.map(restore, na_action="ignore")
    return df


def write_csv(df: pd.DataFrame, path, **kwargs) -> None:
    """``df`` as a spreadsheet-safe CSV (every text cell through :func:`neutralize`; no index)."""
    neutralize_frame(df).to_csv(path, index=False, **kwargs)
