"""The plan read path over the API with its caches (issue 14): a version's content is read and
rendered once, yet every write is seen at once, each role keeps its own view, and an unchanged
plan answers 304 to its ETag."""
from __future__ import annotations

from _apiws import auth


def content(c, h, **kw):
    r = c.get("/api/plans/p/content", headers=h, **kw)
    assert r.status_code in (200, 304), r.text
    return r


def counts(r):
    return {t["territory_id"]: t["units"] for t in r.json()["territories"]}


def test_a_move_is_seen_at_once_and_the_old_etag_no_longer_matches(api):
    c, tok = api
    h = auth(tok, "planner")
    first = content(c, h)
    assert counts(first) == {"T1": 1, "T2": 1, "T3": 1, "East": 0, "West": 0}
    assert first.headers["content-type"] == "application/json"
    tag = first.headers["etag"]
    assert content(c, h).json() == first.json()  # the second read (served from the cache) is the same
    assert content(c, {**h, "If-None-Match": tag}).status_code == 304
    r = c.post("/api/plans/p/moves", json={"moves": {"10001": "T2"}, "expected_version": 1}, headers=h)
    assert r.status_code == 200
    after = content(c, {**h, "If-None-Match": tag})
    assert after.status_code == 200 and after.headers["etag"] != tag
    assert counts(after) == {"T1": 0, "T2": 2, "T3": 1, "East": 0, "West": 0}
    assert after.json()["version"] == 2 and after.json()["plan"]["version"] == 2
    assert content(c, {**h, "If-None-Match": after.headers["etag"]}).status_code == 304
    # an earlier version is still itself, without the current ETag
    old = content(c, h, params={"version": 1})
    assert counts(old) == counts(first) and "etag" not in old.headers


def test_each_role_keeps_its_own_view_of_one_version(api):
    c, tok = api
    rep = content(c, auth(tok, "rep1"))
    assert [t["territory_id"] for t in rep.json()["territories"]] == ["T1"]
    admin = content(c, auth(tok, "admin"))
    assert sorted(t["territory_id"] for t in admin.json()["territories"]) == ["East", "T1", "T2", "T3", "West"]
    east = content(c, auth(tok, "mgr_east"))
    assert sorted(t["territory_id"] for t in east.json()["territories"]) == ["East", "T1", "T2"]
    assert [t["territory_id"] for t in content(c, auth(tok, "rep1")).json()["territories"]] == ["T1"]
    assert c.get("/api/plans/p/content", headers=auth(tok, "rep9")).status_code == 404
