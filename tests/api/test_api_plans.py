"""The plan endpoints through FastAPI's TestClient on real databases: optimistic concurrency
(409 naming what changed, no lost update), ETags, restore, comparison, validation errors."""
from __future__ import annotations

import pytest

from _apiws import auth, populate


def move(client, headers, units, **kw):
    return client.post("/api/plans/p/moves", json={"moves": units, **kw}, headers=headers)


@pytest.fixture
def both(db_engine):
    """The same API on a fresh SQLite file and a fresh PostgreSQL schema."""
    from fastapi.testclient import TestClient

    from territorium.api import create_app

    tokens = populate(db_engine)
    with TestClient(create_app(engine=db_engine), base_url="https://testserver") as c:
        yield c, tokens


def test_two_clients_edit_one_plan_one_gets_409_and_nothing_is_lost(both):
    c, tok = both
    a, b = auth(tok, "planner"), auth(tok, "admin")
    ra, rb = c.get("/api/plans/p", headers=a), c.get("/api/plans/p", headers=b)
    assert ra.headers["etag"] == rb.headers["etag"] == f'"p{ra.json()["id"]}-v1"'
    r1 = move(c, {**a, "If-Match": ra.headers["etag"]}, {"10002": "T1"}, reason="balance East")
    assert r1.status_code == 200 and r1.json()["version"] == 2 and r1.headers["etag"].endswith('-v2"')
    r2 = move(c, {**b, "If-Match": rb.headers["etag"]}, {"10001": "T2"})
    assert r2.status_code == 409
    body = r2.json()
    assert (body["expected_version"], body["current_version"]) == (1, 2)
    assert [(x["actor"], x["entity_id"], x["old_value"], x["new_value"], x["reason"]) for x in body["changes"]] == [
        ("planner", "10002", "T2", "T1", "balance East")]
    units = {u["unit_id"]: u["territory_id"] for u in c.get("/api/plans/p/units", headers=b).json()["items"]}
    assert units == {"10001": "T1", "10002": "T1", "10003": "T3"}
    # the second client reloads and applies its change on top: both are kept
    r3 = move(c, b, {"10001": "T2"}, expected_version=2)
    assert r3.status_code == 200
    units = {u["unit_id"]: u["territory_id"] for u in c.get("/api/plans/p/units", headers=b).json()["items"]}
    assert units == {"10001": "T2", "10002": "T1", "10003": "T3"}
    ev = c.get("/api/plans/p/events", headers=a).json()
    assert ev["total"] == 3 and [e["actor"] for e in ev["items"]] == ["seed", "planner", "admin"]
    # a write that names no version at all is refused, not applied blindly
    assert move(c, a, {"10003": "T1"}).status_code == 428


def test_etag_not_modified_and_restore_of_an_old_version(api):
    c, tok = api
    h = auth(tok, "planner")
    r = c.get("/api/plans/p/content", headers=h)
    tag = r.headers["etag"]
    assert c.get("/api/plans/p/content", headers={**h, "If-None-Match": tag}).status_code == 304
    assert move(c, h, {"10001": "T2", "10002": "T3"}, expected_version=1).status_code == 200
    assert c.get("/api/plans/p/content", headers={**h, "If-None-Match": tag}).status_code == 200
    old_units = c.get("/api/plans/p/units?version=1&territory=T1", headers=h).json()
    assert old_units["total"] == 1 and old_units["items"] == [{"unit_id": "10001", "territory_id": "T1"}]
    assert c.get("/api/plans/p/units?territory=T1", headers=h).json()["total"] == 0
    r = c.patch("/api/plans/p/territories", json={"changes": {"T1": {"quota": 5.0}}, "expected_version": 2}, headers=h)
    assert r.status_code == 200, r.text
    old = c.get("/api/plans/p/content?version=1", headers=h).json()
    r = c.post("/api/plans/p/restore", json={"version": 1}, headers={**h, "If-Match": r.headers["etag"]})
    assert r.status_code == 200 and r.json()["version"] == 4
    now = c.get("/api/plans/p/content", headers=h).json()
    assert now["territories"] == old["territories"]
    t1 = next(t for t in now["territories"] if t["territory_id"] == "T1")
    assert t1["quota"] == pytest.approx(100.0) and t1["units"] == 1
    ev = c.get("/api/plans/p/events?since_version=3", headers=h).json()["items"]
    assert ev[0]["field"] == "restored" and {e["actor"] for e in ev} == {"planner"}


def test_scenario_comparison_over_the_api(api):
    c, tok = api
    h = auth(tok, "planner")
    assert c.post("/api/plans/p/copy", json={"name": "scn"}, headers=h).status_code == 201
    assert c.post("/api/plans/scn/moves", json={"moves": {"10003": "T2"}, "expected_version": 1},
                  headers=h).status_code == 200
    r = c.get("/api/compare?plan=p&plan=scn", headers=h)
    assert r.status_code == 200, r.text
    s = {x["plan"]: x for x in r.json()["summary"]}
    assert s["scn"]["accounts_moved"] == 3 and s["scn"]["revenue_moved"] == pytest.approx(60.0)
    assert s["scn"]["reps"] == "r2;r3"
    assert sorted(m["account_id"] for m in r.json()["moved"]) == ["c1", "c2", "c3"]
    assert r.json()["rep_names"] == {}   # the reps table names nobody yet


def test_comparison_names_the_reps_affected(api, tmp_path):
    from territorium import store

    c, tok = api
    h = auth(tok, "planner")
    eng = store.engine(f"sqlite:///{tmp_path / 'ws.db'}")
    with eng.begin() as conn:   # r3 without a name, r1 named but not affected
        conn.exec_driver_sql("INSERT INTO reps (rep_id, name) VALUES ('r1', 'Ann One'), ('r2', ' Rita Two '), ('r3', '')")
    eng.dispose()
    assert c.post("/api/plans/p/copy", json={"name": "scn"}, headers=h).status_code == 201
    assert c.post("/api/plans/scn/moves", json={"moves": {"10003": "T2"}, "expected_version": 1},
                  headers=h).status_code == 200
    r = c.get("/api/compare?plan=p&plan=scn", headers=h).json()
    assert r["summary"][1]["reps"] == "r2;r3"
    assert r["rep_names"] == {"r2": "Rita Two"}


@pytest.mark.parametrize("body,field", [
    ({"moves": {"10001": 5}, "expected_version": 1}, "body.moves.10001"),
    ({"moves": {}, "expected_version": 1}, "body.moves"),
    ({"moves": {"10001": "T2"}, "expected_version": "one"}, "body.expected_version"),
    ({"moves": {"10001": "T2"}, "expected_version": 1, "colour": "red"}, "body.colour"),
    ({"expected_version": 1}, "body.moves"),
])
def test_bad_requests_name_the_field(api, body, field):
    c, tok = api
    r = c.post("/api/plans/p/moves", json=body, headers=auth(tok, "planner"))
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == field and r.json()["detail"].startswith(field)


def test_bad_json_unknown_ids_and_wrong_states_are_4xx_with_a_reason(api):
    c, tok = api
    h = {**auth(tok, "planner"), "Content-Type": "application/json"}
    r = c.post("/api/plans/p/moves", content=b'{"moves": {"10001": ', headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"].startswith("body")
    r = c.post("/api/plans/p/moves", json={"moves": {"99999": "T1"}, "expected_version": 1}, headers=h)
    assert r.status_code == 404 and "unit '99999'" in r.json()["detail"]
    r = c.post("/api/plans/p/moves", json={"moves": {"10001": "T9"}, "expected_version": 1}, headers=h)
    assert r.status_code == 404 and "territory 'T9'" in r.json()["detail"]
    assert c.get("/api/plans/nope", headers=h).status_code == 404
    r = c.patch("/api/plans/p/territories", json={"changes": {"T1": {"quota": -1}}, "expected_version": 1}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.changes.T1.quota"
    r = c.post("/api/plans/p/promote", json={"expected_version": 1}, headers=h)
    assert r.status_code == 400 and "only an approved plan" in r.json()["detail"]
    r = c.post("/api/plans/p/moves", json={"moves": {"10001": "T2"}}, headers={**h, "If-Match": "garbage"})
    assert r.status_code == 400 and "If-Match" in r.json()["detail"]
    r = c.get("/api/plans?limit=0", headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "query.limit"
    r = c.get("/api/accounts/b1/owner?at=yesterday", headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "query.at"


def test_ownership_history_over_the_api(api):
    c, tok = api
    h = auth(tok, "planner")
    r = c.get("/api/accounts/b1/owner?at=2026-03-01", headers=h)
    assert r.status_code == 200 and (r.json()["rep_id"], r.json()["plan"]) == ("r2", "live")
    assert c.get("/api/accounts/b1/owner?at=2025-12-01", headers=h).status_code == 404
    acc = c.get("/api/accounts/b1", headers=h).json()
    assert acc["zip"] == "10002" and [o["rep_id"] for o in acc["owners"]] == ["r2"]
    assert c.post("/api/plans/p/account-moves", json={"moves": {"b1": {"rep": "r9"}}, "expected_version": 1},
                  headers=h).status_code == 200
    ev = c.get("/api/accounts/b1/events", headers=h).json()
    assert ev["total"] == 1 and (ev["items"][0]["plan"], ev["items"][0]["new_value"]) == ("p", "r9")


def test_a_database_that_stays_locked_is_503_and_nothing_is_written(api):
    import sqlite3

    c, tok = api
    h = auth(tok, "planner")
    path = c.app.state.engine.url.database
    blocker = sqlite3.connect(path, timeout=1)
    blocker.execute("BEGIN IMMEDIATE")  # holds the write lock longer than the server waits
    try:
        r = move(c, h, {"10001": "T2"}, expected_version=1)
    finally:
        blocker.rollback()
        blocker.close()
    assert r.status_code == 503 and int(r.headers["retry-after"]) > 0 and "nothing was written" in r.json()["detail"]
    assert c.get("/api/plans/p", headers=h).json()["version"] == 1
    assert move(c, h, {"10001": "T2"}, expected_version=1).status_code == 200


def test_import_plan_files_by_upload(api, monkeypatch):
    c, tok = api
    h = auth(tok, "planner")
    al = b"unit_id,name,territory,moved_from,reason\n10001,A,T1,,\n10002,B,T1,,\n10003,C,T2,,\n"
    st = b"territory_id,rep_id\nT1,r1\nT2,r2\n"
    bad = b"territory,quota\nT1,100\nT2,lots\n"
    files = {"alignment": ("plan.csv", al, "text/csv"), "staffing": ("staff.csv", st, "text/csv"),
             "quotas": ("quota.csv", bad, "text/csv")}
    r = c.post("/api/plans/import", data={"name": "up"}, files=files, headers=h)
    assert r.status_code == 400 and r.json()["detail"] == (
        "quotas/quota.csv: row 3, column 'quota': 'lots' is not a number ≥ 0 (territory T2)")
    assert c.get("/api/plans/up", headers=h).status_code == 404
    files["quotas"] = ("quota.csv", b"territory,quota\nT1,100\nT2,50\n", "text/csv")
    r = c.post("/api/plans/import", data={"name": "up", "seed": "3"}, files=files, headers=h)
    assert r.status_code == 201, r.text
    assert (r.json()["seed"], r.json()["status"], r.json()["version"]) == (3, "draft", 1)
    t = {x["territory_id"]: x for x in c.get("/api/plans/up/content", headers=h).json()["territories"]}
    assert t["T1"]["units"] == 2 and t["T2"]["quota"] == pytest.approx(50.0) and t["T1"]["reps"][0]["rep_id"] == "r1"
    r = c.post("/api/plans/import", data={"name": "up2", "seed": "x"}, files=files, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.seed"
    assert c.post("/api/plans/import", data={"name": "up3"}, files=files, headers=auth(tok, "rep1")).status_code == 403
    monkeypatch.setattr(c.app.state, "upload_limit", 40, raising=False)
    r = c.post("/api/plans/import", data={"name": "up4"}, files=files, headers=h)
    assert r.status_code == 413 and "alignment" in r.json()["detail"]
