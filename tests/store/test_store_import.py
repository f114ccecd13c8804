"""The workspace database: migrations, one-transaction imports (counted), rejects, reads.

Runs on a fresh SQLite file and on a fresh PostgreSQL schema (``db_engine``).
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from territorium import store
from territorium.data import import_directory, import_file, read_file
from territorium.data.importer import _finish_frames
from territorium.store import StoreError

sys.path.insert(0, str(Path(__file__).parents[1] / "data"))
from _importfiles import (  # noqa: E402
    GOOD_ACCOUNTS, GOOD_ORDERS, SF_ACCOUNT_HEADER, SHOPIFY_HEADER, shopify_line, write,
)

BAD_ACCOUNT = "001Z,Bad,,,,Austin,TX,10001,US,-1,1,005X,,,,"


def count(eng, table):
    with eng.connect() as conn:
        return conn.execute(sa.text(f'SELECT COUNT(*) FROM "{table}"')).scalar()


def test_alembic_upgrade_on_fresh_sqlite_file(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    store.upgrade(url)
    eng = store.engine(url)
    names = set(sa.inspect(eng).get_table_names())
    assert {"accounts", "orders", "order_lines", "import_batches", "alembic_version", "reps", "alignment"} <= names
    from territorium.store.db import current_revision

    from alembic.script import ScriptDirectory

    from territorium.store.db import _alembic_config

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head >= "0002" and current_revision(eng) == head
    store.upgrade(url)  # idempotent
    eng.dispose()


def test_migrations_match_models(sqlite_engine):
    """Autogenerate finds nothing to do: the models and the migrations agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from territorium.store.models import Base

    store.upgrade(sqlite_engine)
    with sqlite_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_file_with_an_error_imports_nothing(db_engine, tmp_path, today):
    path = write(tmp_path / "accounts.csv", SF_ACCOUNT_HEADER, GOOD_ACCOUNTS + [BAD_ACCOUNT])
    r = import_file(path, "accounts", engine=db_engine, today=today)
    assert not r.ok and not r.stored and r.imported == 0
    store.upgrade(db_engine)
    assert count(db_engine, "accounts") == 0
    assert not (tmp_path / "accounts.rejects.csv").exists()


def test_skip_invalid_imports_good_rows_and_writes_rejects(db_engine, tmp_path, today):
    path = write(tmp_path / "accounts.csv", SF_ACCOUNT_HEADER, GOOD_ACCOUNTS + [BAD_ACCOUNT])
    r = import_file(path, "accounts", engine=db_engine, today=today, skip_invalid=True)
    assert r.stored and r.imported == 3 and r.rejected == 1
    assert count(db_engine, "accounts") == 3
    rejects = pd.read_csv(tmp_path / "accounts.rejects.csv", dtype=str)
    assert list(rejects.columns[:3]) == ["_row", "_reasons", "Id"]
    assert list(rejects["_row"]) == ["5"] and list(rejects["Id"]) == ["001Z"]
    reasons = rejects.loc[0, "_reasons"]
    assert "AnnualRevenue: negative value is impossible (-1)" in reasons
    assert "BillingPostalCode: ZIP 10001 is in NY, not TX (10001)" in reasons
    with db_engine.connect() as conn:
        batch = conn.execute(sa.text("SELECT \"table\", rows, rejected FROM import_batches")).one()
    assert tuple(batch) == ("accounts", 3, 1)


def test_database_failure_halfway_rolls_back_everything(db_engine, tmp_path, today):
    """Accounts are written first, then order lines hit a primary-key violation: nothing stays."""
    acc = read_file(write(tmp_path / "a.csv", SF_ACCOUNT_HEADER, GOOD_ACCOUNTS), "accounts", today=today)
    orders = read_file(write(tmp_path / "o.csv", SHOPIFY_HEADER, GOOD_ORDERS), "orders", today=today)
    frames = _finish_frames(orders)
    frames["order_lines"] = pd.concat([frames["order_lines"], frames["order_lines"].tail(1)], ignore_index=True)
    with pytest.raises(StoreError, match="nothing was stored"):
        store.write_import(db_engine, [(acc, _finish_frames(acc)), (orders, frames)])
    for t in ("accounts", "orders", "order_lines", "import_batches"):
        assert count(db_engine, t) == 0, t


def test_same_ids_again_fail_cleanly_and_replace_works(db_engine, tmp_path, today):
    path = write(tmp_path / "accounts.csv", SF_ACCOUNT_HEADER, GOOD_ACCOUNTS)
    import_file(path, "accounts", engine=db_engine, today=today)
    with pytest.raises(StoreError, match="--replace"):
        import_file(path, "accounts", engine=db_engine, today=today)
    assert count(db_engine, "accounts") == 3
    path2 = write(tmp_path / "accounts2.csv", SF_ACCOUNT_HEADER, GOOD_ACCOUNTS[:2])
    import_file(path2, "accounts", engine=db_engine, today=today, replace=True)
    assert count(db_engine, "accounts") == 2


def test_orders_round_trip_link_to_accounts_and_aggregate(db_engine, tmp_path, today):
    write(tmp_path / "accounts.csv", SF_ACCOUNT_HEADER, GOOD_ACCOUNTS)
    write(tmp_path / "contacts.csv", "Id,AccountId,FirstName,LastName,Email,Phone",
          ["003A,001A,Ann,Lee,ann@example.com,1", "003B,001C,Bob,Ray,BOB@example.com,2"])
    write(tmp_path / "orders.csv", SHOPIFY_HEADER, GOOD_ORDERS)
    (tmp_path / "manifest.yaml").write_text(
        "files:\n"
        "  - {file: orders.csv, table: orders, format: shopify}\n"
        "  - {file: accounts.csv, table: accounts, format: salesforce}\n"
        "  - {file: contacts.csv, table: contacts, format: salesforce}\n"
    )
    res = import_directory(tmp_path, engine=db_engine, today=today)
    assert res.stored and res.ok
    assert count(db_engine, "orders") == 3 and count(db_engine, "order_lines") == 6
    o = store.read_table(db_engine, "orders").set_index("order_id")
    assert o.loc["#1001", "account_id"] == "001A" and o.loc["#1002", "account_id"] == "001C"
    assert o.loc["#1003", "account_id"] is None
    assert o["created_at"].dt.tz is not None
    assert o.loc["#1001", "created_at"] == pd.Timestamp("2025-03-01 15:00:00", tz="UTC")
    lines = store.read_table(db_engine, "order_lines")
    assert lines["quantity"].dtype == "Int64" and lines["quantity"].sum() == 9
    acc = store.read_table(db_engine, "accounts")
    assert set(acc["geocode"]) == {"zip"}
    by_acc = store.order_totals(db_engine, by="account", statuses=None).set_index("key")
    assert by_acc.loc["001A", "revenue"] == 36.95 and by_acc.loc["001A", "orders"] == 1
    by_zip = store.order_totals(db_engine, by="zip", start="2025-03-02", end="2025-03-04", statuses=["paid"])
    assert list(by_zip["key"]) == ["10001"] and by_zip.loc[0, "customers"] == 1


def test_directory_with_one_bad_file_imports_nothing(db_engine, tmp_path, today):
    write(tmp_path / "accounts.csv", SF_ACCOUNT_HEADER, GOOD_ACCOUNTS)
    bad = list(GOOD_ORDERS)
    bad[2] = shopify_line("#1002", "bob@example.com", "paid", "ZZZ", "15", "20", "2025-03-02 11:00:00 -0500")
    write(tmp_path / "orders.csv", SHOPIFY_HEADER, bad)
    (tmp_path / "manifest.yaml").write_text(
        "- {file: accounts.csv, table: accounts, format: salesforce}\n- {file: orders.csv, table: orders}\n")
    res = import_directory(tmp_path, engine=db_engine, today=today)
    assert not res.stored and not res.ok
    store.upgrade(db_engine)
    assert count(db_engine, "accounts") == 0 and count(db_engine, "orders") == 0
    res = import_directory(tmp_path, engine=db_engine, today=today, skip_invalid=True)
    assert res.stored and count(db_engine, "accounts") == 3 and count(db_engine, "orders") == 2
    assert (tmp_path / "orders.rejects.csv").exists()


def test_engine_defaults_to_sqlite_file_in_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TERRITORIUM_DATABASE_URL", raising=False)
    eng = store.engine()
    assert eng.dialect.name == "sqlite" and Path(eng.url.database) == tmp_path / "territorium.db"
    eng.dispose()


def test_activity_totals(db_engine, tmp_path, today):
    path = write(tmp_path / "tasks.csv", "Id,WhatId,OwnerId,Subject,Type,ActivityDate,DurationInMinutes,Status",
                 ["00TA,001A,005X,Visit,Visit,2025-06-01,30,Completed",
                  "00TB,001A,005X,Visit,Visit,2025-06-10,45,Completed",
                  "00TC,001A,005Y,Call,Call,2025-05-01,10,Completed",
                  "00TD,001B,005X,Email,Email,2024-01-01,,Completed"])
    import_file(path, "activities", engine=db_engine, today=today)
    t = store.activity_totals(db_engine, by="account", start="2025-01-01")
    assert t.to_dict("records") == [
        {"key": "001A", "type": "call", "activities": 1, "minutes": 10.0},
        {"key": "001A", "type": "visit", "activities": 2, "minutes": 75.0},
    ]


def test_migration_0002_fills_postal_code_and_subdivision_of_existing_rows(db_engine):
    """A workspace imported before revision 0002 (US rows only) gets its postal codes and
    ISO 3166-2 subdivisions from its ZIPs and states; a downgrade removes them again
    (SQLite and PostgreSQL)."""
    from alembic import command

    from territorium.store.db import _alembic_config

    def migrate(fn, rev):
        cfg = _alembic_config()
        with db_engine.begin() as conn:
            cfg.attributes["connection"] = conn
            fn(cfg, rev)

    migrate(command.upgrade, "0001")
    with db_engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO accounts (account_id, name, state, zip, country) VALUES "
                             "('a', 'A', 'MA', '02134', 'US'), ('b', 'B', NULL, NULL, 'FR'), "
                             "('c', 'C', 'NY', '10001', NULL)"))
        conn.execute(sa.text("INSERT INTO orders (order_id, created_at, shipping_zip, shipping_state, "
                             "shipping_country) VALUES ('#1', '2025-01-01 00:00:00', '02134', 'MA', 'US')"))
    migrate(command.upgrade, "0002")
    with db_engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT account_id, postal_code, subdivision FROM accounts ORDER BY 1")).all()
        orders = conn.execute(sa.text("SELECT shipping_postal_code, shipping_subdivision FROM orders")).all()
    assert [tuple(r) for r in rows] == [("a", "02134", "US-MA"), ("b", None, None), ("c", "10001", "US-NY")]
    assert [tuple(r) for r in orders] == [("02134", "US-MA")]
    migrate(command.downgrade, "0001")
    cols = {c["name"] for c in sa.inspect(db_engine).get_columns("accounts")}
    assert "postal_code" not in cols and "subdivision" not in cols and "zip" in cols
