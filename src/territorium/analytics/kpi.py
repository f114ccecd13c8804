"""KPIs per group (territory, rep, state, country, segment, ...) and period, aggregated by DuckDB.

Pure functions: data frames in, data frames out. DuckDB runs in memory over the frames given
(Arrow, no copy), so a month × territory table of ten million order lines is one SQL pass and
no Python loop. Every formula is written out in ``docs/kpis.md``; the column names of the
result are the KPI names used there.

Inputs
------
``orders``: one row per order with ``order_id``, ``created_at``, ``customer`` (any key of the
buyer: customer id or e-mail), ``total``, optionally ``subtotal``, ``discounts``,
``financial_status``, ``units`` (items in the order) and the grouping columns.
``opportunities``: ``amount``, ``close_date``, ``is_closed``, ``is_won`` (+ ``created_date``
for the sales cycle) and the grouping columns. ``visits``: completed visits with ``date``,
``account_id``, ``rep_id``. ``accounts``: ``account_id``, ``visits_per_year`` (the workload
profile's planned frequency) and the grouping columns.
"""
from __future__ import annotations

from typing import Sequence

import duckdb
import numpy as np
import pandas as pd

__all__ = [
    "PERIODS", "KpiError", "commerce", "field_sales", "balance_indices", "attainment",
    "COMMERCE_COLUMNS",
]

#: Period names and the DuckDB ``date_trunc`` part they use.
PERIODS = {"day": "day", "week": "week", "month": "month", "quarter": "quarter", "year": "year",
           "all": None}

#: Orders that count as sales (Shopify's financial statuses; NULL = no status in the export).
BOOKED = ("paid", "partially_paid", "partially_refunded", "pending", "authorized")
#: Orders that were given back in part or in full.
REFUNDED = ("refunded", "partially_refunded")

COMMERCE_COLUMNS = (
    "orders", "revenue", "aov", "units_per_order", "customers", "new_customers",
    "returning_customers", "repeat_purchase_rate", "discount_rate", "refund_rate",
)


class KpiError(ValueError):
    """Bad KPI input (message written for the user)."""


def _group_cols(by: str | Sequence[str] | None) -> list[str]:
    if by is None:
        return []
    return [by] if isinstance(by, str) else list(by)


def _period_expr(period: str, column: str) -> str:
    if period not in PERIODS:
        raise KpiError(f"unknown period {period!r}; use one of {', '.join(PERIODS)}")
    part = PERIODS[period]
    # "all": one constant period (not NULL, which would not join to itself)
    return "TIMESTAMP '1970-01-01'" if part is None else f"date_trunc('{part}', {column})::TIMESTAMP"


def _need(df: pd.DataFrame, cols: Sequence[str], what: str) -> None:
    _need_names(list(df.columns), cols, what)


def _need_names(names: Sequence[str], cols: Sequence[str], what: str) -> None:
    missing = [c for c in cols if c not in names]
    if missing:
        raise KpiError(f"{what} lack the column(s) {', '.join(missing)}")


def _quote(cols: Sequence[str]) -> list[str]:
    return ['"' + c.replace('"', '""') + '"' for c in cols]


def commerce(
    orders,
    *,
    by: str | Sequence[str] | None = "territory",
    period: str = "month",
    start=None,
    end=None,
) -> pd.DataFrame:
    """Commerce KPIs per group and period.

    ``orders``: a pandas frame or a pyarrow table (DuckDB scans either without a copy).
    ``start``/``end`` (``[start, end)``) limit the periods reported; a customer's *first*
    order is still looked up in the whole history given, so "new" means new to the business,
    not new to the window.

    >>> o = pd.DataFrame({"order_id": ["1", "2", "3", "4"], "customer": ["a", "a", "b", "c"],
    ...     "created_at": pd.to_datetime(["2025-01-05", "2025-02-03", "2025-02-10", "2025-02-11"]),
    ...     "total": [100.0, 50.0, 30.0, 20.0], "subtotal": [100.0, 60.0, 30.0, 20.0],
    ...     "discounts": [0.0, 10.0, 0.0, 0.0], "financial_status": ["paid", "paid", "refunded", "paid"],
    ...     "units": [2, 1, 1, 4], "territory": ["T1", "T1", "T1", "T2"]})
    >>> k = commerce(o, by="territory", period="month")
    >>> k[["territory", "orders", "revenue", "new_customers", "returning_customers"]].values.tolist()
    [['T1', 1, 100.0, 1, 0], ['T1', 1, 50.0, 0, 1], ['T2', 1, 20.0, 1, 0]]
    """
    group = _group_cols(by)
    names = list(orders.column_names if hasattr(orders, "column_names") else orders.columns)
    _need_names(names, ["order_id", "created_at", "customer", "total", *group], "the orders")
    # optional columns: defaults in SQL (no copy of a large frame in Python)
    extra = {"subtotal": "NULL::DOUBLE", "discounts": "0.0::DOUBLE", "financial_status": "NULL::VARCHAR",
             "units": "NULL::DOUBLE"}
    proj = ", ".join(f"{v} AS {k}" for k, v in extra.items() if k not in names)
    status = "lower(financial_status::VARCHAR)" if "financial_status" in names else "NULL::VARCHAR"
    g = _quote(group)
    gsel = "".join(f"{c}, " for c in g)
    gby = ", ".join([*g, "period"])
    where = []
    params: list = []
    if start is not None:
        where.append("created_at >= ?")
        params.append(pd.Timestamp(start).to_pydatetime())
    if end is not None:
        where.append("created_at < ?")
        params.append(pd.Timestamp(end).to_pydatetime())
    win = ("WHERE " + " AND ".join(where)) if where else ""
    booked = ", ".join(f"'{s}'" for s in BOOKED)
    refunded = ", ".join(f"'{s}'" for s in REFUNDED)
    sql = f"""
    WITH src0 AS (
        SELECT * REPLACE (created_at::TIMESTAMP AS created_at){', ' + proj if proj else ''},
               {status} AS fin
        FROM o
    ),
    src AS (
        SELECT *, {_period_expr(period, 'created_at')} AS period,
               (fin IS NULL OR fin IN ({booked})) AS booked,
               coalesce(fin, '') NOT IN ('voided', 'cancelled') AS placed
        FROM src0
    ),
    firsts AS (SELECT customer, MIN(created_at) AS first_at FROM src WHERE placed GROUP BY customer),
    win AS (SELECT src.*, firsts.first_at FROM src LEFT JOIN firsts USING (customer) {win}),
    per_customer AS (
        SELECT {gsel} period, customer, COUNT(*) AS n_orders, MIN(first_at) AS first_at,
               MIN(created_at) AS first_here
        FROM win WHERE booked AND customer IS NOT NULL GROUP BY {gsel} period, customer
    ),
    cust AS (
        SELECT {gsel} period,
               COUNT(*) AS customers,
               COUNT(*) FILTER (WHERE first_at = first_here) AS new_customers,
               COUNT(*) FILTER (WHERE first_at < first_here) AS returning_customers,
               COUNT(*) FILTER (WHERE n_orders >= 2) AS repeat_customers
        FROM per_customer GROUP BY {gby}
    ),
    ord AS (
        SELECT {gsel} period,
               COUNT(*) FILTER (WHERE booked) AS orders,
               coalesce(SUM(total) FILTER (WHERE booked), 0) AS revenue,
               SUM(units) FILTER (WHERE booked) AS units,
               coalesce(SUM(discounts) FILTER (WHERE booked), 0) AS discounts,
               SUM(subtotal) FILTER (WHERE booked) AS subtotal,
               COUNT(*) FILTER (WHERE placed) AS placed_orders,
               COUNT(*) FILTER (WHERE fin IN ({refunded})) AS refunded_orders
        FROM win GROUP BY {gby}
    )
    SELECT {gsel} ord.period AS period, orders, revenue,
           revenue / NULLIF(orders, 0) AS aov,
           units / NULLIF(orders, 0) AS units_per_order,
           coalesce(customers, 0) AS customers, coalesce(new_customers, 0) AS new_customers,
           coalesce(returning_customers, 0) AS returning_customers,
           repeat_customers / NULLIF(customers, 0) AS repeat_purchase_rate,
           discounts / NULLIF(subtotal, 0) AS discount_rate,
           refunded_orders / NULLIF(placed_orders, 0) AS refund_rate
    FROM ord LEFT JOIN cust USING ({gby})
    ORDER BY {gby}
    """
    con = duckdb.connect()
    try:
        con.register("o", orders)
        res = con.execute(sql, params).df()
    finally:
        con.close()
    if PERIODS[period] is None:
        res = res.drop(columns="period")
    for col in ("orders", "customers", "new_customers", "returning_customers"):
        res[col] = res[col].astype(np.int64)
    return res.reset_index(drop=True)


def field_sales(
    *,
    opportunities: pd.DataFrame | None = None,
    visits: pd.DataFrame | None = None,
    accounts: pd.DataFrame | None = None,
    by: str | Sequence[str] | None = "territory",
    period: str = "quarter",
    start=None,
    end=None,
) -> pd.DataFrame:
    """B2B field-sales KPIs per group and period.

    - ``pipeline``: amount of open opportunities expected to close in the period;
    - ``won_amount``, ``win_rate`` (won / closed, by count) and ``win_rate_amount``;
    - ``sales_cycle_days``: mean days from created to close of the won deals (when a
      ``created_date`` column exists);
    - ``visits``: completed visits, ``visits_per_rep`` (visits / distinct reps visiting),
      ``visit_hours`` (Σ ``hours`` of the visits, when the visits carry that column);
    - ``coverage``: share of the group's accounts with at least max(1, ⌊visits_per_year⌋)
      completed visits in the 365 days before the period's end.

    >>> opp = pd.DataFrame({"amount": [10.0, 20.0, 30.0], "close_date": pd.to_datetime(
    ...     ["2025-01-10", "2025-02-10", "2025-03-01"]), "is_closed": [True, True, False],
    ...     "is_won": [True, False, False], "territory": ["T1"] * 3})
    >>> field_sales(opportunities=opp, period="quarter")[["pipeline", "won_amount", "win_rate"]].values.tolist()
    [[30.0, 10.0, 0.5]]
    """
    group = _group_cols(by)
    g = _quote(group)
    gsel = "".join(f"{c}, " for c in g)
    gby = ", ".join([*g, "period"])
    frames = []
    con = duckdb.connect()
    try:
        if opportunities is not None and len(opportunities):
            _need(opportunities, ["amount", "close_date", "is_closed", "is_won", *group], "the opportunities")
            op = opportunities.copy()
            op["close_date"] = pd.to_datetime(op["close_date"])
            op["is_closed"] = op["is_closed"].fillna(False).astype(bool)
            op["is_won"] = op["is_won"].fillna(False).astype(bool)
            if "created_date" not in op.columns:
                op["created_date"] = pd.NaT
            op["created_date"] = pd.to_datetime(op["created_date"])
            op = _window(op, "close_date", start, end)
            con.register("op", op)
            frames.append(con.execute(f"""
                SELECT {gsel} {_period_expr(period, 'close_date')} AS period,
                  coalesce(SUM(amount) FILTER (WHERE NOT is_closed), 0) AS pipeline,
                  coalesce(SUM(amount) FILTER (WHERE is_won), 0) AS won_amount,
                  COUNT(*) FILTER (WHERE is_closed) AS closed_deals,
                  COUNT(*) FILTER (WHERE is_won) AS won_deals,
                  (COUNT(*) FILTER (WHERE is_won))::DOUBLE / NULLIF(COUNT(*) FILTER (WHERE is_closed), 0) AS win_rate,
                  SUM(amount) FILTER (WHERE is_won) / NULLIF(SUM(amount) FILTER (WHERE is_closed), 0) AS win_rate_amount,
                  AVG(date_diff('day', created_date, close_date)) FILTER (WHERE is_won) AS sales_cycle_days
                FROM op WHERE close_date IS NOT NULL GROUP BY {gby}""").df())
        if visits is not None and len(visits):
            _need(visits, ["date", "account_id", "rep_id", *group], "the visits")
            vi = _window(visits.assign(date=pd.to_datetime(visits["date"])), "date", start, end)
            con.register("vi", vi)
            hours = ", SUM(hours) AS visit_hours" if "hours" in vi.columns else ""
            frames.append(con.execute(f"""
                SELECT {gsel} {_period_expr(period, 'date')} AS period, COUNT(*) AS visits,
                  COUNT(*)::DOUBLE / NULLIF(COUNT(DISTINCT rep_id), 0) AS visits_per_rep{hours}
                FROM vi GROUP BY {gby}""").df())
            if accounts is not None and len(accounts):
                frames.append(_coverage(con, vi, accounts, group, period))
    finally:
        con.close()
    if not frames:
        raise KpiError("no opportunities or visits to compute field-sales KPIs from")
    keys = [*group, "period"]
    out = frames[0]
    for f in frames[1:]:
        out = out.merge(f, on=keys, how="outer")
    out = out.sort_values(keys, na_position="last").reset_index(drop=True)
    if PERIODS[period] is None:
        out = out.drop(columns="period")
    return out


def _window(df: pd.DataFrame, col: str, start, end) -> pd.DataFrame:
    keep = pd.Series(True, index=df.index)
    if start is not None:
        keep &= df[col] >= pd.Timestamp(start)
    if end is not None:
        keep &= df[col] < pd.Timestamp(end)
    return df[keep]


def _period_ends(period: str, stamps: pd.Series) -> pd.Series:
    """The (exclusive) end of each period that starts at ``stamps``."""
    step = {"day": pd.DateOffset(days=1), "week": pd.DateOffset(weeks=1), "month": pd.DateOffset(months=1),
            "quarter": pd.DateOffset(months=3), "year": pd.DateOffset(years=1)}[period]
    return pd.to_datetime(stamps) + step


def _coverage(con, vi: pd.DataFrame, accounts: pd.DataFrame, group: list[str], period: str) -> pd.DataFrame:
    """Share of accounts whose completed visits in the 365 days before the period's end reach
    the whole number of visits a year their plan asks for (at least one), per group and period.

    A trailing year, whatever the period: an account planned at 1.5 visits a year is not
    "uncovered" in a month without a visit, only when a whole year passes with none.
    """
    _need(accounts, ["account_id", "visits_per_year", *group], "the accounts")
    if PERIODS[period] is None:
        periods = pd.DataFrame({"period": [pd.Timestamp("1970-01-01")], "period_end": [vi["date"].max().normalize() + pd.Timedelta(days=1)]})
    else:
        stamps = con.execute(f"SELECT DISTINCT {_period_expr(period, 'date')} AS period FROM vi").df()["period"]
        periods = pd.DataFrame({"period": pd.to_datetime(stamps), "period_end": _period_ends(period, stamps)})
    acc = accounts[["account_id", "visits_per_year", *group]].copy()
    con.register("acc", acc)
    con.register("per", periods)
    g = _quote(group)
    gsel_a = "".join(f"acc.{c}, " for c in g)
    gby = ", ".join([*[f"acc.{c}" for c in g], "per.period"])
    return con.execute(f"""
        WITH seen AS (
            SELECT vi.account_id, per.period AS period, COUNT(*) AS n
            FROM vi JOIN per ON vi.date < per.period_end AND vi.date >= per.period_end - INTERVAL 365 DAY
            GROUP BY vi.account_id, per.period)
        SELECT {gsel_a} per.period AS period,
               AVG(CASE WHEN coalesce(seen.n, 0) >= greatest(1, floor(acc.visits_per_year))
                        THEN 1.0 ELSE 0.0 END) AS coverage
        FROM acc CROSS JOIN per
        LEFT JOIN seen ON seen.account_id = acc.account_id AND seen.period IS NOT DISTINCT FROM per.period
        WHERE acc.visits_per_year > 0
        GROUP BY {gby}""").df()


def balance_indices(totals: pd.DataFrame, *, targets: pd.DataFrame | None = None) -> pd.DataFrame:
    """Balance of each measure across territories (one row per measure column of ``totals``).

    Each territory's total x_k is read against its target t_k: the mean, or the given
    ``targets`` (same columns, one row per territory, e.g. capacity shares × the total). With
    r_k = x_k / t_k (1 on target): ``max_dev`` = max |r_k − 1|; ``cv`` = standard deviation /
    mean of r (population); ``gini``: the Gini coefficient of r (0 = every territory on its
    target, 1 = everything in one territory). Against the mean, r is x scaled, so ``cv`` and
    ``gini`` are those of the totals. Rows where x_k or t_k is missing are left out; a
    target of 0 gives an infinite ``max_dev`` unless its total is 0 too; a measure that is 0
    everywhere gives blanks.

    >>> t = pd.DataFrame({"workload": [90.0, 100.0, 110.0], "accounts": [10.0, 10.0, 10.0]})
    >>> balance_indices(t).round(4).values.tolist()
    [['workload', 0.1, 0.0816, 0.0444], ['accounts', 0.0, 0.0, 0.0]]
    >>> on_target = pd.DataFrame({"workload": [90.0, 100.0, 110.0]})
    >>> balance_indices(t[["workload"]], targets=on_target).round(4).values.tolist()
    [['workload', 0.0, 0.0, 0.0]]
    """
    from territorium.analytics.quota import gini

    rows = []
    for col in totals.columns:
        x = pd.to_numeric(totals[col], errors="coerce").to_numpy(np.float64)
        ok = np.isfinite(x)
        if targets is not None:
            tgt = pd.to_numeric(targets[col], errors="coerce").to_numpy(np.float64)
            if len(tgt) != len(x):
                raise ValueError(f"targets of {col!r}: {len(tgt)} rows for {len(x)} territories")
            ok &= np.isfinite(tgt)
        x = x[ok]
        if len(x) == 0:
            continue
        if not x.any():   # nothing to balance (a measure the plan does not have)
            rows.append([col, np.nan, np.nan, np.nan])
            continue
        tgt = np.full(len(x), x.mean()) if targets is None else tgt[ok]
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.where((x == 0) & (tgt == 0), 1.0, x / tgt)
            dev = np.abs(r - 1)
            fin = np.isfinite(r)
            cv = r[fin].std() / r[fin].mean() if fin.any() and r[fin].mean() else np.nan
        rows.append([col, float(np.nanmax(dev)), float(cv),
                     float(gini(r[fin])) if fin.any() and r[fin].sum() > 0 else np.nan])
    return pd.DataFrame(rows, columns=["measure", "max_dev", "cv", "gini"])


def attainment(actual: pd.Series, quota: pd.Series, *, elapsed: float = 1.0) -> pd.DataFrame:
    """Quota attainment per territory: actual / quota, and the pace (actual / (quota ×
    elapsed share of the period)) for a period in progress.

    >>> attainment(pd.Series({"T1": 50.0, "T2": 80.0}), pd.Series({"T1": 100.0, "T2": 100.0}),
    ...            elapsed=0.5).values.tolist()
    [[50.0, 100.0, 0.5, 1.0], [80.0, 100.0, 0.8, 1.6]]
    """
    if not 0 < elapsed <= 1:
        raise KpiError(f"elapsed must be in (0, 1], not {elapsed}")
    df = pd.DataFrame({"actual": actual.astype(float), "quota": quota.astype(float)})
    df["actual"] = df["actual"].fillna(0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        df["attainment"] = df["actual"] / df["quota"]
        df["pace"] = df["actual"] / (df["quota"] * elapsed)
    return df


# --------------------------------------------------------------- marketing and customer value
def _by_region(orders, period: str, start, end) -> pd.DataFrame:
    k = commerce(orders, by=["country", "region"], period=period, start=start, end=end)
    if PERIODS[period] is None:
        k["period"] = pd.Timestamp("1970-01-01")
    for c in ("country", "region"):
        k[c] = k[c].astype(object).where(k[c].notna(), None)
    return k[["country", "region", "period", "orders", "new_customers", "revenue"]]


def conversion(orders, sessions: pd.DataFrame, *, period: str = "month", start=None, end=None) -> pd.DataFrame:
    """Conversion rate = booked orders / sessions, per country, region and period.

    ``orders`` carry ``country`` and ``region`` (ISO 3166-2, e.g. ``US-NY``) besides the
    commerce columns; ``sessions``: ``country``, ``region``, ``period`` (the period's start,
    or NaT when the file covers the whole window; then use ``period="all"``) and ``sessions``.
    Regions without sessions are left out; regions with sessions and no orders convert at 0.

    >>> o = pd.DataFrame({"order_id": ["1", "2", "3"], "customer": ["a", "b", "c"], "total": [10.0, 20.0, 5.0],
    ...     "created_at": pd.to_datetime(["2025-01-02", "2025-01-09", "2025-02-01"]),
    ...     "country": ["US"] * 3, "region": ["US-NY", "US-NY", "US-NJ"]})
    >>> s = pd.DataFrame({"country": ["US", "US", "US"], "region": ["US-NY", "US-NJ", "US-NJ"],
    ...     "period": pd.to_datetime(["2025-01-01", "2025-01-01", "2025-02-01"]), "sessions": [100, 50, 40]})
    >>> conversion(o, s)[["region", "orders", "sessions", "conversion_rate"]].values.tolist()
    [['US-NJ', 0, 50, 0.0], ['US-NJ', 1, 40, 0.025], ['US-NY', 2, 100, 0.02]]
    """
    _need(sessions, ["country", "region", "period", "sessions"], "the sessions")
    s = sessions.copy()
    s["period"] = pd.to_datetime(s["period"]) if PERIODS[period] else pd.Timestamp("1970-01-01")
    s = s.groupby(["country", "region", "period"], as_index=False, dropna=False)["sessions"].sum()
    k = _by_region(orders, period, start, end)
    out = s.merge(k[["country", "region", "period", "orders"]], on=["country", "region", "period"], how="left")
    out["orders"] = out["orders"].fillna(0).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["conversion_rate"] = np.where(out["sessions"] > 0, out["orders"] / out["sessions"], np.nan)
    out = out.sort_values(["country", "region", "period"]).reset_index(drop=True)
    return out.drop(columns="period") if PERIODS[period] is None else out


def cac(orders, spend: pd.DataFrame, *, period: str = "month", start=None, end=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Customer acquisition cost = marketing spend / new customers, per country, region and
    period; and the spend per channel of each (``spend``: ``date``, ``country``, ``region``,
    ``channel``, ``spend``). Channels are not attributed to customers: CAC is per region.

    >>> o = pd.DataFrame({"order_id": ["1", "2"], "customer": ["a", "b"], "total": [10.0, 20.0],
    ...     "created_at": pd.to_datetime(["2025-01-02", "2025-01-09"]), "country": ["US", "US"],
    ...     "region": ["US-NY", "US-NY"]})
    >>> sp = pd.DataFrame({"date": pd.to_datetime(["2025-01-01", "2025-01-15"]), "country": ["US", "US"],
    ...     "region": ["US-NY", "US-NY"], "channel": ["search", "social"], "spend": [60.0, 40.0]})
    >>> c, ch = cac(o, sp)
    >>> c[["region", "spend", "new_customers", "cac"]].values.tolist(), ch["spend"].tolist()
    ([['US-NY', 100.0, 2, 50.0]], [60.0, 40.0])
    """
    _need(spend, ["date", "country", "region", "channel", "spend"], "the marketing spend")
    sp = spend.copy()
    sp["period"] = (pd.to_datetime(sp["date"]).dt.to_period({"day": "D", "week": "W-SUN", "month": "M",
                                                              "quarter": "Q", "year": "Y"}[period]).dt.start_time
                    if PERIODS[period] else pd.Timestamp("1970-01-01"))
    if start is not None:
        sp = sp[pd.to_datetime(sp["date"]) >= pd.Timestamp(start)]
    if end is not None:
        sp = sp[pd.to_datetime(sp["date"]) < pd.Timestamp(end)]
    by_ch = sp.groupby(["country", "region", "period", "channel"], as_index=False, dropna=False)["spend"].sum()
    tot = sp.groupby(["country", "region", "period"], as_index=False, dropna=False)["spend"].sum()
    k = _by_region(orders, period, start, end)
    out = tot.merge(k[["country", "region", "period", "new_customers"]], on=["country", "region", "period"], how="left")
    out["new_customers"] = out["new_customers"].fillna(0).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["cac"] = np.where(out["new_customers"] > 0, out["spend"] / out["new_customers"], np.nan)
    out = out.sort_values(["country", "region", "period"]).reset_index(drop=True)
    by_ch = by_ch.sort_values(["country", "region", "period", "channel"]).reset_index(drop=True)
    if PERIODS[period] is None:
        out, by_ch = out.drop(columns="period"), by_ch.drop(columns="period")
    return out, by_ch


def clv(orders, *, by: str | Sequence[str] | None = "territory", cohort: str = "quarter", horizon_days: int = 365,
        asof=None) -> pd.DataFrame:
    """Historical customer value: the mean booked revenue (and orders) of a customer in the
    ``horizon_days`` from their first order on, per group of that first order and acquisition
    cohort. Only cohorts whose customers all had the full horizon before ``asof`` (default:
    the day after the last order) are reported.

    >>> o = pd.DataFrame({"order_id": list("12345"), "customer": list("aabbc"), "total": [10.0, 30.0, 5.0, 7.0, 1.0],
    ...     "created_at": pd.to_datetime(["2024-01-05", "2024-06-01", "2024-02-01", "2025-03-01", "2025-06-01"]),
    ...     "territory": ["T1", "T2", "T1", "T1", "T1"]})
    >>> clv(o, asof="2025-12-31")[["territory", "cohort", "customers", "value", "orders"]].values.tolist()
    [['T1', Timestamp('2024-01-01 00:00:00'), 2, 22.5, 1.5]]
    """
    group = _group_cols(by)
    names = list(orders.column_names if hasattr(orders, "column_names") else orders.columns)
    _need_names(names, ["order_id", "created_at", "customer", "total", *group], "the orders")
    g = _quote(group)
    status = "lower(financial_status::VARCHAR)" if "financial_status" in names else "NULL::VARCHAR"
    booked = ", ".join(f"'{s}'" for s in BOOKED)
    first_cols = "".join(f", arg_min({c}, created_at) AS {c}" for c in g)
    sel = "".join(f"{c}, " for c in g)
    con = duckdb.connect()
    try:
        con.register("o", orders)
        end = pd.Timestamp(asof) if asof is not None else None
        if end is None:
            end = pd.Timestamp(con.execute("SELECT MAX(created_at) FROM o").fetchone()[0]).normalize() + pd.Timedelta(days=1)
        res = con.execute(f"""
            WITH b AS (SELECT customer, created_at::TIMESTAMP AS created_at, total{''.join(', ' + c for c in g)}
                       FROM o WHERE customer IS NOT NULL AND ({status} IS NULL OR {status} IN ({booked}))),
            f AS (SELECT customer, MIN(created_at) AS first_at{first_cols} FROM b GROUP BY customer),
            v AS (SELECT f.customer, {''.join('f.' + c + ', ' for c in g)} f.first_at, SUM(b.total) AS value,
                         COUNT(*) AS n
                  FROM f JOIN b ON b.customer = f.customer
                  WHERE b.created_at < f.first_at + INTERVAL {int(horizon_days)} DAY
                  GROUP BY ALL)
            SELECT {sel} date_trunc('{PERIODS[cohort] or 'year'}', first_at)::TIMESTAMP AS cohort,
                   COUNT(*) AS customers, AVG(value) AS value, AVG(n) AS orders,
                   MAX(first_at) AS last_first
            FROM v GROUP BY ALL ORDER BY ALL""").df()
    finally:
        con.close()
    cohort_end = _period_ends(cohort if PERIODS[cohort] else "year", res["cohort"])
    full = cohort_end + pd.Timedelta(days=horizon_days) <= end
    res = res[full.to_numpy()].drop(columns="last_first").reset_index(drop=True)
    res["customers"] = res["customers"].astype(np.int64)
    return res
