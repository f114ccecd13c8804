"""Keeping unit graphs connected: virtual edges between islands and the mainland."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from territorium.model import Units

__all__ = ["connect_components", "virtual_edge_report", "MAINLAND_PREFERENCE", "SAME_STATE_PREFERENCE",
           "FERRY_LINKS"]

#: An island group links to the largest component ("the mainland") unless a unit of another
#: component is more than this many times closer: Kauai links to Oahu, but Hawaii as a whole
#: links to California (~3,900 km) rather than to the Aleutians (~3,600 km), so territories
#: that must cover Hawaii can borrow from a dense neighbour instead of a sparse one.
MAINLAND_PREFERENCE = 1.5

#: An island links to a unit of its own state rather than to a nearer one across a state
#: line when that unit is at most this many times farther: Martha's Vineyard (Dukes County,
#: MA) is 46 km from Newport County, RI but its ferries run to Barnstable County (47 km).
SAME_STATE_PREFERENCE = 1.5

#: Known ferry links, island unit id -> mainland unit id, used before any distance rule
#: when both units are in the build and the island has no land border to the target.
#: Counties by FIPS, ZIP cells by ZIP.
FERRY_LINKS: dict[str, str] = {
    # Martha's Vineyard: Vineyard Haven / Oak Bluffs <-> Woods Hole (Falmouth, Barnstable Co.)
    "25007": "25001", "02568": "02543",
    # Nantucket <-> Hyannis (Barnstable County)
    "25019": "25001", "02554": "02601",
    # San Juan Islands <-> Anacortes (Skagit County, WA)
    "53055": "53057",
}


def _label(names, ids, i: int) -> str:
    return str(ids[i]) if str(names[i]) == str(ids[i]) else f"{names[i]} ({ids[i]})"


def _same_state(inside, outside, xy, grp, a, b, dist):
    """The nearest (island unit, outside unit) pair of one state, if not too much farther."""
    best = (a, b, dist)
    lim = SAME_STATE_PREFERENCE * dist
    for g in {x for x in grp[inside] if x is not None and x == x}:
        ins = inside[grp[inside] == g]
        out = outside[grp[outside] == g]
        if not len(ins) or not len(out):
            continue
        d, j = cKDTree(xy[out]).query(xy[ins], k=1)
        i = int(np.argmin(d))
        if d[i] <= lim and (best[1] == b or d[i] < best[2]):
            best = (int(ins[i]), int(out[j[i]]), float(d[i]))
    return best


def connect_components(
    n: int,
    edges: np.ndarray,
    xy: np.ndarray,
    *,
    names=None,
    ids=None,
    groups=None,
    what: str = "island",
) -> tuple[np.ndarray, list[str]]:
    """Virtual edges that make the graph ``(n, edges)`` connected, and a note for each.

    The smallest component is linked, by the shortest straight line between unit points, to
    the nearest unit of the largest component, or to a nearer unit of another component
    when that is more than :data:`MAINLAND_PREFERENCE` times closer; this repeats until one
    component is left. Two rules come first: a known ferry link (:data:`FERRY_LINKS`, by
    unit id) when both ends are present, and, when ``groups`` (the state of each unit) is
    given and the nearest unit lies in another state, the nearest unit of the island's own
    state if it is at most :data:`SAME_STATE_PREFERENCE` times farther.

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
    grp = None if groups is None else np.asarray(groups, dtype=object)
    pos = {str(u): i for i, u in enumerate(ids)}
    ferry = {pos[a]: pos[b] for a, b in FERRY_LINKS.items() if a in pos and b in pos}
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
            how = ""
            boat = [(i, ferry[i]) for i in inside if i in ferry and lab[ferry[i]] != c]
            if boat:
                a, b = int(boat[0][0]), int(boat[0][1])
                dist = float(np.hypot(*(xy[a] - xy[b])))
                how = " (ferry)"
            else:
                d, j = cKDTree(xy[outside]).query(xy[inside], k=1)
                best = int(np.argmin(d))
                a, b = int(inside[best]), int(outside[j[best]])
                if lab[b] != main:
                    mainland = np.flatnonzero(lab == main)
                    dm, jm = cKDTree(xy[mainland]).query(xy[inside], k=1)
                    bm = int(np.argmin(dm))
                    if dm[bm] <= MAINLAND_PREFERENCE * d[best]:
                        a, b, d, best = int(inside[bm]), int(mainland[jm[bm]]), dm, bm
                dist = float(d[best])
                if grp is not None and grp[a] != grp[b]:
                    a, b, dist = _same_state(inside, outside, xy, grp, a, b, dist)
            added.append((a, b))
            kind = what if len(inside) == 1 else f"{what} group of {len(inside)} units at"
            notes.append(
                f"linked {kind} {_label(names, ids, a)} to {_label(names, ids, b)}, "
                f"{dist / 1000:.0f} km{how}"
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
