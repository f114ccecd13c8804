"""KPI job: the workspace's orders, deals and visits, placed in the plan, through ``analytics.kpi``.

Every order, opportunity and visit takes its groups (territory, rep, state, country, segment,
industry, account type, tier) from its account in the plan (alignment + assignment, as the
exports build it); an order without an account takes the territory of its shipping ZIP and
the state and country it was shipped to. The heavy lifting (grouping millions of rows) is
DuckDB's, in :mod:`territorium.analytics.kpi`.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import sqlalchemy as sa

from territorium.analytics import kpi as K

__all__ = ["KpiJob", "KpiRun", "KpiJobError", "GROUPS", "run_kpis", "write_kpis"]

#: Group names a user may ask for, and the plan column each reads.
GROUPS = {
    "territory": "territory_id", "rep": "owner_id", "state": "state", "country": "country",
    "segment": "segment", "industry": "industry", "account_type": "account_type", "tier": "tier",
}


class KpiJobError(Exception):
    """A KPI job the user must fix (message written for the user)."""


@dataclass(frozen=True)
class KpiJob:
    by: tuple[str, ...] = ("territory",)
    period: str = "month"
    start: dt.date | None = None
    end: dt.date | None = None
    alignment: Path | None = None
    assignment: tuple[Path, ...] = ()
    quotas: Path | None = None
    level: str = "zip"


@dataclass
class KpiRun:
    commerce: pd.DataFrame | None = None
    field_sales: pd.DataFrame | None = None
    balance: pd.DataFrame | None = None
    capacity: pd.DataFrame | None = None
    attainment: pd.DataFrame | None = None
    data_end: pd.Timestamp | None = None  # the day after the last order
    notes: list[str] = field(default_factory=list)


def _orders(ws) -> pd.DataFrame:
    sql = sa.text(
        "SELECT o.order_id, o.account_id, COALESCE(o.customer_id, o.customer_email) AS customer, "
        "o.created_at, o.total, o.subtotal, o.discounts, o.financial_status, o.shipping_zip, "
        "o.shipping_state, o.shipping_country, l.units "
        "FROM orders o LEFT JOIN (SELECT order_id, SUM(quantity) AS units FROM order_lines "
        "GROUP BY order_id) l ON l.order_id = o.order_id")
    with ws.engine.connect() as c:
        df = pd.read_sql(sql, c)
    for col in ("total", "subtotal", "discounts", "units"):
        df[col] = pd.to_numeric(df[col], errors="coerce")
    df["created_at"] = pd.to_datetime(df["created_at"])
    return df


def run_kpis(ws, job: KpiJob, *, progress=None) -> KpiRun:
    """Commerce, field-sales and plan-health KPIs of the plan for the job's groups and period."""
    from territorium.geo import locate
    from territorium.measures import load_profile
    from territorium.plan.exporting import ExportError, build_plan
    from territorium.plan.workspace import WorkspaceError

    say = progress or (lambda msg: None)
    unknown = [b for b in job.by if b not in GROUPS]
    if unknown:
        raise KpiJobError(f"unknown group {', '.join(unknown)}; use {', '.join(GROUPS)}")
    if job.period not in K.PERIODS:
        raise KpiJobError(f"unknown period {job.period!r}; use {', '.join(K.PERIODS)}")
    say("placing accounts in the plan")
    try:
        load = ws.load_units(job.level)
        plan = build_plan(ws, alignment=job.alignment, assignment=list(job.assignment) or None,
                          level=job.level, load=load, hierarchy=None)
    except (WorkspaceError, ExportError) as exc:
        raise KpiJobError(str(exc)) from None
    run = KpiRun(notes=list(plan.notes))
    cols = [GROUPS[b] for b in job.by]
    acc = plan.accounts.copy()
    acc["account_id"] = acc["account_id"].astype(str)
    for c in set(GROUPS.values()) - set(acc.columns):
        acc[c] = None
    acc_groups = acc.set_index("account_id")[list(dict.fromkeys(GROUPS.values()))]
    terr_rep = dict(zip(plan.territories["territory_id"].astype(str), plan.territories["rep_id"]))

    say("reading orders")
    o = _orders(ws)
    if len(o):
        run.data_end = o["created_at"].max().normalize() + pd.Timedelta(days=1)
        g = o[["account_id"]].join(acc_groups, on="account_id")
        no_acc = g["territory_id"].isna()
        if no_acc.any():
            pos = locate(load.units, zips=o.loc[no_acc, "shipping_zip"].to_numpy(dtype=object))
            unit_terr = plan.units["territory"].astype(str).to_numpy(dtype=object)
            g.loc[no_acc, "territory_id"] = np.where(pos >= 0, unit_terr[np.maximum(pos, 0)], None)
            g.loc[no_acc, "owner_id"] = g.loc[no_acc, "territory_id"].map(terr_rep)
            g.loc[no_acc, "state"] = o.loc[no_acc, "shipping_state"]
            g.loc[no_acc, "country"] = o.loc[no_acc, "shipping_country"]
        o = pd.concat([o.drop(columns=[c for c in GROUPS.values() if c in o.columns]),
                       g.drop(columns="account_id")], axis=1)
        outside = int(o["territory_id"].isna().sum())
        if outside and "territory_id" in cols:
            run.notes.append(f"{outside} orders are outside every territory (no account, shipping ZIP outside "
                             "the unit set); they are reported under an empty territory")
        say(f"aggregating {len(o):,} orders")
        run.commerce = _named(K.commerce(o, by=cols, period=job.period, start=job.start, end=job.end), job.by)

    say("deals and visits")
    opp = ws.table("opportunities")
    act = ws.table("activities")
    visits = None
    if len(act):
        a = act[(act["type"].astype(str).str.lower() == "visit")
                & (act["status"].fillna("completed").astype(str).str.lower() == "completed")].copy()
        a["account_id"] = a["account_id"].astype(str)
        visits = a[["date", "account_id", "rep_id"]].join(acc_groups, on="account_id")
    if len(opp):
        opp = opp.assign(account_id=opp["account_id"].astype(str))
        keep = [c for c in ("amount", "close_date", "is_closed", "is_won", "created_date") if c in opp.columns]
        opp = opp[["account_id", *keep]].join(acc_groups, on="account_id")
    prof = load_profile(None)
    from territorium.measures import _lookup  # planned visits per year, as the workload profile has them

    tier = acc["tier"].fillna("default").astype(str).to_numpy(dtype=object)
    planned = _lookup(tier, prof.visits_per_year)
    prospect = acc["account_type"].astype("string").str.contains("prospect", case=False, na=False).to_numpy()
    acc_plan = acc.assign(visits_per_year=np.where(prospect, prof.prospect_visits_per_year, planned))
    if (opp is not None and len(opp)) or (visits is not None and len(visits)):
        run.field_sales = _named(K.field_sales(
            opportunities=opp if len(opp) else None, visits=visits, accounts=acc_plan, by=cols,
            period=job.period, start=job.start, end=job.end), job.by)
        if "created_date" not in opp.columns:
            run.notes.append("sales cycle needs the opportunities' created date, which this import does not keep")

    say("plan health")
    tt = plan.territories
    meas = [m for m in ("account_count", "revenue", "order_count", "customers", "potential", "workload")
            if m in tt.columns]
    run.balance = K.balance_indices(tt[meas])
    reps = ws.table("reps")
    if len(reps) and "capacity_hours" in reps.columns:
        cap = dict(zip(reps["rep_id"].astype(str), pd.to_numeric(reps["capacity_hours"], errors="coerce")))
        reps_of = plan.territory_reps()
        rows = []
        for t, wl in zip(tt["territory_id"].astype(str), tt["workload"]):
            rr = reps_of.get(t, [])
            c = float(np.nansum([cap.get(r, np.nan) for r in rr])) if rr else np.nan
            rows.append([t, ";".join(rr), float(wl), c, float(wl) / c if c and c == c else np.nan])
        run.capacity = pd.DataFrame(rows, columns=["territory", "reps", "workload_hours", "capacity_hours",
                                                   "load"])
    if job.quotas is not None:
        run.attainment = _attainment(job, o, plan)
    return run


def _attainment(job: KpiJob, o: pd.DataFrame, plan) -> pd.DataFrame:
    from territorium.plan._files import pick_column, read_table

    q = read_table(Path(job.quotas), KpiJobError)
    tcol, qcol = pick_column(q, ["territory", "territory_id"]), pick_column(q, ["quota"])
    if tcol is None or qcol is None:
        raise KpiJobError(f"{job.quotas}: needs the columns territory and quota (territorium quota --out)")
    quota = pd.to_numeric(q[qcol], errors="coerce")
    quota.index = q[tcol].astype(str)
    end = pd.Timestamp(job.end) if job.end else o["created_at"].max().normalize() + pd.Timedelta(days=1)
    start = pd.Timestamp(job.start) if job.start else end - pd.Timedelta(days=365)
    span = (end - start).days
    ann = K.commerce(o, by=["territory_id"], period="all", start=start, end=end).set_index("territory_id")["revenue"]
    ann.index = ann.index.astype(str)
    a = K.attainment(ann.reindex(quota.index), quota * min(span, 365) / 365.0, elapsed=1.0)
    a.index.name = "territory"
    return a.reset_index()


def _named(df: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    return df.rename(columns={GROUPS[b]: b for b in by})


def write_kpis(run: KpiRun, out: Path) -> list[Path]:
    """One CSV per table in the folder ``out``."""
    from territorium.plan.exporting import _write_csv

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for name in ("commerce", "field_sales", "balance", "capacity", "attainment"):
        df = getattr(run, name)
        if df is not None:
            files.append(_write_csv(df, out / f"{name}.csv"))
    return files
