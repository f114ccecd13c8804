"""The map geometry's on-disk cache and its pre-warm at server start (``api/mapcache.py``,
``map.prewarm``): built once, read back identical by a fresh server, keyed by the unit set,
a damaged entry rebuilt, and the pre-warm switchable off."""
from __future__ import annotations

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
