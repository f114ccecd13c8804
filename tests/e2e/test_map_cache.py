"""The map geometry's on-disk cache and its pre-warm at server start (``api/mapcache.py``,
``map.prewarm``): built once, read back identical by a fresh server, keyed by the unit set,
a damaged entry rebuilt, and the pre-warm switchable off; a running server follows an import
(new units served, the old unit set's entry deleted), pre-warm skips what is on disk, and the
cache is pruned: unit sets that no longer exist, then least recently used over the size limit."""
from __future__ import annotations

import json
import shutil
import types

import numpy as np
import pytest


def _app(db):
    from territorium import store

    eng = store.engine(f"sqlite:///{db}")
    return types.SimpleNamespace(state=types.SimpleNamespace(engine=eng))


@pytest.fixture
def ws(web_template, tmp_path, monkeypatch):
    monkeypatch.setenv("TERRITORIUM_CACHE_DIR", str(tmp_path / "cache"))
    db = tmp_path / "web.db"
    shutil.copy(web_template[0], db)
    apps = []
    yield lambda: apps.append(_app(db)) or apps[-1]
    for a in apps:
        a.state.engine.dispose()


def test_prewarm_stores_the_geometry_and_a_new_server_reads_it_back(ws, tmp_path, monkeypatch):
    from territorium.api.routers import map as M

    first = ws()
    M.prewarm(first).join(300)
    geo = first.state._map_geo["zip"]   # the demo plan's level, built in the background
    assert geo.geoms[0] is not None and geo.geoms[1] is not None and geo.geoms[2] is None
    stored = tmp_path / "cache" / "map" / geo.disk_key
    assert sorted(p.name for p in stored.iterdir()) == ["d0.json", "d1.json", "states.json"]

    # a new server (fresh memory) serves the same texts without building them
    def no_build(*_):
        raise AssertionError("built again although cached on disk")

    monkeypatch.setattr(M, "_detail", no_build)
    monkeypatch.setattr(M, "_outlines", no_build)
    second = ws()
    g2 = M._geography(second, second.state.engine, "zip")
    assert g2.disk_key == geo.disk_key and g2 is not geo
    for d in (0, 1):
        assert M.level_of(g2, d) == M.level_of(geo, d)

    # a damaged entry is built again (and stored again)
    monkeypatch.undo()
    monkeypatch.setenv("TERRITORIUM_CACHE_DIR", str(tmp_path / "cache"))
    (stored / "d0.json").write_text('{"geoms": [')
    third = ws()
    g3 = M._geography(third, third.state.engine, "zip")
    assert M.level_of(g3, 0) == M.level_of(geo, 0)
    assert (stored / "d0.json").read_text().startswith('{"geoms":[')


def test_the_key_follows_the_unit_set(ws):
    import shapely

    from territorium.api import mapcache
    from territorium.api.routers import map as M

    app = ws()
    geo = M._geography(app, app.state.engine, "zip")
    k = mapcache.key(geo.ids, geo.base, geo.edges, M.TOLERANCE)
    assert k == geo.disk_key
    moved = np.array(geo.base, dtype=object)
    moved[0] = shapely.affinity.translate(moved[0], 0.001, 0)
    assert mapcache.key(geo.ids, moved, geo.edges, M.TOLERANCE) != k
    assert mapcache.key(geo.ids, geo.base, geo.edges[1:], M.TOLERANCE) != k
    assert mapcache.key(geo.ids, geo.base, geo.edges, (0.03, *M.TOLERANCE[1:])) != k
    assert mapcache.key(geo.ids[::-1], geo.base, geo.edges, M.TOLERANCE) != k


def test_prewarm_can_be_turned_off(ws, monkeypatch):
    from territorium.api.routers import map as M

    monkeypatch.setenv("TERRITORIUM_MAP_PREWARM", "0")
    app = ws()
    assert M.prewarm(app) is None
    assert not getattr(app.state, "_map_geo", {})


# ------------------------------------------------------------------ the units change under a server
HEADER = ("Id,Name,Type,Industry,BillingStreet,BillingCity,BillingState,BillingPostalCode,BillingCountry,"
          "AnnualRevenue,NumberOfEmployees,OwnerId")


def _accounts_csv(*rows: str) -> bytes:
    return ("\n".join([HEADER, *rows]) + "\n").encode()


@pytest.fixture
def served(ws):
    """(TestClient logged in as the planner with its CSRF header, engine) over a copy of the web
    workspace with a county plan ``counties`` (every county of the imported accounts' states in T1)."""
    from fastapi.testclient import TestClient

    from _webws import PASSWORD
    from territorium.api import create_app
    from territorium.plan import plans
    from territorium.plan.workspace import Workspace

    eng = ws().state.engine
    ids = Workspace(engine=eng).load_units("county").units.table["unit_id"].astype(str)
    plans.create_plan(eng, "counties", units={u: "T1" for u in ids}, territories={"T1": {"name": "All"}},
                      actor="test", unit_level="county")
    with TestClient(create_app(engine=eng), base_url="https://testserver") as c:
        r = c.post("/api/auth/login", json={"username": "planner", "password": PASSWORD})
        assert r.status_code == 200, r.text
        c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        yield c, eng


def _import(c, name: str, *rows: str) -> None:
    r = c.post("/api/imports/accounts", files={"file": (name, _accounts_csv(*rows), "text/csv")})
    assert r.status_code == 201, r.text


def _pointer(eng, level):
    from territorium.api import mapcache
    from territorium.api.routers import map as M

    return json.loads(mapcache._pointer(M._db_name(eng), level).read_text())


def test_a_running_server_serves_the_units_of_an_import(served, tmp_path):
    c, eng = served
    from territorium.api.routers import map as M

    head = c.get("/api/plans/counties/map?detail=0&part=head").json()
    before = set(head["unit_ids"])
    assert before and not any(u.startswith("10") for u in before)   # no Delaware county (FIPS 10xxx)
    shapes = c.get("/api/plans/counties/map?detail=0&part=shapes").json()
    old_key = c.app.state._map_geo["county"].disk_key
    assert (tmp_path / "cache" / "map" / old_key / "d0.json").is_file()

    # an import over the API while the server runs: an account in Dover, DE adds Delaware's counties
    _import(c, "de.csv", "001DE1,Dover Salon,Customer,Salon,1 Loockerman St,Dover,DE,19901,US,1000,3,005X")
    head = c.get("/api/plans/counties/map?detail=0&part=head").json()
    after = set(head["unit_ids"])
    assert after - before == {"10001", "10003", "10005"} and before <= after
    assert len(head["names"]) == len(after) and len(head["centroids"]) == len(after)
    shapes2 = c.get("/api/plans/counties/map?detail=0&part=shapes").json()
    units = [f for f in shapes2["features"] if "u" in f["properties"]]
    assert {f["properties"]["u"] for f in units} == after
    assert len(shapes2["features"]) > len(shapes["features"])
    # the disk entry of the old unit set is gone (no other workspace uses it), the new one is there
    ptr = _pointer(eng, "county")
    assert ptr["key"] != old_key and ptr["version"] == M.units_version(eng) != ""
    assert not (tmp_path / "cache" / "map" / old_key).exists()
    assert (tmp_path / "cache" / "map" / ptr["key"] / "d0.json").is_file()


def test_an_import_that_keeps_the_unit_set_keeps_its_geometry(served, monkeypatch):
    c, eng = served
    from territorium.api.routers import map as M

    first = c.get("/api/plans/counties/map?detail=0&part=head").json()
    assert "001NY9" not in {a["id"] for a in first["accounts"]}
    c.get("/api/plans/counties/map?detail=0&part=shapes")
    geo = c.app.state._map_geo["county"]
    _import(c, "ny.csv", "001NY9,Albany Spa,Customer,Spa,1 State St,Albany,NY,12207,US,1000,3,005X")

    def no_build(*_):
        raise AssertionError("the geometry was built again for the same unit set")

    monkeypatch.setattr(M, "_detail", no_build)
    monkeypatch.setattr(M, "_outlines", no_build)
    head = c.get("/api/plans/counties/map?detail=0&part=head").json()
    assert head["unit_ids"] == first["unit_ids"]
    new = [a for a in head["accounts"] if a["id"] == "001NY9"]   # the new account, in its county's territory
    assert len(new) == 1 and new[0]["t"] == "T1"
    assert len(head["accounts"]) == len(first["accounts"]) + 1
    geo2 = c.app.state._map_geo["county"]
    assert geo2 is not geo and geo2.disk_key == geo.disk_key and geo2.version != geo.version
    assert geo2.geoms[0] is geo.geoms[0]   # carried over, not read or built again
    assert c.get("/api/plans/counties/map?detail=0&part=shapes").status_code == 200


def test_prewarm_skips_units_whose_geometry_is_on_disk(ws, tmp_path, monkeypatch):
    from territorium.api.routers import map as M
    from territorium.data import import_file

    first = ws()
    M.prewarm(first).join(300)
    assert first.state._map_geo["zip"].geoms[1] is not None

    def no_build(*_):
        raise AssertionError("pre-warm loaded units although their geometry is on disk")

    monkeypatch.setattr(M, "_build", no_build)
    second = ws()
    assert M.prewarm(second) is None and not getattr(second.state, "_map_geo", {})
    monkeypatch.undo()
    monkeypatch.setenv("TERRITORIUM_CACHE_DIR", str(tmp_path / "cache"))

    # an import changes the workspace's units version: the next start pre-warms again (once)
    eng = first.state.engine
    path = tmp_path / "more.csv"
    path.write_bytes(_accounts_csv("001NY8,Troy Spa,Customer,Spa,1 River St,Troy,NY,12180,US,1000,3,005X"))
    assert import_file(path, "accounts", engine=eng).stored
    third = ws()
    t = M.prewarm(third)
    assert t is not None
    t.join(300)
    assert third.state._map_geo["zip"].geoms[1] is not None
    assert M.prewarm(ws()) is None


# ------------------------------------------------------------------------------------- pruning
@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TERRITORIUM_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "map"


def test_the_cache_keeps_under_its_limit_least_recently_used_first(cache, monkeypatch):
    import os
    import time

    from territorium.api import mapcache

    blob = {"geoms": ["x" * 1000] * 100}   # about 100 kB
    for k in ("a", "b", "c"):
        mapcache.save(k, "d0", blob)
    size = (cache / "a" / "d0.json").stat().st_size
    assert 100_000 < size < 105_000 and mapcache.size_bytes() == 3 * size
    now = time.time()
    for k, age in (("a", 300), ("b", 200), ("c", 100)):
        os.utime(cache / k, (now - age, now - age))
    assert mapcache.load("a", "d0") == blob   # a read is a use: "a" is now the newest
    monkeypatch.setenv("TERRITORIUM_MAP_CACHE_MB", str(3.5 * size / 1e6))
    assert mapcache.limit_bytes() == int(3.5 * size)
    mapcache.save("d", "d0", blob)   # 4 entries over a limit of 3.5: the least recently used goes
    assert sorted(p.name for p in cache.iterdir()) == ["a", "c", "d"]
    monkeypatch.setenv("TERRITORIUM_MAP_CACHE_MB", str(1.5 * size / 1e6))
    assert mapcache.prune(keep=("c",)) == ["a", "d"]   # oldest first, the kept one stays
    assert sorted(p.name for p in cache.iterdir()) == ["c"] and mapcache.size_bytes() <= 1.5 * size
    assert mapcache.load("a", "d0") is None
    monkeypatch.delenv("TERRITORIUM_MAP_CACHE_MB")
    assert mapcache.limit_bytes() == mapcache.DEFAULT_LIMIT_MB * 10**6


def test_unit_sets_that_no_longer_exist_are_pruned(cache, tmp_path):
    from territorium.api import mapcache

    dbs = []
    for i in range(3):
        (tmp_path / f"w{i}.db").write_bytes(b"")
        dbs.append(f"sqlite:///{tmp_path / f'w{i}.db'}")
    for k in ("k1", "k2", "k3", "k4"):
        mapcache.save(k, "d0", {"geoms": []})
        mapcache.save(k, "states", "{}")
    mapcache.point(dbs[0], "zip", "v1", "k1")
    assert mapcache.pointed(dbs[0], "zip", "v1") == "k1" and mapcache.pointed(dbs[0], "zip", "v2") is None
    assert mapcache.ready(dbs[0], "zip", "v1", ["d0", "states"])
    assert not mapcache.ready(dbs[0], "zip", "v1", ["d0", "d1"]) and not mapcache.ready(dbs[0], "zip", "v2", ["d0"])
    # an import changed the units of w0: its old unit set is gone from the cache
    mapcache.point(dbs[0], "zip", "v2", "k2")
    assert not (cache / "k1").exists() and mapcache.ready(dbs[0], "zip", "v2", ["d0"])
    # a unit set two workspaces use stays while one of them still names it
    mapcache.point(dbs[1], "zip", "v1", "k3")
    mapcache.point(dbs[2], "county", "v1", "k3")
    mapcache.point(dbs[1], "zip", "v2", "k4")
    assert (cache / "k3").is_dir()
    # ... until that workspace's file is deleted
    (tmp_path / "w2.db").unlink()
    assert mapcache.prune() == ["k3"]
    assert sorted(p.name for p in cache.iterdir() if p.name != "units") == ["k2", "k4"]
    assert mapcache.pointed(dbs[2], "county", "v1") is None
    assert len(list((cache / "units").glob("*.json"))) == 2
