"""Alert rules over the API: stored with validation and versions, shown, evaluated on a plan
with the results scoped per role."""
from __future__ import annotations

from _apiws import auth

RULES = ("alerts:\n  - name: big month\n    metric: revenue\n    by: territory\n    period: month\n"
         "    above: 400\n")


def test_rules_are_validated_versioned_and_shown(api):
    client, tokens = api
    bad = client.put("/api/alerts/rules/main", json={"yaml": "alerts:\n  - name: x\n    metric: lod\n    above: 1\n"},
                     headers=auth(tokens, "planner"))
    assert bad.status_code == 422 and bad.json()["errors"] == [
        {"line": 3, "message": "unknown metric 'lod' (did you mean 'load'?)"}]
    assert client.put("/api/alerts/rules/main", json={"yaml": RULES}, headers=auth(tokens, "rep1")).status_code == 403
    r = client.put("/api/alerts/rules/main", json={"yaml": RULES}, headers=auth(tokens, "planner"))
    assert r.status_code == 200 and r.json()["version"] == 1
    # a second writer who read version 1 after the first change was made gets 409
    r2 = client.put("/api/alerts/rules/main", json={"yaml": RULES.replace("400", "500"), "expected_version": 1},
                    headers=auth(tokens, "admin"))
    assert r2.status_code == 200 and r2.json()["version"] == 2
    stale = client.put("/api/alerts/rules/main", json={"yaml": RULES, "expected_version": 1},
                       headers=auth(tokens, "planner"))
    assert stale.status_code == 409 and stale.json()["current_version"] == 2 and "admin" in stale.json()["detail"]
    shown = client.get("/api/alerts/rules/main", headers=auth(tokens, "rep1")).json()
    assert shown["version"] == 2 and shown["rules"][0]["condition"] == "revenue > 500"
    assert [r["name"] for r in client.get("/api/alerts/rules", headers=auth(tokens, "rep1")).json()] == ["main"]
    assert client.get("/api/alerts/rules/nope", headers=auth(tokens, "planner")).status_code == 404


def test_stored_rules_fire_on_a_plan_and_each_role_sees_its_share(api):
    client, tokens = api
    assert client.put("/api/alerts/rules/main", json={"yaml": RULES}, headers=auth(tokens, "planner")).status_code == 200
    r = client.get("/api/alerts", params={"rules": "main", "plan": "live"}, headers=auth(tokens, "planner"))
    assert r.status_code == 200, r.text
    res = r.json()
    # April 2026 (the last complete month): T1 has a2 + a3 = 500, T2 b1..b3 = 7,000, T3 60
    got = {a["group"]: a["value"] for a in res["alerts"]}
    assert got == {"T1": 500.0, "T2": 7000.0}
    mine = client.get("/api/alerts", params={"rules": "main", "plan": "live"}, headers=auth(tokens, "rep1")).json()
    assert [a["group"] for a in mine["alerts"]] == ["T1"]
    assert client.get("/api/alerts", params={"rules": "main", "plan": "live"},
                      headers=auth(tokens, "rep9")).status_code == 404
    assert client.get("/api/alerts", params={"rules": "none", "plan": "live"},
                      headers=auth(tokens, "planner")).status_code == 404
