"""Exact local repair of the territories left outside their tolerances (large maps and
rep-home designs; the worker picks the cluster sizes).

After the search, a few territories may still miss a tolerance where the units are coarse
for their targets (all-US ZIPs at k = 500: Manhattan, Queens and the Bronx hold 5–8 ZIPs per
territory, each 15–54 % of a target). A unit move there changes a total by more than the
band, so single moves and re-cuts of two territories stall. This step takes a cluster — a
territory outside its tolerances, its neighbouring territories and the other out-of-band
territories among them (a few hundred units) — and solves the assignment of the cluster's
units to the cluster's territories exactly: the HiGHS MIP of :mod:`territorium.design._mip`
(balance rows on every measure, lazy contiguity cuts, each territory keeps its deepest unit
as its root), candidates = each unit's territory and those of the units within two graph
steps, the fewest moved units as the cost. Units and territories outside the cluster are
untouched, so the plan's other totals stay as they are. The new cluster plan is kept when
every territory is one piece and it lowers the cluster's worst excess over a tolerance, or
keeps it and lowers the number of territories outside (then their total excess).

Territories that hold a unit no contiguous territory can hold within the tolerances
(stranded or oversized units, :func:`territorium.design._problem.stranded_units`) are left
out of every cluster: their excess is proven, and counting it would let the MIP spend that
excess on their neighbours.
"""
from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from ._problem import Problem, stranded_units

__all__ = ["forced_territories", "local_repair"]

#: cluster sizes, one pass over the territories outside per entry: (at most units, at most
#: territories, fewer territories than this grow by whole rings of neighbours, seconds one
#: MIP may take). Small clusters first: most solve to optimality in well under a second;
#: the large ones (an island group with the mainland across its link, a metro area) get
#: what is left. Exploration on all-US ZIPs (k=500, three measures, from the plan after the
#: recombination, 125 territories outside): 700-unit clusters only, 125 -> 94 in 59 s, most
#: MIPs stopped by their time limit
LEVELS = ((300, 10, 4, 4.0), (700, 24, 8, 8.0))


def _excess(P: Problem, tot: np.ndarray, ts: np.ndarray) -> np.ndarray:
    dev = tot[ts] / P.T[ts].clip(1e-300) - 1
    return (np.abs(dev) - P.tol[None, :]).max(1).clip(0.0)


def forced_territories(P: Problem, a: np.ndarray) -> np.ndarray:
    """(k,) bool: territories that hold a stranded or oversized unit (their excess is forced)."""
    out = np.zeros(P.k, bool)
    for u, *_ in stranded_units(P):
        out[a[u]] = True
    hi = (1 + P.tol)[None, :] * P.T[~P.frozen].max(0)[None, :] if (~P.frozen).any() else None
    if hi is not None:
        big = (P.A > hi).any(1)
        out[np.unique(a[big])] = True
    return out


def _neighbours(P: Problem, a: np.ndarray) -> list[set]:
    src = np.repeat(np.arange(P.n), np.diff(P.indptr))
    dst = P.indices
    cut = a[src] != a[dst]
    nb = [set() for _ in range(P.k)]
    for s, d in zip(a[src[cut]].tolist(), a[dst[cut]].tolist()):
        nb[s].add(d)
    return nb


def _roots(P: Problem, a: np.ndarray, U: np.ndarray, C: np.ndarray) -> np.ndarray:
    """Per territory of C, its unit farthest (in graph steps inside it) from its border."""
    from collections import deque

    inU = np.full(P.n, -1, np.int64)
    inU[U] = np.arange(len(U))
    depth = np.full(len(U), -1, np.int64)
    q = deque()
    for i, u in enumerate(U.tolist()):
        nb = P.indices[P.indptr[u]:P.indptr[u + 1]]
        if (a[nb] != a[u]).any() or len(nb) == 0:
            depth[i] = 0
            q.append(i)
    while q:
        i = q.popleft()
        u = int(U[i])
        for v in P.indices[P.indptr[u]:P.indptr[u + 1]].tolist():
            j = int(inU[v])
            if j >= 0 and depth[j] < 0 and a[v] == a[u]:
                depth[j] = depth[i] + 1
                q.append(j)
    roots = np.full(len(C), -1, np.int64)
    for ci, t in enumerate(C.tolist()):
        mem = np.flatnonzero(a[U] == t)
        lk = mem[P.lock[U[mem]] == t]
        if len(lk):  # a locked unit stays: it roots the territory
            roots[ci] = int(lk[0])
        else:
            roots[ci] = int(mem[np.argmax(depth[mem])])
    return roots


def _subproblem(P: Problem, U: np.ndarray, C: np.ndarray) -> Problem:
    inU = np.full(P.n, -1, np.int64)
    inU[U] = np.arange(len(U))
    ip, ix = P.indptr, P.indices
    src = np.repeat(np.arange(P.n), np.diff(ip))
    keep = (inU[src] >= 0) & (inU[ix] >= 0)
    s2, d2 = inU[src[keep]], inU[ix[keep]]
    order = np.lexsort((d2, s2))
    s2, d2 = s2[order], d2[order]
    indptr = np.r_[0, np.cumsum(np.bincount(s2, minlength=len(U)))]
    k = len(C)
    return replace(P, n=len(U), k=k, xy=P.xy[U], A=P.A[U], T=P.T[C], w=P.w[U], indptr=indptr, indices=d2,
                   virtual=None, fixed=np.zeros(k, bool), centers=np.full((k, 2), np.nan), cost=None,
                   lock=np.full(len(U), -1, np.int64), frozen=np.zeros(k, bool), current=None, dis=None,
                   exclave=np.zeros(len(U), bool), home_units=np.full(k, -1, np.int64))


def _candidates(P: Problem, a: np.ndarray, U: np.ndarray, C: np.ndarray, hops: int):
    pos = np.full(P.k, -1, np.int64)
    pos[C] = np.arange(len(C))
    pu, pt = [], []
    for i, u in enumerate(U.tolist()):
        if P.lock[u] >= 0:
            ts = {int(pos[a[u]])}
        else:
            near = {u}
            front = [u]
            for _ in range(hops):
                nxt = []
                for v in front:
                    for w in P.indices[P.indptr[v]:P.indptr[v + 1]].tolist():
                        if w not in near:
                            near.add(w)
                            nxt.append(w)
                front = nxt
            ts = {int(pos[a[v]]) for v in near if pos[a[v]] >= 0}
        pu += [i] * len(ts)
        pt += sorted(ts)
    return np.asarray(pu, np.int64), np.asarray(pt, np.int64)


def _one_piece(Q: Problem, sub: np.ndarray) -> bool:
    from scipy.sparse import csr_array
    from scipy.sparse.csgraph import connected_components

    src = np.repeat(np.arange(Q.n), np.diff(Q.indptr))
    dst = Q.indices
    same = sub[src] == sub[dst]
    g = csr_array((np.ones(int(same.sum())), (src[same], dst[same])), shape=(Q.n, Q.n))
    lab = connected_components(g, directed=False)[1]
    return all(len(np.unique(lab[sub == t])) <= 1 for t in range(Q.k))


def _cluster(t: int, nb: list, bad: np.ndarray, blocked: np.ndarray, size: np.ndarray,
             max_units: int, max_terr: int, min_terr: int) -> list:
    """t, its neighbours, and out-of-band territories next to those with their neighbours,
    while the limits allow (blocked territories never join)."""
    C = [t]
    seen = {t}
    units = int(size[t])

    def add(s):
        nonlocal units
        if s in seen or blocked[s] or len(C) >= max_terr or units + size[s] > max_units:
            return False
        C.append(s)
        seen.add(s)
        units += int(size[s])
        return True

    for s in sorted(nb[t]):
        add(s)
    grow = [s for s in C[1:] if bad[s]]
    while grow:
        s = grow.pop(0)
        for r in sorted(nb[s]):
            if add(r) and bad[r]:
                grow.append(r)
    # a small cluster (an island group, a peninsula) grows ring by ring: its totals may only
    # fit the tolerances with territories that reach across its neighbours
    while len(C) < min_terr:
        before = len(C)
        for s in list(C):
            for r in sorted(nb[s]):
                add(r)
        if len(C) == before:
            break
    return C


def _potentials(Q: Problem, cur: np.ndarray, roots: np.ndarray, pu: np.ndarray, pt: np.ndarray) -> np.ndarray:
    """(len(pu),) a potential per candidate pair: graph steps from the territory's root, steps
    inside its current units costing 1 and any other step ``OUTSIDE_STEP``, over the units
    that may join it. Its current units then each have a neighbour in it with a lower
    potential (their shortest path stays inside), so the current plan meets the rows."""
    from scipy.sparse import csr_array
    from scipy.sparse.csgraph import dijkstra

    pot = np.full(len(pu), np.inf)
    src = np.repeat(np.arange(Q.n), np.diff(Q.indptr))
    dst = Q.indices
    for t in range(Q.k):
        sel = np.flatnonzero(pt == t)
        ok = np.zeros(Q.n, bool)
        ok[pu[sel]] = True
        e = ok[src] & ok[dst]
        wgt = np.where((cur[src[e]] == t) & (cur[dst[e]] == t), 1.0, OUTSIDE_STEP)
        g = csr_array((wgt, (src[e], dst[e])), shape=(Q.n, Q.n))
        d = dijkstra(g, directed=True, indices=int(roots[t]))
        pot[sel] = d[pu[sel]]
    return pot


#: potential of a step that leaves a territory's current units (see :func:`_potentials`)
OUTSIDE_STEP = 1000.0
#: objective weights: the worst excess first, then the sum of excesses, then moved units
W_WORST, W_SUM = 1e6, 1e4


def _cluster_mip(Q: Problem, cur: np.ndarray, roots: np.ndarray, pu: np.ndarray, pt: np.ndarray,
                 time_limit: float) -> tuple[np.ndarray | None, str]:
    """min W_WORST·s + W_SUM·Σ e_t + moved units over 0/1 x (candidate pairs) with every unit
    in one territory, (1 − tol − e_t)·T ≤ total ≤ (1 + tol + e_t)·T on every measure,
    e_t ≤ s, and the path-potential contiguity rows ``x_ut ≤ Σ x_vt`` over the neighbours v
    of u with a lower potential for t (every territory one piece around its root)."""
    from scipy.sparse import coo_array

    from ._lp import _highs

    n, k, m = Q.n, Q.k, Q.m
    ncol = len(pu)
    pot = _potentials(Q, cur, roots, pu, pt)
    keep = np.isfinite(pot)
    keep[(pu == roots[pt])] = True
    pu, pt, pot = pu[keep], pt[keep], pot[keep]
    ncol = len(pu)
    h, highspy = _highs()
    inf = highspy.kHighsInf
    # columns: x (ncol), e_t (k), s (1)
    nv = ncol + k + 1
    lo = np.zeros(nv)
    hi = np.r_[np.ones(ncol), np.full(k + 1, inf)]
    roots_col = pu == roots[pt]
    lo[:ncol][roots_col] = 1.0
    cost = np.r_[(pt != cur[pu]).astype(float), np.full(k, W_SUM), W_WORST]
    h.addVars(nv, lo, hi)
    h.changeColsCost(nv, np.arange(nv, dtype=np.int32), cost)
    h.changeColsIntegrality(ncol, np.arange(ncol, dtype=np.int32), np.ones(ncol, np.uint8))
    R, Cc, V, rlo, rhi = [], [], [], [], []
    r0 = 0
    # each unit in one territory
    R.append(pu); Cc.append(np.arange(ncol)); V.append(np.ones(ncol))
    rlo.append(np.ones(n)); rhi.append(np.ones(n)); r0 += n
    # balance: Σ a/T x + e ≥ 1 − tol ; Σ a/T x − e ≤ 1 + tol
    for j in range(m):
        v = Q.A[pu, j] / Q.T[pt, j].clip(1e-300)
        for sign, l, u in ((1.0, 1 - Q.tol[j], inf), (-1.0, -inf, 1 + Q.tol[j])):
            R.append(r0 + pt); Cc.append(np.arange(ncol)); V.append(v)
            R.append(r0 + np.arange(k)); Cc.append(ncol + np.arange(k)); V.append(np.full(k, sign))
            rlo.append(np.full(k, l)); rhi.append(np.full(k, u)); r0 += k
    # e_t ≤ s
    R.append(r0 + np.arange(k)); Cc.append(ncol + np.arange(k)); V.append(np.ones(k))
    R.append(r0 + np.arange(k)); Cc.append(np.full(k, ncol + k)); V.append(-np.ones(k))
    rlo.append(np.full(k, -inf)); rhi.append(np.zeros(k)); r0 += k
    # contiguity: x_ut − Σ_{v ∈ N(u), pot_t(v) < pot_t(u)} x_vt ≤ 0 (roots exempt)
    key = pu * k + pt
    order = np.argsort(key)
    skey = key[order]
    deg = np.diff(Q.indptr)
    rep = np.repeat(np.arange(ncol), deg[pu])
    nbr = Q.indices[np.concatenate([np.arange(Q.indptr[u], Q.indptr[u + 1]) for u in pu.tolist()])] \
        if ncol else np.zeros(0, np.int64)
    nk = nbr * k + pt[rep]
    at = np.searchsorted(skey, nk).clip(0, max(ncol - 1, 0))
    found = skey[at] == nk
    vcol = order[at]
    down = found & (pot[vcol] < pot[rep])
    rows_c = np.flatnonzero(~roots_col)
    rid = np.full(ncol, -1, np.int64)
    rid[rows_c] = r0 + np.arange(len(rows_c))
    R.append(rid[rows_c]); Cc.append(rows_c); V.append(np.ones(len(rows_c)))
    dd = down & (rid[rep] >= 0)
    R.append(rid[rep[dd]]); Cc.append(vcol[dd]); V.append(-np.ones(int(dd.sum())))
    rlo.append(np.full(len(rows_c), -inf)); rhi.append(np.zeros(len(rows_c))); r0 += len(rows_c)
    M = coo_array((np.concatenate(V), (np.concatenate(R), np.concatenate(Cc))), shape=(r0, nv)).tocsr()
    h.addRows(r0, np.concatenate(rlo), np.concatenate(rhi), M.nnz, M.indptr.astype(np.int32),
              M.indices.astype(np.int32), M.data)
    # the current plan as the first incumbent
    xs = np.zeros(nv)
    xs[:ncol] = (pt == cur[pu]).astype(float)
    tot = np.zeros((k, m))
    np.add.at(tot, cur, Q.A)
    e = (np.abs(tot / Q.T.clip(1e-300) - 1) - Q.tol[None, :]).max(1).clip(0) + 1e-9
    xs[ncol:ncol + k] = e
    xs[-1] = e.max()
    sol = highspy.HighsSolution()
    sol.col_value = list(xs)
    sol.value_valid = True
    h.setSolution(sol)
    h.setOptionValue("time_limit", float(max(time_limit, 0.1)))
    h.setOptionValue("mip_rel_gap", 1e-4)
    h.run()
    status = h.modelStatusToString(h.getModelStatus())
    x = np.asarray(h.getSolution().col_value)
    if len(x) != nv or not h.getInfo().primal_solution_status:
        return None, status
    take = x[:ncol] > 0.5
    a = np.full(n, -1, np.int64)
    a[pu[take]] = pt[take]
    return a, status


def local_repair(P: Problem, a: np.ndarray, deadline: float, *, hops: int = 2,
                 levels=None) -> tuple[np.ndarray, dict]:
    """Repair clusters of out-of-band territories with the exact MIP, until ``deadline``
    (``time.monotonic()``). Returns the new plan (a copy) and counts of what was tried."""
    a = np.asarray(a, np.int64).copy()
    info = {"clusters": 0, "kept": 0, "seconds": 0.0, "bad_before": 0, "bad_after": 0}
    t0 = time.monotonic()
    if P.m == 0 or P.indptr is None or not P.contiguity or P.k < 2:
        return a, info
    forced = forced_territories(P, a) | P.frozen
    tot = np.zeros((P.k, P.m))
    np.add.at(tot, a, P.A)
    ex = _excess(P, tot, np.arange(P.k))
    ex[forced] = 0.0
    info["bad_before"] = int((ex > 1e-9).sum())
    blocked = forced | (np.bincount(a[P.exclave], minlength=P.k) > 0 if P.exclave.any() else forced)
    for level in (LEVELS if levels is None else levels):
        if time.monotonic() >= deadline - 1.0:
            break
        a, tot, ex = _repair_pass(P, a, tot, ex, forced, blocked, deadline, hops, level, info)
    info["bad_after"] = int((ex > 1e-9).sum())
    info["seconds"] = time.monotonic() - t0
    return a, info


def _repair_pass(P, a, tot, ex, forced, blocked, deadline, hops, level, info):
    max_units, max_terr, min_terr, mip_time = level
    tried = np.zeros(P.k, bool)
    while time.monotonic() < deadline - 1.0:
        bad = (ex > 1e-9) & ~tried
        if not bad.any():
            break
        t = int(np.argmax(np.where(bad, ex, -1.0)))
        tried[t] = True
        size = np.bincount(a, minlength=P.k)
        nb = _neighbours(P, a)
        C = np.asarray(_cluster(t, nb, ex > 1e-9, blocked, size, max_units, max_terr, min_terr), np.int64)
        C = C[size[C] > 0]  # an empty territory has no root to grow from
        if len(C) < 2:
            continue
        inC = np.zeros(P.k, bool)
        inC[C] = True
        U = np.flatnonzero(inC[a])
        Q = _subproblem(P, U, C)
        pos = np.full(P.k, -1, np.int64)
        pos[C] = np.arange(len(C))
        cur = pos[a[U]]
        pu, pt = _candidates(P, a, U, C, hops)
        roots = _roots(P, a, U, C)
        left = deadline - time.monotonic()
        info["clusters"] += 1
        try:
            t1 = time.monotonic()
            sub, status = _cluster_mip(Q, cur, roots, pu, pt, min(mip_time, max(1.0, 0.25 * left)))
        except Exception:  # pragma: no cover - a failed sub-MIP leaves the plan as it was
            continue
        info.setdefault("log", []).append((t, len(C), len(U), len(pu), status, round(time.monotonic() - t1, 1)))
        if sub is None or (sub < 0).any():
            continue
        if not _one_piece(Q, sub):  # pragma: no cover - the potential rows guarantee it
            continue
        new = C[sub]
        tot_new = tot.copy()
        tot_new[C] = 0.0
        np.add.at(tot_new, new, P.A[U])
        e0 = ex[C]
        e1 = _excess(P, tot_new, C)
        e1[forced[C]] = 0.0
        k0 = (e0.max(), int((e0 > 1e-9).sum()), e0.sum())
        k1 = (e1.max(), int((e1 > 1e-9).sum()), e1.sum())
        better = (k1[0] < k0[0] - 1e-9 and k1[1] <= k0[1]) or \
            (k1[0] <= k0[0] + 1e-12 and (k1[1] < k0[1] or (k1[1] == k0[1] and k1[2] < k0[2] - 1e-9)))
        if better:
            a[U] = new
            tot = tot_new
            ex[C] = e1
            info["kept"] += 1
            tried[C[e1 > 1e-9]] = False  # changed: worth another look from a new cluster
            tried[t] = True
    return a, tot, ex
