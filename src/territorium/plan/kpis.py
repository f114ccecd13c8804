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

__all__ = ["KpiJob", "KpiRun", "KpiJobError", "GROUPS", "TABLES", "TARGETS", "REFERENCE", "run_kpis", "write_kpis",
           "placed_targets", "health_tables"]

#: The tables a KPI run may write, one CSV each.
TABLES = ("commerce", "field_sales", "balance", "capacity", "attainment", "conversion", "cac", "spend_by_channel",
          "clv")

#: Group names a user may ask for, and the plan column each reads.
GROUPS = {
    "territory": "territory_id", "rep": "owner_id", "state": "state", "country": "country",
    "segment": "segment", "industry": "industry", "account_type": "account_type", "tier": "tier",
    "region": "subdivision",
}


#: what the plan-health balance (and the alerts' rebalance proposal) is measured against: the
#: staffing's capacity targets when it has them ("plan"), or the mean ("equal")
TARGETS = ("plan", "equal")

#: the reference each balance row was measured against, as the tables say it
REFERENCE = {"capacity": "capacity target", "equal": "mean"}


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
    sessions: Path | None = None   # Shopify "Sessions by location" export (or any CSV alike)
    spend: Path | None = None      # marketing spend: date, region, channel, spend
    targets: str = "plan"          # balance against the capacity targets ("plan", when known) or the mean


@dataclass
class KpiRun:
    commerce: pd.DataFrame | None = None
    field_sales: pd.DataFrame | None = None
    balance: pd.DataFrame | None = None
    capacity: pd.DataFrame | None = None
    attainment: pd.DataFrame | None = None
    conversion: pd.DataFrame | None = None
    cac: pd.DataFrame | None = None
    spend_by_channel: pd.DataFrame | None = None
    clv: pd.DataFrame | None = None
    balance_targets: str | None = None  # what the balance was measured against: "capacity" or "equal"
    data_end: pd.Timestamp | None = None  # the day after the last order
    notes: list[str] = field(default_factory=list)


def _orders(ws) -> pd.DataFrame:
    sql = sa.text(
        "SELECT o.order_id, o.account_id, COALESCE(o.customer_id, o.customer_email) AS customer, "
        "o.created_at, o.total, o.subtotal, o.discounts, o.financial_status, o.shipping_zip, "
        "o.shipping_state, o.shipping_country, o.shipping_subdivision, l.units "
        "FROM orders o LEFT JOIN (SELECT order_id, SUM(quantity) AS units FROM order_lines "
        "GROUP BY order_id) l ON l.order_id = o.order_id")
    with ws.engine.connect() as c:
        df = pd.read_sql(sql, c)
    for col in ("total", "subtotal", "discounts", "units"):
        df[col] = pd.to_numeric(df[col], errors="coerce")
    df["created_at"] = pd.to_datetime(df["created_at"])
    return df


@dataclass
class PlacedData:
    """The workspace's records with their groups in the plan (what every KPI table reads)."""

    plan: object                     # plan.exporting.ExportPlan
    load: object                     # plan.workspace.UnitLoad
    orders: pd.DataFrame             # one row per order, group columns attached
    visits: pd.DataFrame | None      # completed visits with ``hours`` (visit + travel)
    opportunities: pd.DataFrame | None
    accounts: pd.DataFrame           # accounts with groups and ``visits_per_year``
    capacity: dict[str, float]       # rep id -> capacity hours a year
    data_end: pd.Timestamp | None
    notes: list[str]
    reps: pd.DataFrame | None = None  # the workspace's reps table (capacity targets)

    def group_capacity(self, by: str) -> pd.Series:
        """Capacity hours a year per territory (its reps' sum) or per rep."""
        if by == "rep":
            return pd.Series(self.capacity, dtype=float)
        if by != "territory":
            raise KpiJobError(f"capacity is known per territory or rep, not per {by}")
        reps_of = self.plan.territory_reps()
        return pd.Series({t: float(np.nansum([self.capacity.get(r, np.nan) for r in rr])) if rr else np.nan
                          for t, rr in reps_of.items()}, dtype=float)


def place(ws, *, alignment: Path | None = None, assignment: Sequence[Path] = (), level: str = "zip",
          progress=None) -> PlacedData:
    """Place every order, opportunity and visit in the plan (territory, rep, state, ...)."""
    from territorium.geo import locate
    from territorium.measures import _lookup, load_profile, planned_visits
    from territorium.plan.exporting import ExportError, build_plan
    from territorium.plan.workspace import WorkspaceError

    say = progress or (lambda msg: None)
    say("placing accounts in the plan")
    try:
        load = ws.load_units(level)
        plan = build_plan(ws, alignment=alignment, assignment=list(assignment) or None,
                          level=level, load=load, hierarchy=None)
    except (WorkspaceError, ExportError) as exc:
        raise KpiJobError(str(exc)) from None
    notes = list(plan.notes)
    acc = plan.accounts.copy()
    acc["account_id"] = acc["account_id"].astype(str)
    for c in set(GROUPS.values()) - set(acc.columns):
        acc[c] = None
    acc_groups = acc.set_index("account_id")[list(dict.fromkeys(GROUPS.values()))]
    terr_rep = dict(zip(plan.territories["territory_id"].astype(str), plan.territories["rep_id"]))

    say("reading orders")
    o = _orders(ws)
    data_end = None
    if len(o):
        data_end = o["created_at"].max().normalize() + pd.Timedelta(days=1)
        g = o[["account_id"]].join(acc_groups, on="account_id")
        no_acc = g["territory_id"].isna()
        if no_acc.any():
            pos = locate(load.units, zips=o.loc[no_acc, "shipping_zip"].to_numpy(dtype=object))
            unit_terr = plan.units["territory"].astype(str).to_numpy(dtype=object)
            g.loc[no_acc, "territory_id"] = np.where(pos >= 0, unit_terr[np.maximum(pos, 0)], None)
            g.loc[no_acc, "owner_id"] = g.loc[no_acc, "territory_id"].map(terr_rep)
            g.loc[no_acc, "state"] = o.loc[no_acc, "shipping_state"]
            g.loc[no_acc, "country"] = o.loc[no_acc, "shipping_country"]
            g.loc[no_acc, "subdivision"] = o.loc[no_acc, "shipping_subdivision"]
        o = pd.concat([o.drop(columns=[c for c in GROUPS.values() if c in o.columns]),
                       g.drop(columns="account_id")], axis=1)
        outside = int(o["territory_id"].isna().sum())
        if outside:
            notes.append(f"{outside} orders are outside every territory (no account, shipping ZIP outside "
                         "the unit set); they are reported under an empty territory")

    say("deals and visits")
    prof = load_profile(None)
    opp = ws.table("opportunities")
    act = ws.table("activities")
    visits = None
    if len(act):
        a = act[(act["type"].astype(str).str.lower() == "visit")
                & (act["status"].fillna("completed").astype(str).str.lower() == "completed")].copy()
        a["account_id"] = a["account_id"].astype(str)
        visits = a[["date", "account_id", "rep_id", "duration_min"]].join(acc_groups, on="account_id")
        seg_minutes = _lookup(visits["segment"].fillna("default").astype(str).to_numpy(dtype=object),
                              prof.minutes_per_visit)
        minutes = pd.to_numeric(visits["duration_min"], errors="coerce").fillna(pd.Series(seg_minutes,
                                                                                          index=visits.index))
        visits["hours"] = (minutes + prof.travel_minutes) / 60.0
        visits = visits.drop(columns="duration_min")
    opp_out = None
    if len(opp):
        opp = opp.assign(account_id=opp["account_id"].astype(str))
        keep = [c for c in ("amount", "close_date", "is_closed", "is_won", "created_date") if c in opp.columns]
        opp_out = opp[["account_id", *keep]].join(acc_groups, on="account_id")
        if "created_date" not in opp.columns:
            notes.append("sales cycle needs the opportunities' created date, which this import does not keep")
    acc_plan = acc.assign(visits_per_year=planned_visits(acc, prof))
    reps = ws.table("reps")
    cap = {}
    if len(reps) and "capacity_hours" in reps.columns:
        cap = dict(zip(reps["rep_id"].astype(str), pd.to_numeric(reps["capacity_hours"], errors="coerce")))
    return PlacedData(plan, load, o, visits, opp_out, acc_plan, cap, data_end, notes, reps)


def commerce_table(data: PlacedData, by: Sequence[str], period: str, start=None, end=None) -> pd.DataFrame | None:
    if not len(data.orders):
        return None
    return _named(K.commerce(data.orders, by=[GROUPS[b] for b in by], period=period, start=start, end=end), by)


def field_table(data: PlacedData, by: Sequence[str], period: str, start=None, end=None) -> pd.DataFrame | None:
    """Field-sales KPIs plus ``load`` (visit hours / capacity hours of the period) when the
    only group is territory or rep."""
    has_opp = data.opportunities is not None and len(data.opportunities)
    has_vis = data.visits is not None and len(data.visits)
    if not (has_opp or has_vis):
        return None
    f = _named(K.field_sales(opportunities=data.opportunities if has_opp else None,
                             visits=data.visits if has_vis else None, accounts=data.accounts,
                             by=[GROUPS[b] for b in by], period=period, start=start, end=end), by)
    if list(by) in (["territory"], ["rep"]) and "visit_hours" in f.columns and data.capacity:
        cap = f[by[0]].astype(str).map(data.group_capacity(by[0]))
        if K.PERIODS[period] is None:
            days = 365.25
        else:
            days = (K._period_ends(period, f["period"]) - pd.to_datetime(f["period"])).dt.days
        with np.errstate(invalid="ignore", divide="ignore"):
            f["load"] = f["visit_hours"] / (cap * days / 365.25)
    return f


def placed_targets(data: PlacedData, targets: str = "plan", reps: pd.DataFrame | None = None,
                   ) -> tuple[dict[str, float] | None, str]:
    """What the placed plan is balanced against: (territory → target share, or None for the
    mean; ``"capacity"`` or ``"equal"``).

    ``targets="plan"``: the capacity targets of the placed plan's staffing
    (:func:`territorium.plan.targets.plan_targets` with the workspace's reps, ``reps`` or the
    ones :func:`place` read: a territory's share is its reps' summed capacity, a vacant one
    counts one rep of the median), the same targets as the map's balance bars, when they are
    not all equal; ``"equal"``: the mean."""
    from territorium.plan.targets import plan_targets, reference

    if targets not in TARGETS:
        raise KpiJobError(f"targets must be 'plan' or 'equal', not {targets!r}")
    reps = data.reps if reps is None else reps
    if targets == "equal" or reps is None:
        return None, "equal"
    reps_of = data.plan.territory_reps()
    tt = pd.DataFrame({"territory_id": list(reps_of), "reps": [[(r, "rep") for r in rr] for rr in reps_of.values()]})
    return reference(plan_targets(tt, reps) if len(tt) else None)


def health_tables(data: PlacedData, targets: str = "plan", *,
                  reference: tuple[dict[str, float] | None, str] | None = None,
                  ) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """(balance indices per measure, workload vs capacity per territory).

    The balance indices read each territory against its capacity target (its share of each
    measure's total, :func:`placed_targets`) or, with ``targets="equal"`` or a plan without
    targets, against the mean; the ``reference`` column says which (``"capacity target"`` or
    ``"mean"``, :data:`REFERENCE`). ``reference``: :func:`placed_targets`' answer when the
    caller has it already."""
    from territorium.plan.targets import label_shares

    tt = data.plan.territories
    meas = [m for m in ("account_count", "revenue", "order_count", "customers", "potential", "workload")
            if m in tt.columns]
    shares, used = reference if reference is not None else placed_targets(data, targets)
    totals = tt[meas].reset_index(drop=True)
    want = None
    if shares is not None:
        share = label_shares(shares, tt["territory_id"].astype(str).tolist())
        want = pd.DataFrame({m: share * pd.to_numeric(totals[m], errors="coerce").sum() for m in meas})
    balance = K.balance_indices(totals, targets=want)
    balance.insert(1, "reference", REFERENCE[used])
    if not data.capacity:
        return balance, None
    cap = data.group_capacity("territory")
    reps_of = data.plan.territory_reps()
    wl = tt.set_index(tt["territory_id"].astype(str))["workload"].astype(float)
    capacity = pd.DataFrame({"territory": wl.index, "reps": [";".join(reps_of.get(t, [])) for t in wl.index],
                             "workload_hours": wl.to_numpy(), "capacity_hours": cap.reindex(wl.index).to_numpy()})
    with np.errstate(invalid="ignore", divide="ignore"):
        capacity["load"] = capacity["workload_hours"] / capacity["capacity_hours"]
    return balance, capacity


def run_kpis(ws, job: KpiJob, *, progress=None, data: PlacedData | None = None) -> KpiRun:
    """Commerce, field-sales and plan-health KPIs of the plan for the job's groups and period."""
    say = progress or (lambda msg: None)
    unknown = [b for b in job.by if b not in GROUPS]
    if unknown:
        raise KpiJobError(f"unknown group {', '.join(unknown)}; use {', '.join(GROUPS)}")
    if job.period not in K.PERIODS:
        raise KpiJobError(f"unknown period {job.period!r}; use {', '.join(K.PERIODS)}")
    if job.targets not in TARGETS:
        raise KpiJobError(f"targets must be 'plan' or 'equal', not {job.targets!r}")
    data = data or place(ws, alignment=job.alignment, assignment=job.assignment, level=job.level, progress=say)
    run = KpiRun(notes=list(data.notes), data_end=data.data_end)
    say(f"aggregating {len(data.orders):,} orders")
    run.commerce = commerce_table(data, job.by, job.period, job.start, job.end)
    run.field_sales = field_table(data, job.by, job.period, job.start, job.end)
    say("plan health")
    reference = placed_targets(data, job.targets)
    run.balance, run.capacity = health_tables(data, reference=reference)
    run.balance_targets = reference[1]
    if job.quotas is not None:
        run.attainment = _attainment(job, data.orders, data.plan)
    if len(data.orders):
        o = data.orders.rename(columns={"subdivision": "region"})
        # rows imported without a subdivision or country: a US state gives both
        us_state = o["state"].notna() & o["country"].isin(["US", None]) | o["country"].isna() & o["state"].notna()
        o["region"] = o["region"].where(o["region"].notna() | ~us_state, "US-" + o["state"].astype(str))
        o["country"] = o["country"].where(o["country"].notna(), o["region"].str[:2])
        first = GROUPS[job.by[0]] if job.by[0] != "region" else "region"
        run.clv = _named(K.clv(o, by=[first]), job.by[:1])
        if job.sessions is not None:
            sess = read_sessions(job.sessions)
            # a file without dates covers the window it was exported for: one rate per region
            run.conversion = K.conversion(o, sess, period=job.period if sess["period"].notna().any() else "all",
                                          start=job.start, end=job.end)
        if job.spend is not None:
            run.cac, run.spend_by_channel = K.cac(o, read_spend(job.spend), period=job.period, start=job.start,
                                                  end=job.end)
    return run


# ------------------------------------------------------------------------- input files
_SESSION_COLS = {"country": ("session_country", "country", "country_code"),
                 "region": ("session_region", "region", "state", "province", "subdivision", "region_code"),
                 "date": ("day", "date", "week", "month", "session_date"),
                 "sessions": ("sessions", "online_store_sessions", "total_sessions")}
_SPEND_COLS = {"date": ("date", "day", "week", "month"),
               "country": ("country", "country_code"),
               "region": ("region", "state", "province", "subdivision", "geo", "dma_region"),
               "channel": ("channel", "source", "medium", "platform"),
               "spend": ("spend", "cost", "amount", "amount_spent", "amount_spent_(usd)")}
def _columns(df: pd.DataFrame, spec: dict, path: Path, required: Sequence[str]) -> dict[str, str | None]:
    from territorium.plan._files import pick_column

    found = {k: pick_column(df, list(v)) for k, v in spec.items()}
    missing = [k for k in required if found[k] is None]
    if missing:
        raise KpiJobError(f"{path}: no column for {', '.join(missing)} (looked for "
                          + "; ".join(f"{k}: {', '.join(spec[k])}" for k in missing) + ")")
    return found


def _regions(df: pd.DataFrame, cols: dict, path: Path) -> tuple[pd.Series, pd.Series, list[str]]:
    """ISO country and ISO 3166-2 region per row, with the rows that name neither."""
    from territorium.data.address import country_code, subdivision_code

    problems = []
    countries, regions = [], []
    cvals = df[cols["country"]].to_numpy(dtype=object) if cols["country"] else [""] * len(df)
    rvals = df[cols["region"]].to_numpy(dtype=object) if cols["region"] else [""] * len(df)
    for i, (cv, rv) in enumerate(zip(cvals, rvals), start=2):
        raw_c = str(cv or "").strip()
        raw_r = str(rv or "").strip()
        c = country_code(raw_c) if raw_c else None
        if raw_c and c is None:
            problems.append(f"{path}: row {i}, column {cols['country']}: {raw_c!r} is not a country")
        r = None
        if raw_r:
            r = subdivision_code(c or "US", raw_r)
            if r is None:
                problems.append(f"{path}: row {i}, column {cols['region']}: {raw_r!r} is not a region of "
                                f"{c or 'the US'}")
            c = c or (r[:2] if r else None)
        countries.append(c)
        regions.append(r)
    return pd.Series(countries, index=df.index), pd.Series(regions, index=df.index), problems


def _number(df, col, path, what, problems, *, integer=False) -> pd.Series:
    raw = df[col].astype(str).str.replace(",", "").str.replace("$", "", regex=False).str.strip()
    v = pd.to_numeric(raw, errors="coerce")
    bad = v.isna() | ~np.isfinite(v) | (v < 0) | ((v % 1 != 0) if integer else False)
    for i in np.flatnonzero(bad.to_numpy())[:5]:
        problems.append(f"{path}: row {i + 2}, column {col}: {df[col].iloc[i]!r} is not a "
                        f"{'whole number' if integer else 'number'} ≥ 0 ({what})")
    return v


def _fail(problems: list[str]) -> None:
    if problems:
        more = f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
        raise KpiJobError("; ".join(problems[:5]) + more)


def read_sessions(path: Path) -> pd.DataFrame:
    """Sessions per country / region (/ day, week or month when the file has a date column),
    from Shopify's "Sessions by location" report export or any CSV with such columns.
    Every bad row is named (file, row, column, why); nothing is used then."""
    from territorium.plan._files import read_table

    df = read_table(Path(path), KpiJobError, blank_na=True)
    cols = _columns(df, _SESSION_COLS, path, ["region", "sessions"])
    problems: list[str] = []
    country, region, bad = _regions(df, cols, path)
    problems += bad
    sessions = _number(df, cols["sessions"], path, "sessions", problems, integer=True)
    period = pd.Series(pd.NaT, index=df.index)
    if cols["date"]:
        period = pd.to_datetime(df[cols["date"]], errors="coerce")
        for i in np.flatnonzero(period.isna().to_numpy())[:5]:
            problems.append(f"{path}: row {i + 2}, column {cols['date']}: {df[cols['date']].iloc[i]!r} is not a date")
    _fail(problems)
    return pd.DataFrame({"country": country, "region": region, "period": period, "sessions": sessions.astype(np.int64)})


def read_spend(path: Path) -> pd.DataFrame:
    """Marketing spend by date × region × channel (a generic CSV; see docs/kpis.md)."""
    from territorium.plan._files import read_table

    df = read_table(Path(path), KpiJobError, blank_na=True)
    cols = _columns(df, _SPEND_COLS, path, ["date", "region", "spend"])
    problems: list[str] = []
    country, region, bad = _regions(df, cols, path)
    problems += bad
    spend = _number(df, cols["spend"], path, "spend", problems)
    date = pd.to_datetime(df[cols["date"]], errors="coerce")
    for i in np.flatnonzero(date.isna().to_numpy())[:5]:
        problems.append(f"{path}: row {i + 2}, column {cols['date']}: {df[cols['date']].iloc[i]!r} is not a date")
    _fail(problems)
    channel = df[cols["channel"]].replace("", "unknown") if cols["channel"] else pd.Series("all", index=df.index)
    return pd.DataFrame({"date": date, "country": country, "region": region, "channel": channel, "spend": spend})


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
    for name in TABLES:
        df = getattr(run, name)
        if df is not None:
            files.append(_write_csv(df, out / f"{name}.csv"))
    return files
