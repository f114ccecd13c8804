"""Keeping unit graphs connected: virtual edges between islands and the mainland."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from territorium.model import Units

__all__ = ["connect_components", "virtual_edge_report", "MAINLAND_PREFERENCE"]

#: An island group links to the largest component ("the mainland") unless a unit of another
#: component is more than this many times closer: Kauai links to Oahu, but Hawaii as a whole
#: links to California (~3,900 km) rather than to the Aleutians (~3,600 km), so territories
#: that must cover Hawaii can borrow from a dense neighbour instead of a sparse one.
MAINLAND_PREFERENCE = 1.5


def _label(names, ids, i: int) -> str:
    return str(ids[i]) if str(names[i]) == str(ids[i]) else f"{names[i]} ({ids[i]})"


def connect_components(
    n: int,
    edges: np.ndarray,
    xy: np.ndarray,
    *,
    names=None,
    ids=None,
    what: str = "island",
) -> tuple[np.ndarray, list[str]]:
    """Virtual edges that make the graph ``(n, edges)`` connected, and a note for each.

    The smallest component is linked, by the shortest straight line between unit points, to
    the nearest unit of the largest component, or to a nearer unit of another component
    when that is more than :data:`MAINLAND_PREFERENCE` times closer; this repeats until one
    component is left.

    Returns
    -------
    virtual : ndarray of shape (m, 2)
        The added edges.
    notes : list of str
        One sentence per edge, e.g. ``linked island Nantucket County (25019) to Barnstable
        County (25001), 45 km``.
    """
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    xy = np.asarray(xy, dtype=np.float64)
    names = np.asarray(names if names is not None else [str(i) for i in range(n)], dtype=object)
    ids = np.asarray(ids if ids is not None else [str(i) for i in range(n)], dtype=object)
    added: list[tuple[int, int]] = []
    notes: list[str] = []
    if n <= 1:
        return np.zeros((0, 2), dtype=np.int64), notes
    while True:
        all_e = np.vstack([edges, np.asarray(added, dtype=np.int64).reshape(-1, 2)])
        g = coo_array(
            (np.ones(len(all_e), dtype=np.int8), (all_e[:, 0], all_e[:, 1])), shape=(n, n)
        )
        k, lab = connected_components(g, directed=False)
        if k == 1:
            break
        sizes = np.bincount(lab, minlength=k)
        main = int(np.argmax(sizes))
        for c in np.argsort(sizes, kind="stable"):
            if c == main:
                continue
            inside = np.flatnonzero(lab == c)
            outside = np.flatnonzero(lab != c)
            d, j = cKDTree(xy[outside]).query(xy[inside], k=1)
            best = int(np.argmin(d))
            a, b = int(inside[best]), int(outside[j[best]])
            if lab[b] != main:
                mainland = np.flatnonzero(lab == main)
                dm, jm = cKDTree(xy[mainland]).query(xy[inside], k=1)
                bm = int(np.argmin(dm))
                if dm[bm] <= MAINLAND_PREFERENCE * d[best]:
                    a, b, d, best = int(inside[bm]), int(mainland[jm[bm]]), dm, bm
            added.append((a, b))
            kind = what if len(inside) == 1 else f"{what} group of {len(inside)} units at"
            notes.append(
                f"linked {kind} {_label(names, ids, a)} to {_label(names, ids, b)}, "
                f"{d[best] / 1000:.0f} km"
            )
            break  # recompute components after each link: cheap and never links twice
    return np.asarray(added, dtype=np.int64).reshape(-1, 2), notes


def virtual_edge_report(units: Units) -> pd.DataFrame:
    """The virtual edges of ``units`` in human terms.

    Columns: ``from_id``, ``from_name``, ``to_id``, ``to_name``, ``distance_km`` (between
    unit points). One row per undirected virtual edge, longest first.

    >>> from territorium.geo.grid import grid_units
    >>> len(virtual_edge_report(grid_units(2, 2)))
    0
    """
    e = units.adjacency.virtual_edges()
    t = units.table
    xy = units.xy
    d = np.hypot(*(xy[e[:, 0]] - xy[e[:, 1]]).T) / 1000 if len(e) else np.zeros(0)
    out = pd.DataFrame(
        {
            "from_id": t["unit_id"].to_numpy()[e[:, 0]].astype(str),
            "from_name": t["name"].to_numpy()[e[:, 0]].astype(str),
            "to_id": t["unit_id"].to_numpy()[e[:, 1]].astype(str),
            "to_name": t["name"].to_numpy()[e[:, 1]].astype(str),
            "distance_km": np.round(d, 1),
        }
    )
    return out.sort_values("distance_km", ascending=False, kind="stable").reset_index(drop=True)
