"""The issue-14 endpoints on a fresh PostgreSQL schema: an all-or-nothing import, a routing rule
set stored, refused when stale and routed on a plan, quotas saved into the plan, an export."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from _apiws import auth, populate
from test_api_imports import BAD, GOOD, _csv
from test_api_routing import RULES, _expected


@pytest.mark.postgres
def test_imports_routing_quotas_export_on_postgresql(pg_url):
    from fastapi.testclient import TestClient

    from territorium import store
    from territorium.api import create_app

    eng = store.engine(pg_url)
    tokens = populate(eng)
    h = auth(tokens, "planner")
    try:
        with TestClient(create_app(engine=eng), base_url="https://testserver") as c:
            r = c.post("/api/imports/accounts", files={"file": ("bad.csv", _csv(GOOD + BAD), "text/csv")}, headers=h)
            assert r.status_code == 422 and r.json()["stored"] is False
            with eng.connect() as conn:
                assert conn.execute(sa.text("SELECT count(*) FROM accounts WHERE account_id LIKE '001%'")).scalar() == 0
            r = c.post("/api/imports/accounts", files={"file": ("ok.csv", _csv(GOOD), "text/csv")}, headers=h)
            assert r.status_code == 201 and r.json()["summary"]["imported"] == 2

            assert c.put("/api/routing/rules/main", json={"yaml": RULES}, headers=h).json()["version"] == 1
            r = c.put("/api/routing/rules/main", json={"yaml": RULES, "expected_version": 0}, headers=h)
            assert r.status_code == 409 and r.json()["current_version"] == 1
            r = c.post("/api/routing/rules/main/route", json={"plan": "p", "accounts": ["a1", "b3", "c1"]}, headers=h)
            assert r.status_code == 200, r.text
            got = {d["account_id"]: (d["territory"], d["rule"] if d["via"] == "rule" else d["via"])
                   for d in r.json()["decisions"]["items"]}
            assert got == {a: _expected(a) for a in ("a1", "b3", "c1")}

            r = c.post("/api/plans/p/quotas", json={"total": 30000, "save": True, "expected_version": 1}, headers=h)
            assert r.status_code == 200 and r.json()["saved_version"] == 2, r.text
            quotas = [t["quota"] for t in c.get("/api/plans/p/content", headers=h).json()["territories"]
                      if t["territory_id"] in ("T1", "T2", "T3")]
            assert sum(quotas) == pytest.approx(30000)
            r = c.get("/api/plans/p/export?format=geojson", headers=h)
            assert r.status_code == 200 and len(r.json()["features"]) == 3
    finally:
        eng.dispose()
