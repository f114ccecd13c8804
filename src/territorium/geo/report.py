"""Summaries of unit sets for people and scripts."""
from __future__ import annotations

import numpy as np

from territorium.geo.connect import virtual_edge_report
from territorium.model import Units

__all__ = ["units_summary"]


def units_summary(units: Units) -> dict:
    """Counts, graph facts, area statistics, virtual edges and notes as plain JSON-able data.

    >>> from territorium.geo.grid import grid_units
    >>> s = units_summary(grid_units(3, 2))
    >>> s["units"], s["edges"], s["virtual_edges"], s["components"]
    (6, 7, 0, 1)
    """
    a = units.adjacency
    area = units.table["area_km2"].to_numpy(dtype=float)
    deg = a.degree()
    ve = virtual_edge_report(units)
    out = {
        "level": units.level,
        "crs": units.crs,
        "units": int(units.n),
        "edges": int(a.n_edges),
        "virtual_edges": int(len(ve)),
        "components": int(a.n_components()),
        "components_without_virtual": int(_components_real(units)),
        "degree_mean": round(float(deg.mean()), 2) if len(deg) else 0.0,
        "degree_max": int(deg.max()) if len(deg) else 0,
        "area_km2": {
            "total": round(float(area.sum()), 1),
            "min": round(float(area.min()), 3) if len(area) else 0.0,
            "median": round(float(np.median(area)), 3) if len(area) else 0.0,
            "max": round(float(area.max()), 1) if len(area) else 0.0,
        },
        "states": sorted(set(units.table["state"].dropna().astype(str))) if "state" in units.table else [],
        "virtual": ve.to_dict(orient="records"),
        "notes": list(units.notes),
    }
    return out


def _components_real(units: Units) -> int:
    from scipy.sparse import coo_array
    from scipy.sparse.csgraph import connected_components

    e = units.adjacency.edges(include_virtual=False)
    n = units.n
    if n == 0:
        return 0
    g = coo_array((np.ones(len(e), dtype=np.int8), (e[:, 0], e[:, 1])), shape=(n, n))
    return int(connected_components(g, directed=False)[0])
