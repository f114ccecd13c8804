"""Benchmark: import a 1M-line Shopify orders export into SQLite and PostgreSQL.

Generates (deterministically, from ``--seed``) a Shopify admin orders CSV with the real
header (one row per line item, order-level fields on the first line only) in a temporary
directory, then times the stages of ``territorium.data.import_file``: parse + validate
(+ geocode) once, and store (one transaction, bulk insert) into a new SQLite file and into a
fresh schema of the PostgreSQL server at ``--pg-url`` (default ``TERRITORIUM_TEST_PG_URL``,
else the local server of ``.ci/run``; skipped with a note when none answers).
Target: < 60 s on 2 cores, PostgreSQL no slower than SQLite.

    python bench/import_orders.py            # 1,000,000 lines
    python bench/import_orders.py --lines 100000 --json
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from territorium.data.demo import HEADERS  # the real Shopify export header

SHOPIFY_HEADER = list(HEADERS["shopify_orders.csv"])


def generate(path: Path, lines: int, seed: int = 7) -> int:
    """Write a Shopify orders CSV with ``lines`` line items; returns the number of orders."""
    from territorium.geo.reference import zip_table

    rng = np.random.default_rng(seed)
    z = zip_table()
    from territorium.geo.reference import STATES

    z = z.loc[(z["zip_type"] == "STANDARD") & z["lat"].notna() & z["state"].isin(list(STATES))]
    per_order = rng.integers(1, 6, size=lines)  # 1..5 lines, mean 3
    sizes = per_order[np.cumsum(per_order) <= lines]
    if sizes.sum() < lines:
        sizes = np.append(sizes, lines - sizes.sum())
    n_orders = len(sizes)
    order_of_line = np.repeat(np.arange(n_orders), sizes)
    first = np.ones(lines, dtype=bool)
    first[1:] = order_of_line[1:] != order_of_line[:-1]

    zi = rng.integers(0, len(z), size=n_orders)
    zips, states = z["zip"].to_numpy()[zi], z["state"].to_numpy()[zi]
    start = np.datetime64("2023-01-01T00:00:00")
    secs = np.sort(rng.integers(0, 2 * 365 * 86400, size=n_orders))
    created = pd.Series(start + secs.astype("timedelta64[s]")).dt.strftime("%Y-%m-%d %H:%M:%S -0500").to_numpy()
    qty = rng.integers(1, 4, size=lines)
    price = np.round(rng.choice([12.5, 18.0, 24.0, 32.0, 45.0, 68.0], size=lines), 2)
    sub = np.bincount(order_of_line, weights=qty * price)
    disc = np.where(rng.random(n_orders) < 0.15, np.round(sub * 0.1, 2), 0.0)
    total = np.round(sub - disc + 6.95, 2)
    cust = rng.integers(0, max(1, n_orders // 3), size=n_orders)
    skus = np.array([f"SKU-{i:04d}" for i in range(400)])
    names = np.array([f"{a} {b}" for a in ("Hydra", "Velvet", "Glow", "Silk", "Rose") for b in
                      ("Serum", "Shampoo", "Eau de Parfum", "Tee", "Mask", "Cream", "Oil", "Balm")])

    def order_level(values, empty=""):
        out = np.full(lines, empty, dtype=object)
        out[first] = values
        return out

    cols = {h: None for h in SHOPIFY_HEADER}
    cols["Name"] = np.char.add("#", (1001 + order_of_line).astype(str))
    cols["Email"] = order_level(np.char.add(np.char.add("c", cust.astype(str)), "@example.com"))
    cols["Financial Status"] = order_level(rng.choice(["paid", "paid", "paid", "refunded", "pending"], n_orders))
    cols["Currency"] = order_level("USD")
    cols["Subtotal"] = order_level(np.char.mod("%.2f", sub))
    cols["Shipping"] = order_level("6.95")
    cols["Total"] = order_level(np.char.mod("%.2f", total))
    cols["Discount Code"] = order_level(np.where(disc > 0, "WELCOME10", ""))
    cols["Discount Amount"] = order_level(np.char.mod("%.2f", disc))
    cols["Created at"] = created[order_of_line]
    cols["Lineitem quantity"] = qty.astype(str)
    cols["Lineitem name"] = rng.choice(names, lines)
    cols["Lineitem price"] = np.char.mod("%.2f", price)
    cols["Lineitem sku"] = rng.choice(skus, lines)
    cols["Billing Zip"] = order_level(np.char.add("'", zips))
    cols["Billing Province"] = order_level(states)
    cols["Billing Country"] = order_level("US")
    cols["Shipping Zip"] = order_level(np.char.add("'", zips))
    cols["Shipping Province"] = order_level(states)
    cols["Shipping Country"] = order_level("US")
    cols["Id"] = order_level((5_000_000_000 + np.arange(n_orders)).astype(str))
    df = pd.DataFrame({h: (v if v is not None else "") for h, v in cols.items()})
    df.to_csv(path, index=False)
    return n_orders


PG_DEFAULT = "postgresql+psycopg://territorium:territorium@localhost:5432/territorium_test"


def store_postgres(url: str, items) -> tuple[float, dict] | str:
    """Seconds to store ``items`` into a fresh schema (dropped afterwards) and the row counts,
    or why PostgreSQL was left out."""
    import uuid

    import sqlalchemy as sa

    from territorium import store

    try:
        admin = sa.create_engine(store.engine(url).url, connect_args={"connect_timeout": 3})
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # no server
        return f"PostgreSQL not reachable at {url} ({type(exc).__name__})"
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        eng = store.engine(url, schema=schema)
        store.upgrade(eng)
        t0 = time.perf_counter()
        store.write_import(eng, items)
        took = time.perf_counter() - t0
        counts = store.table_counts(eng)
        eng.dispose()
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    return took, counts


def run(lines: int, seed: int, workdir: Path, pg_url: str | None = None) -> dict:
    from territorium import store
    from territorium.data import read_file
    from territorium.data.importer import _finish_frames

    csv_path = workdir / "orders_export.csv"
    t0 = time.perf_counter()
    n_orders = generate(csv_path, lines, seed)
    t_gen = time.perf_counter() - t0
    size_mb = csv_path.stat().st_size / 1e6

    t0 = time.perf_counter()
    result = read_file(csv_path, "orders", format="shopify")
    t_read = time.perf_counter() - t0
    assert result.ok, result.problems.head()

    items = [(result, _finish_frames(result))]
    eng = store.engine(f"sqlite:///{workdir / 'bench.db'}")
    store.upgrade(eng)
    t0 = time.perf_counter()
    store.write_import(eng, items)
    t_store = time.perf_counter() - t0
    counts = store.table_counts(eng)
    eng.dispose()
    pg = store_postgres(pg_url, items) if pg_url else "PostgreSQL left out (--pg-url '')"
    if isinstance(pg, tuple):
        assert pg[1]["order_lines"] == counts["order_lines"] and pg[1]["orders"] == counts["orders"], pg[1]

    # peers, same file, same run: a bare parse (no checks) and pandas' row-wise to_sql
    import sqlite3

    import pyarrow.csv as pacsv

    t0 = time.perf_counter()
    tbl = pacsv.read_csv(csv_path, convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
    t_arrow = time.perf_counter() - t0
    frame = tbl.to_pandas()
    con = sqlite3.connect(workdir / "peer.db")
    t0 = time.perf_counter()
    frame.to_sql("orders_raw", con, index=False, chunksize=50_000)
    con.commit()
    t_tosql = time.perf_counter() - t0
    con.close()
    return {
        "peer_pyarrow_parse_s": round(t_arrow, 2), "peer_pandas_to_sql_s": round(t_tosql, 2),
        "lines": lines, "orders": n_orders, "csv_mb": round(size_mb, 1), "generate_s": round(t_gen, 2),
        "parse_validate_s": round(t_read, 2), "store_s": round(t_store, 2),
        "total_import_s": round(t_read + t_store, 2), "stored_lines": counts["order_lines"],
        "stored_orders": counts["orders"], "cpus": os.cpu_count(),
        "pg_store_s": round(pg[0], 2) if isinstance(pg, tuple) else None,
        "pg_total_import_s": round(t_read + pg[0], 2) if isinstance(pg, tuple) else None,
        "pg_note": None if isinstance(pg, tuple) else pg,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", action="store_true", help="print JSON instead of a markdown table")
    ap.add_argument("--pg-url", default=os.environ.get("TERRITORIUM_TEST_PG_URL", "").strip() or PG_DEFAULT,
                    help="PostgreSQL server for the second store ('' leaves it out)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="territorium-bench-") as tmp:
        res = run(args.lines, args.seed, Path(tmp), args.pg_url)
    if args.json:
        print(json.dumps(res, indent=2))
        return
    print("| backend | lines | orders | CSV MB | parse+validate s | store s | import total s | target |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    ok = "pass" if res["total_import_s"] < 60 else "FAIL"
    print(f"| SQLite | {res['lines']:,} | {res['orders']:,} | {res['csv_mb']} | {res['parse_validate_s']} | "
          f"{res['store_s']} | {res['total_import_s']} | < 60 s: {ok} |")
    if res["pg_store_s"] is not None:
        ok = "pass" if res["pg_total_import_s"] <= res["total_import_s"] else "FAIL"
        print(f"| PostgreSQL | {res['lines']:,} | {res['orders']:,} | {res['csv_mb']} | {res['parse_validate_s']} | "
              f"{res['pg_store_s']} | {res['pg_total_import_s']} | <= SQLite: {ok} |")
    else:
        print(f"\n{res['pg_note']}")
    print()
    print("| same file, same run | seconds | Territorium import / peer |")
    print("|---|---:|---:|")
    print(f"| Territorium import (parse, validate, geocode, store in one transaction) | {res['total_import_s']} | 1.00 |")
    for label, key in (("pyarrow.csv.read_csv (parse only, no checks, no store)", "peer_pyarrow_parse_s"),
                       ("pandas DataFrame.to_sql into SQLite (store only, no checks)", "peer_pandas_to_sql_s")):
        print(f"| {label} | {res[key]} | {res['total_import_s'] / max(res[key], 1e-9):.2f} |")


if __name__ == "__main__":
    main()
