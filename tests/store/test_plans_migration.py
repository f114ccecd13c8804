"""Migration 0003 (plans, audit, ownership history, users) from the previous schema with data
in it, and back, on a fresh SQLite file and a fresh PostgreSQL schema."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from territorium import store
from territorium.store.db import _alembic_config, current_revision

NEW = {"plans", "plan_units", "plan_territories", "plan_accounts", "plan_events", "account_owners",
       "plan_activations", "users", "api_tokens", "web_sessions"}


def _downgrade(eng, rev):
    from alembic import command

    cfg = _alembic_config()
    with eng.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, rev)


def test_upgrade_from_0002_keeps_the_data_and_downgrade_removes_only_the_new_tables(db_engine):
    store.upgrade(db_engine, "0002")
    assert current_revision(db_engine) == "0002"
    with db_engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO accounts (account_id, name, zip) VALUES ('a1', 'Shop', '10001')"))
    store.upgrade(db_engine, "0003")
    names = set(sa.inspect(db_engine).get_table_names())
    assert NEW <= names
    with db_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT name FROM accounts WHERE account_id = 'a1'")).scalar_one() == "Shop"
    from territorium.plan import plans

    p = plans.create_plan(db_engine, "p", units={"10001": "T1"}, territories={"T1": {"reps": ["r1"]}}, actor="t")
    p = plans.set_status(db_engine, "p", "proposed", expected_version=p.version, actor="t")
    p = plans.set_status(db_engine, "p", "approved", expected_version=p.version, actor="t")
    plans.promote(db_engine, "p", expected_version=p.version, actor="t", effective="2026-01-01")
    assert plans.owner_at(db_engine, "a1", "2026-02-01")["rep_id"] == "r1"
    # the partial unique index: a second active plan of the model is refused by the database
    plans.create_plan(db_engine, "q", units={"10001": "T1"}, actor="t")
    with pytest.raises(sa.exc.IntegrityError):
        with db_engine.begin() as conn:
            conn.execute(sa.text("UPDATE plans SET status = 'active' WHERE name = 'q'"))
    _downgrade(db_engine, "0002")
    names = set(sa.inspect(db_engine).get_table_names())
    assert not (NEW & names) and "accounts" in names
    with db_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM accounts")).scalar_one() == 1
