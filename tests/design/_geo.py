"""Small real geographies for the design tests: US counties.

``territorium.geo.build_units`` when it is there (the real unit builder), else the
plotly-geo shapefile read here; measures are synthetic (population-like, fixed seed) so
balance tolerances are feasible.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from territorium.model import EQUAL_AREA_CRS, Adjacency, Units

NON_CONTIGUOUS_FIPS = {"02", "15", "60", "66", "69", "72", "78"}


def _shapefile() -> Path | None:
    try:
        import _plotly_geo
    except ImportError:  # pragma: no cover
        return None
    p = Path(_plotly_geo.__file__).parent / "package_data" / "cb_2016_us_county_500k.shp"
    return p if p.exists() else None


def _synthetic_measures(units: Units, seed: int) -> Units:
    rng = np.random.default_rng(seed)
    n = units.n
    base = rng.lognormal(10.0, 0.9, n)
    t = units.table.copy()
    t["account_count"] = np.round(base / 1000 * rng.uniform(0.7, 1.3, n)) + 1
    t["revenue"] = base * rng.uniform(0.5, 1.5, n)
    t["potential"] = base * rng.uniform(0.6, 1.4, n)
    t["workload"] = t["account_count"] * rng.uniform(0.8, 1.2, n)
    t["zip_count"] = np.maximum(1, np.round(t["area_km2"].to_numpy() / 300))
    return Units(units.level, t, units.adjacency, units.geometry, units.crs, units.notes)


@lru_cache(maxsize=8)
def county_units(statefps: tuple[str, ...] | None = None, seed: int = 0) -> Units:
    """Counties of the given state FIPS codes (None: contiguous US), connected graph."""
    try:
        from territorium.geo.build import build_units
        from territorium.geo.reference import CONTIGUOUS, STATE_BY_FIPS
    except ImportError:  # pragma: no cover - before the geo builder existed
        return _shapefile_counties(statefps, seed)
    states = list(CONTIGUOUS) if statefps is None else [STATE_BY_FIPS[f] for f in statefps]
    u = build_units("county", states=states, cache=False)
    return _synthetic_measures(u, seed)


def _shapefile_counties(statefps: tuple[str, ...] | None = None, seed: int = 0) -> Units:
    """Counties from the plotly-geo shapefile with queen adjacency (fallback)."""
    import geopandas as gpd
    import shapely

    path = _shapefile()
    if path is None:  # pragma: no cover
        raise FileNotFoundError("plotly-geo county shapefile not installed")
    g = gpd.read_file(path)
    g = g.set_crs("EPSG:4269", allow_override=True)
    if statefps is None:
        g = g[~g["STATEFP"].isin(NON_CONTIGUOUS_FIPS)]
    else:
        g = g[g["STATEFP"].isin(statefps)]
    g = g.sort_values("GEOID").reset_index(drop=True)
    proj = g.to_crs(EQUAL_AREA_CRS)
    geoms = proj.geometry.values
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    keep = a < b
    adj = Adjacency.from_edges(len(g), np.column_stack([a[keep], b[keep]]))
    # link any separate components to their nearest unit (virtual edges)
    from scipy.sparse.csgraph import connected_components

    ncomp, lab = connected_components(adj.to_scipy(), directed=False)
    if ncomp > 1:
        cent = np.column_stack([proj.geometry.centroid.x, proj.geometry.centroid.y])
        main = np.bincount(lab).argmax()
        extra = []
        for c in range(ncomp):
            if c == main:
                continue
            ci = np.flatnonzero(lab == c)
            mi = np.flatnonzero(lab != c)
            d = ((cent[ci, None, :] - cent[None, mi, :]) ** 2).sum(-1)
            r, s = np.unravel_index(d.argmin(), d.shape)
            extra.append((ci[r], mi[s]))
        e = np.vstack([np.column_stack([a[keep], b[keep]]), np.array(extra)])
        v = np.r_[np.zeros(keep.sum(), bool), np.ones(len(extra), bool)]
        adj = Adjacency.from_edges(len(g), e, v)
    c = proj.geometry.centroid
    ll = g.geometry.representative_point()
    rng = np.random.default_rng(seed)
    area = proj.geometry.area.to_numpy() / 1e6
    # population-like measures: lognormal, correlated, no single county dominating
    base = rng.lognormal(10.0, 0.9, len(g))
    t = pd.DataFrame(
        {
            "unit_id": g["GEOID"].astype(str).to_numpy(),
            "name": g["NAME"].astype(str).to_numpy(),
            "x": c.x.to_numpy(),
            "y": c.y.to_numpy(),
            "lon": ll.x.to_numpy(),
            "lat": ll.y.to_numpy(),
            "area_km2": area,
            "state": g["STATEFP"].to_numpy(),
        }
    )
    t["account_count"] = np.round(base / 1000 * rng.uniform(0.7, 1.3, len(g))) + 1
    t["revenue"] = base * rng.uniform(0.5, 1.5, len(g))
    t["potential"] = base * rng.uniform(0.6, 1.4, len(g))
    t["workload"] = t["account_count"] * rng.uniform(0.8, 1.2, len(g))
    t["zip_count"] = np.maximum(1, np.round(area / 300))
    return Units("county", t, adj, geometry=g.geometry.reset_index(drop=True))
