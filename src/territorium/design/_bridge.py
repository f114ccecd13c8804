"""The bridge argument: a region that reaches the rest of the map through one link.

When removing one edge ``r–o`` of the unit graph cuts off a region ``R`` (``r`` in ``R``:
Alaska behind its one island link to Washington, a peninsula, an island with a single
ferry link), every contiguous plan covers ``R`` with

* ``k`` territories that lie wholly inside ``R`` (each within its tolerances), and
* at most one territory that crosses the link; its part ``C`` inside ``R`` is one piece
  that contains ``r`` (a path between two of its units that leaves ``R`` must come back
  over the same link, so it can be cut short at ``r``), and its whole total is at least
  ``C``'s.

Relaxing the inside territories to their sum (``k`` times the band) and keeping the
crossing part's connectivity exactly (a single-commodity flow from ``r``), a small HiGHS
MIP per ``k`` finds the least excess ``s`` compatible with that:

    k·(1 − tol − s)·T ≤ total(R) − total(C) ≤ k·(1 + tol + s)·T,   total(C) ≤ (1 + tol + s)·T

on every measure. The least ``s`` over ``k`` is a lower bound on every plan's worst excess
(the MIP's dual bound is used, so a MIP stopped by the clock still gives a valid, weaker
bound). It needs equal targets, no locked units, no frozen territories and no exclaves (a
territory's target or anchor inside ``R`` would change the count).
"""
from __future__ import annotations

import time
from collections import deque

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_array

from ._problem import Problem

__all__ = ["bridge_bound", "bridge_regions"]

#: regions behind a bridge with more units than this are not tried (the MIP grows with them)
MAX_UNITS = 2_000
#: nor those holding more than this many territories' worth of a measure (so many inside
#: territories can share almost any total)
MAX_TARGETS = 12.0
#: seconds one MIP may take (its dual bound is used when the clock stops it)
MIP_TIME = 1.0


def applicable(P: Problem) -> bool:
    return (P.indptr is not None and P.contiguity and P.m > 0 and P.k >= 2
            and not (P.lock >= 0).any() and not P.frozen.any() and not P.exclave.any()
            and bool(np.allclose(P.T, P.T[:1], rtol=1e-9, atol=0.0)))


def _side(P: Problem, start: int, cut: int, cap: int) -> np.ndarray | None:
    """Units reachable from ``start`` without the edge ``start–cut``; None beyond ``cap``."""
    seen = {start}
    q = deque([start])
    ip, ix = P.indptr, P.indices
    while q:
        u = q.popleft()
        for v in ix[ip[u]:ip[u + 1]].tolist():
            if u == start and v == cut:
                continue
            if v not in seen:
                seen.add(v)
                if len(seen) > cap:
                    return None
                q.append(v)
    return np.fromiter(seen, np.int64)


def bridge_regions(P: Problem, max_units: int = MAX_UNITS) -> list[tuple[int, int, np.ndarray]]:
    """``(r, o, R)`` for every bridge ``r–o`` of the unit graph and each of its two sides
    ``R`` (the one with ``r``) that has 2 to ``max_units`` units (the argument holds for
    either side)."""
    import networkx as nx

    src = np.repeat(np.arange(P.n), np.diff(P.indptr))
    keep = src < P.indices
    G = nx.Graph()
    G.add_nodes_from(range(P.n))
    G.add_edges_from(zip(src[keep].tolist(), P.indices[keep].tolist()))
    out = []
    for a, b in nx.bridges(G):
        for r, o in ((a, b), (b, a)):
            R = _side(P, r, o, max_units)
            if R is not None and len(R) >= 2 and len(R) < P.n:
                out.append((int(r), int(o), R))
    return out


def _least_excess(P: Problem, R: np.ndarray, r: int, k: int, time_limit: float) -> float:
    """Dual bound of: min s over crossing parts C (one piece with r, possibly empty) and k
    inside territories (summed), in fractions of target."""
    n, m = len(R), P.m
    pos = np.full(P.n, -1, np.int64)
    pos[R] = np.arange(n)
    A = P.A[R] / P.T[0]  # in targets (equal targets)
    Rt = A.sum(0)
    tol = P.tol
    root = int(pos[r])
    src = np.repeat(np.arange(P.n), np.diff(P.indptr))
    inside = (pos[src] >= 0) & (pos[P.indices] >= 0)
    tail, head = pos[src[inside]], pos[P.indices[inside]]  # both directions are listed
    na = len(tail)
    nv = n + na + 1
    S = n + na
    M = float(n - 1)
    rows, cols, vals, lo, hi = [], [], [], [], []
    nr = 0

    def add(r_idx, c_idx, v, l, h):
        nonlocal nr
        rows.append(np.asarray(r_idx) + nr)
        cols.append(np.asarray(c_idx))
        vals.append(np.asarray(v, float))
        lo.extend(l)
        hi.extend(h)
        nr += len(l)

    zi = np.arange(n)
    for j in range(m):
        # k(1 - tol - s) <= Rt - zA  and  Rt - zA <= k(1 + tol + s)  and  zA <= 1 + tol + s
        add(np.r_[np.zeros(n, int), 0], np.r_[zi, S], np.r_[-A[:, j], k], [k * (1 - tol[j]) - Rt[j]], [np.inf])
        add(np.r_[np.zeros(n, int), 0], np.r_[zi, S], np.r_[-A[:, j], -k], [-np.inf], [k * (1 + tol[j]) - Rt[j]])
        add(np.r_[np.zeros(n, int), 0], np.r_[zi, S], np.r_[A[:, j], -1.0], [-np.inf], [1 + tol[j]])
    if k == 0:  # no inside territory: the crossing one holds all of R
        add(np.zeros(n, int), zi, np.ones(n), [float(n)], [float(n)])
    # flow from the root: every other unit of C takes one unit of flow, arcs only within C
    others = np.flatnonzero(zi != root)
    rid = np.full(n, -1, np.int64)
    rid[others] = np.arange(len(others))
    fin, fout = rid[head] >= 0, rid[tail] >= 0
    add(np.r_[rid[head[fin]], rid[tail[fout]], rid[others]],
        np.r_[n + np.flatnonzero(fin), n + np.flatnonzero(fout), others],
        np.r_[np.ones(int(fin.sum())), -np.ones(int(fout.sum())), -np.ones(len(others))],
        [0.0] * len(others), [0.0] * len(others))
    ar = np.arange(na)
    add(np.r_[ar, ar], np.r_[n + ar, head], np.r_[np.ones(na), -M * np.ones(na)], [-np.inf] * na, [0.0] * na)
    add(np.r_[ar, ar], np.r_[n + ar, tail], np.r_[np.ones(na), -M * np.ones(na)], [-np.inf] * na, [0.0] * na)
    oi = np.arange(len(others))
    add(np.r_[oi, oi], np.r_[others, np.full(len(others), root)],
        np.r_[np.ones(len(others)), -np.ones(len(others))], [-np.inf] * len(others), [0.0] * len(others))
    Acon = coo_array((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(nr, nv)).tocsr()
    c = np.zeros(nv)
    c[S] = 1.0
    res = milp(c, constraints=LinearConstraint(Acon, lo, hi), integrality=np.r_[np.ones(n), np.zeros(na + 1)],
               bounds=Bounds(np.zeros(nv), np.r_[np.ones(n), np.full(na, M), np.inf]),
               options={"time_limit": max(0.05, float(time_limit)), "disp": False})
    if res.status == 2:  # infeasible even with any excess: cannot happen (s is unbounded above)
        return np.inf
    b = getattr(res, "mip_dual_bound", None)
    if b is None or not np.isfinite(b):
        return 0.0 if res.status != 0 else float(res.fun)
    return max(float(b), 0.0)


def _count_bound(Rt: np.ndarray, tol: np.ndarray, k: int) -> float:
    """The least excess for ``k`` inside territories from the totals alone (the crossing
    part takes any amount from 0 to its upper bound on each measure, independently)."""
    s = np.maximum(Rt / (k + 1) - 1 - tol, 0.0)  # k inside + the crossing one hold it all
    if k >= 1:
        s = np.maximum(s, 1 - tol - Rt / k)  # the inside ones need their lower bounds
    return float(s.max())


def bridge_bound(P: Problem, ids, time_limit: float = 2.0):
    """The largest bridge bound over the regions behind a bridge, with its certificate:
    ``(bound, Certificate or None)``. Per region, the counts of inside territories are tried
    in the order of their total-only bound, and the MIP runs only while that bound is below
    the region's best so far (an island that is 2.75 territories' worth is settled by the
    totals alone for every count but 2)."""
    from ._certificate import Certificate

    if not applicable(P):
        return 0.0, None
    t0 = time.time()
    regs = []
    for r, o, R in bridge_regions(P):
        Rt = P.A[R].sum(0) / P.T[0]
        if Rt.max() > MAX_TARGETS:
            continue
        kmax = int(np.ceil(Rt.max() / max(1e-9, float((1 - P.tol).min())))) + 1
        cb = [_count_bound(Rt, P.tol, k) for k in range(kmax + 1)]
        regs.append((min(cb), r, o, R, Rt, cb))
    regs.sort(key=lambda x: -x[0])  # the most promising first
    best = (0.0, None)
    for _, r, o, R, Rt, cb in regs:
        b = np.inf
        for k in np.argsort(cb, kind="stable").tolist():
            if cb[k] >= b:
                break  # every other count is bounded above b already
            left = time_limit - (time.time() - t0)
            if left <= 0.05:
                return best  # out of time: what was proven so far stays valid
            b = min(b, max(cb[k], _least_excess(P, R, r, k, min(MIP_TIME, left))))
            if b <= best[0]:
                break  # this region cannot beat the best bound so far
        if b > best[0] + 1e-9 and np.isfinite(b):
            j = int(np.argmax(np.abs(Rt - Rt.mean())))
            totals = " / ".join(f"{x:.2f}" for x in Rt)
            text = (f"the {len(R)} units behind the link {ids[r]}–{ids[o]} reach the rest of the map only through "
                    f"it and hold {totals} of a territory's {' / '.join(P.measures)} target; a territory is one piece, "
                    f"so they are covered by whole territories inside and the part of at most one territory that "
                    f"crosses the link (one piece with {ids[r]}), and no such cover meets the tolerances (an exact "
                    f"MIP over that part): every plan misses a tolerance by at least {b:.2%} of target")
            best = (float(b), Certificate("region", float(b), P.measures[j], tuple(int(u) for u in R), (), text))
    return best
