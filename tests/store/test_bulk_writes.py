"""Bulk writes on both backends (issue 13): the PostgreSQL path (Arrow CSV into COPY, orders
linked before COPY) stores exactly what the SQLite path stores, and the schema is created once
when several processes start on a new database together."""
from __future__ import annotations

import multiprocessing as mp

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from territorium import store
from territorium.store.db import write_frames

TRICKY = ['plain', 'comma, inside', 'quote " inside', '"quoted"', 'new\nline', 'tab\there', 'back\\slash',
          '\\N', ' padded ', 'Lumière & Co. — ü', '=HYPERLINK("x")', '', None]


def frames():
    n = len(TRICKY)
    accounts = pd.DataFrame({
        "account_id": [f"A{i}" for i in range(n)], "name": [t if t else f"n{i}" for i, t in enumerate(TRICKY)],
        "city": TRICKY, "state": ["NY"] * n, "zip": ["10001"] * n,
        "annual_revenue": [0.1, 1e300, -0.0, np.inf, np.nan, 2 / 3, 1234567.891, 5e-324, 7, 8, 9, 10, 11],
        "employees": [1, 2, None, 4, 5, 6, 7, 8, 9, 10, 11, 12, 2_000_000_000],
        "lat": np.linspace(40, 41, n), "lon": np.linspace(-74, -73, n),
    })
    contacts = pd.DataFrame({"contact_id": ["C2", "C1", "C3", "C4"], "account_id": ["A2", "A1", None, "A4"],
                             "email": ["x@y.com", "x@y.com", "z@y.com", None]})
    orders = pd.DataFrame({
        "order_id": ["#1", "#2", "#3", "#4"], "customer_email": ["x@y.com", "z@y.com", None, "q@y.com"],
        "created_at": pd.to_datetime(["2025-01-01 10:00:00.123456+00:00", "2025-02-01 00:00:00.0+00:00", "2025-03-01 00:00:00.0+00:00", "2025-04-01 00:00:00.0+00:00"], utc=True),
        "total": [10.5, 20.25, None, 1.0], "financial_status": ["paid", "", "refunded", None],
    })
    return {"accounts": accounts, "contacts": contacts, "orders": orders}


def stored(eng):
    out = {}
    for t in ("accounts", "contacts", "orders"):
        df = store.read_table(eng, t)
        out[t] = df.sort_values(df.columns[0]).reset_index(drop=True)
    return out


@pytest.mark.postgres
def test_postgres_stores_what_sqlite_stores(sqlite_engine, pg_engine):
    res = {}
    for name, eng in (("sqlite", sqlite_engine), ("postgresql", pg_engine)):
        store.upgrade(eng)
        with eng.begin() as conn:
            write_frames(conn, frames())
        res[name] = stored(eng)
    for t in res["sqlite"]:
        pd.testing.assert_frame_equal(res["postgresql"][t], res["sqlite"][t], check_dtype=False)
    acc = res["postgresql"]["accounts"].set_index("account_id")
    # the values themselves, not only agreement: tricky text intact, '' and non-finite as NULL
    for i, t in enumerate(TRICKY):
        assert acc.loc[f"A{i}", "city"] == (t if t else None)
    rev = acc["annual_revenue"]
    assert rev["A0"] == 0.1 and rev["A1"] == 1e300 and rev["A5"] == 2 / 3 and rev["A7"] == 5e-324
    assert pd.isna(rev["A3"]) and pd.isna(rev["A4"])
    assert acc.loc["A12", "employees"] == 2_000_000_000 and pd.isna(acc.loc["A2", "employees"])
    orders = res["postgresql"]["orders"].set_index("order_id")
    assert orders.loc["#1", "account_id"] == "A1"  # the first contact by contact_id with that e-mail
    assert orders["account_id"].drop("#1").isna().all()
    assert orders.loc["#1", "created_at"] == pd.Timestamp("2025-01-01 10:00:00.123456", tz="UTC")
    assert pd.isna(orders.loc["#2", "financial_status"])


@pytest.mark.parametrize("order", ["contacts first", "orders first"])
def test_orders_link_to_contacts_in_either_import_order(db_engine, order):
    store.upgrade(db_engine)
    f = frames()
    steps = [{"contacts": f["contacts"]}, {"orders": f["orders"]}]
    for step in (steps if order == "contacts first" else steps[::-1]):
        with db_engine.begin() as conn:
            write_frames(conn, step)
    links = store.read_table(db_engine, "orders").set_index("order_id")["account_id"]
    assert links["#1"] == "A1" and links.drop("#1").isna().all()
    # contacts replaced: the stored orders follow the new contacts
    new = pd.DataFrame({"contact_id": ["C9"], "account_id": ["A9"], "email": ["z@y.com"]})
    with db_engine.begin() as conn:
        write_frames(conn, {"contacts": new}, replace=True)
    links = store.read_table(db_engine, "orders").set_index("order_id")["account_id"]
    assert links["#2"] == "A9" and links.drop("#2").isna().all()


def _upgrade(url, schema, q):
    try:
        eng = store.engine(url, schema=schema)
        store.upgrade(eng)
        q.put("ok")
    except Exception as exc:  # reported to the test
        q.put(f"{type(exc).__name__}: {exc}")


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_schema_created_once_by_concurrent_first_users(backend, tmp_path, request):
    if backend == "sqlite":
        url, schema = f"sqlite:///{tmp_path / 'new.db'}", None
    else:
        pg = request.getfixturevalue("pg_engine")
        url = pg.url.render_as_string(hide_password=False)
        with pg.connect() as conn:
            schema = conn.execute(sa.text("SELECT current_schema()")).scalar()
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_upgrade, args=(url, schema, q)) for _ in range(4)]
    for p in procs:
        p.start()
    results = [q.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert results == ["ok"] * 4
    eng = store.engine(url, schema=schema)
    with eng.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM alembic_version")).scalar() == 1
    assert "accounts" in sa.inspect(eng).get_table_names()
    eng.dispose()
