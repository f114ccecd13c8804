"""Reading the small user files of the service layer (locks, alignments, reps, mappings).

One reader for CSV (any delimiter, UTF-8 with or without BOM), Excel and Parquet, returning
text columns, and one column finder by normalised name; each service raises its own error
class so the CLI can say which job failed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from territorium.data.cells import restore_frame

__all__ = ["read_table", "pick_column"]


def read_table(path: Path, error: type[Exception] = ValueError, *, blank_na: bool = False) -> pd.DataFrame:
    """``path`` as a frame of text columns (header row 1); ``error`` names the file and why
    when it is missing or unreadable. ``blank_na``: empty cells stay ``""`` (not NaN) and
    column names are stripped. In a CSV, the quote the exports put before cells a
    spreadsheet would run as formulas is removed again (:func:`territorium.data.cells.restore`)."""
    path = Path(path)
    if not path.exists():
        raise error(f"{path}: file not found")
    try:
        suf = path.suffix.lower()
        if suf in (".xlsx", ".xls"):
            df = pd.read_excel(path, dtype=str)
        elif suf in (".parquet", ".pq"):
            df = pd.read_parquet(path).astype(str)
        else:
            df = restore_frame(pd.read_csv(path, dtype=str, sep=None, engine="python", encoding="utf-8-sig",
                                           keep_default_na=not blank_na))
    except Exception as exc:  # unreadable file: say which and why
        raise error(f"{path}: cannot read ({exc.__class__.__name__}: {exc})") from None
    if blank_na:
        df.columns = [str(c).strip() for c in df.columns]
        df = df.fillna("")
    return df


def pick_column(df: pd.DataFrame, names: Sequence[str]) -> str | None:
    """The first column of ``df`` whose normalised name (lower case, spaces as ``_``) is in
    ``names``, in the order of ``names``.

    >>> pick_column(pd.DataFrame(columns=["Unit ID", "Territory"]), ["territory", "unit_id"])
    'Territory'
    """
    low = {str(c).strip().lower().replace(" ", "_"): c for c in df.columns}
    for n in names:
        if n in low:
            return low[n]
    return None
