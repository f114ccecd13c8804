"""Routing rule sets over the API: stored after validation (problems with their YAML line),
versioned (a stale write is 409), and run on a stored plan for given or all unrouted accounts."""
from __future__ import annotations

import sys
from pathlib import Path

from _apiws import auth

sys.path.insert(0, str(Path(__file__).parents[1] / "plan"))
from _planws import POTENTIAL, ZIP  # noqa: E402

RULES = """rules:
  - name: big
    when: {potential: {range: [50, null]}}
    assign: {territory: T3}
  - name: first-zip
    when: {zip: "10001"}
    assign: {territory: T1}
fallback:
  - {territory: T2}
"""
# line 3: a field no account has; line 6: an operator that does not exist
BAD = """rules:
  - name: colour
    when: {colour: red}
    assign: {territory: T3}
  - name: odd
    when: {zip: {near: "10001"}}
    assign: {territory: T1}
"""


def _expected(account: str) -> tuple[str, str]:
    if POTENTIAL[account] >= 50:
        return "T3", "big"
    if ZIP[account[0]] == "10001":
        return "T1", "first-zip"
    return "T2", "fallback"


def test_store_validate_version_and_route(api):
    c, tok = api
    h = auth(tok, "planner")
    r = c.put("/api/routing/rules/main", json={"yaml": BAD}, headers=h)
    assert r.status_code == 422, r.text
    lines = {e["line"] for e in r.json()["errors"] if e["severity"] == "error"}
    assert {3, 6} <= lines, r.json()["errors"]
    assert c.get("/api/routing/rules/main", headers=h).status_code == 404   # nothing stored

    r = c.put("/api/routing/rules/main", json={"yaml": RULES}, headers=h)
    assert r.status_code == 200 and r.json()["version"] == 1, r.text
    r = c.put("/api/routing/rules/main", json={"yaml": RULES, "expected_version": 0}, headers=h)
    assert r.status_code == 409 and r.json()["current_version"] == 1
    r = c.put("/api/routing/rules/main", json={"yaml": RULES.replace("50", "60"), "expected_version": 1}, headers=h)
    assert r.status_code == 200 and r.json()["version"] == 2
    r = c.put("/api/routing/rules/main", json={"yaml": RULES, "expected_version": 1}, headers=h)
    assert r.status_code == 409 and r.json()["current_version"] == 2
    r = c.put("/api/routing/rules/main", json={"yaml": RULES, "expected_version": 2}, headers=h)
    assert r.status_code == 200 and r.json()["version"] == 3
    r = c.get("/api/routing/rules/main", headers=h)
    assert r.headers["etag"] == '"r-v3"'
    assert c.get("/api/routing/rules/main", headers={**h, "If-None-Match": '"r-v3"'}).status_code == 304
    r2 = c.put("/api/routing/rules/main", json={"yaml": RULES}, headers={**h, "If-Match": '"r-v2"'})
    assert r2.status_code == 409 and r2.json()["current_version"] == 3
    got = r.json()
    assert got["yaml"] == RULES and [(x["name"], x["line"]) for x in got["rules"]] == [("big", 2), ("first-zip", 5)]
    assert [x["name"] for x in c.get("/api/routing/rules", headers=h).json()] == ["main"]

    # every account is unrouted in the planted workspace (no owners)
    r = c.post("/api/routing/rules/main/route", json={"plan": "p"}, headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    got = {d["account_id"]: (d["territory"], d["rule"] if d["via"] == "rule" else d["via"])
           for d in body["decisions"]["items"]}
    assert got == {a: _expected(a) for a in POTENTIAL}
    assert body["accounts"] == body["decisions"]["total"] == len(POTENTIAL)
    lines = {d["rule"]: d["rule_line"] for d in body["decisions"]["items"] if d["via"] == "rule"}
    assert lines == {"big": 2, "first-zip": 5}
    r = c.post("/api/routing/rules/main/route?limit=2&offset=1", json={"plan": "p", "accounts": ["c3", "a1", "b1"]},
               headers=h)
    page = r.json()["decisions"]
    assert r.status_code == 200 and page["total"] == 3 and len(page["items"]) == 2


def test_route_errors_name_the_problem(api):
    c, tok = api
    h = auth(tok, "admin")
    assert c.put("/api/routing/rules/t9", json={"yaml": RULES.replace("T3", "T9")}, headers=h).status_code == 200
    r = c.post("/api/routing/rules/t9/route", json={"plan": "p"}, headers=h)
    assert r.status_code == 422 and any(e["line"] == 4 and "T9" in e["message"] for e in r.json()["errors"])
    c.put("/api/routing/rules/ok", json={"yaml": RULES}, headers=h)
    r = c.post("/api/routing/rules/ok/route", json={"plan": "p", "accounts": ["a1", "nope"]}, headers=h)
    assert r.status_code == 404 and "nope" in r.json()["detail"]
    assert c.post("/api/routing/rules/ok/route", json={"plan": "nope"}, headers=h).status_code == 404
    assert c.post("/api/routing/rules/none/route", json={"plan": "p"}, headers=h).status_code == 404
    r = c.post("/api/routing/rules/ok/route", json={"plan": "p", "accounts": []}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.accounts"
    r = c.put("/api/routing/rules/ok", json={"yaml": "rules: [unclosed", "expected_version": 1}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["line"] == 1
    assert c.put("/api/routing/rules/x", json={"yaml": RULES}, headers=auth(tok, "rep1")).status_code == 403


def test_route_on_an_account_level_plan(tmp_path):
    """An account plan's alignment names the accounts: their current territory comes from it."""
    from fastapi.testclient import TestClient

    from _planws import grid_plan
    from territorium import store
    from territorium.api import create_app
    from territorium.plan import users as U

    url = f"sqlite:///{tmp_path / 'ws.db'}"
    grid_plan(url)   # acc00..acc29 in T1, acc30..acc39 in T2
    eng = store.engine(url)
    U.create_user(eng, "pat", role="planner")
    h = {"Authorization": f"Bearer {U.create_token(eng, 'pat', 'tests')}"}
    rules = "rules:\n  - {name: one, when: {name: acc01}, assign: {territory: T2}}\nfallback:\n  - {territory: T1}\n"
    with TestClient(create_app(engine=eng), base_url="https://testserver") as c:
        assert c.put("/api/routing/rules/r", json={"yaml": rules}, headers=h).status_code == 200
        r = c.post("/api/routing/rules/r/route", json={"plan": "grid", "accounts": ["acc01", "acc02", "acc35"]},
                   headers=h)
        assert r.status_code == 200, r.text
        got = {d["account_id"]: (d["current_territory"], d["territory"]) for d in r.json()["decisions"]["items"]}
        assert got == {"acc01": ("T1", "T2"), "acc02": ("T1", "T1"), "acc35": ("T2", "T1")}
    eng.dispose()
