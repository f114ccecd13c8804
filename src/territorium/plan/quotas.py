"""Quota job: territory history and potential from the workspace, the pure allocation, files.

For an alignment (a design output or the imported one) this measures every territory over
the last 12 months (sales S, potential P, workload, accounts) and the 12 months before, then

- allocates the company number top-down (:func:`territorium.analytics.quota.allocate`) with
  growth caps/floors relative to last year's sales and rounding that keeps the total;
- splits each quota into months by the seasonality learnt from all orders;
- optionally backtests the weights (last year's quota from the year before, scored on what
  happened) and sets the other goals (visits, new accounts, conversion rate, AOV);
- rolls quotas (and attainment) up the hierarchy.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from territorium.analytics import quota as Q

__all__ = ["QuotaJobError", "QuotaJob", "QuotaRun", "parse_growth", "territory_history", "run_quota",
           "write_quota", "DEFAULT_WEIGHTS"]

DEFAULT_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


class QuotaJobError(Exception):
    """A problem with the quota inputs (message written for the user)."""


def parse_growth(text: str | None, what: str) -> float | None:
    """``"+30%"`` → 0.30, ``"-10%"`` → -0.10, ``"0.3"`` → 0.3 (numbers beyond ±1 read as percent).

    >>> parse_growth("+30%", "--cap"), parse_growth("-10%", "--floor"), parse_growth("0.25", "--cap")
    (0.3, -0.1, 0.25)
    """
    if text is None or str(text).strip() == "":
        return None
    s = str(text).strip()
    pct = s.endswith("%")
    try:
        v = float(s.rstrip("%").strip())
    except ValueError:
        raise QuotaJobError(f"{what}: {text!r} is not a number or percentage (e.g. +30% or -10%)") from None
    if pct or abs(v) > 1:
        v /= 100.0
    if v < -1:
        raise QuotaJobError(f"{what}: {text!r} is below -100%")
    return v


@dataclass
class QuotaJob:
    total: float | None = None          # company number; None: last 12 months × (1 + growth)
    growth: float = 0.10
    weight: float = 0.5
    cap: float | None = None
    floor: float | None = None
    round_to: float | None = 1000.0
    backtest: bool = False
    weights: Sequence[float] = DEFAULT_WEIGHTS
    goals: bool = True
    smoothing: float = 0.2
    alignment: Path | None = None
    level: str = "zip"
    hierarchy: str | None = "state"
    asof: dt.date | None = None


@dataclass
class QuotaRun:
    territories: pd.DataFrame          # per territory: history, potential, ..., quota
    allocation: Q.Allocation
    monthly: pd.DataFrame
    season: Q.Seasonality | None
    backtest: Q.Backtest | None = None
    goals: pd.DataFrame | None = None
    rollup: pd.DataFrame | None = None
    window: tuple = ()
    notes: list[str] = field(default_factory=list)


def territory_history(ws, job: QuotaJob, load=None) -> tuple[pd.DataFrame, dict]:
    """Per territory: sales this year and last year, potential, workload, accounts, plus the
    per-account frame and windows (used by the goals)."""
    from territorium.plan.exporting import ExportError, align_units
    from territorium.plan.workspace import WorkspaceError

    try:
        load = load or ws.load_units(job.level, asof=job.asof)
        units = load.units
        cur, labels, notes = align_units(ws, units, job.alignment)
        start, end = load.window
        prev = ws.load_units(job.level, asof=start.date())
    except (WorkspaceError, ExportError) as exc:
        raise QuotaJobError(str(exc)) from None
    k = len(labels)
    if prev.units.n != units.n:
        raise QuotaJobError("the unit set changed between the two years")  # pragma: no cover
    t = pd.DataFrame({"territory": labels})
    t["sales"] = np.bincount(cur, units.measure("revenue"), k)
    t["sales_prev"] = np.bincount(cur, prev.units.measure("revenue"), k)
    for m in ("potential", "workload", "account_count", "order_count"):
        t[m] = np.bincount(cur, units.measure(m), k)
    acc = load.accounts.copy()
    upos = acc["unit"].to_numpy(dtype=np.int64)
    unit_terr = np.asarray(labels, dtype=object)[cur]
    acc["territory"] = np.where(upos >= 0, unit_terr[np.maximum(upos, 0)], None)
    info = {"accounts": acc, "window": (start, end), "prev_window": prev.window, "notes": list(load.notes) + notes,
            "cur": cur, "units": units}
    return t, info


def _goals(ws, t: pd.DataFrame, info: dict, job: QuotaJob) -> pd.DataFrame:
    """Visits, new accounts, conversion rate and AOV goals per territory."""
    from territorium.measures import load_profile, planned_visits

    acc = info["accounts"]
    start, end = info["window"]
    terr_of = dict(zip(acc["account_id"].astype(str), acc["territory"]))
    labels = t["territory"].tolist()
    g = pd.DataFrame({"territory": labels})
    # visits: history = completed visits in the last 12 months; driver = visits the profile plans
    act = ws.table("activities")
    prof = load_profile(None)
    planned = pd.Series(planned_visits(acc, prof), index=acc.index)
    pv = planned.groupby(acc["territory"]).sum().reindex(labels).fillna(0.0)
    if len(act):
        a = act[(act["type"].astype(str).str.lower() == "visit")]
        d = pd.to_datetime(a["date"], errors="coerce")
        a = a[(d >= pd.Timestamp(start)) & (d < pd.Timestamp(end))]
        hv = a["account_id"].astype(str).map(terr_of).value_counts().reindex(labels).fillna(0.0)
    else:
        hv = pd.Series(0.0, index=labels)
    total_visits = float(round(hv.sum() * (1 + job.growth)))
    w = job.weight
    if hv.sum() > 0 and pv.sum() > 0:
        g["visits_last_12m"] = hv.to_numpy()
        g["visits_goal"] = Q.allocate(total_visits, hv.to_numpy(), pv.to_numpy(), w, round_to=1).quota
    # new accounts: history = first order in the window; driver = prospects
    first = _first_order(ws, end)
    if first is not None and len(first):
        new_ids = first[(first >= pd.Timestamp(start)) & (first < pd.Timestamp(end))].index.astype(str)
        hn = pd.Series([terr_of.get(i) for i in new_ids]).value_counts().reindex(labels).fillna(0.0)
        prospects = acc[acc["account_type"].fillna("").str.contains("prospect", case=False)]
        pn = prospects["territory"].value_counts().reindex(labels).fillna(0.0)
        total_new = float(round(hn.sum() * (1 + job.growth)))
        if hn.sum() > 0 and pn.sum() > 0:
            g["new_accounts_last_12m"] = hn.to_numpy()
            g["new_accounts_goal"] = Q.allocate(total_new, hn.to_numpy(), pn.to_numpy(), w, round_to=1).quota
    # conversion rate: won / closed opportunities closed in the window
    opp = ws.table("opportunities")
    if len(opp):
        cd = pd.to_datetime(opp["close_date"], errors="coerce")
        o = opp[opp["is_closed"].fillna(False).astype(bool) & (cd >= pd.Timestamp(start)) & (cd < pd.Timestamp(end))]
        o = o.assign(territory=o["account_id"].astype(str).map(terr_of))
        closed = o.groupby("territory").size().reindex(labels).fillna(0.0)
        won = o[o["is_won"].fillna(False).astype(bool)].groupby("territory").size().reindex(labels).fillna(0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            hist = np.where(closed > 0, won / closed, np.nan)
        if closed.sum() > 0:
            target = float(won.sum() / closed.sum())
            g["conversion_last_12m"] = hist
            g["conversion_goal"] = Q.rate_goals(target, hist, closed.to_numpy(), w)
    # AOV: sales / orders in the window (orders placed in the territory's units)
    with np.errstate(invalid="ignore", divide="ignore"):
        aov = np.where(t["order_count"] > 0, t["sales"] / t["order_count"], np.nan)
    if t["order_count"].sum() > 0:
        target = float(t["sales"].sum() / t["order_count"].sum())
        g["aov_last_12m"] = aov
        g["aov_goal"] = Q.rate_goals(target, aov, t["order_count"].to_numpy(), w)
    return g


def _first_order(ws, end) -> pd.Series | None:
    import sqlalchemy as sa

    sql = sa.text("SELECT account_id, MIN(created_at) FROM orders WHERE account_id IS NOT NULL "
                  "AND created_at < :end GROUP BY account_id")
    with ws.engine.connect() as c:
        rows = c.execute(sql, {"end": end}).fetchall()
    if not rows:
        return None
    return pd.Series([pd.Timestamp(r[1]) for r in rows], index=[str(r[0]) for r in rows])


def _order_history(ws) -> pd.DataFrame:
    import sqlalchemy as sa

    from territorium.store.db import rows_frame

    # pending orders count here (placed, payment not due yet): leaving them out would make the
    # last month of a business with payment terms look like a slump
    sql = sa.text("SELECT created_at, total FROM orders WHERE financial_status IS NULL "
                  "OR financial_status IN ('paid', 'partially_refunded', 'pending')")
    with ws.engine.connect() as c:
        rows = c.execute(sql).fetchall()
    return rows_frame(rows, ["created_at", "total"])


def run_quota(ws, job: QuotaJob, *, load=None, progress=None) -> QuotaRun:
    """Allocate, split by month, and (optionally) backtest and set the other goals."""
    from territorium.plan.exporting import ExportError, plan_hierarchy

    say = progress or (lambda msg: None)
    say("measuring territories (this year and last year)")
    t, info = territory_history(ws, job, load)
    notes = list(info["notes"])
    total = job.total
    if total is None:
        total = float(t["sales"].sum() * (1 + job.growth))
        if job.round_to:
            total = float(round(total / job.round_to) * job.round_to)
        notes.append(f"company number = last 12 months' sales {t['sales'].sum():,.0f} × (1 + {job.growth:.0%}) "
                     f"= {total:,.0f}")
    try:
        al = Q.allocate(total, t["sales"].to_numpy(), t["potential"].to_numpy(), job.weight, last=t["sales"].to_numpy(),
                        cap=job.cap, floor=job.floor, round_to=job.round_to)
    except Q.QuotaError as exc:
        raise QuotaJobError(str(exc)) from None
    notes += list(al.notes)
    fr = al.frame(t["territory"].tolist(), last=t["sales"].to_numpy())
    t = t.merge(fr.drop(columns=["last_period"]), on="territory")
    say("learning seasonality from the orders")
    season = None
    try:
        oh = _order_history(ws)
        season = Q.seasonality(oh["created_at"], oh["total"], smoothing=job.smoothing)
        monthly = Q.monthly_split(al.quota, season, ids=t["territory"].tolist(), unit=job.round_to,
                                  start_month=info["window"][1].month)
    except Q.QuotaError as exc:
        notes.append(f"no monthly split: {exc}")
        monthly = pd.DataFrame({"territory": t["territory"]})
    run = QuotaRun(t, al, monthly, season, window=info["window"], notes=notes)
    if job.backtest:
        say("backtesting the weights")
        try:
            run.backtest = Q.backtest(t["sales_prev"].to_numpy(), t["potential"].to_numpy(), t["sales"].to_numpy(),
                                      weights=job.weights, cap=job.cap, floor=job.floor, ids=t["territory"].tolist())
        except Q.QuotaError as exc:
            notes.append(f"backtest impossible: {exc}")
    if job.goals:
        say("setting visit, new-account, conversion and AOV goals")
        run.goals = _goals(ws, t, info, job)
    if job.hierarchy and str(job.hierarchy).lower() != "none":
        tt = t.rename(columns={"territory": "territory_id"})
        st = info["accounts"].dropna(subset=["territory"]).groupby("territory")["state"].agg(
            lambda s: s.value_counts().index[0] if s.notna().any() else None)
        tt["main_state"] = tt["territory_id"].map(st)
        adj = xy = None
        if str(job.hierarchy).lower().startswith("adjacency"):
            units, cur = info["units"], info["cur"]
            e = units.adjacency.edges()
            te = np.column_stack([cur[e[:, 0]], cur[e[:, 1]]])
            adj = np.unique(np.sort(te[te[:, 0] != te[:, 1]], axis=1), axis=0)
            n = np.bincount(cur, minlength=len(tt))
            xy = np.column_stack([np.bincount(cur, units.table["x"], len(tt)),
                                  np.bincount(cur, units.table["y"], len(tt))]) / np.maximum(n, 1)[:, None]
        try:
            h = plan_hierarchy(job.hierarchy, tt, adjacency=adj, xy=xy)
        except ExportError as exc:
            raise QuotaJobError(str(exc)) from None
        vals = t.set_index("territory")[["sales", "sales_prev", "potential", "quota"]].copy()
        how = {"growth": ("ratio", "quota", "sales")}
        vals["growth"] = 0.0
        run.rollup = h.rollup(vals, how)
        run.rollup["growth"] = run.rollup["growth"] - 1
    return run


def write_quota(run: QuotaRun, out: Path) -> list[Path]:
    """``out`` (per territory), ``<stem>_monthly.csv``, and when present ``_backtest.csv``,
    ``_goals.csv`` and ``_rollup.csv``."""
    from territorium.plan.exporting import _write_csv

    out = Path(out)
    cols = ["territory", "sales_prev", "sales", "potential", "share", "unbounded", "quota", "floor", "cap", "bound",
            "growth", "workload", "account_count"]
    t = run.territories[[c for c in cols if c in run.territories.columns]].rename(
        columns={"sales": "sales_last_12m", "sales_prev": "sales_prior_12m"})
    files = [_write_csv(t.replace([np.inf], np.nan), out)]
    stem = out.stem
    files.append(_write_csv(run.monthly, out.with_name(stem + "_monthly.csv")))
    if run.backtest is not None:
        files.append(_write_csv(run.backtest.table, out.with_name(stem + "_backtest.csv")))
    if run.goals is not None:
        files.append(_write_csv(run.goals, out.with_name(stem + "_goals.csv")))
    if run.rollup is not None:
        files.append(_write_csv(run.rollup.reset_index(), out.with_name(stem + "_rollup.csv")))
    return files
