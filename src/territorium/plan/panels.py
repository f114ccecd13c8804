"""Long panels from the workspace, for the causal-impact analyses.

A panel has one row per unit and period: ``unit``, ``period`` (the first day of the calendar
month, or the Monday of the ISO week, as a ``Timestamp``) and the measures. Orders and
activities are aggregated by SQL ``GROUP BY`` in the database (SQLite or PostgreSQL); pandas
only fills the unit × period grid with zeros, so every unit has every period (a balanced panel,
as the estimators want).

Periods are those of ``created_at`` as stored, i.e. in UTC; the window is
``start <= created_at < end``.

* :func:`revenue_panel`: revenue and order count per state, ZIP, territory or account.
* :func:`activity_panel`: activity counts (visits by default) per account and period.
* :func:`account_frame`: one row per account with revenue, visits and attributes (for
  uplift models such as double machine learning).
* :func:`campaign_treatment`, :func:`realignment_treatment`: the treatment columns of the demo
  company's planted interventions, from its ``truth.yaml``.

Example (on an imported demo workspace)::

    from territorium.plan.workspace import Workspace
    from territorium.plan.panels import revenue_panel, campaign_treatment
    from territorium.data.demo_effects import load_truth

    ws = Workspace("sqlite:///territorium.db")
    truth = load_truth("demo_data/truth.yaml")
    p = revenue_panel(ws, level="state", freq="month", channel="dtc",
                      start=truth["history"]["start"], end=truth["history"]["end"])
    p = campaign_treatment(p, truth)      # adds first_treat, treated, wave
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import sqlalchemy as sa

from territorium.plan.workspace import Workspace, WorkspaceError
from territorium.store.db import bind_list, rows_frame

__all__ = [
    "LEVELS", "FREQS", "CHANNELS", "COUNTED_STATUSES", "revenue_panel", "activity_panel",
    "account_frame", "campaign_treatment", "realignment_treatment", "period_start",
]

LEVELS = ("state", "zip", "territory", "account")
FREQS = ("week", "month")
CHANNELS = ("all", "dtc", "wholesale")
#: Financial statuses counted as revenue, as the workspace's measures count them.
COUNTED_STATUSES = ("paid", "partially_refunded")


def period_start(values, freq: str) -> pd.DatetimeIndex:
    """First day of the month, or Monday of the ISO week, holding each date.

    >>> period_start(["2025-02-01", "2025-02-27"], "week").strftime("%Y-%m-%d").tolist()
    ['2025-01-27', '2025-02-24']
    >>> period_start(["2025-02-27"], "month").strftime("%Y-%m-%d").tolist()
    ['2025-02-01']
    """
    _check(freq, FREQS, "freq")
    d = pd.DatetimeIndex(pd.to_datetime(values)).normalize()
    if freq == "month":
        return d.to_period("M").to_timestamp()
    return d - pd.to_timedelta(d.day_of_week, unit="D")


def _workspace(workspace) -> Workspace:
    """A Workspace from a Workspace, a database URL, or None (the default database)."""
    return workspace if isinstance(workspace, Workspace) else Workspace(workspace)


def _check(value: str, allowed: Sequence[str], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}; got {value!r}")


def _period_sql(dialect: str, col: str, freq: str) -> str:
    """SQL expression of the period start (a date) of timestamp/date column ``col``."""
    if dialect == "postgresql":
        return f"CAST(date_trunc('{freq}', {col}) AS date)"
    if freq == "month":
        return f"strftime('%Y-%m-01', {col})"
    return f"date({col}, '-' || ((CAST(strftime('%w', {col}) AS INTEGER) + 6) % 7) || ' days')"


def _ts(value) -> pd.Timestamp | None:
    if value is None:
        return None
    return pd.Timestamp(value)


def _window(ws: Workspace, start, end, table: str = "orders", col: str = "created_at"):
    """``(start, end)`` as Timestamps; missing ends from the data (end exclusive)."""
    start, end = _ts(start), _ts(end)
    if start is None or end is None:
        with ws.engine.connect() as c:
            lo, hi = c.execute(sa.text(f'SELECT MIN("{col}"), MAX("{col}") FROM {table}')).one()
        if lo is None:
            raise WorkspaceError(f"no {table} in the workspace; import them first")
        start = start if start is not None else pd.Timestamp(lo).normalize()
        end = end if end is not None else pd.Timestamp(hi).normalize() + pd.Timedelta(days=1)
    if end <= start:
        raise ValueError(f"the window is empty: start {start} is not before end {end}")
    return start, end


def _periods(start: pd.Timestamp, end: pd.Timestamp, freq: str) -> pd.DatetimeIndex:
    """Every period that intersects ``[start, end)``."""
    first = period_start([start], freq)[0]
    last = period_start([end - pd.Timedelta(microseconds=1)], freq)[0]
    return pd.date_range(first, last, freq="MS" if freq == "month" else "W-MON")


def _fill(df: pd.DataFrame, units: Iterable, periods: pd.DatetimeIndex,
          values: Sequence[str]) -> pd.DataFrame:
    """The full ``units × periods`` grid, zeros where ``df`` has no row."""
    idx = pd.MultiIndex.from_product([pd.Index(list(units), dtype=object), periods],
                                     names=["unit", "period"])
    out = df.set_index(["unit", "period"])[list(values)].reindex(idx, fill_value=0)
    return out.reset_index()


def _param_ts(ts: pd.Timestamp) -> str:
    return ts.strftime("%Y-%m-%d %H:%M:%S.%f")


def revenue_panel(
    workspace: Workspace,
    *,
    level: str = "state",
    freq: str = "month",
    start=None,
    end=None,
    channel: str = "all",
    statuses: Sequence[str] | None = COUNTED_STATUSES,
    units: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Revenue per unit and period from the orders in the workspace.

    Parameters
    ----------
    workspace : Workspace, str or None
        The workspace, a database URL, or None for the default database.
    level : {"state", "zip", "territory", "account"}
        ``state``/``zip``: the order's shipping state/ZIP; ``territory``: the territory of the
        shipping ZIP in the imported (current) alignment; ``account``: the account the order
        is linked to (through the buyer's contact e-mail).
    freq : {"month", "week"}
    start, end : date-like, optional
        Window ``start <= created_at < end`` (UTC); default: all orders.
    channel : {"all", "dtc", "wholesale"}
        ``dtc``: orders not linked to an account (consumers); ``wholesale``: linked ones.
    statuses : sequence of str or None
        Financial statuses counted (default paid and partially refunded; None: all).
    units : iterable of str, optional
        The units of the grid (e.g. all accounts, so those without orders get zeros);
        default: the units with orders in the window (for ``account``: every account).

    Returns
    -------
    DataFrame
        ``unit``, ``period``, ``revenue`` (sum of order totals), ``orders``, ``log_revenue``
        (``log(1 + revenue)``), one row per unit and period.
    """
    _check(level, LEVELS, "level")
    _check(freq, FREQS, "freq")
    _check(channel, CHANNELS, "channel")
    ws = _workspace(workspace)
    start, end = _window(ws, start, end)
    dialect = ws.engine.dialect.name
    key = {"state": "o.shipping_state", "zip": "o.shipping_zip", "territory": "a.territory_id",
           "account": "o.account_id"}[level]
    join = "JOIN alignment a ON a.unit_id = o.shipping_zip " if level == "territory" else ""
    where = [f"{key} IS NOT NULL", "o.created_at >= :start", "o.created_at < :end"]
    params: dict = {"start": _param_ts(start), "end": _param_ts(end)}
    if channel == "dtc":
        where.append("o.account_id IS NULL")
    elif channel == "wholesale":
        where.append("o.account_id IS NOT NULL")
    if statuses is not None:
        where.append(f"(o.financial_status IS NULL OR o.financial_status IN ({bind_list(params, 's', statuses)}))")
    per = _period_sql(dialect, "o.created_at", freq)
    sql = (f"SELECT {key} AS unit, {per} AS period, SUM(o.total) AS revenue, COUNT(*) AS orders "
           f"FROM orders o {join}WHERE {' AND '.join(where)} GROUP BY {key}, {per}")
    if dialect == "postgresql":
        sql = sql.replace(":start", "CAST(:start AS timestamp)").replace(":end", "CAST(:end AS timestamp)")
    with ws.engine.connect() as c:
        rows = c.execute(sa.text(sql), params).fetchall()
    df = rows_frame(rows, ["unit", "period", "revenue", "orders"])
    df["unit"] = df["unit"].astype(str)
    df["period"] = pd.to_datetime(df["period"])
    df["revenue"] = pd.to_numeric(df["revenue"]).astype(np.float64).fillna(0.0)
    df["orders"] = pd.to_numeric(df["orders"]).astype(np.int64)
    if units is None:
        if level == "account":
            with ws.engine.connect() as c:
                units = [r[0] for r in c.execute(sa.text("SELECT account_id FROM accounts ORDER BY account_id"))]
        else:
            units = sorted(df["unit"].unique())
    else:
        units = [str(u) for u in units]
        df = df[df["unit"].isin(set(units))]
    out = _fill(df, units, _periods(start, end, freq), ["revenue", "orders"])
    out["orders"] = out["orders"].astype(np.int64)
    out["log_revenue"] = np.log1p(out["revenue"].clip(lower=0.0))
    return out


def activity_panel(
    workspace: Workspace,
    *,
    freq: str = "month",
    start=None,
    end=None,
    types: Sequence[str] | None = ("visit",),
    units: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Activities per account and period: ``unit`` (account id), ``period``, ``activities``
    (count of the given ``types``, compared case-insensitively; None: all types) and
    ``minutes``.

    The grid has every account (or ``units``) and every period of ``start <= date < end``.
    """
    _check(freq, FREQS, "freq")
    ws = _workspace(workspace)
    start, end = _window(ws, start, end, "activities", "date")
    dialect = ws.engine.dialect.name
    per = _period_sql(dialect, 'a."date"', freq)
    where = ["a.account_id IS NOT NULL", 'a."date" >= :start', 'a."date" < :end']
    params: dict = {"start": start.date(), "end": end.date()}
    if types is not None:
        where.append(f"LOWER(a.type) IN ({bind_list(params, 't', [str(t).lower() for t in types])})")
    sql = (f"SELECT a.account_id AS unit, {per} AS period, COUNT(*) AS activities, "
           f"SUM(a.duration_min) AS minutes FROM activities a WHERE {' AND '.join(where)} "
           f"GROUP BY a.account_id, {per}")
    with ws.engine.connect() as c:
        rows = c.execute(sa.text(sql), params).fetchall()
    df = rows_frame(rows, ["unit", "period", "activities", "minutes"])
    df["unit"] = df["unit"].astype(str)
    df["period"] = pd.to_datetime(df["period"])
    df["activities"] = pd.to_numeric(df["activities"]).astype(np.int64)
    df["minutes"] = pd.to_numeric(df["minutes"]).astype(np.float64).fillna(0.0)
    if units is None:
        with ws.engine.connect() as c:
            units = [r[0] for r in c.execute(sa.text("SELECT account_id FROM accounts ORDER BY account_id"))]
    else:
        units = [str(u) for u in units]
        df = df[df["unit"].isin(set(units))]
    out = _fill(df, units, _periods(start, end, freq), ["activities", "minutes"])
    out["activities"] = out["activities"].astype(np.int64)
    return out


#: Account attributes carried by :func:`account_frame`.
ACCOUNT_COLUMNS = ("account_id", "name", "state", "zip", "industry", "segment", "account_type",
                   "tier", "annual_revenue", "employees", "potential", "owner_id",
                   "product_lines")


def account_frame(
    workspace: Workspace,
    *,
    start=None,
    end=None,
    statuses: Sequence[str] | None = COUNTED_STATUSES,
    activity_types: Sequence[str] = ("visit",),
    account_types: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One row per account: attributes, ``revenue`` and ``orders`` (linked orders in the window)
    and ``visits`` (activities of ``activity_types`` in the window), aggregated in SQL.

    ``account_types`` keeps only accounts of those types (e.g. ``["Customer - Direct"]``, the
    accounts that order through the shop).
    """
    ws = _workspace(workspace)
    start, end = _window(ws, start, end)
    params: dict = {"start": _param_ts(start), "end": _param_ts(end),
                    "dstart": start.date(), "dend": end.date()}
    st = ""
    if statuses is not None:
        st = f" AND (financial_status IS NULL OR financial_status IN ({bind_list(params, 's', statuses)}))"
    ty = bind_list(params, "t", [str(t).lower() for t in activity_types])
    o_sql = ("SELECT account_id, SUM(total) AS revenue, COUNT(*) AS orders FROM orders "
             f"WHERE account_id IS NOT NULL AND created_at >= :start AND created_at < :end{st} "
             "GROUP BY account_id")
    a_sql = ("SELECT account_id, COUNT(*) AS visits FROM activities WHERE account_id IS NOT NULL "
             f'AND "date" >= :dstart AND "date" < :dend AND LOWER(type) IN ({ty}) '
             "GROUP BY account_id")
    if ws.engine.dialect.name == "postgresql":
        o_sql = o_sql.replace(":start", "CAST(:start AS timestamp)").replace(":end", "CAST(:end AS timestamp)")
    cols = ", ".join(f"ac.{c}" for c in ACCOUNT_COLUMNS)
    sql = (f"SELECT {cols}, COALESCE(o.revenue, 0) AS revenue, COALESCE(o.orders, 0) AS orders, "
           f"COALESCE(v.visits, 0) AS visits FROM accounts ac "
           f"LEFT JOIN ({o_sql}) o ON o.account_id = ac.account_id "
           f"LEFT JOIN ({a_sql}) v ON v.account_id = ac.account_id")
    if account_types is not None:
        sql += f" WHERE ac.account_type IN ({bind_list(params, 'at', account_types)})"
    sql += " ORDER BY ac.account_id"
    with ws.engine.connect() as c:
        rows = c.execute(sa.text(sql), params).fetchall()
    df = rows_frame(rows, list(ACCOUNT_COLUMNS) + ["revenue", "orders", "visits"])
    for c in ("annual_revenue", "potential", "revenue"):
        df[c] = pd.to_numeric(df[c]).astype(np.float64)
    for c in ("employees", "orders", "visits"):
        df[c] = pd.to_numeric(df[c]).fillna(0).astype(np.int64)
    return df


# --------------------------------------------------------------------------------------------
# Treatment columns of the demo's planted interventions
# --------------------------------------------------------------------------------------------

def campaign_treatment(panel: pd.DataFrame, truth: dict, *, freq: str | None = None) -> pd.DataFrame:
    """``panel`` (state or territory units) with the demo campaign's treatment columns.

    Adds ``first_treat`` (start of the period holding the unit's wave start; NaT for units
    never treated), ``treated`` (1 from that period on) and ``wave`` (name, "" if never).
    ``freq`` defaults to what the panel's periods look like (all on the 1st: month).
    """
    per = pd.to_datetime(panel["period"])
    if freq is None:
        freq = "month" if (per.dt.day == 1).all() else "week"
    _check(freq, FREQS, "freq")
    start, wave = {}, {}
    for w in truth["campaign"]["waves"]:
        s = period_start([w["start"]], freq)[0]
        for u in list(w["states"]) + list(w.get("territories", [])):
            start[str(u)] = s
            wave[str(u)] = w["name"]
    units = panel["unit"].astype(str)
    known = set(truth["campaign"]["never_treated"]["states"]) | set(
        truth["campaign"]["never_treated"].get("territories", [])) | set(start)
    unknown = sorted(set(units) - known)
    if unknown:
        raise ValueError(f"units {', '.join(unknown[:5])} are neither in a campaign wave nor "
                         "never treated in the truth file: is the panel by state or territory?")
    out = panel.copy()
    out["first_treat"] = pd.to_datetime(units.map(start))
    out["treated"] = (out["first_treat"].notna() & (per >= out["first_treat"])).astype(np.int64)
    out["wave"] = units.map(wave).fillna("")
    return out


def realignment_treatment(panel: pd.DataFrame, truth: dict) -> pd.DataFrame:
    """``panel`` (account units) with ``moved`` (1 for accounts that changed owner at the
    realignment), ``post`` (1 for periods in the dip window) and ``dip`` (= moved × post)."""
    rl = truth["realignment"]
    moved_ids = {m["account"] for m in rl["moved_accounts"]}
    per = pd.to_datetime(panel["period"])
    out = panel.copy()
    out["moved"] = panel["unit"].astype(str).isin(moved_ids).astype(np.int64)
    out["post"] = ((per >= pd.Timestamp(rl["date"])) & (per < pd.Timestamp(rl["dip_end"]))).astype(np.int64)
    out["dip"] = out["moved"] * out["post"]
    return out
