"""The map of a plan for the web app: unit polygons simplified per zoom level as compact
GeoJSON, the plan's alignment with per-unit measures, territory colours (neighbours differ),
state outlines, rep homes, accounts as points, the unit graph (for contiguity warnings in the
browser) and why the engine moved each unit.

Geometry is built once per unit level (the workspace's units, see ``plan/workspace.py``) and
kept in memory with every unit's polygon already serialised at each detail level, so a
request only joins strings. Each request compares the workspace's units version
(:func:`units_version`: one query on ``import_batches``) with the one the kept geography was
built for; after an import (``territorium import`` or the API's, while the server runs) the
level is built again, reusing the served texts when the unit set itself did not change. A
rep or manager gets only the units, accounts and reps of the territories they may read
(``plan/access.py``); everything else is left out of the answer.
"""
from __future__ import annotations

import itertools
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from territorium.api import mapcache
from territorium.api.deps import CurrentUser, Eng, VisiblePlan
from territorium.plan import plans
from territorium.plan.access import can_edit

router = APIRouter(prefix="/api", tags=["map"])

#: simplification tolerance (degrees) per detail level: 0 for the whole country, 2 close up
TOLERANCE = (0.02, 0.004, 0.0008)
MEASURES = ("account_count", "revenue", "potential", "workload", "order_count")
_LOCK = threading.Lock()
_CACHE_LOCK = threading.Lock()
_STAMPS = itertools.count(1)   # one per built geography: the placement caches' keys name it


@dataclass
class _Geo:
    """One unit level's geography, ready to serve."""

    ids: np.ndarray                 # unit ids (map order)
    names: list[str]
    states: list[str]
    measures: dict[str, np.ndarray]
    edges: np.ndarray               # (m, 2) unit positions, shared borders and island links
    geoms: list                     # per detail level (built on first use): GeoJSON text per unit
    borders: list                   # per detail level: the shared border of each edge (or "null")
    state_outlines: str | None      # a FeatureCollection text (built on first use)
    members: dict[str, list[int]]   # ZIP / unit id -> unit positions holding it
    accounts: pd.DataFrame          # account_id, name, lon, lat, unit
    centroids: np.ndarray           # (n, 2) lon, lat
    base: object = None             # the valid unit polygons (None: point units)
    index: pd.Index = None          # unit id -> map position
    simple: np.ndarray = None       # per map unit: its own id is the only id it holds (and only there)
    disk_key: str = ""              # its entry in the on-disk cache of served geometry (api/mapcache.py)
    shown_arrays: tuple = (b"", "")  # (shown positions, their per-unit arrays as JSON text): the last asked
    version: str = ""               # the workspace's units version it was built from (units_version)
    stamp: int = 0                  # which build of the level this is (a key part of the placement caches)
    # one lock per detail level and one for the state outlines: building a sharper level (tens
    # of seconds for all-US ZIPs) does not hold up requests for a level that is ready
    locks: list = field(default_factory=lambda: [threading.Lock() for _ in range(len(TOLERANCE) + 1)])


def _texts(geoms, digits: int) -> list[str]:
    """GeoJSON text of each geometry on a grid of 10^-digits degrees (None / empty: "null")."""
    import shapely

    g = np.asarray(geoms, dtype=object)
    ok = ~(shapely.is_missing(g) | shapely.is_empty(g))
    out = np.full(len(g), "null", dtype=object)
    if ok.any():
        out[ok] = shapely.to_geojson(shapely.set_precision(g[ok], 10.0 ** -digits))
    return out.tolist()


def _simplified(base, tol: float):
    import shapely

    try:   # shared borders stay shared (no gaps or overlaps between neighbours)
        return shapely.coverage_simplify(base, tol)
    except Exception:   # pragma: no cover - not a valid coverage: polygon by polygon
        return shapely.simplify(base, tol, preserve_topology=True)


def _detail(geo: "_Geo", d: int) -> None:
    """Fill detail level ``d`` (unit polygons and neighbour borders as GeoJSON text)."""
    import shapely

    if geo.geoms[d] is not None:
        return
    if geo.base is None:   # point units
        geo.geoms[d] = [json.dumps({"type": "Point", "coordinates": [round(x, 5), round(y, 5)]})
                        for x, y in geo.centroids]
        geo.borders[d] = ["null"] * len(geo.edges)
        return
    digits = 3 + d
    # on the served grid first, so the borders are cut from the polygons as drawn (snapping
    # can drop a sliver of a unit; a border along it would float beside the unit)
    simple = _simplified(geo.base, TOLERANCE[d])
    ok = ~(shapely.is_missing(simple) | shapely.is_empty(simple))
    simple[ok] = shapely.set_precision(simple[ok], 10.0 ** -digits)
    e = geo.edges
    bnd = shapely.boundary(simple)
    with np.errstate(all="ignore"):   # coverage_simplify keeps a shared border identical on both sides
        shared = shapely.line_merge(shapely.intersection(bnd[e[:, 0]], bnd[e[:, 1]]))
    lines = np.isin(shapely.get_type_id(shared), (1, 5))
    geo.borders[d] = _texts(np.where(lines, shared, None), digits)
    geo.geoms[d] = _texts(simple, digits)


def _outlines(base, states) -> str:
    import shapely

    if base is None:
        return '{"type":"FeatureCollection","features":[]}'
    simple = _simplified(base, TOLERANCE[1])
    feats = []
    for st in sorted(set(states)):
        try:
            merged = shapely.coverage_union_all(simple[states == st])
        except shapely.errors.GEOSException:   # not exactly noded after simplification
            merged = shapely.union_all(shapely.make_valid(simple[states == st]), grid_size=1e-4)
        # slivers left inside a state by the simplified unit borders are no outline
        parts = [p for p in shapely.get_parts(merged) if p.geom_type == "Polygon" and p.area > 1e-5]
        rings = [shapely.LinearRing(p.exterior.coords) for p in parts] + \
            [r for p in parts for r in p.interiors if shapely.Polygon(r).area > 0.02]
        feats.append(f'{{"type":"Feature","properties":{{"state":{json.dumps(str(st))}}},'
                     f'"geometry":{_texts([shapely.MultiLineString(rings)], 4)[0]}}}')
    return '{"type":"FeatureCollection","features":[' + ",".join(feats) + "]}"


def _build(eng, level: str) -> _Geo:
    import geopandas as gpd

    from territorium.plan.workspace import Workspace

    load = Workspace(engine=eng).load_units(level)
    u = load.units
    t = u.table
    base = None
    if u.geometry is not None:
        base = gpd.GeoSeries(np.asarray(u.geometry), crs="EPSG:4326").make_valid().to_numpy()
    states = t["state"].astype(str).to_numpy() if "state" in t.columns else np.full(u.n, "")
    members: dict[str, list[int]] = {}
    for i, uid in enumerate(t["unit_id"].astype(str)):
        members.setdefault(uid, []).append(i)
    if "member_zips" in t.columns:
        for i, mz in enumerate(t["member_zips"]):
            for z in str(mz or "").replace(",", ";").split(";"):
                z = z.strip()
                if z and i not in members.setdefault(z, []):
                    members[z].append(i)
    meas = {m: t[m].to_numpy(np.float64) for m in MEASURES if m in t.columns}
    ids = t["unit_id"].astype(str).to_numpy()
    holders = np.zeros(u.n, dtype=np.int64)   # how many ids each map unit holds
    for ps in members.values():
        holders[ps] += 1
    simple = np.array([holders[i] == 1 and members.get(uid) == [i] for i, uid in enumerate(ids)], dtype=bool)
    acc = load.accounts
    acc = acc[(acc["unit"] >= 0) & acc["lon"].notna() & acc["lat"].notna()]
    return _Geo(t["unit_id"].astype(str).to_numpy(), t["name"].astype(str).tolist(),
                t["state"].astype(str).tolist() if "state" in t.columns else [""] * u.n,
                meas, u.adjacency.edges(), [None] * len(TOLERANCE), [None] * len(TOLERANCE), None, members,
                acc[["account_id", "name", "lon", "lat", "unit"]].reset_index(drop=True),
                t[["lon", "lat"]].to_numpy(np.float64), base, pd.Index(ids), simple)


def units_version(eng) -> str:
    """The workspace's units version: what its imports have been (count, last id and time of
    the ``import_batches`` rows). The map's units (their unit set: the states of the imported
    accounts, or the accounts themselves) and the accounts and measures shown with them change
    only with an import, and every import, by the CLI or the API, adds a row. One cheap query,
    made per map request; "" when the table cannot be read."""
    import sqlalchemy as sa

    try:
        with eng.connect() as conn:
            n, top, last = conn.execute(sa.text(
                "SELECT COUNT(*), MAX(id), MAX(created_at) FROM import_batches")).one()
    except sa.exc.SQLAlchemyError:
        return ""
    return f"{n}:{top}:{last}"


def _db_name(eng) -> str:
    """The workspace database as the disk cache's pointers name it (no password; a SQLite
    file by its absolute path)."""
    url = eng.url
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        from pathlib import Path

        return "sqlite:///" + str(Path(url.database).resolve())
    return url.render_as_string(hide_password=True)


def geography(request: Request, eng, level: str) -> _Geo:
    """The level's geography, built on first use and again when the workspace's units version
    (:func:`units_version`) differs from the one it was built from."""
    return _geography(request.app, eng, level)


def _geography(app, eng, level: str) -> _Geo:
    cache = app.state.__dict__.setdefault("_map_geo", {})
    version = units_version(eng)   # read before a build: an import during it makes the next request build again
    with _LOCK:
        old = cache.get(level)
        if old is None or old.version != version:
            geo = _build(eng, level)
            geo.version, geo.stamp = version, next(_STAMPS)
            geo.disk_key = mapcache.key(geo.ids, geo.base, geo.edges, TOLERANCE)
            if old is not None and old.disk_key == geo.disk_key:
                # the same unit set (an import of orders, say): its served texts stay true
                geo.geoms, geo.borders, geo.state_outlines = list(old.geoms), list(old.borders), old.state_outlines
            mapcache.point(_db_name(eng), level, version, geo.disk_key)
            cache[level] = geo
        return cache[level]


def level_of(geo: _Geo, d: int) -> tuple[list[str], list[str], str]:
    """(unit geometry texts, border texts, state outlines) at detail ``d``: from memory, else
    from the on-disk cache (``api/mapcache.py``), else built (and stored there)."""
    with geo.locks[d]:
        if geo.geoms[d] is None:
            kept = mapcache.load(geo.disk_key, f"d{d}")
            if kept is not None and len(kept["geoms"]) == len(geo.ids) and len(kept["borders"]) == len(geo.edges):
                geo.geoms[d], geo.borders[d] = kept["geoms"], kept["borders"]
            else:
                _detail(geo, d)
                mapcache.save(geo.disk_key, f"d{d}", {"geoms": geo.geoms[d], "borders": geo.borders[d]})
    with geo.locks[-1]:
        if geo.state_outlines is None:
            kept = mapcache.load(geo.disk_key, "states")
            if isinstance(kept, str):
                geo.state_outlines = kept
            else:
                geo.state_outlines = _outlines(geo.base, np.asarray(geo.states, dtype=object))
                mapcache.save(geo.disk_key, "states", geo.state_outlines)
    return geo.geoms[d], geo.borders[d], geo.state_outlines


def prewarm(app, details: tuple[int, ...] = (0, 1)) -> threading.Thread | None:
    """Build the map geometry of every unit level that a plan of the app's workspace uses, at
    ``details``, in a background thread, so the first reader of a map after a server start
    does not wait for it. A level whose geometry for the current units is on disk already
    (``mapcache.ready``: a pointer file and a few ``stat`` calls, no unit loaded) is skipped:
    its first reader loads the units and reads the texts back. ``TERRITORIUM_MAP_PREWARM=0``
    turns it off. Returns the thread (None when off or nothing to do)."""
    import os

    if os.environ.get("TERRITORIUM_MAP_PREWARM", "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    eng = app.state.engine
    infos, _ = plans.list_plans(eng)
    levels = sorted({i.unit_level for i in infos if i.status != "archived" and i.unit_level})
    db, version = _db_name(eng), units_version(eng)
    names = [f"d{d}" for d in details] + ["states"]
    levels = [lv for lv in levels if not mapcache.ready(db, lv, version, names)]
    if not levels:
        return None

    def run() -> None:
        import logging

        for level in levels:
            try:
                geo = _geography(app, eng, level)
                for d in details:
                    level_of(geo, d)
            except Exception:   # noqa: BLE001 - the first request builds it again and reports the error
                logging.getLogger("territorium.api").warning("map pre-warm of %s units failed", level, exc_info=True)

    t = threading.Thread(target=run, name="map-prewarm", daemon=True)
    t.start()
    return t


def _reasons(eng, name: str) -> dict[str, dict]:
    """Per unit id, the latest move of the unit with its reason (and job, actor, version)."""
    ev, _ = plans.events(eng, name, entity="unit")
    out: dict[str, dict] = {}
    if len(ev):
        ev = ev[ev["old_value"].notna()]
        ev = ev.astype(object).where(ev.notna(), None)   # no NaN in JSON
        for r in ev.itertuples(index=False):
            out[str(r.entity_id)] = {"from": r.old_value, "to": r.new_value, "reason": r.reason, "job": r.job,
                                     "actor": r.actor, "version": int(r.version)}
    return out


def _colours(unit_t: np.ndarray, edges: np.ndarray, k: int) -> np.ndarray:
    from territorium.plan.report import territory_colours

    return territory_colours(unit_t, edges, k) if k else np.zeros(0, dtype=np.int64)


@dataclass
class _Placement:
    """The plan's units placed on the level's geography, as the current user may see them."""

    tids: list[str]                 # territory ids (sorted); a unit's territory is an index into it
    unit_t: np.ndarray              # per map unit: territory index or -1
    colours: np.ndarray             # per territory: colour index (neighbours differ)
    visible_t: np.ndarray           # per territory: the user may see it
    pos: np.ndarray                 # the map units shown, in answer order
    new_pos: np.ndarray             # map unit -> answer position or -1
    plan_ids: dict[int, list[str]]  # map unit -> the plan's unit ids on it


def _place(geo: _Geo, c, scope) -> _Placement:
    tids = sorted(c.territories["territory_id"].astype(str))
    t_index = {t: i for i, t in enumerate(tids)}
    unit_t = np.full(len(geo.ids), -1, dtype=np.int64)
    plan_ids: dict[int, list[str]] = {}
    uids = c.units["unit_id"].astype(str).to_numpy()
    ts = pd.Index(tids).get_indexer(c.units["territory_id"].astype(str))
    # a plan unit that is a map unit which holds no other id: placed in one step
    at = geo.index.get_indexer(uids) if geo.index.is_unique else np.full(len(uids), -1)
    direct = at >= 0
    direct[direct] = geo.simple[at[direct]]
    unit_t[at[direct]] = ts[direct]
    for p, uid in zip(at[direct].tolist(), uids[direct].tolist()):
        plan_ids[p] = [uid]
    for uid, tid in zip(uids[~direct], c.units["territory_id"].astype(str).to_numpy()[~direct]):
        for p in geo.members.get(uid, ()):
            if unit_t[p] < 0 or geo.ids[p] == uid:
                unit_t[p] = t_index.get(tid, -1)
            plan_ids.setdefault(p, []).append(uid)
    colours = _colours(unit_t, geo.edges, len(tids))
    visible_t = np.array([scope is None or t in scope for t in tids], dtype=bool)
    show = (unit_t >= 0) & visible_t[np.maximum(unit_t, 0)] if scope is not None else np.ones(len(geo.ids), bool)
    pos = np.flatnonzero(show)
    new_pos = np.full(len(geo.ids), -1)
    new_pos[pos] = np.arange(len(pos))
    return _Placement(tids, unit_t, colours, visible_t, pos, new_pos, plan_ids)


def _unit_features(geo: _Geo, pl: _Placement, geoms: list[str]) -> str:
    """The shown units as GeoJSON features (comma-separated): ``id`` the answer position,
    properties ``u`` (unit id), ``t`` (territory id or null) and ``c`` (the territory's colour
    index, -1: none)."""
    tids, unit_t, colours = pl.tids, pl.unit_t, pl.colours
    return ",".join(
        f'{{"type":"Feature","id":{k},"properties":{{"u":{json.dumps(str(geo.ids[p]))},'
        f'"t":{json.dumps(tids[unit_t[p]]) if unit_t[p] >= 0 else "null"},'
        f'"c":{int(colours[unit_t[p]]) if unit_t[p] >= 0 else -1}}},'
        f'"geometry":{geoms[p]}}}' for k, p in enumerate(pl.pos))


def _shown_edges(geo: _Geo, pl: _Placement) -> tuple[np.ndarray, np.ndarray]:
    """(the graph edges between shown units: their positions in ``geo.edges``, and the edges in
    answer positions as an (m, 2) array)."""
    e = geo.edges
    if not len(e):
        return np.zeros(0, dtype=np.int64), np.zeros((0, 2), dtype=np.int64)
    show = pl.new_pos >= 0
    keep = np.flatnonzero(show[e[:, 0]] & show[e[:, 1]])
    return keep, pl.new_pos[e[keep]]


def _border_features(geo: _Geo, pl: _Placement, borders: list[str], offset: int = 0,
                     territory_only: bool = False) -> str:
    """The borders between shown units as GeoJSON features (comma-separated): ``id`` the
    edge's position among the shown edges (the head's ``edges``) plus ``offset``, properties
    ``a``, ``b`` (its units) and ``on`` (1: a territory border in this placement, i.e. its two
    units lie in different territories); ``territory_only``: the territory borders alone."""
    keep, edges = _shown_edges(geo, pl)
    t = pl.unit_t
    on = t[geo.edges[keep, 0]] != t[geo.edges[keep, 1]]
    k = np.flatnonzero(on if territory_only else np.ones(len(keep), dtype=bool))
    return ",".join(f'{{"type":"Feature","id":{i + offset},"properties":{{"a":{a},"b":{b},"on":{int(o)}}},'
                    f'"geometry":{g}}}'
                    for i, a, b, o, g in zip(k.tolist(), edges[k, 0].tolist(), edges[k, 1].tolist(),
                                             on[k].tolist(), (borders[j] for j in keep[k].tolist()))
                    if g != "null")


def _collection(features: str) -> str:
    return _FC + features + "]}"


_FC = '{"type":"FeatureCollection","features":['
PARTS = ("all", "head", "shapes")
_CACHED = 6   # placements and shapes kept per app (plan version x detail x scope), newest first


def _cached(request: Request, kind: str, key: tuple, make):
    """``make()`` kept under ``key`` in a small per-app LRU (a plan version never changes; the
    keys begin with the geography's ``stamp``, so a level built again after an import misses)."""
    cache = request.app.state.__dict__.setdefault("_map_" + kind, OrderedDict())
    with _CACHE_LOCK:
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
    value = make()
    with _CACHE_LOCK:
        cache[key] = value
        while len(cache) > _CACHED:
            cache.popitem(last=False)
    return value


@router.get("/plans/{name}/map")
def plan_map(loaded: VisiblePlan, request: Request, user: CurrentUser, eng: Eng,
             detail: int = Query(1, ge=0, le=len(TOLERANCE) - 1, description="0 whole country .. 2 close up"),
             part: str = Query("all", pattern="^(" + "|".join(PARTS) + ")$",
                               description="all: one document; head: everything but the geometry (plus "
                                           "per-unit ids and territories); shapes: the geometry alone, as one "
                                           "GeoJSON FeatureCollection"),
             borders: str = Query("all", pattern="^(all|territory)$",
                                  description="shapes: every neighbour border, or the territory borders alone")):
    """The plan on a map (one JSON document): units (GeoJSON features whose ``id`` is the
    position in every per-unit array), per-unit measures, territories with a colour index
    such that neighbours differ, the unit graph's edges, state outlines, rep homes, accounts
    and the latest move of each unit with its reason. Managers and reps get their part only.

    A border feature's ``id`` is its edge's position in ``edges``; a unit feature carries its
    territory's colour index (``c``) and a border whether it is a territory border (``on``),
    so the page draws the plan without a call per feature.

    ``part`` splits the document so the browser parses the geometry off its main thread (a
    map source given the URL): ``head`` is the document without geometry, with ``unit_ids``
    and ``unit_territories``; ``shapes`` is all the geometry as one FeatureCollection (units
    with ids 0..n-1, then borders with ids n + edge position, then state outlines with
    property ``state``); ask it with ``version`` = the head's version for the same placement.
    ``borders=territory`` leaves out the borders inside territories (at country zoom most of
    the borders and of the bytes; the page asks them with the next detail level)."""
    c, scope = loaded.content, loaded.scope
    geo = geography(request, eng, c.info.unit_level)
    plan_key = (geo.stamp, c.info.id, c.info.version, None if scope is None else tuple(sorted(scope)))
    pl = _cached(request, "placements", plan_key, lambda: _place(geo, c, scope))
    d, bd, outlines = level_of(geo, detail)
    if part == "shapes":   # one source for the page's map: units, then borders (ids after the units), states
        def make() -> str:
            assert outlines.startswith(_FC)
            feats = [_unit_features(geo, pl, d), _border_features(geo, pl, bd, len(pl.pos), borders == "territory"),
                     outlines[len(_FC):-2]]
            return _collection(",".join(f for f in feats if f))

        return _json_text(_cached(request, "shapes", (*plan_key, detail, borders), make))
    tids, unit_t, pos = pl.tids, pl.unit_t, pl.pos
    trows = c.territories.set_index("territory_id")
    parents = set(c.territories["parent"].dropna().astype(str))
    territories = []
    for i, t in enumerate(tids):
        r = trows.loc[t]
        territories.append({"id": t, "name": r["name"] if r["name"] is not None else t, "colour": int(pl.colours[i]),
                            "parent": r["parent"], "reps": [x[0] for x in r["reps"]],
                            "quota": None if r["quota"] != r["quota"] else float(r["quota"]),
                            "visible": bool(pl.visible_t[i]), "leaf": t not in parents})
    territories = [t for t in territories if t["visible"]]
    from territorium.plan.targets import stored_targets

    # the reps' capacities change only with an import (a new geo.stamp), the staffing only with
    # a new plan version: read once per plan version, not per request (4.5 ms on the demo)
    tg = _cached(request, "targets", plan_key[:3], lambda: stored_targets(eng, c))
    targets = _targets(tg, territories)
    # accounts: the unit's territory unless the plan assigns the account explicitly
    acc = geo.accounts
    a_t = unit_t[acc["unit"].to_numpy()]
    explicit = dict(zip(c.accounts["account_id"].astype(str), c.accounts["territory_id"]))
    a_tid = [explicit.get(a) or (tids[x] if x >= 0 else None) for a, x in zip(acc["account_id"].astype(str), a_t)]
    accounts = [{"id": a, "name": n, "lon": round(float(x), 5), "lat": round(float(y), 5), "t": tt}
                for a, n, x, y, tt in zip(acc["account_id"].astype(str), acc["name"].astype(str), acc["lon"],
                                          acc["lat"], a_tid)
                if tt is not None and (scope is None or tt in scope)]
    # rep homes of the visible territories
    reps = []
    seen = {r: t["id"] for t in territories for r in t["reps"]}
    if seen:
        from territorium.store import db as store

        rt = store.read_table(eng, "reps")
        if len(rt):
            rt = rt[rt["rep_id"].astype(str).isin(seen)].dropna(subset=["home_lat", "home_lon"])
            reps = [{"id": str(r.rep_id), "name": str(r.name), "t": seen[str(r.rep_id)],
                     "lon": round(float(r.home_lon), 5), "lat": round(float(r.home_lat), 5)}
                    for r in rt.itertuples(index=False)]
    reasons = {}
    if can_edit(user) or scope is not None:
        allr = _reasons(eng, c.info.name)
        for p in pos:
            for uid in pl.plan_ids.get(p, ()):
                if uid in allr:
                    reasons[str(geo.ids[p])] = allr[uid]
    head = {
        "plan": {"name": c.info.name, "version": c.info.version, "status": c.info.status,
                 "unit_level": c.info.unit_level, "model": c.info.model},
        "editable": can_edit(user) and c.info.status in ("draft", "proposed"),
        "user": {"username": user.username, "role": user.role, "person_id": user.person_id},
        "territories": territories, "targets": targets, "accounts": accounts, "reps": reps, "reasons": reasons,
        "detail": detail, "tolerance": TOLERANCE[detail],
    }
    arrays, ids_and_territories = _cached(request, "arrays", plan_key, lambda: _unit_arrays(geo, pl))
    body = json.dumps(head, separators=(",", ":"), allow_nan=False)[:-1] + "," + arrays
    if part == "head":
        return _json_text(body + "," + ids_and_territories + "}")
    body = (body + ',"units":' + _collection(_unit_features(geo, pl, d))
            + ',"borders":' + _collection(_border_features(geo, pl, bd))
            + ',"state_outlines":' + outlines + "}")
    return _json_text(body)


def _targets(tg, territories: list[dict]) -> dict | None:
    """The plan's capacity targets ``tg`` (``plan/targets.stored_targets``, the same targets
    the realign and trade-off jobs balance towards; None: none) for the page's balance bars: sets each
    shown leaf territory's ``target`` (its share of the shown leaves' total, so a manager's
    region adds up to 1) and ``capacity``; returns how they were read (``basis``, ``source``,
    ``unit``, ``vacant``), or None: the bars compare with the mean (also when one territory is
    shown, e.g. a rep's own)."""
    for t in territories:
        t["target"] = t["capacity"] = None
    shown = [t for t in territories if t["leaf"] and tg is not None and t["id"] in tg.shares]
    total = sum(tg.shares[t["id"]] for t in shown) if shown else 0.0
    if len(shown) < 2 or total <= 0:   # one territory (a rep's) is always on its share of itself
        return None
    for t in shown:
        t["target"] = tg.shares[t["id"]] / total
        t["capacity"] = tg.capacity[t["id"]]
    return {"basis": "capacity", "source": tg.source, "unit": tg.unit,
            "vacant": [t for t in tg.vacant if any(s["id"] == t for s in shown)]}


def _unit_arrays(geo: _Geo, pl: _Placement) -> tuple[str, str]:
    """The per-unit arrays of the shown units (answer order) as JSON object members: names,
    states, centroids, measures, the unit graph's edges and members (the plan's unit ids on
    each unit); and apart (the head only) ``unit_ids`` and ``unit_territories``."""
    pos = pl.pos
    dump = lambda v: json.dumps(v, separators=(",", ":"), allow_nan=False)   # noqa: E731
    plan_part = {"members": [pl.plan_ids.get(p, [str(geo.ids[p])]) for p in pos.tolist()]}
    tids, unit_t = pl.tids, pl.unit_t
    extra = {"unit_ids": geo.ids[pos].tolist(),
             "unit_territories": [tids[x] if x >= 0 else None for x in unit_t[pos].tolist()]}
    return _shown_arrays(geo, pl) + "," + dump(plan_part)[1:-1], dump(extra)[1:-1]


def _shown_arrays(geo: _Geo, pl: _Placement) -> str:
    """Names, states, centroids, measures and edges of the shown units: the same for every
    version of every plan that shows these units (a move changes none of them), so kept per
    geography and set of shown units; at 30k units most of the head's bytes and time."""
    key = pl.pos.tobytes()
    with _CACHE_LOCK:
        if geo.shown_arrays[0] == key:
            return geo.shown_arrays[1]
    pos = pl.pos
    _, edges = _shown_edges(geo, pl)
    text = json.dumps({
        "names": [geo.names[p] for p in pos.tolist()],
        "states": [geo.states[p] for p in pos.tolist()],
        "centroids": np.round(geo.centroids[pos], 5).tolist(),
        "measures": {m: np.round(arr[pos], 4).tolist() for m, arr in geo.measures.items()},
        "edges": edges.tolist(),
    }, separators=(",", ":"), allow_nan=False)[1:-1]
    with _CACHE_LOCK:
        geo.shown_arrays = (key, text)
    return text


def _json_text(body: str) -> Response:
    return Response(body, media_type="application/json", headers={"Cache-Control": "no-store"})


@router.get("/web/session")
def web_session(request: Request, eng: Eng) -> dict:
    """Whether the browser has a live session (200 either way, so the page's first check is not
    an error): ``{"user": {...}}`` or ``{"user": null}``. The CSRF token is not repeated here;
    the page keeps the one it got at login."""
    from territorium.api.deps import SESSION_COOKIE
    from territorium.plan import users as U

    sid = request.cookies.get(SESSION_COOKIE)
    found = U.session_user(eng, sid) if sid else None
    if found is None:
        return {"user": None}
    user = found[0]
    return {"user": {"username": user.username, "role": user.role, "person_id": user.person_id}}
