"""Migration 0006 (jobs, job_events) from the previous schema with data in it, from an empty
database, and back, on a fresh SQLite file and a fresh PostgreSQL schema."""
from __future__ import annotations

import sqlalchemy as sa

from territorium import store
from territorium.store.db import current_revision

from test_plans_migration import _downgrade

NEW = {"jobs", "job_events"}


def test_jobs_tables_from_0005_with_data_and_back(db_engine):
    from territorium.plan import job_records as R

    store.upgrade(db_engine, "0005")
    assert not (NEW & set(sa.inspect(db_engine).get_table_names()))
    with db_engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO accounts (account_id, name, zip) VALUES ('a1', 'Shop', '10001')"))
    store.upgrade(db_engine, "0006")
    assert current_revision(db_engine) == "0006" and NEW <= set(sa.inspect(db_engine).get_table_names())
    with db_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT name FROM accounts WHERE account_id = 'a1'")).scalar_one() == "Shop"
    R.create(db_engine, "j1", plan="p", kind="size", params={"n_min": 1}, actor="t")
    assert R.record(db_engine, "j1", "running", 0.4, "half way")
    assert R.record(db_engine, "j1", "succeeded", 1.0, "done", result={"recommended": 3}, result_version=None)
    assert not R.record(db_engine, "j1", "failed", 1.0, "too late")  # a finished job never changes
    j = R.get(db_engine, "j1")
    assert (j["status"], j["progress"], j["result"], j["params"]) == ("succeeded", 1.0, {"recommended": 3}, {"n_min": 1})
    assert j["started_at"] is not None and j["finished_at"] >= j["started_at"]
    assert [e["status"] for e in R.events(db_engine, "j1")] == ["running", "succeeded"]
    _downgrade(db_engine, "0005")
    names = set(sa.inspect(db_engine).get_table_names())
    assert not (NEW & names) and "plans" in names and "accounts" in names


def test_jobs_tables_on_an_empty_database_and_recovery_of_stale_jobs(db_engine):
    from territorium.plan import job_records as R
    from territorium.plan import plans

    store.upgrade(db_engine)
    assert NEW <= set(sa.inspect(db_engine).get_table_names())
    p = plans.create_plan(db_engine, "p", units={"u1": "T1", "u2": "T2"}, actor="t")
    for jid, status in (("queued1", None), ("run1", "running"), ("run2", "running"), ("run3", "running"),
                        ("done1", "succeeded")):
        R.create(db_engine, jid, plan="p", kind="tradeoff" if jid == "run3" else "realign", params={}, actor="t")
        if status:
            R.record(db_engine, jid, status, 0.5, status)
    # run2's and run3's single writes reached the database before their server stopped
    plans.move_units(db_engine, "p", {"u1": "T2"}, expected_version=p.version, actor="t", job="run2")
    plans.create_plan(db_engine, "p~cap5", units={"u1": "T1", "u2": "T2"}, actor="t", job="run3")
    assert sorted(R.recover(db_engine)) == ["queued1", "run1", "run2", "run3"]
    got = {j["id"]: j for j in R.list_jobs(db_engine, plan="p")[0]}
    assert got["queued1"]["status"] == got["run1"]["status"] == "failed"
    assert got["run1"]["message"] == R.STOPPED_MESSAGE == "server stopped while the job ran; the plan is unchanged"
    assert got["run2"]["status"] == "succeeded" and got["run2"]["result_version"] == 2
    assert got["run3"]["status"] == "succeeded" and got["run3"]["result_version"] is None  # its scenario, not p
    assert got["done1"]["status"] == "succeeded" and got["done1"]["result_version"] is None
    assert R.recover(db_engine) == []
    rows, total = R.list_jobs(db_engine, plan="p", status="failed", limit=1, offset=1)
    assert total == 2 and len(rows) == 1
