"""Polygon helpers: projection, shared-border adjacency, unit points."""
from __future__ import annotations

import numpy as np
import shapely
from pyproj import Transformer

__all__ = ["project", "unproject", "border_adjacency", "unit_points"]


def _transformer(src: str, dst: str) -> Transformer:
    return Transformer.from_crs(src, dst, always_xy=True)


def project(geoms, crs: str, src: str = "EPSG:4326"):
    """Geometries (array) from ``src`` to ``crs``."""
    tr = _transformer(src, crs)
    return shapely.transform(np.asarray(geoms), lambda c: np.column_stack(tr.transform(c[:, 0], c[:, 1])))


def unproject(geoms, crs: str):
    """Geometries (array) from ``crs`` back to EPSG:4326."""
    return project(geoms, "EPSG:4326", src=crs)


def project_points(lon, lat, crs: str) -> tuple[np.ndarray, np.ndarray]:
    tr = _transformer("EPSG:4326", crs)
    x, y = tr.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return np.asarray(x, dtype=float), np.asarray(y, dtype=float)


def unproject_points(x, y, crs: str) -> tuple[np.ndarray, np.ndarray]:
    tr = _transformer(crs, "EPSG:4326")
    lon, lat = tr.transform(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)


def unit_points(geoms, preferred_x=None, preferred_y=None) -> tuple[np.ndarray, np.ndarray]:
    """A point inside each polygon: the preferred point (e.g. a ZIP centroid) where it lies in
    the polygon, else the centroid where that does, else a point on the surface."""
    geoms = np.asarray(geoms)
    pts = shapely.centroid(geoms)
    if preferred_x is not None:
        pref = shapely.points(np.column_stack([preferred_x, preferred_y]))
        ok = shapely.contains_properly(geoms, pref)
        pts = np.where(ok, pref, pts)
    inside = shapely.intersects(geoms, pts)
    if not inside.all():
        pts[~inside] = shapely.point_on_surface(geoms[~inside])
    xy = shapely.get_coordinates(pts)
    return xy[:, 0], xy[:, 1]


def border_adjacency(geoms, *, tol: float = 1.0, min_shared: float = 1.0) -> np.ndarray:
    """Pairs of polygons (projected, metres) that share a border of at least ``min_shared`` m.

    Candidates come from an STRtree query of polygons within ``tol`` metres of each other
    (closing hairline gaps between separately clipped cells); for each candidate pair the
    length of one boundary lying within ``tol`` of the other polygon is measured, so corner
    contacts (queen adjacency) are not counted as borders.

    Returns an ``(m, 2)`` array with ``i < j``.
    """
    geoms = np.asarray(geoms)
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="dwithin", distance=tol)
    keep = a < b
    a, b = a[keep], b[keep]
    if len(a) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    bnd = shapely.boundary(geoms)
    # fast path: exactly shared segments
    shared = shapely.length(shapely.intersection(bnd[a], bnd[b]))
    ok = shared >= min_shared
    # slow path for pairs that only touch or are separated by a hairline gap
    rest = np.flatnonzero(~ok)
    if len(rest):
        near = shapely.buffer(geoms[b[rest]], tol, quad_segs=2)
        shared2 = shapely.length(shapely.intersection(bnd[a[rest]], near))
        ok[rest] = shared2 >= max(min_shared, 4 * tol)
    return np.column_stack([a[ok], b[ok]]).astype(np.int64)
