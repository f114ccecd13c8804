"""Building unit sets: ``build_units(level, ...)`` for states, counties, ZIPs, accounts, custom.

Every level goes through the same steps: *raw* units (table + projected polygons + border
edges), the ``polygon`` filter, virtual edges until the graph is connected, and the cache.
"""
from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
import shapely

from territorium.geo import cache as _cache
from territorium.geo.connect import connect_components
from territorium.geo.polygons import (
    border_adjacency,
    project,
    project_points,
    unit_points,
    unproject,
    unproject_points,
)
from territorium.geo.reference import (
    CONTIGUOUS,
    CONTIGUOUS_ALIASES,
    STATES,
    TERRITORIES,
    normalize_state,
    zip_table,
)
from territorium.model import EQUAL_AREA_CRS, Adjacency, Units

__all__ = ["build_units", "zip_to_unit", "LEVELS", "read_polygons"]

LEVELS = ("state", "county", "zip", "account", "custom")


# --------------------------------------------------------------------------- inputs
def _norm_states(states) -> tuple[str, ...] | None:
    if states is None:
        return None
    if isinstance(states, str):
        states = [s for s in states.replace(";", ",").split(",") if s.strip()]
    out = []
    for s in states:
        alias = " ".join(str(s).split()).upper().replace("-", "").replace(" ", "")
        if alias in CONTIGUOUS_ALIASES:
            out.extend(CONTIGUOUS)
            continue
        code = normalize_state(s)
        if code is None:
            t = str(s).strip().upper()
            if t in TERRITORIES:
                code = t
        if code is None:
            raise ValueError(
                f"unknown state {s!r}: use USPS codes such as CA, NV, OR, or CONUS for the "
                f"48 contiguous states and DC (island areas: {', '.join(TERRITORIES)})"
            )
        out.append(code)
    return tuple(sorted(set(out)))


def read_polygons(path: str | Path, *, layer: str | int | None = None):
    """Read a GeoJSON, GeoPackage or Shapefile with pyogrio into a GeoDataFrame in EPSG:4326."""
    import geopandas as gpd

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    gdf = gpd.read_file(path, engine="pyogrio", layer=layer)
    if gdf.crs is None:
        gdf = gdf.set_crs("EPSG:4326")
    elif not gdf.crs.equals("EPSG:4326"):
        gdf = gdf.to_crs("EPSG:4326")
    return gdf


def _norm_polygon(polygon):
    """Filter polygon as a shapely geometry in EPSG:4326 (a path is read and unioned)."""
    if polygon is None:
        return None
    if isinstance(polygon, (str, Path)):
        gdf = read_polygons(polygon)
        return shapely.union_all(shapely.make_valid(gdf.geometry.values))
    if isinstance(polygon, shapely.Geometry):
        return polygon
    raise TypeError("polygon must be a shapely geometry or a path to a polygon file")


# --------------------------------------------------------------------------- raw levels
class _Raw:
    """Table (without x/y/lon/lat/area), projected polygons or points, real edges, notes."""

    def __init__(self, table, geoms=None, edges=None, notes=(), x=None, y=None, virtual_pairs=None):
        self.table = table.reset_index(drop=True)
        self.geoms = geoms
        self.edges = np.zeros((0, 2), dtype=np.int64) if edges is None else np.asarray(edges, dtype=np.int64)
        self.notes = list(notes)
        self.x, self.y = x, y  # preferred unit points (projected), NaN where none


def _all_codes(states):
    return states if states is not None else tuple(sorted(STATES))


def _county_subset(states, crs, polygon=None):
    from territorium.geo.sources import county_frame

    c = county_frame()
    keep = np.array(c["state"].isin(_all_codes(states)).to_numpy(), dtype=bool)
    if polygon is not None:  # cells never cross counties: skip those the polygon misses
        keep &= shapely.intersects(c.geometry.values, polygon)
    c = c[keep].reset_index(drop=True)
    return c, _projected_counties(tuple(c["fips"]), crs)


@lru_cache(maxsize=4)
def _projected_counties(fips: tuple[str, ...], crs: str) -> np.ndarray:
    from territorium.geo.sources import county_frame

    c = county_frame().set_index("fips")
    return project(c.loc[list(fips)].geometry.values, crs)


def _raw_state(states, crs) -> _Raw:
    from territorium.geo.sources import state_frame

    s = state_frame()
    s = s[s["state"].isin(_all_codes(states))].reset_index(drop=True)
    geoms = project(s.geometry.values, crs)
    t = pd.DataFrame(
        {"unit_id": s["state"].to_numpy(), "name": s["name"].to_numpy(), "state": s["state"].to_numpy(),
         "state_fips": s["fips"].to_numpy()}
    )
    return _Raw(t, geoms, border_adjacency(geoms))


def _raw_county(states, crs) -> _Raw:
    c, geoms = _county_subset(states, crs)
    t = pd.DataFrame(
        {
            "unit_id": c["fips"].to_numpy(),
            "name": (c["full_name"] + ", " + c["state"]).to_numpy(),
            "state": c["state"].to_numpy(),
            "county_fips": c["fips"].to_numpy(),
        }
    )
    return _Raw(t, geoms, border_adjacency(geoms))


def _raw_zip(states, crs, polygon=None) -> _Raw:
    from territorium.geo.zips import assign_zip_counties, zip_cells

    c, cgeoms = _county_subset(states, crs)
    z = zip_table()
    z = z[z["state"].isin(_all_codes(states))]
    z, notes = assign_zip_counties(z, c, cgeoms, crs)
    if polygon is not None:
        c, cgeoms = _county_subset(states, crs, polygon)
        z = z[z["county_fips"].isin(c["fips"])]
    if len(c) == 0:
        raise ValueError("no county of the selected states meets the filter polygon")
    units, geoms, zip_unit, notes2 = zip_cells(z, c, cgeoms)
    notes += notes2
    # members: every ZIP mapped to the unit (its own first)
    mapped = zip_unit >= 0
    zz = z["zip"].to_numpy()[mapped]
    uu = zip_unit[mapped]
    own = zz == units["unit_id"].to_numpy()[uu]
    order = np.lexsort((zz, ~own, uu))
    members = pd.Series(zz[order]).groupby(uu[order]).agg(" ".join)
    ztab = z.set_index("zip")
    is_zip = units["zip"].notna().to_numpy()
    city = np.where(is_zip, ztab["city"].reindex(units["zip"].fillna("")).to_numpy(), None)
    fips = units["county_fips"].to_numpy()
    cname = c.set_index("fips")["full_name"].reindex(fips).to_numpy()
    cstate = c.set_index("fips")["state"].reindex(fips).to_numpy()
    name = np.where(
        is_zip,
        pd.Series(city, dtype=object).fillna("").astype(str).str.title() + ", " + cstate.astype(str),
        cname.astype(str) + ", " + cstate.astype(str),
    )
    t = pd.DataFrame(
        {
            "unit_id": units["unit_id"].to_numpy(),
            "name": name,
            "state": cstate,
            "county_fips": fips,
            "zip_count": members.str.count(" ").reindex(range(len(units))).fillna(-1).to_numpy() + 1,
            "member_zips": members.reindex(range(len(units))).fillna("").to_numpy(),
        }
    )
    t["zip_count"] = t["zip_count"].astype(np.int64)
    return _Raw(t, geoms, border_adjacency(geoms), notes, units["gx"].to_numpy(), units["gy"].to_numpy())


def _raw_custom(custom, id_column, name_column, crs) -> _Raw:
    import geopandas as gpd

    gdf = custom if isinstance(custom, gpd.GeoDataFrame) else read_polygons(custom)
    if gdf.crs is not None and not gdf.crs.equals("EPSG:4326"):
        gdf = gdf.to_crs("EPSG:4326")
    src = str(custom) if not isinstance(custom, gpd.GeoDataFrame) else "the polygons"
    if len(gdf) == 0:
        raise ValueError(f"{src}: no features")
    if id_column is None:
        for cand in ("unit_id", "id", "ID", "Id", "territory", "name", "NAME"):
            if cand in gdf.columns:
                id_column = cand
                break
    if id_column is not None and id_column not in gdf.columns:
        raise ValueError(
            f"{src}: no column {id_column!r}; columns are "
            + ", ".join(c for c in gdf.columns if c != gdf.geometry.name)
        )
    ids = (
        pd.Series(gdf[id_column]).astype(str).str.strip().to_numpy()
        if id_column is not None
        else np.array([str(i + 1) for i in range(len(gdf))], dtype=object)
    )
    dup = pd.Series(ids).duplicated(keep=False)
    if dup.any():
        raise ValueError(
            f"{src}: duplicate ids in column {id_column!r}: "
            + ", ".join(sorted(set(pd.Series(ids)[dup]))[:10])
        )
    if name_column is None:
        name_column = next((c for c in ("name", "NAME", "Name") if c in gdf.columns), None)
    names = gdf[name_column].astype(str).to_numpy() if name_column else ids
    g = shapely.make_valid(gdf.geometry.values)
    g = np.asarray(g, dtype=object)
    bad = [i for i, gg in enumerate(g) if gg is None or gg.is_empty or shapely.get_type_id(gg) not in (3, 6, 7)]
    if bad:
        raise ValueError(f"{src}: feature(s) without a polygon: ids {', '.join(ids[bad][:10])}")
    from territorium.geo.zips import _polygonal

    geoms = project(_polygonal(g), crs)
    t = pd.DataFrame({"unit_id": ids, "name": names})
    for col in gdf.columns:
        if col in (gdf.geometry.name, id_column, name_column, "unit_id", "name"):
            continue
        if pd.api.types.is_numeric_dtype(gdf[col]) and not pd.api.types.is_bool_dtype(gdf[col]):
            t[str(col)] = gdf[col].to_numpy(dtype=np.float64)
        elif str(col).lower() == "state":
            t["state"] = gdf[col].map(normalize_state).to_numpy()
    return _Raw(t, geoms, border_adjacency(geoms))


def _raw_account(accounts: pd.DataFrame, crs, *, max_edge_factor: float = 3.0) -> _Raw:
    from scipy.spatial import Delaunay

    need = {"account_id", "lon", "lat"}
    missing = need - set(accounts.columns)
    if missing:
        raise ValueError(f"accounts need columns account_id, lon, lat; missing: {', '.join(sorted(missing))}")
    a = accounts.reset_index(drop=True)
    ids = a["account_id"].astype(str).to_numpy()
    dup = pd.Series(ids).duplicated(keep=False)
    if dup.any():
        raise ValueError("duplicate account ids: " + ", ".join(sorted(set(ids[dup]))[:10]))
    lon = pd.to_numeric(a["lon"], errors="coerce").to_numpy(dtype=float)
    lat = pd.to_numeric(a["lat"], errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(lon) & np.isfinite(lat) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
    notes = []
    if not ok.all():
        notes.append(
            f"{int((~ok).sum())} accounts without valid coordinates are not units "
            f"(e.g. {', '.join(ids[~ok][:5])})"
        )
    a, ids, lon, lat = a[ok].reset_index(drop=True), ids[ok], lon[ok], lat[ok]
    x, y = project_points(lon, lat, crs)
    t = pd.DataFrame({"unit_id": ids})
    t["name"] = a["name"].astype(str).to_numpy() if "name" in a.columns else ids
    if "state" in a.columns:
        t["state"] = a["state"].map(normalize_state).to_numpy()
    # identical points: chain them together, triangulate the distinct points
    key = pd.Series(np.round(x, 2)).astype(str) + "|" + pd.Series(np.round(y, 2)).astype(str)
    codes, uniq = pd.factorize(key)
    first = np.unique(codes, return_index=True)[1]
    edges = []
    order = np.argsort(codes, kind="stable")
    same = codes[order][1:] == codes[order][:-1]
    if same.any():
        edges.append(np.column_stack([order[:-1][same], order[1:][same]]))
        notes.append(f"{int(same.sum())} accounts share a point with another one and are linked to it")
    m = len(first)
    if m >= 3:
        pts = np.column_stack([x[first], y[first]])
        try:
            tri = Delaunay(pts)
            s = tri.simplices
            e = np.vstack([s[:, [0, 1]], s[:, [1, 2]], s[:, [0, 2]]])
        except Exception:  # all points collinear: chain them along their order
            o = np.lexsort((pts[:, 1], pts[:, 0]))
            e = np.column_stack([o[:-1], o[1:]])
        e = np.unique(np.sort(e, axis=1), axis=0)
        length = np.hypot(*(pts[e[:, 0]] - pts[e[:, 1]]).T)
        # local scale: median length of the edges at each point
        inc = np.concatenate([e[:, 0], e[:, 1]])
        ll = np.concatenate([length, length])
        med = pd.Series(ll).groupby(inc).median().reindex(range(m)).to_numpy()
        limit = max_edge_factor * np.minimum(med[e[:, 0]], med[e[:, 1]])
        long_ = length > limit
        if long_.any():
            notes.append(
                f"dropped {int(long_.sum())} of {len(e)} Delaunay edges longer than "
                f"{max_edge_factor:g}x the local median edge length"
            )
        e = e[~long_]
        edges.append(first[e])
    elif m == 2:
        edges.append(np.array([[first[0], first[1]]]))
    e = np.vstack(edges) if edges else np.zeros((0, 2), dtype=np.int64)
    return _Raw(t, None, e, notes, x, y)


# --------------------------------------------------------------------------- assembly
def _finish(level: str, raw: _Raw, crs: str, polygon, what: str) -> Units:
    t = raw.table
    if raw.geoms is not None:
        x, y = unit_points(raw.geoms, raw.x, raw.y)
        area = shapely.area(raw.geoms) / 1e6
    else:
        x, y = np.asarray(raw.x, float), np.asarray(raw.y, float)
        area = np.zeros(len(t))
    lon, lat = unproject_points(x, y, crs)
    cols = {"unit_id": t["unit_id"].astype(str).to_numpy(), "name": t["name"].astype(str).to_numpy(),
            "x": x, "y": y, "lon": lon, "lat": lat, "area_km2": area}
    rest = t.drop(columns=["unit_id", "name"])
    table = pd.concat([pd.DataFrame(cols), rest.reset_index(drop=True)], axis=1)
    edges = raw.edges
    geoms = raw.geoms
    notes = list(raw.notes)
    if polygon is not None:
        keep = shapely.contains_xy(polygon, lon, lat)
        if not keep.any():
            raise ValueError("no unit has its point inside the filter polygon")
        new = -np.ones(len(table), dtype=np.int64)
        new[keep] = np.arange(int(keep.sum()))
        e = new[edges] if len(edges) else edges
        edges = e[(e >= 0).all(axis=1)] if len(e) else e
        table = table.loc[keep].reset_index(drop=True)
        geoms = geoms[keep] if geoms is not None else None
        notes.append(f"polygon filter kept {int(keep.sum())} of {len(keep)} units")
    n = len(table)
    if n == 0:
        raise ValueError(f"no {level} units for this selection")
    v, vnotes = connect_components(
        n, edges, table[["x", "y"]].to_numpy(), names=table["name"].to_numpy(),
        ids=table["unit_id"].to_numpy(), what=what,
        groups=table["state"].to_numpy(dtype=object) if "state" in table.columns else None,
    )
    notes += vnotes
    all_e = np.vstack([edges.reshape(-1, 2), v])
    virt = np.concatenate([np.zeros(len(edges), dtype=bool), np.ones(len(v), dtype=bool)])
    adj = Adjacency.from_edges(n, all_e, virt)
    gs = None
    if geoms is not None:
        import geopandas as gpd

        gs = gpd.GeoSeries(unproject(geoms, crs), crs="EPSG:4326")
    return Units(level, table, adj, gs, crs, tuple(notes))


def _cache_key(level, states, polygon, crs, extra) -> str:
    from territorium.geo.sources import source_version

    h = hashlib.sha256()
    h.update(json.dumps(
        {"format": _cache.CACHE_FORMAT, "level": level, "states": states, "crs": crs,
         "source": source_version(), "extra": extra}, sort_keys=True, default=str,
    ).encode())
    if polygon is not None:
        h.update(shapely.to_wkb(polygon))
    return f"{level}-{h.hexdigest()[:20]}"


def build_units(
    level: str,
    *,
    states: Iterable[str] | str | None = None,
    polygon=None,
    accounts: pd.DataFrame | None = None,
    custom=None,
    id_column: str | None = None,
    name_column: str | None = None,
    crs: str = EQUAL_AREA_CRS,
    max_edge_factor: float = 3.0,
    cache: bool = True,
) -> Units:
    """Build a connected unit set from offline reference geography.

    Parameters
    ----------
    level : {"state", "county", "zip", "account", "custom"}
        ``state`` and ``county``: Census 2016 cartographic boundaries (plotly-geo).
        ``zip``: Voronoi cells of the ``zipcodes`` ZIP centroids clipped to their county.
        ``account``: one unit per row of ``accounts``, Delaunay adjacency.
        ``custom``: polygons read from ``custom`` (GeoJSON, GeoPackage, Shapefile path, or
        a GeoDataFrame).
    states : list of str or str, optional
        USPS codes (``"CA,NV,OR"`` or ``["CA", "NV"]``); default the 50 states, DC and PR.
        ``"CONUS"`` (also ``"lower48"``, ``"contiguous"``) stands for the 48 contiguous
        states and DC (:data:`territorium.geo.reference.CONTIGUOUS`) and can be mixed with
        codes (``"CONUS,AK"``). Island areas (AS, GU, MP, VI) only when named. Ignored for
        account and custom.
    polygon : shapely geometry (EPSG:4326) or path, optional
        Keep only units whose point lies inside.
    accounts : DataFrame, optional
        For ``level="account"``: columns ``account_id``, ``lon``, ``lat``, optional ``name``,
        ``state``.
    custom : path or GeoDataFrame, optional
        For ``level="custom"``.
    id_column, name_column : str, optional
        Columns of the custom polygons holding the unit id and name (default: ``unit_id``,
        ``id``, ``name``..., else the row number).
    crs : str
        Equal-area projected CRS for points, areas and Voronoi cells, default EPSG:5070
        (CONUS Albers). Use a CRS suited to the region for other countries, e.g.
        ``EPSG:3035`` (Europe), ``EPSG:3577`` (Australia).
    max_edge_factor : float
        Account level: Delaunay edges longer than this multiple of the local median edge
        length (the smaller of the two endpoints' medians) are dropped.
    cache : bool
        Read/write the on-disk cache under :func:`territorium.settings.cache_dir`.

    Returns
    -------
    Units
        Connected: components other than the largest are linked by virtual edges, each
        listed in ``notes``.

    Examples
    --------
    >>> u = build_units("county", states=["RI"], cache=False)
    >>> u.n, u.adjacency.n_components(), sorted(u.ids)[:2]
    (5, 1, ['44001', '44003'])
    """
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}; choose one of {', '.join(LEVELS)}")
    st = _norm_states(states)
    poly = _norm_polygon(polygon)
    extra: dict = {}
    if level == "account":
        if accounts is None:
            raise ValueError("level 'account' needs accounts=DataFrame(account_id, lon, lat)")
        extra["accounts"] = hashlib.sha256(
            pd.util.hash_pandas_object(accounts.reset_index(drop=True), index=False).to_numpy().tobytes()
        ).hexdigest()
        extra["factor"] = max_edge_factor
        st = None
    elif level == "custom":
        if custom is None:
            raise ValueError("level 'custom' needs custom=path (GeoJSON, GeoPackage, Shapefile)")
        if isinstance(custom, (str, Path)):
            p = Path(custom).resolve()
            stt = p.stat() if p.exists() else None
            extra["custom"] = [str(p), stt.st_mtime_ns if stt else 0, stt.st_size if stt else 0]
        else:
            cache = False  # an in-memory frame: nothing stable to key on
        extra["id_column"], extra["name_column"] = id_column, name_column
        st = None
    key = _cache_key(level, st, poly, crs, extra)
    if cache:
        hit = _cache.load(key)
        if hit is not None:
            return hit
    if level == "state":
        raw, what = _raw_state(st, crs), "island state"
    elif level == "county":
        raw, what = _raw_county(st, crs), "island"
    elif level == "zip":
        raw, what = _raw_zip(st, crs, poly), "island"
    elif level == "custom":
        raw, what = _raw_custom(custom, id_column, name_column, crs), "isolated polygon"
    else:
        raw, what = _raw_account(accounts, crs, max_edge_factor=max_edge_factor), "isolated account"
    units = _finish(level, raw, crs, poly, what)
    if cache:
        _cache.save(key, units)
    return units


def zip_to_unit(units: Units) -> pd.Series:
    """The fold map of a ZIP unit set: every ZIP (index) -> ``unit_id`` of its unit.

    Includes the ZIPs without a cell (PO boxes, unique, military, inactive, shared points),
    so accounts at those ZIPs land in the unit that absorbed them.
    """
    if units.level != "zip" or "member_zips" not in units.table.columns:
        raise ValueError("zip_to_unit needs a ZIP-level unit set")
    m = units.table["member_zips"].str.split(" ")
    s = pd.Series(np.repeat(units.table["unit_id"].to_numpy(), m.str.len().to_numpy()),
                  index=np.concatenate(m.to_numpy()) if len(m) else [], name="unit_id")
    s.index.name = "zip"
    return s[s.index != ""]
