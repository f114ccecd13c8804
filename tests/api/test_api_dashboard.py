"""KPI dashboards and stored locks over the API, on the planted workspace (``_apiws.py``):
revenue per territory equals the planted orders, each role sees its share, bad windows are
400, locks refuse moves and are scoped like the rest of the plan."""
from __future__ import annotations

import pytest

from _apiws import auth, by_territory
from _planws import REVENUE

WINDOW = {"start": "2025-06-01", "end": "2026-06-01"}   # every planted order but the old one


def test_dashboard_totals_equal_the_planted_orders_and_each_role_sees_its_share(api):
    client, tokens = api
    r = client.get("/api/plans/p/kpis", params={**WINDOW, "period": "month"}, headers=auth(tokens, "planner"))
    assert r.status_code == 200, r.text
    d = r.json()
    want = by_territory(REVENUE)
    got = {row["group"]: row["revenue"] for row in d["totals"]}
    assert got == pytest.approx(want)
    assert {row["group"]: row["orders"] for row in d["totals"]} == {"T1": 3, "T2": 3, "T3": 3}
    # the monthly series adds up to the totals
    by_t: dict[str, float] = {}
    for row in d["series"]:
        by_t[row["group"]] = by_t.get(row["group"], 0.0) + row["revenue"]
    assert by_t == pytest.approx(want)
    assert {g["id"]: g["parent"] for g in d["groups"]} == {"T1": "East", "T2": "East", "T3": "West"}
    assert sorted(n["id"] for n in d["nodes"]) == ["East", "West"]
    # a manager sees the territories below their node, a rep their own
    m = client.get("/api/plans/p/kpis", params=WINDOW, headers=auth(tokens, "mgr_east")).json()
    assert sorted(row["group"] for row in m["totals"]) == ["T1", "T2"] and [n["id"] for n in m["nodes"]] == ["East"]
    rp = client.get("/api/plans/p/kpis", params=WINDOW, headers=auth(tokens, "rep1")).json()
    assert [row["group"] for row in rp["totals"]] == ["T1"] and [g["id"] for g in rp["groups"]] == ["T1"]
    assert {row["group"] for row in rp["series"]} == {"T1"}
    # by rep: the planted plan's reps are not imported reps, so orders keep their (empty)
    # imported owners and the planner is told; a rep still gets no one else's row
    byrep = client.get("/api/plans/p/kpis", params={**WINDOW, "by": "rep"}, headers=auth(tokens, "rep1")).json()
    assert [g["id"] for g in byrep["groups"]] == ["r1"] and {row["group"] for row in byrep["totals"]} <= {"r1"}
    note = client.get("/api/plans/p/kpis", params={**WINDOW, "by": "rep"}, headers=auth(tokens, "planner")).json()
    assert any("not in the imported reps" in n for n in note["notes"])
    assert client.get("/api/plans/p/kpis", headers=auth(tokens, "rep9")).status_code == 404


def test_a_new_order_refreshes_the_cached_dashboard(api):
    import datetime as dt

    import pandas as pd

    from territorium.store.db import write_frames

    client, tokens = api
    h = auth(tokens, "planner")
    first = {r["group"]: r["revenue"] for r in client.get("/api/plans/p/kpis", params=WINDOW, headers=h).json()["totals"]}
    eng = client.app.state.engine
    with eng.begin() as conn:
        write_frames(conn, {"orders": pd.DataFrame([{"order_id": "o-new", "customer_email": "a2@shop.example",
                                                     "created_at": dt.datetime(2026, 5, 2), "total": 55.0,
                                                     "financial_status": "paid"}])})
    again = {r["group"]: r["revenue"] for r in client.get("/api/plans/p/kpis", params=WINDOW, headers=h).json()["totals"]}
    assert again == pytest.approx({**first, "T1": first["T1"] + 55.0})


def test_dashboard_refuses_bad_queries_by_name(api):
    client, tokens = api
    h = auth(tokens, "planner")
    r = client.get("/api/plans/p/kpis", params={"start": "2026-06-01", "end": "2026-01-01"}, headers=h)
    assert r.status_code == 400 and "is not before end" in r.json()["detail"]
    r = client.get("/api/plans/p/kpis", params={"by": "planet"}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "query.by"
    r = client.get("/api/plans/p/kpis", params={"start": "yesterday"}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "query.start"
    assert client.get("/api/plans/nope/kpis", headers=h).status_code == 404


def test_locks_are_stored_refuse_moves_and_are_scoped(api):
    client, tokens = api
    h = auth(tokens, "planner")
    v = client.get("/api/plans/p", headers=h).json()["version"]
    r = client.post("/api/plans/p/locks", json={"lock": ["10001", "10003"], "expected_version": v, "reason": "keep"},
                    headers=h)
    assert r.status_code == 200, r.text
    v2 = r.json()["version"]
    assert v2 == v + 1 and r.headers["ETag"].endswith(f'-v{v2}"')
    assert client.get("/api/plans/p/locks", headers=h).json()["units"] == ["10001", "10003"]
    r = client.post("/api/plans/p/moves", json={"moves": {"10001": "T2"}, "expected_version": v2}, headers=h)
    assert r.status_code == 400 and "'10001' is locked in territory 'T1'" in r.json()["detail"]
    assert client.get("/api/plans/p/locks", headers=auth(tokens, "rep1")).json()["units"] == ["10001"]
    assert client.get("/api/plans/p/locks", headers=auth(tokens, "mgr_east")).json()["units"] == ["10001"]
    assert client.post("/api/plans/p/locks", json={"unlock": ["10001"], "expected_version": v2},
                       headers=auth(tokens, "rep1")).status_code == 403
    r = client.post("/api/plans/p/locks", json={"lock": ["99999"], "expected_version": v2}, headers=h)
    assert r.status_code == 404 and "99999" in r.json()["detail"]
    r = client.post("/api/plans/p/locks", json={"unlock": ["10001"], "expected_version": v}, headers=h)
    assert r.status_code == 409
    r = client.post("/api/plans/p/locks", json={"unlock": ["10001"], "expected_version": v2}, headers=h)
    assert r.status_code == 200 and client.get("/api/plans/p/locks", headers=h).json()["units"] == ["10003"]
    r = client.post("/api/plans/p/locks", json={"lock": [], "expected_version": v2 + 1, "lokc": ["x"]}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.lokc"
