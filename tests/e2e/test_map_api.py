"""The map endpoint over the small demo workspace (no browser): geometry, colours, scope,
balance inputs and reasons, read back from the JSON the web app gets."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import shapely

from _webws import PASSWORD


@pytest.fixture(scope="module")
def client(web_template, tmp_path_factory):
    from fastapi.testclient import TestClient

    from territorium import store
    from territorium.api import create_app

    src, facts = web_template
    db = tmp_path_factory.mktemp("map-api") / "web.db"
    shutil.copy(src, db)
    eng = store.engine(f"sqlite:///{db}")
    with TestClient(create_app(engine=eng), base_url="https://testserver") as c:
        yield c, facts, eng
    eng.dispose()


def _login(c, user):
    c.cookies.clear()
    r = c.post("/api/auth/login", json={"username": user, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return r.json()["csrf_token"]


def test_planner_gets_every_unit_with_neighbours_in_different_colours(client):
    c, facts, eng = client
    from territorium.plan import plans
    from territorium.plan.workspace import Workspace

    _login(c, "planner")
    m = c.get("/api/plans/demo/map?detail=0").json()
    feats = m["units"]["features"]
    units = Workspace(engine=eng).load_units("zip").units
    assert len(feats) == units.n
    terr = {t["id"]: t for t in m["territories"]}
    assert {t for t in terr if terr[t]["leaf"]} == set(facts["territories"])
    # every unit's territory is the plan's (through its member ZIPs)
    content = plans.plan_content(eng, "demo")
    plan_t = dict(zip(content.units["unit_id"], content.units["territory_id"]))
    for f, members in zip(feats, m["members"]):
        assert f["properties"]["t"] == plan_t[members[0]]
    # neighbouring units of different territories never share a colour
    t_of = [f["properties"]["t"] for f in feats]
    clash = [(a, b) for a, b in m["edges"] if t_of[a] != t_of[b] and terr[t_of[a]]["colour"] == terr[t_of[b]]["colour"]]
    assert not clash
    # real polygons in the right place: each unit's centroid lies in (or next to) its polygon
    g = shapely.from_geojson([json.dumps(f["geometry"]) for f in feats[:200]])
    pts = shapely.points(np.asarray(m["centroids"][:200]))
    assert np.mean(shapely.distance(g, pts) < 0.05) > 0.95
    # measures per unit equal the workspace's, in feature order
    pos = units.index_of([f["properties"]["u"] for f in feats])
    np.testing.assert_allclose(m["measures"]["workload"], units.measure("workload")[pos], rtol=1e-3, atol=1e-3)
    assert len(m["accounts"]) > 1000 and len(m["reps"]) == len(facts["territories"])
    # a shared border between two territories is in the borders layer, as a line
    b = m["borders"]["features"]
    assert len(b) > 0.8 * len(m["edges"]) and b[0]["geometry"]["type"] in ("LineString", "MultiLineString")
    assert len(m["state_outlines"]["features"]) >= 9   # the demo's north-eastern states


def test_detail_levels_get_sharper(client):
    c, _, _ = client
    _login(c, "planner")
    sizes = [len(c.get(f"/api/plans/demo/map?detail={d}").content) for d in (0, 2)]
    assert sizes[0] < sizes[1]
    assert c.get("/api/plans/demo/map?detail=7").status_code == 422


def test_rep_sees_only_their_territory(client):
    c, facts, _ = client
    _login(c, "rep")
    m = c.get("/api/plans/demo/map").json()
    assert [t["id"] for t in m["territories"]] == [facts["rep_territory"]]
    assert {f["properties"]["t"] for f in m["units"]["features"]} == {facts["rep_territory"]}
    assert {a["t"] for a in m["accounts"]} == {facts["rep_territory"]}
    assert [r["id"] for r in m["reps"]] == [facts["rep_id"]]
    assert m["editable"] is False
    n = len(m["units"]["features"])
    assert all(0 <= a < n and 0 <= b < n for a, b in m["edges"])


def test_manager_sees_their_region(client):
    c, facts, _ = client
    _login(c, "mgr")
    m = c.get("/api/plans/demo/map?detail=0").json()
    assert {t["id"] for t in m["territories"] if t["leaf"]} == set(facts["east"])
    assert {f["properties"]["t"] for f in m["units"]["features"]} <= set(facts["east"])


def test_unknown_plan_and_no_login(client):
    c, _, _ = client
    c.cookies.clear()
    assert c.get("/api/plans/demo/map").status_code == 401
    assert c.get("/api/web/session").json() == {"user": None}
    _login(c, "planner")
    assert c.get("/api/web/session").json()["user"]["role"] == "planner"
    assert c.get("/api/plans/nope/map").status_code == 404


def test_moved_units_carry_their_reason(client):
    c, facts, eng = client
    from territorium.plan import plans

    csrf = _login(c, "planner")
    m = c.get("/api/plans/demo/map?detail=0").json()
    i = next(k for k, f in enumerate(m["units"]["features"]) if f["properties"]["t"] == facts["territories"][0])
    uid = m["units"]["features"][i]["properties"]["u"]
    to = facts["territories"][1]
    v = plans.get_plan(eng, "demo").version
    r = c.post("/api/plans/demo/moves", headers={"X-CSRF-Token": csrf},
               json={"moves": {z: to for z in m["members"][i]}, "expected_version": v, "reason": "closer to the rep"})
    assert r.status_code == 200, r.text
    m2 = c.get("/api/plans/demo/map?detail=0").json()
    assert m2["plan"]["version"] == v + 1
    assert m2["units"]["features"][i]["properties"]["t"] == to
    why = m2["reasons"][uid]
    assert why["reason"] == "closer to the rep" and why["to"] == to and why["actor"] == "planner"
    # a move made outside the API (no job, no reason) still gives strict JSON (no NaN)
    plans.move_units(eng, "demo", {m["members"][i][0]: facts["territories"][0]}, expected_version=v + 1,
                     actor="cli", reason=None, job=None)
    r = c.get("/api/plans/demo/map?detail=0")

    def no_constants(x):
        raise AssertionError(f"{x} in the JSON")

    m3 = json.loads(r.text, parse_constant=no_constants)
    assert m3["reasons"][uid]["job"] is None and m3["reasons"][uid]["actor"] == "cli"


def _parts(c, plan: str, detail: int = 0) -> tuple[dict, dict, dict]:
    """(whole document, head, shapes) of ``plan`` at ``detail``, head and shapes of the
    whole document's version."""
    m = c.get(f"/api/plans/{plan}/map?detail={detail}").json()
    v = m["plan"]["version"]
    head = c.get(f"/api/plans/{plan}/map?detail={detail}&part=head&version={v}").json()
    shapes = c.get(f"/api/plans/{plan}/map?detail={detail}&part=shapes&version={v}").json()
    return m, head, shapes


@pytest.mark.parametrize("user", ["planner", "rep"])
def test_head_and_shapes_split_the_whole_document(client, user):
    """What the page loads (head on its main thread, shapes in MapLibre's worker) is the whole
    document: same units in the same order, borders keyed by their edge, territory flags."""
    c, facts, _ = client
    _login(c, user)
    m, head, shapes = _parts(c, "demo")
    geometry = {"units", "borders", "state_outlines"}
    assert {k: v for k, v in m.items() if k not in geometry} == \
        {k: v for k, v in head.items() if k not in ("unit_ids", "unit_territories")}
    feats = m["units"]["features"]
    n = len(feats)
    assert head["unit_ids"] == [f["properties"]["u"] for f in feats]
    assert head["unit_territories"] == [f["properties"]["t"] for f in feats]
    if user == "rep":
        assert set(head["unit_territories"]) == {facts["rep_territory"]}
    units = [f for f in shapes["features"] if "c" in f["properties"]]
    borders = [f for f in shapes["features"] if "on" in f["properties"]]
    states = [f for f in shapes["features"] if "state" in f["properties"]]
    assert len(units) + len(borders) + len(states) == len(shapes["features"])
    assert [f["id"] for f in units] == list(range(n))
    assert [f["geometry"] for f in units] == [f["geometry"] for f in feats]
    colour = {t["id"]: t["colour"] for t in head["territories"]}
    assert [f["properties"]["c"] for f in units] == [colour.get(t, -1) for t in head["unit_territories"]]
    # border n + k is edge k, drawn when its two units lie in different territories
    t_of = head["unit_territories"]
    assert [f["id"] - n for f in borders] == [f["id"] for f in m["borders"]["features"]]
    for f in borders:
        a, b = head["edges"][f["id"] - n]
        assert (f["properties"]["a"], f["properties"]["b"]) == (a, b)
        assert f["properties"]["on"] == int(t_of[a] != t_of[b])
    assert states == m["state_outlines"]["features"]
    # the first paint's shapes: the territory borders alone
    v = head["plan"]["version"]
    few = c.get(f"/api/plans/demo/map?detail=0&part=shapes&version={v}&borders=territory").json()["features"]
    assert [f for f in few if "on" in f["properties"]] == [f for f in borders if f["properties"]["on"] == 1]
    assert [f for f in few if "on" not in f["properties"]] == units + states
    assert c.get("/api/plans/demo/map?part=tiles").status_code == 422
    assert c.get("/api/plans/demo/map?part=shapes&borders=some").status_code == 422


def test_county_plan_payload_and_borders(client):
    """A county plan (territory = state) on the demo's states: the geometry the page loads stays
    small per unit, and its territory borders are exactly the state lines between the units:
    their length equals the dissolved territories' shared boundary, computed here from the
    unit polygons."""
    c, _, eng = client
    from territorium.plan import plans
    from territorium.plan.workspace import Workspace

    t = Workspace(engine=eng).load_units("county").units.table
    plans.create_plan(eng, "counties", units=dict(zip(t["unit_id"].astype(str), t["state"].astype(str))),
                      territories={s: {"name": s} for s in set(t["state"].astype(str))}, actor="test",
                      unit_level="county")
    _login(c, "planner")
    m, head, shapes = _parts(c, "counties")
    n = len(head["unit_ids"])
    assert n == len(t) > 150
    per_unit = {k: v for k, v in head.items() if k not in ("accounts", "territories", "reps")}
    raw = {k: len(json.dumps(v, separators=(",", ":"))) for k, v in (("head", per_unit), ("shapes", shapes))}
    # measured 2026-12 (217 counties): 1.8 kB of shapes and about 100 B of per-unit head data per county
    assert raw["head"] / n < 250 and raw["shapes"] / n < 2500, raw
    polys = {f["id"]: shapely.geometry.shape(f["geometry"]) for f in shapes["features"] if "c" in f["properties"]}
    on = [shapely.geometry.shape(f["geometry"]) for f in shapes["features"] if f["properties"].get("on") == 1]
    off = [f for f in shapes["features"] if f["properties"].get("on") == 0]
    assert on and off
    # every border lies on the boundary of both its units (coordinates on a 0.001 degree grid)
    for f in shapes["features"][n:n + 300]:
        if "on" in f["properties"]:
            pts = shapely.points(shapely.get_coordinates(shapely.geometry.shape(f["geometry"])))
            for u in (f["properties"]["a"], f["properties"]["b"]):
                assert shapely.distance(pts, polys[u].boundary).max() < 1.5e-3
    # territory borders: half of (sum of territory perimeters - perimeter of the whole)
    ts = np.asarray(head["unit_territories"])
    geoms = np.asarray([polys[i] for i in range(n)], dtype=object)
    dissolved = [shapely.union_all(geoms[ts == s], grid_size=1e-6) for s in sorted(set(ts))]
    whole = shapely.union_all(dissolved, grid_size=1e-6)
    expected = (sum(d.boundary.length for d in dissolved) - whole.boundary.length) / 2
    assert sum(g.length for g in on) == pytest.approx(expected, rel=0.03)


# ------------------------------------------------------------------------------ capacity targets
def _capacity_of(eng) -> dict[str, float]:
    """Each rep's capacity in hours read straight from the database, a missing one the median
    of the given ones (the definition of ``design --capacity-targets``)."""
    import sqlite3

    with sqlite3.connect(eng.url.database) as con:
        rows = con.execute("SELECT rep_id, capacity_hours FROM reps").fetchall()
    known = [h for _, h in rows if h is not None]
    return {r: float(h if h is not None else np.median(known)) for r, h in rows}


def test_head_serves_each_territory_its_capacity_target(client):
    c, facts, eng = client
    from territorium.plan import plans

    cap = _capacity_of(eng)
    terr = plans.plan_content(eng, "demo", units=False).territories
    reps_of = {t: [r[0] for r in rr] for t, rr in zip(terr["territory_id"], terr["reps"]) if t in facts["territories"]}
    assert all(len(v) == 1 for v in reps_of.values()), "the web workspace staffs one rep per territory"
    want = {t: sum(cap[r] for r in rr) for t, rr in reps_of.items()}
    assert max(want.values()) > 1.5 * min(want.values()), "the demo has part-time reps: unequal targets"
    _login(c, "planner")
    head = c.get("/api/plans/demo/map?detail=0&part=head").json()
    assert head["targets"]["basis"] == "capacity" and head["targets"]["source"] == "staffing"
    assert head["targets"]["unit"] == "hours" and head["targets"]["vacant"] == []
    got = {t["id"]: t["target"] for t in head["territories"] if t["leaf"]}
    total = sum(want.values())
    assert got == pytest.approx({t: w / total for t, w in want.items()}, rel=1e-9)
    assert {t["id"]: t["capacity"] for t in head["territories"] if t["leaf"]} == pytest.approx(want)
    assert all(t["target"] is None for t in head["territories"] if not t["leaf"])   # regions East, West
    # a manager's shares add up over their region; a rep's own territory alone has no target to compare
    _login(c, "mgr")
    east = {t["id"]: t["target"] for t in c.get("/api/plans/demo/map?detail=0&part=head").json()["territories"]
            if t["leaf"]}
    e_total = sum(want[t] for t in facts["east"])
    assert east == pytest.approx({t: want[t] / e_total for t in facts["east"]}, rel=1e-9)
    _login(c, "rep")
    own = c.get("/api/plans/demo/map?detail=0&part=head").json()
    assert [(t["id"], t["target"]) for t in own["territories"]] == [(facts["rep_territory"], None)]
    assert own["targets"] is None


def test_targets_follow_the_staffing_and_the_design_settings(client):
    c, facts, eng = client
    from territorium.plan import plans

    cap = _capacity_of(eng)
    content = plans.plan_content(eng, "demo")
    units = dict(zip(content.units["unit_id"], content.units["territory_id"]))
    terr = {r.territory_id: {"name": r.name, "reps": [x[0] for x in r.reps]}
            for r in content.territories.itertuples(index=False) if r.territory_id in facts["territories"]}
    vacant = facts["territories"][0]
    terr[vacant]["reps"] = []
    plans.create_plan(eng, "targets-vacant", units=units, territories=terr, actor="test")
    plans.create_plan(eng, "targets-equal", units=units, territories=terr, actor="test",
                      settings={"command": "design", "centers": "reps", "capacity_targets": False})
    _login(c, "planner")
    head = c.get("/api/plans/targets-vacant/map?detail=0&part=head").json()
    staffed = {t: cap[d["reps"][0]] for t, d in terr.items() if d["reps"]}
    want = {**staffed, vacant: float(np.median(list(staffed.values())))}   # a vacancy: one rep of median capacity
    got = {t["id"]: t["target"] for t in head["territories"]}
    assert got == pytest.approx({t: w / sum(want.values()) for t, w in want.items()}, rel=1e-9)
    assert head["targets"]["vacant"] == [vacant]
    # a plan designed with equal targets has none: its bars compare with the mean
    head = c.get("/api/plans/targets-equal/map?detail=0&part=head").json()
    assert head["targets"] is None and all(t["target"] is None for t in head["territories"])
