"""Per-account and per-unit measures: account count, revenue, orders, customers, potential, workload.

Pure functions over DataFrames (no I/O except reading a YAML profile the caller names).
Aggregation to units is a weighted bincount over the unit position of each record, so it is
linear in the number of accounts and orders.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import yaml

#: The standard measures, in display order.
MEASURE_NAMES = ("account_count", "revenue", "order_count", "customers", "potential", "workload")

__all__ = [
    "MEASURE_NAMES",
    "WorkloadProfile",
    "load_profile",
    "account_workload",
    "planned_visits",
    "unit_measures",
]


@dataclass(frozen=True)
class WorkloadProfile:
    """Visits per year by tier, minutes per visit by segment, travel minutes per visit."""

    visits_per_year: Mapping[str, float] = field(
        default_factory=lambda: {"A": 6, "B": 3, "C": 1.5, "default": 1}
    )
    prospect_visits_per_year: float = 0.5
    minutes_per_visit: Mapping[str, float] = field(
        default_factory=lambda: {"Enterprise": 120, "Mid-Market": 75, "SMB": 45, "default": 60}
    )
    segment_factor: Mapping[str, float] = field(default_factory=lambda: {"default": 1.0})
    travel_minutes: float = 35.0

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any]) -> "WorkloadProfile":
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(m) - known
        if unknown:
            raise ValueError(
                f"unknown workload profile keys: {', '.join(sorted(unknown))}; "
                f"allowed: {', '.join(sorted(known))}"
            )
        base = cls()
        kw: dict[str, Any] = {}
        for k in known:
            if k not in m:
                continue
            v = m[k]
            if isinstance(getattr(base, k), Mapping):
                if not isinstance(v, Mapping):
                    raise ValueError(f"workload profile key {k!r} must be a mapping")
                merged = dict(getattr(base, k))
                merged.update({str(a): float(b) for a, b in v.items()})
                kw[k] = merged
            else:
                kw[k] = float(v)
        for k, v in kw.items():
            vals = v.values() if isinstance(v, Mapping) else [v]
            if any(x < 0 for x in vals):
                raise ValueError(f"workload profile key {k!r} has a negative value")
        return cls(**kw)


def load_profile(path: str | Path | None = None) -> WorkloadProfile:
    """The workload profile from ``path`` (YAML), or the packaged default."""
    if path is None:
        text = resources.files("territorium.profiles").joinpath("workload.yaml").read_text()
        src = "default profile"
    else:
        p = Path(path)
        if not p.exists():
            raise FileNotFoundError(f"workload profile not found: {p}")
        text = p.read_text(encoding="utf-8")
        src = str(p)
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{src}: not valid YAML: {exc}") from None
    if not isinstance(data, Mapping):
        raise ValueError(f"{src}: expected a mapping of profile keys")
    return WorkloadProfile.from_mapping(data)


def _lookup(values: pd.Series, table: Mapping[str, float]) -> np.ndarray:
    """``table[value]`` per row (vectorised), ``table["default"]`` for missing or unknown values."""
    default = float(table.get("default", 0.0))
    known = {str(k): float(v) for k, v in table.items()}
    return pd.Series(values).astype("string").map(known).astype("float64").fillna(default).to_numpy()


def account_workload(accounts: pd.DataFrame, profile: WorkloadProfile | None = None) -> np.ndarray:
    """Hours per year each account costs, from its tier, segment and type.

    >>> a = pd.DataFrame({"tier": ["A", "C"], "segment": ["SMB", "Enterprise"],
    ...                   "account_type": ["Customer - Direct", "Prospect"]})
    >>> account_workload(a).round(2).tolist()   # 6*(45+35)/60, 0.5*(120+35)/60
    [8.0, 1.29]
    """
    p = profile or WorkloadProfile()
    seg = accounts["segment"] if "segment" in accounts else pd.Series([None] * len(accounts))
    minutes = _lookup(seg, p.minutes_per_visit) + p.travel_minutes
    return planned_visits(accounts, p) * minutes / 60.0


def planned_visits(accounts: pd.DataFrame, profile: WorkloadProfile | None = None) -> np.ndarray:
    """Visits per year the profile plans for each account: the tier's rate (prospects at the
    prospect rate) times the segment factor. The one definition behind the workload measure,
    the KPI coverage and the visit goals of quotas.

    >>> a = pd.DataFrame({"tier": ["A", None], "account_type": ["Customer", "Prospect"]})
    >>> planned_visits(a).tolist()
    [6.0, 0.5]
    """
    p = profile or WorkloadProfile()
    n = len(accounts)
    tier = accounts["tier"] if "tier" in accounts else pd.Series([None] * n)
    seg = accounts["segment"] if "segment" in accounts else pd.Series([None] * n)
    visits = _lookup(tier, p.visits_per_year)
    if "account_type" in accounts:
        prospect = accounts["account_type"].astype("string").str.contains("prospect", case=False, na=False)
        visits = np.where(prospect.to_numpy(), p.prospect_visits_per_year, visits)
    return visits * _lookup(seg, p.segment_factor)


def _bincount(pos: np.ndarray, n: int, weights: np.ndarray | None = None) -> np.ndarray:
    pos = np.asarray(pos, dtype=np.int64)
    ok = pos >= 0
    w = None if weights is None else np.nan_to_num(np.asarray(weights, dtype=np.float64)[ok])
    return np.bincount(pos[ok], weights=w, minlength=n).astype(np.float64)


def unit_measures(
    n_units: int,
    *,
    accounts: pd.DataFrame,
    account_unit: np.ndarray,
    orders: pd.DataFrame | None = None,
    order_unit: np.ndarray | None = None,
    profile: WorkloadProfile | None = None,
    extra: tuple[str, ...] = (),
) -> pd.DataFrame:
    """Aggregate measures to ``n_units`` units.

    Parameters
    ----------
    accounts : DataFrame
        Canonical accounts (``potential``, ``tier``, ``segment``, ``account_type`` used).
    account_unit : array of int
        Unit position of each account row (-1 = not placed; not counted).
    orders : DataFrame, optional
        Orders already restricted to the revenue window, with ``total`` and ``customer``
        (any hashable id of the buyer); one row per order, or pre-aggregated rows with an
        ``orders`` column giving how many orders each row stands for.
    order_unit : array of int
        Unit position of each order (-1 = not placed).
    extra : names of numeric account columns to sum as additional measures.

    Returns
    -------
    DataFrame with ``n_units`` rows and columns account_count, revenue, order_count,
    customers, potential, workload and each of ``extra``.

    >>> acc = pd.DataFrame({"potential": [10.0, 5.0, 1.0], "tier": ["A", "B", "C"]})
    >>> m = unit_measures(2, accounts=acc, account_unit=np.array([0, 1, 1]))
    >>> m["account_count"].tolist(), m["potential"].tolist()
    ([1.0, 2.0], [10.0, 6.0])
    """
    account_unit = np.asarray(account_unit, dtype=np.int64)
    if len(account_unit) != len(accounts):
        raise ValueError("account_unit must have one entry per account")
    out = pd.DataFrame(index=pd.RangeIndex(n_units))
    out["account_count"] = _bincount(account_unit, n_units)
    pot = accounts["potential"].to_numpy(dtype=np.float64, na_value=np.nan) if "potential" in accounts else np.zeros(len(accounts))
    out["potential"] = _bincount(account_unit, n_units, pot)
    out["workload"] = _bincount(account_unit, n_units, account_workload(accounts, profile))
    if orders is not None and len(orders):
        order_unit = np.asarray(order_unit, dtype=np.int64)
        if len(order_unit) != len(orders):
            raise ValueError("order_unit must have one entry per order")
        out["revenue"] = _bincount(order_unit, n_units, orders["total"].to_numpy(dtype=np.float64, na_value=0.0))
        counts = orders["orders"].to_numpy(dtype=np.float64) if "orders" in orders else None
        out["order_count"] = _bincount(order_unit, n_units, counts)
        ok = order_unit >= 0
        pairs = pd.DataFrame({"u": order_unit[ok], "c": orders["customer"].to_numpy()[ok]}).drop_duplicates()
        out["customers"] = _bincount(pairs["u"].to_numpy(), n_units)
    else:
        out["revenue"] = 0.0
        out["order_count"] = 0.0
        out["customers"] = 0.0
    for col in extra:
        if col not in accounts:
            raise KeyError(f"extra measure {col!r} is not an account column")
        vals = pd.to_numeric(accounts[col], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        out[col] = _bincount(account_unit, n_units, vals)
    return out[["account_count", "revenue", "order_count", "customers", "potential", "workload", *extra]]
