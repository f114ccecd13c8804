"""Reading a long panel: column checks, time parsing, the unit × time matrix, who is treated when.

Every estimator goes through :func:`prepare`, so bad input fails the same way everywhere:
a ``ValueError`` that names the column (and the first bad row or the units concerned).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional, Sequence

import numpy as np
import pandas as pd

NEVER = -1  # cohort index of units never treated inside the window

_Q1 = re.compile(r"^\s*Q([1-4])[\s\-/_]?(\d{4})\s*$", re.I)
_Q2 = re.compile(r"^\s*(\d{4})[\s\-/_]?Q([1-4])\s*$", re.I)


def require_columns(df: pd.DataFrame, cols: dict) -> None:
    """``cols`` maps role -> column name; a missing one raises naming both."""
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"expected a pandas DataFrame (long panel), got {type(df).__name__}")
    for role, col in cols.items():
        if col is None:
            continue
        if col not in df.columns:
            shown = ", ".join(map(str, list(df.columns)[:20]))
            raise ValueError(f"{role} column {col!r} is not in the panel (columns: {shown})")


def numeric_column(df: pd.DataFrame, col: str, role: str = "outcome") -> np.ndarray:
    """The column as float; a non-numeric value raises naming the column, row and value."""
    s = df[col]
    if pd.api.types.is_bool_dtype(s):
        return s.to_numpy(dtype=float)
    if pd.api.types.is_numeric_dtype(s):
        return s.to_numpy(dtype=float)
    conv = pd.to_numeric(s, errors="coerce")
    bad = conv.isna() & s.notna() & (s.astype(str).str.strip() != "")
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(f"{role} column {col!r} is not numeric: value {s.iloc[i]!r} in row {i + 1}")
    return conv.to_numpy(dtype=float)


def _parse_quarters(vals: pd.Series) -> Optional[pd.Series]:
    s = vals.astype(str)
    m1 = s.str.extract(_Q1)
    if m1.notna().all().all():
        return pd.to_datetime(m1[1] + "-" + (m1[0].astype(int) * 3 - 2).astype(str).str.zfill(2) + "-01")
    m2 = s.str.extract(_Q2)
    if m2.notna().all().all():
        return pd.to_datetime(m2[0] + "-" + (m2[1].astype(int) * 3 - 2).astype(str).str.zfill(2) + "-01")
    return None


def time_keys(values: pd.Series, col: str) -> tuple[np.ndarray, str]:
    """Sortable keys for a time column: numbers stay numbers, dates and quarters become datetimes.

    Returns ``(keys, kind)`` with kind ``"number"`` or ``"date"``.
    """
    s = pd.Series(values).reset_index(drop=True)
    if s.isna().any():
        i = int(np.flatnonzero(s.isna().to_numpy())[0])
        raise ValueError(f"time column {col!r} has a missing value in row {i + 1}")
    if isinstance(s.dtype, pd.PeriodDtype):
        return s.dt.to_timestamp().to_numpy(dtype="datetime64[ns]"), "date"
    if pd.api.types.is_datetime64_any_dtype(s):
        if getattr(s.dt, "tz", None) is not None:
            s = s.dt.tz_localize(None)
        return s.to_numpy(dtype="datetime64[ns]"), "date"
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        return s.to_numpy(dtype=float), "number"
    if all(isinstance(v, pd.Period) for v in s):
        return pd.PeriodIndex(s).to_timestamp().to_numpy(dtype="datetime64[ns]"), "date"
    q = _parse_quarters(s)
    if q is not None:
        return q.to_numpy(dtype="datetime64[ns]"), "date"
    num = pd.to_numeric(s, errors="coerce")
    if num.notna().all():
        return num.to_numpy(dtype=float), "number"
    try:
        d = pd.to_datetime(s.astype(str), format="mixed")
        return d.to_numpy(dtype="datetime64[ns]"), "date"
    except (ValueError, TypeError):
        pass
    for i, v in enumerate(s):
        try:
            pd.Timestamp(str(v))
        except (ValueError, TypeError):
            raise ValueError(f"time column {col!r}: cannot read {v!r} (row {i + 1}) as a number, "
                             "a date or a quarter like Q32011") from None
    raise ValueError(f"time column {col!r}: cannot read its values as numbers, dates or quarters")


def time_value(value: Any, kind: str, what: str = "start"):
    """One user-given time (``start``, a first-treatment value) on the panel's time scale."""
    if kind == "number":
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{what} {value!r} is not a number like the panel's time column") from None
    if isinstance(value, pd.Period):
        return np.datetime64(value.to_timestamp(), "ns")
    q = _parse_quarters(pd.Series([value])) if isinstance(value, str) else None
    if q is not None:
        return q.to_numpy(dtype="datetime64[ns]")[0]
    try:
        return np.datetime64(pd.Timestamp(value), "ns")
    except (TypeError, ValueError):
        raise ValueError(f"{what} {value!r} is not a date like the panel's time column") from None


@dataclass(frozen=True, eq=False)
class Panel:
    """A balanced unit × time matrix with treatment timing.

    ``Y`` is N × T (NaN never: units with gaps are dropped and listed in ``notes``);
    ``cohort[i]`` is the index of unit i's first treated period, or ``NEVER``.
    """

    Y: np.ndarray
    units: np.ndarray
    times: np.ndarray           # sortable keys (float or datetime64)
    time_labels: list           # what the user's column held, for tables
    kind: str
    cohort: np.ndarray
    D: Optional[np.ndarray] = None    # N × T treatment status when given as a column
    notes: list = field(default_factory=list)
    outcome: str = "outcome"

    @property
    def n(self) -> int:
        return self.Y.shape[0]

    @property
    def T(self) -> int:
        return self.Y.shape[1]

    @property
    def treated(self) -> np.ndarray:
        return self.cohort != NEVER

    def label(self, t: int):
        lab = self.time_labels[t]
        return lab.item() if hasattr(lab, "item") else lab

    def status(self) -> np.ndarray:
        """N × T 0/1 treatment status (the given column, else ``t >= cohort``)."""
        if self.D is not None:
            return self.D
        tt = np.arange(self.T)[None, :]
        c = self.cohort[:, None]
        return ((c != NEVER) & (tt >= c)).astype(float)


def prepare(panel: pd.DataFrame, *, unit: str, time: str, outcome: str,
            treatment: Optional[str] = None, first_treat: Optional[str] = None,
            treated_units: Optional[Iterable] = None, start: Any = None,
            need_treatment: bool = True, absorbing: bool = True,
            extra_numeric: Sequence[str] = ()) -> Panel:
    """Validate the long panel and build :class:`Panel`.

    Treatment is given one of three ways: ``first_treat`` (a unit-level column with the first
    treated period; 0, empty or NaN = never), ``treatment`` (0/1 status per row; with ``start``
    it is read as a unit-level "treated" flag), or ``treated_units`` + ``start``.
    """
    require_columns(panel, {"unit": unit, "time": time, "outcome": outcome,
                            "treatment": treatment, "first-treatment": first_treat})
    for c in extra_numeric:
        require_columns(panel, {"control": c})
    df = panel[[c for c in dict.fromkeys([unit, time, outcome, treatment, first_treat]) if c]].copy()
    df = df.reset_index(drop=True)
    if df[unit].isna().any():
        i = int(np.flatnonzero(df[unit].isna().to_numpy())[0])
        raise ValueError(f"unit column {unit!r} has a missing value in row {i + 1}")
    y = numeric_column(df, outcome, "outcome")
    keys, kind = time_keys(df[time], time)
    dup = pd.DataFrame({"u": df[unit].to_numpy(), "t": keys}).duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise ValueError(f"duplicate row for unit {_py(df[unit].iloc[i])!r} at {time} {_py(df[time].iloc[i])!r} "
                         f"(row {i + 1}): one row per unit and period expected")
    ucodes, units = pd.factorize(df[unit], sort=True)
    tkeys, tcodes = np.unique(keys, return_inverse=True)
    # labels as in the user's column (first occurrence of each key)
    first = pd.Series(np.arange(len(df))).groupby(tcodes).first().to_numpy()
    labels = list(df[time].to_numpy()[first])
    N, T = len(units), len(tkeys)
    if T < 2:
        raise ValueError(f"time column {time!r} has {T} distinct period(s); at least 2 are needed")
    Y = np.full((N, T), np.nan)
    Y[ucodes, tcodes] = y
    notes: list[str] = []
    units = np.asarray(units, dtype=object)

    # treatment timing -------------------------------------------------------------------
    cohort = np.full(N, NEVER, dtype=int)
    D = None
    if first_treat is not None:
        ft = df.groupby(ucodes)[first_treat].agg(lambda s: s.iloc[0])
        nun = df.groupby(ucodes)[first_treat].nunique(dropna=False)
        if (nun > 1).any():
            bad = units[int(nun.index[np.flatnonzero(nun.to_numpy() > 1)[0]])]
            raise ValueError(f"first-treatment column {first_treat!r} changes within unit {bad!r}: "
                             "it must hold one value per unit")
        cohort = _cohorts_from_values(ft.reindex(range(N)).to_numpy(), tkeys, kind, first_treat, units)
    elif treatment is not None:
        d = numeric_column(df, treatment, "treatment")
        bad = ~np.isin(d[~np.isnan(d)], (0.0, 1.0))
        if bad.any():
            v = d[~np.isnan(d)][bad][0]
            raise ValueError(f"treatment column {treatment!r} must be 0/1, found {v!r}")
        Dm = np.zeros((N, T))
        Dm[ucodes, tcodes] = np.nan_to_num(d)
        if start is not None:
            s = time_value(start, kind)
            gi = _start_index(s, tkeys, time, labels)
            ever = Dm.max(axis=1) > 0
            cohort[ever] = gi
        else:
            ever = Dm.max(axis=1) > 0
            firsts = np.argmax(Dm > 0, axis=1)
            cohort[ever] = firsts[ever]
            D = Dm
            if absorbing:
                tt = np.arange(T)[None, :]
                after = (tt >= cohort[:, None]) & ever[:, None]
                off = after & (Dm == 0)
                if off.any():
                    bad = units[np.flatnonzero(off.any(axis=1))[:5]]
                    raise ValueError(f"treatment column {treatment!r} switches off again for units "
                                     f"{list(bad)}: this estimator needs treatment that stays on")
    elif treated_units is not None:
        tu = list(treated_units) if not isinstance(treated_units, (str, bytes)) else [treated_units]
        if start is None:
            raise ValueError("treated_units needs start= (the first treated period)")
        idx = _unit_index(units, tu, unit)
        s = time_value(start, kind)
        cohort[idx] = _start_index(s, tkeys, time, labels)
    elif need_treatment:
        raise ValueError("say who is treated: first_treat=COLUMN, treatment=COLUMN or treated_units=[...] with start=")

    early = (cohort == 0)
    if early.any():
        bad = list(units[np.flatnonzero(early)][:8])
        raise ValueError(f"units {bad} are treated from the first period ({labels[0]!r}) or before: "
                         "there is no pre-treatment period to compare with")

    # balance ------------------------------------------------------------------------------
    miss = np.isnan(Y).any(axis=1)
    if miss.all():
        raise ValueError(f"no unit has outcome {outcome!r} in every period")
    if miss.any():
        gone = units[miss]
        notes.append(f"{int(miss.sum())} unit(s) with missing periods dropped (e.g. {list(gone[:5])})")
        keep = ~miss
        if treated_units is not None and not (cohort[keep] != NEVER).any():
            raise ValueError(f"the treated units {list(gone[cohort[miss] != NEVER][:5])} have missing periods")
        Y, units, cohort = Y[keep], units[keep], cohort[keep]
        if D is not None:
            D = D[keep]
    return Panel(Y=Y, units=units, times=tkeys, time_labels=labels, kind=kind, cohort=cohort, D=D,
                 notes=notes, outcome=outcome)


def _py(v):
    return v.item() if isinstance(v, np.generic) else v


def _start_index(s, tkeys, time, labels) -> int:
    gi = int(np.searchsorted(tkeys, s, side="left"))
    if gi == 0:
        raise ValueError(f"start {_show(s)} is not after the first period {labels[0]!r} of column {time!r}: "
                         "there is no pre-treatment period")
    if gi >= len(tkeys):
        raise ValueError(f"start {_show(s)} is after the last period {labels[-1]!r} of column {time!r}: "
                         "there is no post-treatment period")
    return gi


def _show(s) -> str:
    if isinstance(s, np.datetime64):
        return str(pd.Timestamp(s).date())
    return repr(s)


def _unit_index(units: np.ndarray, wanted: list, col: str) -> np.ndarray:
    pos = {u: i for i, u in enumerate(units)}
    # allow "8001" for 8001 and the reverse
    spos = {str(u): i for i, u in enumerate(units)}
    idx, missing = [], []
    for w in wanted:
        if w in pos:
            idx.append(pos[w])
        elif str(w) in spos:
            idx.append(spos[str(w)])
        else:
            missing.append(w)
    if missing:
        raise ValueError(f"unit(s) {missing} not found in unit column {col!r}")
    if not idx:
        raise ValueError("treated_units is empty")
    return np.array(sorted(set(idx)), dtype=int)


def _cohorts_from_values(vals: np.ndarray, tkeys: np.ndarray, kind: str, col: str, units) -> np.ndarray:
    N = len(vals)
    out = np.full(N, NEVER, dtype=int)
    never = pd.isna(vals)
    keys = np.empty(N, dtype=tkeys.dtype)
    before = []
    for i, v in enumerate(vals):
        if never[i]:
            continue
        if isinstance(v, str) and v.strip().lower() in ("", "0", "never", "inf", "none", "nan"):
            never[i] = True
            continue
        if kind == "number":
            try:
                f = float(v)
            except (TypeError, ValueError):
                raise ValueError(f"first-treatment column {col!r}: {v!r} (unit {units[i]!r}) is not a period") from None
            if f == 0 or not np.isfinite(f):
                never[i] = True
                continue
            keys[i] = f
        else:
            if isinstance(v, (int, float, np.integer, np.floating)) and (v == 0 or not np.isfinite(v)):
                never[i] = True
                continue
            keys[i] = time_value(v, kind, f"first-treatment value (unit {units[i]!r})")
    idx = np.flatnonzero(~never)
    if len(idx):
        k = keys[idx]
        pos = np.searchsorted(tkeys, k, side="left")
        strictly_before = k < tkeys[0]
        if strictly_before.any():
            before = list(np.asarray(units)[idx[strictly_before]][:8])
            raise ValueError(f"first-treatment column {col!r}: units {before} are treated before the panel "
                             f"starts ({_show(tkeys[0])}): no pre-treatment period")
        inside = pos < len(tkeys)
        out[idx[inside]] = pos[inside]
    return out


def wide_frame(P: Panel) -> pd.DataFrame:
    return pd.DataFrame(P.Y, index=P.units, columns=P.time_labels)
