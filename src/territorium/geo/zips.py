"""ZIP units: Voronoi cells of ZIP centroids clipped to their own county.

Steps (see ``docs/geography.md``):

1. Every ZIP of the ``zipcodes`` table gets a county FIPS by name (:mod:`.counties`), or, when
   the name cannot be matched, the county its point lies in (or is nearest to).
2. *Generators* are the active STANDARD ZIPs with coordinates; of those sharing the exact same
   point, the lowest ZIP keeps the point and the others fold into it.
3. Per county, the generators named in that county get Voronoi cells clipped to the county
   polygon, so the cells tile the county. A county no generator names borrows the generators
   whose points lie inside it (their units gain that piece); a county with none at all becomes a
   unit of its own, ``C`` + FIPS.
4. Every other ZIP (PO BOX, UNIQUE, MILITARY, inactive, duplicate point, cell clipped away)
   folds into the unit whose cell in its own county contains its point, i.e. the nearest
   generator of that county; failing that into the nearest unit of the county, then the nearest
   unit overall. ZIPs without coordinates fold into the largest unit of their county.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from territorium.geo.counties import match_counties
from territorium.geo.polygons import project_points

__all__ = ["zip_cells"]


def assign_zip_counties(z: pd.DataFrame, counties, county_geoms_proj, crs: str) -> tuple[pd.DataFrame, list[str]]:
    """Add ``county_fips``, ``county_how``, ``x``, ``y`` to a ZIP frame; notes for fall-backs."""
    z = z.copy()
    m = match_counties(z["state"].to_numpy(), z["county"].to_numpy())
    z["county_fips"] = m["county_fips"].to_numpy()
    z["county_how"] = m["how"].to_numpy()
    x, y = project_points(z["lon"].to_numpy(), z["lat"].to_numpy(), crs)
    z["x"], z["y"] = x, y
    has_xy = np.isfinite(x) & np.isfinite(y)
    notes: list[str] = []
    need = (z["county_fips"].isna() & has_xy).to_numpy()
    if need.any():
        tree = shapely.STRtree(county_geoms_proj)
        pts = shapely.points(np.column_stack([x[need], y[need]]))
        j = tree.query_nearest(pts, all_matches=False, return_distance=False)[1]
        fips = counties["fips"].to_numpy()[j]
        z.loc[need, "county_fips"] = fips
        z.loc[need, "county_how"] = z.loc[need, "county_how"] + "->point"
        bad = z.loc[need & (z["county_how"] == "unmatched->point").to_numpy()]
        for r in bad.itertuples():
            notes.append(
                f"ZIP {r.zip}: county {r.county!r} not found in {r.state}; "
                f"placed in county {r.county_fips} by its point"
            )
        n_missing = int((z.loc[need, "county_how"] == "missing->point").sum())
        if n_missing:
            notes.append(f"{n_missing} ZIPs without a county name placed in a county by their point")
    return z, notes


def zip_cells(
    z: pd.DataFrame,
    counties,
    county_geoms_proj: np.ndarray,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, list[str]]:
    """Cells for the ZIPs of frame ``z`` (from :func:`assign_zip_counties`) in ``counties``.

    Returns ``(units, cells, zip_unit, notes)``: a frame of units (``unit_id``, ``zip``,
    ``county_fips``, ``x``, ``y`` of the generator or NaN), their cell polygons (projected),
    the unit position of every row of ``z`` (-1 when it could not be placed), and notes.
    """
    notes: list[str] = []
    fips_all = counties["fips"].to_numpy()
    cpos = pd.Index(fips_all)
    zc = cpos.get_indexer(z["county_fips"].fillna("").to_numpy())  # county position or -1
    x = z["x"].to_numpy()
    y = z["y"].to_numpy()
    has_xy = np.isfinite(x) & np.isfinite(y)
    gen = (
        (z["zip_type"].to_numpy() == "STANDARD")
        & z["active"].to_numpy(dtype=bool)
        & has_xy
        & (zc >= 0)
    )
    # exact duplicate points: the lowest ZIP keeps the point (z is sorted by zip)
    # counties without any standard ZIP (rural Alaska is served by PO boxes): promote their
    # active PO BOX / UNIQUE ZIPs with coordinates to generators
    has_gen = np.zeros(len(fips_all) + 1, dtype=bool)
    has_gen[zc[gen]] = True
    promote = (
        ~gen & z["active"].to_numpy(dtype=bool) & has_xy & (zc >= 0)
        & (z["zip_type"].to_numpy() != "MILITARY") & ~has_gen[zc]
    )
    if promote.any():
        notes.append(
            f"{int(promote.sum())} PO BOX/UNIQUE ZIPs get cells because their county "
            f"({len(np.unique(zc[promote]))} counties) has no standard ZIP"
        )
    gen |= promote
    key = pd.Series(np.round(x, 3)).astype(str) + "|" + pd.Series(np.round(y, 3)).astype(str)
    key = key.where(gen, None)
    dup = key.duplicated(keep="first").to_numpy() & gen
    gen &= ~dup
    gi = np.flatnonzero(gen)

    # generators per county
    order = np.argsort(zc[gi], kind="stable")
    gi = gi[order]
    gcounty = zc[gi]
    starts = np.searchsorted(gcounty, np.arange(len(fips_all) + 1))

    gx, gy = x[gi], y[gi]
    gpts = shapely.points(np.column_stack([gx, gy]))
    unit_of_gen = -np.ones(len(gi), dtype=np.int64)

    cell_owner: list[np.ndarray] = []  # generator index (into gi) or -1-county for county units
    cell_geom: list[np.ndarray] = []
    county_units: list[int] = []
    borrowed = []
    gtree = None
    for c in range(len(fips_all)):
        poly = county_geoms_proj[c]
        lo, hi = starts[c], starts[c + 1]
        idx = np.arange(lo, hi)
        if len(idx) == 0:
            if gtree is None:
                gtree = shapely.STRtree(gpts)
            idx = gtree.query(poly, predicate="intersects")
            if len(idx) == 0:
                county_units.append(c)
                continue
            borrowed.append((c, idx))
        if len(idx) == 1:
            cell_owner.append(idx)
            cell_geom.append(np.array([poly], dtype=object))
            continue
        mp = shapely.multipoints(gpts[idx])
        env = shapely.envelope(shapely.union(poly, mp)).buffer(1000.0)
        vor = shapely.voronoi_polygons(mp, extend_to=env, ordered=True)
        cells = shapely.get_parts(vor)
        if len(cells) != len(idx):  # pragma: no cover - GEOS guarantees order for ordered=True
            tree = shapely.STRtree(cells)
            cells = cells[tree.query(gpts[idx], predicate="intersects")[1]]
        clipped = shapely.intersection(cells, poly)
        cell_owner.append(idx)
        cell_geom.append(clipped)

    owners = np.concatenate(cell_owner) if cell_owner else np.zeros(0, dtype=np.int64)
    geoms = np.concatenate(cell_geom) if cell_geom else np.zeros(0, dtype=object)
    # keep polygonal parts only
    geoms = _polygonal(geoms)
    nonempty = ~shapely.is_empty(geoms) & (shapely.area(geoms) > 0)
    owners, geoms = owners[nonempty], geoms[nonempty]
    # union the pieces of generators that got cells in several counties (borrowed counties)
    uniq, inv = np.unique(owners, return_inverse=True)
    if len(uniq) != len(owners):
        merged = np.empty(len(uniq), dtype=object)
        counts = np.bincount(inv)
        for k in range(len(uniq)):
            if counts[k] == 1:
                merged[k] = geoms[np.flatnonzero(inv == k)[0]]
        multi = np.flatnonzero(counts > 1)
        for k in multi:
            merged[k] = shapely.union_all(geoms[inv == k])
        geoms = merged
    unit_of_gen[uniq] = np.arange(len(uniq))
    n_gen_units = len(uniq)

    units = pd.DataFrame(
        {
            "unit_id": z["zip"].to_numpy()[gi[uniq]],
            "zip": z["zip"].to_numpy()[gi[uniq]],
            "county_fips": z["county_fips"].to_numpy()[gi[uniq]],
            "gx": gx[uniq],
            "gy": gy[uniq],
        }
    )
    if county_units:
        cu = pd.DataFrame(
            {
                "unit_id": ["C" + fips_all[c] for c in county_units],
                "zip": [None] * len(county_units),
                "county_fips": [fips_all[c] for c in county_units],
                "gx": np.nan,
                "gy": np.nan,
            }
        )
        units = pd.concat([units, cu], ignore_index=True)
        geoms = np.concatenate([geoms, county_geoms_proj[county_units]])
        for c in county_units:
            notes.append(
                f"county {counties['full_name'].iloc[c]}, {counties['state'].iloc[c]} "
                f"({fips_all[c]}) has no ZIP point: it is a unit of its own (C{fips_all[c]})"
            )
    for c, idx in borrowed:
        zs = ", ".join(z["zip"].to_numpy()[gi[idx]][:5])
        notes.append(
            f"county {counties['full_name'].iloc[c]}, {counties['state'].iloc[c]} ({fips_all[c]}) "
            f"has no ZIP of its own: split among ZIPs {zs} whose points lie in it"
        )

    # --- fold every ZIP into a unit
    zip_unit = -np.ones(len(z), dtype=np.int64)
    zip_unit[gi] = unit_of_gen
    unit_county = cpos.get_indexer(units["county_fips"].to_numpy())
    todo = np.flatnonzero(zip_unit < 0)
    # (a) the cell of its own county containing its point
    pt_todo = todo[has_xy[todo]]
    if len(pt_todo):
        tree = shapely.STRtree(geoms)
        pts = shapely.points(np.column_stack([x[pt_todo], y[pt_todo]]))
        pi, ui = tree.query(pts, predicate="intersects")
        same = unit_county[ui] == zc[pt_todo[pi]]
        pi, ui = pi[same], ui[same]
        first = np.unique(pi, return_index=True)[1]
        zip_unit[pt_todo[pi[first]]] = ui[first]
    # (b) nearest unit of its own county, else nearest unit overall
    todo = np.flatnonzero((zip_unit < 0) & has_xy)
    if len(todo):
        ux = np.where(np.isfinite(units["gx"]), units["gx"], np.nan)
        uy = np.where(np.isfinite(units["gy"]), units["gy"], np.nan)
        rp = shapely.get_coordinates(shapely.point_on_surface(geoms))
        ux = np.where(np.isnan(ux), rp[:, 0], ux)
        uy = np.where(np.isnan(uy), rp[:, 1], uy)
        tree = cKDTree(np.column_stack([ux, uy]))
        k = min(len(ux), 32)
        d, j = tree.query(np.column_stack([x[todo], y[todo]]), k=k)
        j = j.reshape(len(todo), -1)
        same = unit_county[j] == zc[todo][:, None]
        has_same = same.any(axis=1)
        pick = np.where(has_same, j[np.arange(len(todo)), same.argmax(axis=1)], j[:, 0])
        zip_unit[todo] = pick
    # (c) no coordinates: the largest unit of its county
    todo = np.flatnonzero((zip_unit < 0) & (zc >= 0))
    if len(todo):
        area = shapely.area(geoms)
        best = pd.Series(area).groupby(unit_county).idxmax()
        zip_unit[todo] = best.reindex(zc[todo]).fillna(-1).to_numpy(dtype=np.int64)
    lost = np.flatnonzero(zip_unit < 0)
    if len(lost):
        notes.append(
            f"{len(lost)} ZIPs have neither coordinates nor a known county and are not mapped "
            f"to any unit (e.g. {', '.join(z['zip'].to_numpy()[lost][:5])})"
        )
    n_fold = int(len(z) - len(lost) - n_gen_units)
    notes.append(
        f"{n_gen_units} ZIPs have cells; {n_fold} other ZIPs (PO boxes, unique, military, "
        f"inactive or sharing a point) fold into them"
    )
    # units in ZIP order (county units, "C" + FIPS, last)
    order = np.argsort(units["unit_id"].to_numpy().astype(str), kind="stable")
    inv = np.empty(len(order), dtype=np.int64)
    inv[order] = np.arange(len(order))
    units = units.iloc[order].reset_index(drop=True)
    geoms = geoms[order]
    zip_unit = np.where(zip_unit >= 0, inv[np.maximum(zip_unit, 0)], -1)
    return units, geoms, zip_unit, notes


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Drop line/point debris that clipping may leave in geometry collections."""
    t = shapely.get_type_id(geoms)
    bad = np.flatnonzero(t == 7)  # GeometryCollection
    if len(bad):
        out = geoms.copy()
        for i in bad:
            parts = shapely.get_parts(geoms[i])
            parts = parts[np.isin(shapely.get_type_id(parts), (3, 6))]
            out[i] = shapely.union_all(parts) if len(parts) else shapely.Polygon()
        return out
    return geoms
