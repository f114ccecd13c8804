"""Integer assignment with contiguity (HiGHS MIP, connectivity cuts added lazily).

Binary ``x_c`` for candidate pairs ``c = (unit pu[c], territory pt[c])``; every unit takes
exactly one of its candidates; every (territory, measure) total lies within
``[(1 − tol − z_j) T, (1 + tol + z_j) T]`` where ``z_j`` is the excess over the tolerance
of measure ``j``: held at 0 (every tolerance holds) until HiGHS proves that impossible with
the cuts so far, then free and penalised far above the costs, so the MIP minimises the
worst excess first and the cost second.

Contiguity is imposed by cut constraints, added only when a solution violates them. If the
territory ``t`` holds a piece ``S`` that is not its root's piece, every plan in which ``t``
is one piece holding its root ``r ∉ S`` and a unit ``u ∈ S`` must also hold a unit of the
boundary ``∂S`` (the units outside ``S`` adjacent to it): a path from ``u`` to ``r`` leaves
``S`` there. So ``x_ut ≤ Σ_{v ∈ ∂S} x_vt`` for every ``u ∈ S`` (with ``x_rt = 1`` fixed).
Without a root (a territory with no fixed unit), the cut pairs ``u`` with a unit ``w`` of
another piece: ``x_ut + x_wt − 1 ≤ Σ_{v ∈ ∂S} x_vt``. The loop stops when every territory is
one piece (the plan is then optimal for the candidate set: every cut is valid, so no
contiguous plan in that set is better), or at the time limit.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_array
from scipy.sparse.csgraph import connected_components

from ._lp import _balance_entries, _highs
from ._problem import Problem

__all__ = ["MipResult", "contiguous_assignment_mip"]

#: MIP gap of the rounds that only look for pieces to cut (the last round uses ``mip_gap``)
LOOSE_GAP = 0.02


@dataclass(frozen=True)
class MipResult:
    assignment: np.ndarray | None  # (n,) or None when HiGHS found no integer solution
    excess: np.ndarray  # (m,) z_j: worst excess over each tolerance (fraction of target)
    cost: float  # Σ cost of the chosen pairs
    contiguous: bool  # every territory one piece
    status: str  # HiGHS model status of the last solve
    rounds: int  # MIP solves (one per batch of cuts)
    cuts: int
    gap: float  # relative MIP gap of the last solve
    bound: float  # HiGHS dual bound of the last solve (cost + penalty units; see the docs)
    time_s: float


def _pieces(P: Problem, a: np.ndarray) -> np.ndarray:
    src = np.repeat(np.arange(P.n), np.diff(P.indptr))
    dst = P.indices
    same = a[src] == a[dst]
    g = csr_array((np.ones(int(same.sum())), (src[same], dst[same])), shape=(P.n, P.n))
    return connected_components(g, directed=False)[1]


def contiguous_assignment_mip(P: Problem, pu: np.ndarray, pt: np.ndarray, cost: np.ndarray, *,
                              roots: np.ndarray | None = None, tol_scale: float = 1.0,
                              time_limit: float = 30.0, mip_gap: float = 1e-3,
                              start: np.ndarray | None = None, max_rounds: int = 60,
                              root_sets: list | None = None) -> MipResult:
    """Solve the assignment MIP over candidate pairs with lazy contiguity cuts.

    Parameters
    ----------
    P : Problem
        Units, graph, measures, targets and tolerances.
    pu, pt, cost : arrays (ncol,)
        Candidate pairs (unit, territory) and their costs (e.g. ``w_i d(i, t)`` or a
        disruption weight). Every unit needs at least one pair.
    roots : array (k,), optional
        A unit that must belong to each territory (its home), -1 for none.
    tol_scale : float
        Tolerances used are ``tol_scale · P.tol``.
    start : array (n,), optional
        A plan to give HiGHS as its first incumbent (pairs missing from the candidates
        are ignored).
    root_sets : list of arrays, optional
        Per territory, units of which every plan of interest keeps at least one in it (e.g.
        its current units, when a territory that kept none would move more than a known
        plan does). Then a binary ``r_ut`` picks the root among them (``Σ_u r_ut = 1``,
        ``r_ut ≤ x_ut``), every unit needs a neighbour in its territory unless it is the
        root (``x_ut ≤ Σ_{v∈N(u)} x_vt + r_ut``), and a piece ``S`` that does not hold the
        root gets the rooted cut ``x_ut ≤ Σ_{v∈∂S} x_vt + Σ_{v∈S} r_vt``.
    """
    t0 = time.time()
    n, k, m = P.n, P.k, P.m
    pu = np.asarray(pu, np.int64)
    pt = np.asarray(pt, np.int64)
    order = np.lexsort((pt, pu))
    pu, pt, cost = pu[order], pt[order], np.asarray(cost, float)[order]
    ncol = len(pu)
    if len(np.unique(pu)) != n:
        raise ValueError("every unit needs at least one candidate territory")
    roots = np.full(k, -1, np.int64) if roots is None else np.asarray(roots, np.int64)
    col_of = {(int(u), int(t)): c for c, (u, t) in enumerate(zip(pu.tolist(), pt.tolist()))}
    active_t, nb, rows, cols, vals = _balance_entries(P, pu, pt)
    rows, cols, vals = list(rows), list(cols), list(vals)
    # excess columns z_j (one per measure): -z_j on the lower side, +z_j on the upper side
    # need two rows per balance row, so the balance rows are written as two one-sided rows
    rr = np.concatenate(rows)
    cc = np.concatenate(cols)
    vv = np.concatenate(vals)
    is_bal = rr >= n
    h, highspy = _highs()
    inf = highspy.kHighsInf
    cscale = float(np.abs(cost).mean()) if ncol and np.abs(cost).mean() > 0 else 1.0
    pen = max(float(np.abs(cost).sum()) / cscale, 1.0) * 100.0
    tol = P.tol * tol_scale
    h.setOptionValue("time_limit", float(max(time_limit, 0.1)))
    h.setOptionValue("mip_rel_gap", float(mip_gap))
    h.addVars(ncol + m, np.zeros(ncol + m), np.r_[np.ones(ncol), np.zeros(m)])
    elastic = False
    h.changeColsCost(ncol + m, np.arange(ncol + m, dtype=np.int32), np.r_[cost / cscale, np.full(m, pen)])
    h.changeColsIntegrality(ncol, np.arange(ncol, dtype=np.int32),
                            np.ones(ncol, np.uint8))
    # assignment rows
    A = csr_array((vv[~is_bal], (rr[~is_bal], cc[~is_bal])), shape=(n, ncol))
    h.addRows(n, np.ones(n), np.ones(n), A.nnz, A.indptr.astype(np.int32), A.indices.astype(np.int32), A.data)
    # balance rows: lo ≤ Σ a/T x + z ; Σ a/T x − z ≤ hi
    if nb:
        B = csr_array((vv[is_bal], (rr[is_bal] - n, cc[is_bal])), shape=(nb, ncol)).tocoo()
        jrow = np.tile(np.arange(m), len(active_t))
        for sign, lo, hi in ((1.0, np.tile(1 - tol, len(active_t)), np.full(nb, inf)),
                             (-1.0, np.full(nb, -inf), np.tile(1 + tol, len(active_t)))):
            r2 = np.r_[B.row, np.arange(nb)]
            c2 = np.r_[B.col, ncol + jrow]
            v2 = np.r_[B.data, np.full(nb, sign)]
            M = csr_array((v2, (r2, c2)), shape=(nb, ncol + m))
            h.addRows(nb, lo, hi, M.nnz, M.indptr.astype(np.int32), M.indices.astype(np.int32), M.data)
    for t in range(k):  # roots belong to their territory
        r = int(roots[t])
        if r >= 0:
            c = col_of.get((r, t))
            if c is None:
                raise ValueError(f"territory {t}: its root unit {r} is not among its candidates")
            h.changeColBounds(c, 1.0, 1.0)
    # root variables (rooted cuts): with root_sets, r_ut = 1 marks the unit of rs(t) that
    # roots t; Σ_u r_ut = 1 and r_ut ≤ x_ut
    rcol = {}
    if root_sets is not None:
        pairs = [(int(u), t) for t in range(k) if roots[t] < 0
                 for u in np.asarray(root_sets[t], np.int64).tolist() if (int(u), t) in col_of]
        base = ncol + m
        rcol = {pr: base + i for i, pr in enumerate(pairs)}
        nrv = len(pairs)
        if nrv:
            h.addVars(nrv, np.zeros(nrv), np.ones(nrv))
            h.changeColsIntegrality(nrv, np.arange(base, base + nrv, dtype=np.int32), np.ones(nrv, np.uint8))
            for t in range(k):
                cs = [c for (u, tt), c in rcol.items() if tt == t]
                if roots[t] < 0:
                    if not cs:
                        raise ValueError(f"territory {t}: none of its root_sets units is among its candidates")
                    h.addRow(1.0, 1.0, len(cs), np.asarray(cs, np.int32), np.ones(len(cs)))
            for (u, t), c in rcol.items():
                h.addRow(-inf, 0.0, 2, np.asarray([c, col_of[(u, t)]], np.int32), np.asarray([1.0, -1.0]))
    nvar = ncol + m + len(rcol)
    if start is not None:
        sol = highspy.HighsSolution()
        xv = np.zeros(nvar)
        ok = np.array([col_of.get((u, int(start[u])), -1) for u in range(n)])
        if (ok >= 0).all():
            xv[ok] = 1.0
            tot = np.zeros((k, m))
            np.add.at(tot, start, P.A)
            dev = np.abs(tot / P.T.clip(1e-300) - 1)[active_t] - tol[None, :]
            xv[ncol:ncol + m] = dev.max(0).clip(0)
            done = set()
            for (u, t), c in rcol.items():
                if start[u] == t and t not in done:
                    xv[c] = 1.0
                    done.add(t)
            sol.col_value = list(xv)
            sol.value_valid = True
            h.setSolution(sol)
        else:
            sol = None
    else:
        sol = None
    start_sol = sol  # a contiguous start meets every cut: given again before each solve
    src = np.repeat(np.arange(n), np.diff(P.indptr))
    dst = P.indices
    # a unit that cannot be its territory's root needs a neighbour in it (the cut of the
    # piece {u}): x_ut ≤ Σ_{v∈N(u)} x_vt, added up front — it removes most stray pieces
    never_root = np.ones(ncol, bool)
    for t in range(k):
        sel = pt == t
        if roots[t] >= 0:
            never_root[sel & (pu == roots[t])] = False
        elif root_sets is not None:
            pass  # every unit: x_ut ≤ Σ_{v∈N(u)} x_vt + r_ut (r only for root candidates)
        else:
            never_root[sel] = False
    nr = np.flatnonzero(never_root)
    if len(nr):
        key = pu * k + pt
        rows_i, cols_i, vals_i = [np.arange(len(nr))], [nr], [np.ones(len(nr))]
        deg = np.diff(P.indptr)[pu[nr]]
        rep_r = np.repeat(np.arange(len(nr)), deg)
        nb = P.indices[np.concatenate([np.arange(P.indptr[u], P.indptr[u + 1]) for u in pu[nr].tolist()])] \
            if len(nr) else np.zeros(0, np.int64)
        nkey = nb * k + pt[nr][rep_r]
        pos = np.searchsorted(key, nkey).clip(0, ncol - 1)
        found = key[pos] == nkey
        rows_i.append(rep_r[found])
        cols_i.append(pos[found])
        vals_i.append(-np.ones(int(found.sum())))
        rr_ = [(i, rcol[(int(pu[c]), int(pt[c]))]) for i, c in enumerate(nr.tolist())
               if (int(pu[c]), int(pt[c])) in rcol]
        if rr_:
            rows_i.append(np.array([i for i, _ in rr_]))
            cols_i.append(np.array([c for _, c in rr_]))
            vals_i.append(-np.ones(len(rr_)))
        M = csr_array((np.concatenate(vals_i), (np.concatenate(rows_i), np.concatenate(cols_i))),
                      shape=(len(nr), nvar))
        h.addRows(len(nr), np.full(len(nr), -inf), np.zeros(len(nr)), M.nnz, M.indptr.astype(np.int32),
                  M.indices.astype(np.int32), M.data)
    rounds = ncuts = 0
    final = False
    a = None
    status = "not solved"
    contiguous = False
    gap = bound = float("nan")
    z = np.full(m, np.nan)
    while rounds < max_rounds:
        left = time_limit - (time.time() - t0)
        if left <= 0.05:
            break
        h.setOptionValue("time_limit", float(left))
        # rounds that only look for pieces to cut stop at a loose gap; the last one (no piece
        # left) is solved again at the requested gap
        h.setOptionValue("mip_rel_gap", float(max(mip_gap, LOOSE_GAP) if not final else mip_gap))
        if start_sol is not None:
            h.setSolution(start_sol)
        h.run()
        rounds += 1
        status = h.modelStatusToString(h.getModelStatus())
        if status == "Infeasible" and not elastic and m:
            # no plan meets every tolerance (with the cuts so far): minimise the excess instead
            elastic = True
            h.changeColsBounds(m, np.arange(ncol, ncol + m, dtype=np.int32), np.zeros(m), np.full(m, inf))
            continue
        x = np.asarray(h.getSolution().col_value)
        if len(x) != nvar or not h.getInfo().primal_solution_status:
            break
        info = h.getInfo()
        gap, bound = float(info.mip_gap), float(info.mip_dual_bound) * cscale
        take = x[:ncol] > 0.5
        a = np.full(n, -1, np.int64)
        a[pu[take]] = pt[take]
        z = x[ncol:ncol + m].clip(0)
        lab = _pieces(P, a)
        new = []
        for t in range(k):
            comps = np.unique(lab[a == t])
            if len(comps) <= 1:
                continue
            r = int(roots[t])
            if r >= 0:
                keep = lab[r]
            else:
                sizes = [(int((lab == c).sum()), int(c)) for c in comps]
                keep = max(sizes)[1]
            w_unit = r if r >= 0 else int(np.flatnonzero(lab == keep)[0])
            rs = None if root_sets is None else np.asarray(root_sets[t], np.int64)
            rooted = rs is not None and r < 0
            for cpn in comps:
                S = np.flatnonzero(lab == cpn)
                if rooted:  # rooted cut, for every piece that does not hold t's chosen root
                    rin = [rcol[(int(v), t)] for v in S.tolist() if (int(v), t) in rcol]
                    if any(x[c] > 0.5 for c in rin):
                        continue
                elif cpn == keep:
                    continue
                strong = r >= 0 or rooted
                inS = np.zeros(n, bool)
                inS[S] = True
                nbr = np.unique(dst[inS[src] & ~inS[dst]])
                bcols = [col_of[(int(v), t)] for v in nbr.tolist() if (int(v), t) in col_of]
                for u in S.tolist():
                    cu = col_of[(u, t)]
                    idx = [cu] + bcols
                    val = [1.0] + [-1.0] * len(bcols)
                    hi = 0.0
                    if rooted:  # x_ut ≤ Σ_{∂S} x_vt + Σ_{v∈S∩rs(t)} r_vt
                        idx += rin
                        val += [-1.0] * len(rin)
                    elif not strong:  # pair cut with a unit of the kept piece
                        idx.append(col_of[(w_unit, t)])
                        val.append(1.0)
                        hi = 1.0
                    new.append((idx, val, hi))
        if not new:
            if final or mip_gap >= LOOSE_GAP or gap <= mip_gap:
                contiguous = True
                break
            final = True  # contiguous at the loose gap: close the gap with the same cuts
            continue
        final = False
        for idx, val, hi in new:
            h.addRow(-inf, hi, len(idx), np.asarray(idx, np.int32), np.asarray(val, float))
        ncuts += len(new)
        # the last solution is still a good incumbent for most of the map: HiGHS keeps it
        # only if feasible, so it is simply re-run
    total = float((cost * (x[:ncol] > 0.5)).sum()) if a is not None else float("nan")
    return MipResult(assignment=a, excess=z, cost=total, contiguous=contiguous, status=status,
                     rounds=rounds, cuts=ncuts, gap=gap, bound=bound, time_s=time.time() - t0)
