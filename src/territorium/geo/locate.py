"""Placing records (accounts, orders, reps) in units: ``locate(units, zips=..., lon=..., ...)``."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
import shapely

from territorium.model import Units

__all__ = ["locate", "zip_county_fips"]


@lru_cache(maxsize=1)
def zip_county_fips() -> pd.Series:
    """County FIPS of every ZIP of the ``zipcodes`` table (name match, else by point)."""
    from territorium.geo.build import _county_subset
    from territorium.geo.reference import STATES, TERRITORIES
    from territorium.geo.reference import zip_table
    from territorium.geo.zips import assign_zip_counties
    from territorium.model import EQUAL_AREA_CRS

    c, cg = _county_subset(tuple(sorted(set(STATES) | set(TERRITORIES))), EQUAL_AREA_CRS)
    z, _ = assign_zip_counties(zip_table(), c, cg, EQUAL_AREA_CRS)
    return z["county_fips"]


def _arr(v, n=None) -> np.ndarray:
    a = np.asarray(v if not isinstance(v, (str, bytes)) else [v], dtype=object)
    return a.reshape(-1)


def _lookup(keys: np.ndarray, index: pd.Index) -> np.ndarray:
    k = pd.Series(keys, dtype=object).where(pd.notna(keys), "").astype(str)
    return index.get_indexer(k.to_numpy()).astype(np.int64)


def _point_in_units(units: Units, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    out = -np.ones(len(lon), dtype=np.int64)
    if units.geometry is None:
        return out
    ok = np.flatnonzero(np.isfinite(lon) & np.isfinite(lat))
    if len(ok) == 0:
        return out
    geoms = np.asarray(units.geometry.values, dtype=object)
    tree = shapely.STRtree(geoms)
    pts = shapely.points(np.column_stack([lon[ok], lat[ok]]))
    pi, gi = tree.query(pts)  # bounding-box candidates
    shapely.prepare(geoms)
    inside = shapely.contains_xy(geoms[gi], lon[ok][pi], lat[ok][pi])
    pi, gi = pi[inside], gi[inside]
    # first (lowest position) unit for points on a shared border
    order = np.lexsort((gi, pi))
    pi, gi = pi[order], gi[order]
    first = np.ones(len(pi), dtype=bool)
    first[1:] = pi[1:] != pi[:-1]
    out[ok[pi[first]]] = gi[first]
    return out


def locate(
    units: Units,
    *,
    zips=None,
    county_fips=None,
    states=None,
    lon=None,
    lat=None,
    account_ids=None,
) -> np.ndarray:
    """Unit position of each record, or -1 where it cannot be placed.

    Give one or more keys, aligned with each other; for each record the first key that
    places it wins, in the order ``account_ids``, ``zips``, ``county_fips``, ``lon``/``lat``,
    ``states``:

    - account units: by ``account_ids``;
    - ZIP units: by ZIP through the fold map (PO boxes land in the unit that absorbed them);
    - county units: by ``county_fips``, or the county of the ZIP;
    - state units: by USPS code, or the state of the ZIP;
    - any polygon level: by point in polygon (``lon``/``lat``, WGS84).

    ZIPs must already be 5-character strings (``02134``); the import layer normalises
    ZIP+4 and lost leading zeros.

    >>> from territorium.geo import build_units
    >>> u = build_units("county", states=["RI"], cache=False)
    >>> locate(u, county_fips=["44007", "06037"]).tolist() == [u.index_of(["44007"])[0], -1]
    True
    """
    keys = [k for k in (zips, county_fips, states, lon, lat, account_ids) if k is not None]
    if not keys:
        raise ValueError("locate needs at least one of zips, county_fips, states, lon/lat, account_ids")
    if (lon is None) != (lat is None):
        raise ValueError("lon and lat go together")
    n = len(_arr(keys[0]))
    out = -np.ones(n, dtype=np.int64)
    ids = pd.Index(units.table["unit_id"].astype(str).to_numpy())
    level = units.level

    def fill(pos):
        pos = np.asarray(pos, dtype=np.int64)
        if len(pos) != n:
            raise ValueError("all keys given to locate must have the same length")
        m = out < 0
        out[m] = pos[m]

    if account_ids is not None and level == "account":
        fill(_lookup(_arr(account_ids), ids))
    if zips is not None:
        z = _arr(zips)
        if level == "zip":
            from territorium.geo.build import zip_to_unit

            fm = zip_to_unit(units)
            uid = fm.reindex(pd.Series(z, dtype=object).where(pd.notna(z), "").astype(str)).to_numpy()
            fill(_lookup(uid, ids))
        elif level == "county":
            cf = zip_county_fips()
            fill(_lookup(cf.reindex(pd.Series(z, dtype=object).astype(str)).to_numpy(), ids))
        elif level == "state":
            from territorium.geo.reference import zip_table

            st = zip_table()["state"]
            fill(_lookup(st.reindex(pd.Series(z, dtype=object).astype(str)).to_numpy(), ids))
        elif level in ("custom", "account") and lon is None:
            from territorium.geo.geocode import zip_centroid

            zc = zip_centroid(z)
            if level == "custom":
                fill(_point_in_units(units, zc["lon"].to_numpy(float), zc["lat"].to_numpy(float)))
    if county_fips is not None:
        cf = _arr(county_fips)
        if level == "county":
            fill(_lookup(cf, ids))
    if lon is not None:
        lo = np.asarray(lon, dtype=float).reshape(-1)
        la = np.asarray(lat, dtype=float).reshape(-1)
        if level == "account":
            from scipy.spatial import cKDTree

            from territorium.geo.polygons import project_points

            x, y = project_points(lo, la, units.crs)
            ok = np.isfinite(x) & np.isfinite(y)
            pos = -np.ones(n, dtype=np.int64)
            if ok.any():
                pos[ok] = cKDTree(units.xy).query(np.column_stack([x[ok], y[ok]]))[1]
            fill(pos)
        else:
            fill(_point_in_units(units, lo, la))
    if states is not None and level == "state":
        from territorium.geo.reference import normalize_state

        s = _arr(states)
        uniq = pd.unique(pd.Series(s, dtype=object))
        m = {u: normalize_state(u) for u in uniq}
        fill(_lookup(np.array([m[v] for v in s], dtype=object), ids))
    return out
