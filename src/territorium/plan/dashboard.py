"""KPI dashboards of a stored plan: commerce and field-sales KPIs per territory or rep, per
period and over the whole window, for the web app's dashboard (``GET /api/plans/{name}/kpis``).

The plan (its alignment and staffing at one version) is written to a temporary folder and
placed with :func:`territorium.plan.kpis.place`, so the figures are the ones ``territorium
kpi`` computes from the same files (docs/kpis.md has every formula). The placed data of a plan
version is kept in a small cache (:class:`KpiCache`): a dashboard request then only groups.
"""
from __future__ import annotations

import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from territorium.plan.kpis import KpiJobError, PlacedData, commerce_table, field_table, place

__all__ = ["DASHBOARD_KPIS", "BY", "Dashboard", "KpiCache", "placed_plan", "dashboard"]

#: group kinds a dashboard is drawn for
BY = ("territory", "rep")
#: the KPI columns a dashboard carries (docs/kpis.md); counts first, then rates
DASHBOARD_KPIS = ("revenue", "orders", "aov", "customers", "new_customers", "repeat_purchase_rate", "refund_rate",
                  "pipeline", "won_amount", "closed_deals", "won_deals", "win_rate", "visits", "coverage", "load")


@dataclass(frozen=True)
class Dashboard:
    """``series``: one row per group and period; ``totals``: one row per group over the window
    ``[start, end)`` (period ``all``). Both carry ``group`` and the columns of
    :data:`DASHBOARD_KPIS` that the workspace's data gives."""

    series: pd.DataFrame
    totals: pd.DataFrame
    start: pd.Timestamp
    end: pd.Timestamp
    notes: tuple[str, ...]


def placed_plan(eng, name: str, version: int | None = None) -> PlacedData:
    """Every order, deal and visit placed in the stored plan ``name`` (at ``version``)."""
    from territorium.plan import plans
    from territorium.plan.workspace import Workspace

    info = plans.get_plan(eng, name)
    ws = Workspace(engine=eng)
    with tempfile.TemporaryDirectory(prefix="territorium-dashboard-") as tmp:
        files = plans.export_plan(eng, name, Path(tmp), version=version)
        staff = pd.read_csv(files["staffing"], dtype=str)
        reps = set(staff["rep_id"].dropna())
        known = set(ws.table("reps")["rep_id"].astype(str)) if reps else set()
        # a plan staffed with reps the workspace does not know keeps the imported owners
        assignment = (files["staffing"],) if reps and reps <= known else ()
        data = place(ws, alignment=files["alignment"], assignment=assignment, level=info.unit_level)
    if not assignment and reps:
        data.notes.append(f"the plan's reps {', '.join(sorted(reps - known)[:5])} are not in the imported reps; "
                          "orders keep their imported owners")
    return data


def _merge(c: pd.DataFrame | None, f: pd.DataFrame | None, by: str) -> pd.DataFrame:
    parts = [x for x in (c, f) if x is not None]
    if not parts:
        return pd.DataFrame(columns=["group", "period"])
    on = [by, "period"] if all("period" in x.columns for x in parts) else [by]
    parts = [x if "period" in on else x.drop(columns="period", errors="ignore") for x in parts]
    out = parts[0]
    for x in parts[1:]:
        out = out.merge(x, on=on, how="outer")
    out = out.rename(columns={by: "group"})
    out["group"] = out["group"].astype(object).where(out["group"].notna(), None)
    keep = ["group", *(["period"] if "period" in out.columns else []), *[k for k in DASHBOARD_KPIS if k in out.columns]]
    return out[keep].sort_values(keep[:2 if "period" in keep else 1], na_position="last").reset_index(drop=True)


def dashboard(data: PlacedData, *, by: str = "territory", period: str = "month", start=None,
              end=None) -> Dashboard:
    """The dashboard's tables from placed data; the window defaults to the last twelve complete
    months before the last order's month (``[end - 1 year, end)``, ``end`` = the first day of
    the last order's month)."""
    if by not in BY:
        raise KpiJobError(f"by: {by!r} is not one of {', '.join(BY)}")
    if data.data_end is None and end is None:
        raise KpiJobError("no orders imported: give the window's end")
    end = pd.Timestamp(end) if end is not None else (data.data_end - pd.Timedelta(days=1)).to_period("M").start_time
    start = pd.Timestamp(start) if start is not None else end - pd.DateOffset(years=1)
    if start >= end:
        raise KpiJobError(f"start {start:%Y-%m-%d} is not before end {end:%Y-%m-%d}")
    series = _merge(commerce_table(data, [by], period, start, end), field_table(data, [by], period, start, end), by)
    totals = _merge(commerce_table(data, [by], "all", start, end), field_table(data, [by], "all", start, end), by)
    totals = totals.drop(columns="period", errors="ignore")
    return Dashboard(series, totals, start, end, tuple(data.notes))


class KpiCache:
    """Placed data per (plan id, version), the ``size`` most recent kept; one build at a time
    per key, so two dashboards of one plan opened at once place it once."""

    def __init__(self, size: int = 4):
        self.size = size
        self._items: OrderedDict[tuple, PlacedData] = OrderedDict()
        self._lock = threading.Lock()
        self._building: dict[tuple, threading.Lock] = {}

    def get(self, key: tuple, build) -> PlacedData:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            lock = self._building.setdefault(key, threading.Lock())
        with lock:
            with self._lock:
                if key in self._items:
                    return self._items[key]
            data = build()
            with self._lock:
                self._items[key] = data
                self._building.pop(key, None)
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
            return data


def records(df: pd.DataFrame) -> list[dict]:
    """JSON-ready rows: NaN and infinities as None, periods as ISO dates."""
    out = df.copy()
    if "period" in out.columns:
        out["period"] = pd.to_datetime(out["period"]).dt.strftime("%Y-%m-%d")
    num = out.select_dtypes("number").columns
    out[num] = out[num].astype(float).replace([np.inf, -np.inf], np.nan)
    return [{k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()}
            for r in out.to_dict("records")]
