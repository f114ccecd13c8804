"""Benchmark: a month × territory commerce-KPI table from 10 million order lines.

Territorium (``analytics.kpi.commerce``, DuckDB over Arrow frames read from a Parquet mirror)
against two peers on the same data in the same run:

- **pandas**: the same Parquet files, ``groupby`` for lines per order, orders, revenue,
  units, distinct customers and new customers (first order ever in the period);
- **plain SQL**: the same query written for SQLite over a database holding the same two
  tables (what ``territorium.db`` is), with indexes on the join and grouping keys.

All three produce orders, revenue, units per order, customers and new customers per
territory and month; the script checks that they agree before printing the times. Loading
the data into SQLite and writing the Parquet files are set-up and not timed.

    python bench/kpi_aggregation.py                  # 10M lines (about 3.3M orders)
    python bench/kpi_aggregation.py --lines 1000000 --json
"""
from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def make(n_lines: int, seed: int = 11) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n_orders = n_lines // 3
    per = rng.multinomial(n_lines - n_orders, np.full(n_orders, 1 / n_orders)) + 1   # ≥ 1 line per order
    orders = pd.DataFrame({
        "order_id": np.arange(n_orders, dtype=np.int64),
        "customer": rng.zipf(1.6, n_orders) % (n_orders // 4),
        "created_at": pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 3 * 365 * 24, n_orders), unit="h"),
        "territory": rng.integers(0, 200, n_orders).astype(str),
        "financial_status": rng.choice(np.array(["paid", "refunded", "pending", "voided"], dtype=object), n_orders,
                                       p=[.85, .06, .06, .03]),
    })
    lines = pd.DataFrame({
        "order_id": np.repeat(orders["order_id"].to_numpy(), per),
        "quantity": rng.integers(1, 5, n_lines),
        "price": rng.gamma(2.0, 25.0, n_lines).round(2),
    })
    tot = (lines["quantity"] * lines["price"]).groupby(lines["order_id"]).sum()
    orders["total"] = tot.reindex(orders["order_id"]).to_numpy()
    return orders, lines


def territorium(od: Path, ld: Path) -> pd.DataFrame:
    import duckdb

    from territorium.analytics.kpi import commerce

    con = duckdb.connect()
    orders = con.sql(
        f"SELECT o.*, u.units FROM read_parquet('{od}') o LEFT JOIN (SELECT order_id, SUM(quantity) AS units "
        f"FROM read_parquet('{ld}') GROUP BY order_id) u USING (order_id)").to_arrow_table()
    con.close()
    k = commerce(orders, by="territory", period="month")
    return k[["territory", "period", "orders", "revenue", "units_per_order", "customers", "new_customers"]]


def pandas_peer(od: Path, ld: Path) -> pd.DataFrame:
    o = pd.read_parquet(od)
    li = pd.read_parquet(ld, columns=["order_id", "quantity"])
    units = li.groupby("order_id")["quantity"].sum()
    o["units"] = o["order_id"].map(units)
    placed = o[o["financial_status"] != "voided"]
    first = placed.groupby("customer")["created_at"].min()
    b = o[o["financial_status"].isin(["paid", "pending"])].copy()
    b["period"] = b["created_at"].dt.to_period("M").dt.start_time
    k = b.groupby(["territory", "period"]).agg(orders=("order_id", "size"), revenue=("total", "sum"),
                                               units=("units", "sum"), customers=("customer", "nunique"))
    fh = b.groupby(["territory", "period", "customer"])["created_at"].min().reset_index()
    fh["new"] = fh["created_at"].to_numpy() == fh["customer"].map(first).to_numpy()
    k["new_customers"] = fh.groupby(["territory", "period"])["new"].sum()
    k["units_per_order"] = k["units"] / k["orders"]
    return k.reset_index()[["territory", "period", "orders", "revenue", "units_per_order", "customers",
                            "new_customers"]]


SQL = """
WITH firsts AS (SELECT customer, MIN(created_at) AS first_at FROM orders
                WHERE financial_status <> 'voided' GROUP BY customer),
u AS (SELECT order_id, SUM(quantity) AS units FROM lines GROUP BY order_id),
b AS (SELECT o.territory, substr(o.created_at, 1, 7) AS period, o.customer, o.created_at, o.total, u.units
      FROM orders o JOIN u USING (order_id) WHERE o.financial_status IN ('paid', 'pending')),
pc AS (SELECT territory, period, customer, MIN(created_at) AS first_here FROM b GROUP BY 1, 2, 3)
SELECT k.territory, k.period, k.orders, k.revenue, k.units * 1.0 / k.orders AS units_per_order, c.customers,
       c.new_customers
FROM (SELECT territory, period, COUNT(*) AS orders, SUM(total) AS revenue, SUM(units) AS units
      FROM b GROUP BY 1, 2) k
JOIN (SELECT pc.territory, pc.period, COUNT(*) AS customers,
             SUM(CASE WHEN pc.first_here = f.first_at THEN 1 ELSE 0 END) AS new_customers
      FROM pc JOIN firsts f USING (customer) GROUP BY 1, 2) c USING (territory, period)
"""


def sql_peer(db: Path) -> pd.DataFrame:
    con = sqlite3.connect(db)
    try:
        k = pd.read_sql(SQL, con)
    finally:
        con.close()
    k["period"] = pd.to_datetime(k["period"] + "-01")
    return k


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=10_000_000)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-sql", action="store_true", help="skip the SQLite peer (its load takes minutes)")
    a = ap.parse_args()
    orders, lines = make(a.lines)
    work = Path(tempfile.mkdtemp(prefix="kpi-bench-"))
    od, ld = work / "orders.parquet", work / "lines.parquet"
    orders.to_parquet(od)
    lines.to_parquet(ld)
    res = {"lines": a.lines, "orders": len(orders)}
    runs = {}
    for name, fn in (("territorium (DuckDB)", lambda: territorium(od, ld)), ("pandas", lambda: pandas_peer(od, ld))):
        t0 = time.perf_counter()
        runs[name] = fn()
        res[name] = time.perf_counter() - t0
    if not a.no_sql:
        db = work / "kpi.db"
        con = sqlite3.connect(db)
        o = orders.assign(created_at=orders["created_at"].dt.strftime("%Y-%m-%d %H:%M:%S"))
        o.to_sql("orders", con, index=False, chunksize=200_000)
        lines[["order_id", "quantity"]].to_sql("lines", con, index=False, chunksize=500_000)
        con.execute("CREATE INDEX l_o ON lines(order_id)")
        con.execute("CREATE INDEX o_c ON orders(customer, created_at)")
        con.commit()
        con.close()
        t0 = time.perf_counter()
        runs["plain SQL (SQLite)"] = sql_peer(db)
        res["plain SQL (SQLite)"] = time.perf_counter() - t0
    ref = runs["territorium (DuckDB)"].sort_values(["territory", "period"]).reset_index(drop=True)
    for name, df in runs.items():
        d = df.sort_values(["territory", "period"]).reset_index(drop=True)
        assert len(d) == len(ref), name
        for col in ("orders", "customers", "new_customers"):
            assert (d[col].to_numpy() == ref[col].to_numpy()).all(), (name, col)
        np.testing.assert_allclose(d["revenue"], ref["revenue"], rtol=1e-9, err_msg=name)
        np.testing.assert_allclose(d["units_per_order"], ref["units_per_order"], rtol=1e-9, err_msg=name)
    res["rows"] = len(ref)
    if a.json:
        print(json.dumps(res, indent=1))
        return
    print(f"\n{a.lines:,} order lines, {len(orders):,} orders -> {len(ref):,} territory × month rows "
          "(all three agree)\n")
    print("| engine | seconds | × Territorium |")
    print("|---|---:|---:|")
    base = res["territorium (DuckDB)"]
    for name in runs:
        print(f"| {name} | {res[name]:.2f} | {res[name] / base:.1f}× |")


if __name__ == "__main__":
    main()
