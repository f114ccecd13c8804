"""Authorization as a matrix: every endpoint × every role (and no login at all), on a fresh
copy of the workspace per case. Invisible things are 404 (a rep reading another rep's account,
a manager outside its subtree); visible things the role may not change are 403."""
from __future__ import annotations

import pytest

from _apiws import PEOPLE, auth

ROLES = list(PEOPLE)  # admin, planner, mgr_east, mgr_other, rep1, rep2, rep9
EDITORS = {"admin", "planner"}


def _version(eng, name="p"):
    from territorium.plan import plans

    return plans.get_plan(eng, name).version


def _to(eng, *statuses):
    from territorium.plan import plans

    for s in statuses:
        plans.set_status(eng, "p", s, expected_version=_version(eng), actor="setup")


def _moved(eng):
    from territorium.plan import plans

    plans.move_units(eng, "p", {"10001": "T2"}, expected_version=_version(eng), actor="setup")


def only(ok_code, users, other=403):
    return {u: (ok_code if u in users else other) for u in ROLES}


#: who sees plan p: everyone but the manager and rep with nothing in it
SEES_P = {"admin": 200, "planner": 200, "mgr_east": 200, "mgr_other": 404, "rep1": 200, "rep2": 200, "rep9": 404}

# (id, method, path, body(eng, user) or None, setup(eng) or None, expected status per user)
CASES = [
    ("list plans", "GET", "/api/plans", None, None, only(200, ROLES)),
    ("read plan", "GET", "/api/plans/p", None, None, SEES_P),
    ("read content", "GET", "/api/plans/p/content", None, None, SEES_P),
    ("read units", "GET", "/api/plans/p/units", None, None, SEES_P),
    ("read events", "GET", "/api/plans/p/events", None, None, only(200, EDITORS)),
    ("create plan", "POST", "/api/plans", lambda e, u: {"name": f"new-{u}", "units": {"10001": "X"}}, None,
     only(201, EDITORS)),
    ("copy plan", "POST", "/api/plans/p/copy", lambda e, u: {"name": f"copy-{u}"}, None, only(201, EDITORS)),
    ("move units", "POST", "/api/plans/p/moves", lambda e, u: {"moves": {"10001": "T2"}, "expected_version": 1},
     None, only(200, EDITORS)),
    ("move accounts", "POST", "/api/plans/p/account-moves",
     lambda e, u: {"moves": {"a1": {"rep": "r2"}}, "expected_version": 1}, None, only(200, EDITORS)),
    ("edit territories", "PATCH", "/api/plans/p/territories",
     lambda e, u: {"changes": {"T1": {"quota": 1.0}}, "expected_version": 1}, None, only(200, EDITORS)),
    ("restore", "POST", "/api/plans/p/restore", lambda e, u: {"version": 1, "expected_version": _version(e)},
     _moved, only(200, EDITORS)),
    ("propose", "POST", "/api/plans/p/status", lambda e, u: {"status": "proposed", "expected_version": 1}, None,
     {**SEES_P, "admin": 200, "planner": 200, "mgr_east": 403, "rep1": 403, "rep2": 403}),
    ("approve", "POST", "/api/plans/p/status", lambda e, u: {"status": "approved", "expected_version": _version(e)},
     lambda e: _to(e, "proposed"), {**SEES_P, "planner": 403, "rep1": 403, "rep2": 403}),
    ("promote", "POST", "/api/plans/p/promote", lambda e, u: {"expected_version": _version(e)},
     lambda e: _to(e, "proposed", "approved"), only(200, EDITORS)),
    ("compare", "GET", "/api/compare?plan=p&plan=live", None, None, only(200, EDITORS)),
    ("list users", "GET", "/api/users", None, None, only(200, {"admin"})),
    ("add user", "POST", "/api/users", lambda e, u: {"username": f"x-{u}", "role": "planner"}, None,
     only(201, {"admin"})),
    ("change user", "PATCH", "/api/users/rep9", lambda e, u: {"active": False}, None, only(200, {"admin"})),
    ("add token", "POST", "/api/users/rep9/tokens", lambda e, u: {"name": "ci"}, None, only(201, {"admin"})),
    # a1 is r1's, in T1 under East (m1); c1 is r3's, in T3 under West (m2)
    ("own account", "GET", "/api/accounts/a1", None, None,
     {"admin": 200, "planner": 200, "mgr_east": 200, "mgr_other": 404, "rep1": 200, "rep2": 404, "rep9": 404}),
    ("other account", "GET", "/api/accounts/c1/owner?at=2026-03-01", None, None, only(200, EDITORS, other=404)),
    ("me", "GET", "/api/auth/me", None, None, only(200, ROLES)),
    ("account events", "GET", "/api/accounts/a1/events", None, None, only(200, EDITORS)),
    # a stale version: editors get the 409 before any worker starts, the others are refused first
    ("start job", "POST", "/api/plans/p/jobs", lambda e, u: {"expected_version": 99}, None, only(409, EDITORS)),
    ("read job", "GET", "/api/jobs/unknown", None, None, only(404, EDITORS)),
    ("cancel job", "POST", "/api/jobs/unknown/cancel", None, None, only(404, EDITORS)),
    ("job events", "GET", "/api/jobs/unknown/events", None, None, only(404, EDITORS)),
    ("list jobs", "GET", "/api/jobs?plan=p", None, None, only(200, EDITORS)),
    ("start tradeoff job", "POST", "/api/plans/p/jobs", lambda e, u: {"kind": "tradeoff", "caps": [0.1],
                                                                       "expected_version": 99}, None, only(409, EDITORS)),
    ("bad job body", "POST", "/api/plans/p/jobs", lambda e, u: {"kind": "tradeoff", "caps": [2],
                                                                 "expected_version": 1}, None, only(422, EDITORS)),
]


_RULES = "rules:\n  - {name: a, when: {zip: '10001'}, assign: {territory: T1}}\n"


def _routing_rules(eng):
    from territorium.plan.routing import save_rule_set

    save_rule_set(eng, "r", _RULES, actor="setup", expected_version=None)


# issue 14: imports, routing, quotas, exports, analytics
CASES += [
    ("import kinds", "GET", "/api/imports", None, None, only(200, ROLES)),
    # a JSON body is not a multipart upload: editors get the 422 naming the file field
    ("import upload", "POST", "/api/imports/accounts", lambda e, u: {}, None, only(422, EDITORS)),
    ("list routing rules", "GET", "/api/routing/rules", None, None, only(200, EDITORS)),
    ("store routing rules", "PUT", "/api/routing/rules/r", lambda e, u: {"yaml": _RULES}, None, only(200, EDITORS)),
    ("read routing rules", "GET", "/api/routing/rules/r", None, _routing_rules, only(200, EDITORS)),
    ("route accounts", "POST", "/api/routing/rules/r/route", lambda e, u: {"plan": "p", "accounts": ["a1"]},
     _routing_rules, only(200, EDITORS)),
    # nine accounts are too few to learn from: editors get the 400 saying so
    ("potential", "POST", "/api/analytics/potential", lambda e, u: {"folds": 2, "max_iter": 5}, None,
     only(400, EDITORS)),
    ("forecast", "POST", "/api/analytics/forecast", lambda e, u: {}, None, only(400, EDITORS)),
    ("quotas", "POST", "/api/plans/p/quotas", lambda e, u: {"total": 1000, "goals": False}, None,
     only(200, EDITORS)),
    ("export", "GET", "/api/plans/p/export?format=csv", None, None, SEES_P),
    # no order of this workspace carries a shipping state: editors get the 404 naming it
    ("impact", "POST", "/api/analytics/impact", lambda e, u: {"treated": ["NY"], "treated_from": "2026-04-01"},
     None, only(404, EDITORS)),
]

@pytest.mark.parametrize("user", ROLES)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_role_matrix(api, case, user):
    client, tokens = api
    _, method, path, body, setup, expected = case
    eng = client.app.state.engine
    if setup is not None:
        setup(eng)
    kw = {"json": body(eng, user)} if body is not None else {}
    r = client.request(method, path, headers=auth(tokens, user), **kw)
    assert r.status_code == expected[user], (user, r.text)
    assert "detail" in r.json() if r.status_code >= 400 else True


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_no_login_is_401(api, case):
    client, _ = api
    _, method, path, body, _, _ = case
    r = client.request(method, path, **({"json": body(client.app.state.engine, "anon")} if body else {}))
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


def test_what_each_role_sees_of_a_plan(api):
    c, tok = api
    seen = {}
    for u in ROLES:
        r = c.get("/api/plans/p/content", headers=auth(tok, u))
        seen[u] = sorted(t["territory_id"] for t in r.json()["territories"]) if r.status_code == 200 else None
    assert seen == {"admin": ["East", "T1", "T2", "T3", "West"], "planner": ["East", "T1", "T2", "T3", "West"],
                    "mgr_east": ["East", "T1", "T2"], "mgr_other": None, "rep1": ["T1"], "rep2": ["T2"], "rep9": None}
    units = c.get("/api/plans/p/units", headers=auth(tok, "rep1")).json()
    assert units["total"] == 1 and units["items"] == [{"unit_id": "10001", "territory_id": "T1"}]
    lists = {u: c.get("/api/plans", headers=auth(tok, u)).json()["total"] for u in ROLES}
    assert lists == {"admin": 2, "planner": 2, "mgr_east": 2, "mgr_other": 0, "rep1": 2, "rep2": 2, "rep9": 0}


def test_revoked_or_deactivated_credentials_are_refused(api):
    c, tok = api
    assert c.get("/api/auth/me", headers={"Authorization": "Bearer trm_not-a-token"}).status_code == 401
    assert c.get("/api/auth/me", headers={"Authorization": "Basic abc"}).status_code == 401
    r = c.patch("/api/users/rep1", json={"active": False}, headers=auth(tok, "admin"))
    assert r.status_code == 200 and r.json()["active"] is False
    assert c.get("/api/auth/me", headers=auth(tok, "rep1")).status_code == 401
