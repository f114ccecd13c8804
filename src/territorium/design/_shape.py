"""Polsby–Popper of territories without dissolving polygons.

A territory's perimeter is the sum of its units' perimeters minus twice the boundary its
units share with each other, and its area is the sum of their areas. So once per unit set
we measure every unit's area and perimeter and the boundary length shared by every pair of
touching units (projected CRS, coordinates snapped to a 1 m grid so that slivers between
neighbouring polygons close); after that Polsby–Popper of any plan is two ``bincount``s.

The shared length of a pair is the length of the intersection of their (snapped)
boundaries; the formula is exact for polygons that meet along lines (holes included: a
territory that surrounds another keeps the inner boundary in its perimeter, as
``shapely``'s ``length`` of the dissolved polygon does).
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from territorium.model import Units

__all__ = ["ShapeTable", "shape_table", "polsby_popper"]


@dataclass(frozen=True)
class ShapeTable:
    """Per-unit area and perimeter (m², m) and shared boundary length per touching pair."""

    area: np.ndarray
    perimeter: np.ndarray
    pair_i: np.ndarray
    pair_j: np.ndarray
    shared: np.ndarray

    def polsby_popper(self, assignment: np.ndarray, k: int) -> np.ndarray:
        """4π·area/perimeter² per territory (NaN for an empty territory)."""
        a = np.asarray(assignment, dtype=np.int64)
        area = np.bincount(a, self.area, k)
        per = np.bincount(a, self.perimeter, k)
        inside = a[self.pair_i] == a[self.pair_j]
        per -= 2.0 * np.bincount(a[self.pair_i[inside]], self.shared[inside], k)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = 4.0 * np.pi * area / per ** 2
        out[(np.bincount(a, minlength=k) == 0) | ~(per > 0)] = np.nan
        return out


_CACHE: dict[int, ShapeTable] = {}


def shape_table(units: Units) -> ShapeTable | None:
    """The :class:`ShapeTable` of ``units`` (None without geometry); cached per object."""
    if units.geometry is None:
        return None
    key = id(units)
    hit = _CACHE.get(key)
    if hit is not None:
        return hit
    import geopandas as gpd
    import shapely

    g = gpd.GeoSeries(units.geometry)
    if g.crs is None:
        g = g.set_crs("EPSG:4326")
    geo = shapely.set_precision(g.to_crs(units.crs).values, 1.0)
    area = shapely.area(geo)
    per = shapely.length(geo)
    tree = shapely.STRtree(geo)
    pairs = tree.query(geo, predicate="intersects")
    i, j = pairs[0], pairs[1]
    keep = i < j
    i, j = i[keep], j[keep]
    bnd = shapely.boundary(geo)
    shared = shapely.length(shapely.intersection(bnd[i], bnd[j]))
    line = shared > 0
    table = ShapeTable(area=np.asarray(area, float), perimeter=np.asarray(per, float),
                       pair_i=i[line].astype(np.int64), pair_j=j[line].astype(np.int64),
                       shared=shared[line])
    _CACHE[key] = table
    weakref.finalize(units, _CACHE.pop, key, None)
    return table


def polsby_popper(units: Units, assignment: np.ndarray, k: int | None = None) -> np.ndarray | None:
    """4π·area/perimeter² of each territory's union of unit polygons (projected CRS).

    None when the units carry no polygons.
    """
    table = shape_table(units)
    if table is None:
        return None
    k = int(np.max(assignment)) + 1 if k is None else int(k)
    return table.polsby_popper(assignment, k)
