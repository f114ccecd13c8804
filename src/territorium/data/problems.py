"""Problems found while reading and validating an input file.

A problem names the file, the row as the user sees it in a spreadsheet (the header is
row 1, so the first data row is 2; blank lines count), the column as written in the file,
the offending value and the reason. Problems are collected as a DataFrame so that a
million-row file with many bad values costs vectorised work, not a Python object per row.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["Problem", "ProblemLog", "ImportFailed", "PROBLEM_COLUMNS", "ERROR", "WARNING"]

ERROR = "error"
WARNING = "warning"
PROBLEM_COLUMNS = ["file", "row", "column", "value", "reason", "severity"]


@dataclass(frozen=True)
class Problem:
    """One problem with one value of one row (``row`` is None for whole-file problems)."""

    file: str
    row: int | None
    column: str | None
    value: str | None
    reason: str
    severity: str = ERROR

    def __str__(self) -> str:
        where = self.file + (f", row {self.row}" if self.row is not None else "")
        where += f", column {self.column!r}" if self.column else ""
        val = f" (value {self.value!r})" if self.value not in (None, "") else ""
        return f"{where}: {self.reason}{val}"


class ImportFailed(Exception):
    """Input that cannot be imported at all (unreadable file, wrong format, missing columns).

    The message is written for the user; the CLI prints it without a traceback.
    """

    def __init__(self, message: str, problems: list[Problem] | None = None):
        super().__init__(message)
        self.problems = problems or []


class ProblemLog:
    """Accumulates problems of one file as vectorised chunks.

    ``add(mask, column, values, reason)`` records one problem for every row where the
    boolean ``mask`` is True; ``rows`` is the spreadsheet row number of each frame row.
    """

    def __init__(self, file: str, rows: np.ndarray, positions: np.ndarray | None = None, chunks=None):
        self.file = file
        self.rows = np.asarray(rows)
        self.positions = positions
        self._chunks: list[pd.DataFrame] = [] if chunks is None else chunks

    def sub(self, positions: np.ndarray) -> "ProblemLog":
        """A log for the frame rows at ``positions`` that records into this log."""
        positions = np.asarray(positions, dtype=np.int64)
        base = positions if self.positions is None else self.positions[positions]
        return ProblemLog(self.file, self.rows[positions], base, self._chunks)

    def add(
        self,
        mask,
        column: str | None,
        values,
        reason,
        severity: str = ERROR,
    ) -> None:
        """Record a problem for each True in ``mask``.

        ``values`` and ``reason`` may be scalars or arrays aligned with the frame.
        """
        m = np.asarray(mask, dtype=bool)
        if not m.any():
            return
        idx = np.flatnonzero(m)
        vals = (
            pd.Series(np.asarray(values, dtype=object)[idx])
            if not np.isscalar(values) and values is not None
            else pd.Series([values] * len(idx), dtype=object)
        )
        reasons = (
            pd.Series(np.asarray(reason, dtype=object)[idx])
            if not isinstance(reason, str)
            else pd.Series([reason] * len(idx), dtype=object)
        )
        self._chunks.append(
            pd.DataFrame(
                {
                    "_pos": idx if self.positions is None else self.positions[idx],
                    "file": self.file,
                    "row": self.rows[idx].astype(np.int64),
                    "column": column,
                    "value": vals.astype(object).where(vals.notna(), None).to_numpy(),
                    "reason": reasons.to_numpy(),
                    "severity": severity,
                }
            )
        )

    def add_file_problem(self, reason: str, column: str | None = None, severity: str = ERROR) -> None:
        self._chunks.append(
            pd.DataFrame(
                {"_pos": [-1], "file": [self.file], "row": [None], "column": [column],
                 "value": [None], "reason": [reason], "severity": [severity]}
            )
        )

    def frame(self) -> pd.DataFrame:
        """All problems, ordered by row, with an internal ``_pos`` (frame position) column."""
        if not self._chunks:
            return pd.DataFrame(
                {"_pos": pd.Series(dtype=np.int64), **{c: pd.Series(dtype=object) for c in PROBLEM_COLUMNS}}
            )
        df = pd.concat(self._chunks, ignore_index=True)
        df["row"] = df["row"].astype("Int64")
        return df.sort_values(["row", "_pos"], kind="stable", na_position="first").reset_index(drop=True)

    def error_positions(self) -> np.ndarray:
        """Frame positions of rows with at least one error."""
        pos = [c.loc[c["severity"] == ERROR, "_pos"].to_numpy() for c in self._chunks]
        pos = [p[p >= 0] for p in pos]
        if not pos:
            return np.zeros(0, dtype=np.int64)
        return np.unique(np.concatenate(pos)).astype(np.int64)

    @property
    def has_file_error(self) -> bool:
        return any(((c["_pos"] < 0) & (c["severity"] == ERROR)).any() for c in self._chunks)
