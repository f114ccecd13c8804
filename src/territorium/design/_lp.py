"""Linear programmes solved with HiGHS: balanced transport assignment, disruption minimum,
and the Lagrangian lower bound built from the transport duals."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from ._problem import Problem

__all__ = ["cost_to_centers", "candidates", "transport_lp", "lagrangian_bound", "disruption_lp"]


def cost_to_centers(P: Problem, idx: np.ndarray, centers: np.ndarray, cols: np.ndarray | None = None):
    """Per-unit cost d(i, t) (not yet multiplied by w) for units ``idx`` and centres.

    Squared Euclidean km² by default; ``P.cost`` may be a callable ``(points_km, centres_km)
    -> (p, q)`` array or an ``(n, k)`` matrix (then ``cols`` picks territories).
    """
    if P.cost is None:
        pts = P.xy[idx]
        return ((pts[:, None, :] - centers[None, :, :]) ** 2).sum(-1)
    if callable(P.cost):
        return np.asarray(P.cost(P.xy[idx], centers), dtype=float)
    cm = P.cost
    cols = np.arange(P.k) if cols is None else cols
    return cm[np.ix_(idx, cols)]


def pair_cost(P: Problem, pu: np.ndarray, pt: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """d(i, t) for given (unit, territory) pairs."""
    if P.cost is None:
        return ((P.xy[pu] - centers[pt]) ** 2).sum(1)
    if callable(P.cost):
        out = np.empty(len(pu))
        for s in range(0, P.n, 2048):
            idx = np.arange(s, min(P.n, s + 2048))
            c = np.asarray(P.cost(P.xy[idx], centers), dtype=float)
            m = (pu >= s) & (pu < s + len(idx))
            out[m] = c[pu[m] - s, pt[m]]
        return out
    return P.cost[pu, pt]


def candidates(P: Problem, centers: np.ndarray, L: int) -> tuple[np.ndarray, np.ndarray]:
    """Nearest ``L`` territories per unit: (n, L) territory ids and their costs d(i, t)."""
    L = min(L, P.k)
    if P.cost is None:
        tree = cKDTree(centers)
        d, t = tree.query(P.xy, k=L)
        d = np.asarray(d).reshape(P.n, L) ** 2
        t = np.asarray(t).reshape(P.n, L)
        return t.astype(np.int64), d
    out_t = np.empty((P.n, L), np.int64)
    out_d = np.empty((P.n, L))
    for s in range(0, P.n, 2048):
        idx = np.arange(s, min(P.n, s + 2048))
        c = cost_to_centers(P, idx, centers)
        part = np.argpartition(c, L - 1, axis=1)[:, :L] if L < P.k else np.tile(np.arange(P.k), (len(idx), 1))
        out_t[idx] = part
        out_d[idx] = np.take_along_axis(c, part, 1)
    return out_t, out_d


@dataclass
class TransportSolution:
    x: np.ndarray  # (ncols,) values for (unit, territory) pairs
    pu: np.ndarray  # unit of each column
    pt: np.ndarray  # territory of each column
    value: float  # objective Σ w d x (same units as the moment of inertia), slacks excluded
    slack: float  # total balance slack used (fraction of targets)
    row_dual: np.ndarray | None  # (k, m) duals of the scaled balance rows
    status: str
    cost_scale: float
    handle: object = None  # (Highs, ncol) for warm re-solves with new costs


_BANNER_SHOWN = False


def _highs():
    """A silent HiGHS instance (its one-time banner goes to /dev/null, not to our stdout)."""
    global _BANNER_SHOWN
    import os
    import sys

    import highspy

    if _BANNER_SHOWN:
        h = highspy.Highs()
    else:
        sys.stdout.flush()
        saved = os.dup(1)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 1)
            h = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            os.close(devnull)
        _BANNER_SHOWN = True
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    # HiGHS 1.16 can run far past its time limit when it presolves again inside the search:
    # the local repair's MIP on make demo's rep-home design (20 territories, 1,496 units)
    # printed "restarting" at 2.3 s of a 10 s limit and was still running after 10 minutes;
    # in a trial of that repair on the real_cz counties a RINS sub-MIP sat in
    # HPresolve::strengthenInequalities 10 minutes past a 60 s design. Every MIP here is
    # time-limited, so only the root is presolved: no restarts, sub-MIPs without presolve.
    h.setOptionValue("mip_allow_restart", False)
    h.setOptionValue("mip_root_presolve_only", True)
    return h, highspy


def _balance_entries(P: Problem, pu: np.ndarray, pt: np.ndarray):
    """Sparse entries shared by every assignment LP over candidate pairs (unit ``pu[c]`` in
    territory ``pt[c]``): one "assigned once" row per unit (rows ``0..n-1``), then one balance
    row per (non-frozen territory, measure) with coefficients ``a_ij / T_tj``.

    Returns ``(active_t, nb, rows, cols, vals)``: the non-frozen territories, the number of
    balance rows, and lists of row / column / value arrays to extend and concatenate.
    """
    n, k, m = P.n, P.k, P.m
    ncol = len(pu)
    active_t = np.flatnonzero(~P.frozen)
    nb = len(active_t) * m
    row_of = np.full((k, m), -1, np.int64)
    if m:
        row_of[active_t] = n + np.arange(nb).reshape(len(active_t), m)
    rows = [pu]
    cols = [np.arange(ncol)]
    vals = [np.ones(ncol)]
    for j in range(m):
        r = row_of[pt, j]
        ok = r >= 0
        rows.append(r[ok])
        cols.append(np.flatnonzero(ok))
        vals.append(P.A[pu[ok], j] / P.T[pt[ok], j].clip(1e-300))
    return active_t, nb, rows, cols, vals


def _elastic_columns(rows: list, cols: list, vals: list, row0: int, ncol: int, nb: int):
    """Concatenate sparse entries (lists of arrays) and add two slack columns (+1, −1) per
    balance row ``row0 .. row0 + nb − 1`` after the ``ncol`` pair columns. Returns the
    entries sorted column-wise, the column starts and the number of columns."""
    rows, cols, vals = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    if nb:
        br = row0 + np.arange(nb)
        rows = np.r_[rows, br, br]
        cols = np.r_[cols, ncol + np.arange(nb), ncol + nb + np.arange(nb)]
        vals = np.r_[vals, np.ones(nb), -np.ones(nb)]
    ntot = ncol + 2 * nb
    order = np.lexsort((rows, cols))
    rows, cols, vals = rows[order], cols[order], vals[order]
    return rows, cols, vals, np.searchsorted(cols, np.arange(ntot + 1)), ntot


def _run_colwise(h, highspy, cost, upper, row_lo, row_hi, start, rows, vals) -> None:
    """Pass a column-wise LP (columns from 0 to ``upper``) to HiGHS ``h`` and solve it."""
    lp = highspy.HighsLp()
    lp.num_col_ = len(cost)
    lp.num_row_ = len(row_lo)
    lp.col_cost_ = cost
    lp.col_lower_ = np.zeros(len(cost))
    lp.col_upper_ = upper
    lp.row_lower_ = row_lo
    lp.row_upper_ = row_hi
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = start.astype(np.int32)
    lp.a_matrix_.index_ = rows.astype(np.int32)
    lp.a_matrix_.value_ = vals
    h.passModel(lp)
    h.run()


def transport_lp(
    P: Problem,
    centers: np.ndarray,
    L: int = 12,
    time_limit: float = 60.0,
    tol_scale: float = 1.0,
    prev: "TransportSolution | None" = None,
) -> TransportSolution:
    """Balanced transport LP over the nearest ``L`` territories of each unit.

    min Σ w_i d(i,t) x_it  s.t.  Σ_t x_it = 1,  (1−tol_m) T_mt ≤ Σ_i a_im x_it ≤ (1+tol_m) T_mt,
    with elastic slacks (penalised) so the LP is always feasible. Locked units get their
    territory only; frozen territories take no other units.
    """
    n, k, m = P.n, P.k, P.m
    if prev is not None and prev.handle is not None:
        return _resolve(P, centers, prev, time_limit)
    tt, dd = candidates(P, centers, L)
    pu = np.repeat(np.arange(n), tt.shape[1])
    pt = tt.ravel()
    pc = dd.ravel()
    # frozen territories: no new units; locked units: only their territory
    keep = ~P.frozen[pt] & (P.lock[pu] < 0)
    pu, pt, pc = pu[keep], pt[keep], pc[keep]
    lu = np.flatnonzero(P.lock >= 0)
    if len(lu):
        lc = cost_to_centers(P, lu, centers).reshape(len(lu), -1)
        lt = P.lock[lu]
        lcost = lc[np.arange(len(lu)), lt] if lc.shape[1] == k else lc[:, 0]
        pu = np.r_[pu, lu]
        pt = np.r_[pt, lt]
        pc = np.r_[pc, lcost]
    # units whose candidates were all removed (all near territories frozen): nearest non-frozen
    has = np.zeros(n, bool)
    has[pu] = True
    if not has.all():
        miss = np.flatnonzero(~has)
        ok = np.flatnonzero(~P.frozen)
        c = cost_to_centers(P, miss, centers[ok]) if P.cost is None or callable(P.cost) else P.cost[np.ix_(miss, ok)]
        j = c.argmin(1)
        pu = np.r_[pu, miss]
        pt = np.r_[pt, ok[j]]
        pc = np.r_[pc, c[np.arange(len(miss)), j]]
    order = np.lexsort((pt, pu))
    pu, pt, pc = pu[order], pt[order], pc[order]
    cost = P.w[pu] * pc
    cscale = float(cost.mean()) if cost.size and cost.mean() > 0 else 1.0
    c = cost / cscale
    ncol = len(pu)
    # rows: n assignment rows, then balance rows (t, j) for non-frozen territories
    active_t, nb, rows, cols, vals = _balance_entries(P, pu, pt)
    rows, cols, vals, start, ntot = _elastic_columns(rows, cols, vals, n, ncol, nb)
    pen = float(max(c.sum(), 1.0)) * 10.0
    colcost = np.r_[c, np.full(2 * nb, pen)]
    tol = P.tol * tol_scale
    lo = np.r_[np.ones(n), np.tile(1 - tol, len(active_t))]
    hi = np.r_[np.ones(n), np.tile(1 + tol, len(active_t))]

    h, highspy = _highs()
    h.setOptionValue("time_limit", float(max(time_limit, 0.05)))
    _run_colwise(h, highspy, colcost, np.r_[np.ones(ncol), np.full(2 * nb, highspy.kHighsInf)], lo, hi,
                 start, rows, vals)
    status = h.modelStatusToString(h.getModelStatus())
    sol = h.getSolution()
    x = np.asarray(sol.col_value)
    if len(x) != ntot:  # no solution at all (time limit before a basis): nearest centre
        x = np.zeros(ntot)
        first = np.r_[0, np.flatnonzero(np.diff(pu)) + 1]
        x[first] = 1.0
        duals = None
    else:
        rd = np.asarray(sol.row_dual)
        duals = np.zeros((k, m))
        if m and len(rd) == n + nb:
            duals[active_t] = rd[n:].reshape(len(active_t), m)
    xs = x[:ncol].clip(0, 1)
    return TransportSolution(
        x=xs, pu=pu, pt=pt, value=float((cost * xs).sum()), slack=float(x[ncol:].sum()),
        row_dual=duals, status=status, cost_scale=cscale, handle=(h, ncol, active_t),
    )


def _resolve(P: Problem, centers: np.ndarray, prev: TransportSolution, time_limit: float) -> TransportSolution:
    """Same (unit, territory) columns, new centres: change the costs and warm-start."""
    h, ncol, active_t = prev.handle
    pu, pt = prev.pu, prev.pt
    cost = P.w[pu] * pair_cost(P, pu, pt, centers)
    cscale = prev.cost_scale
    h.setOptionValue("time_limit", float(max(time_limit, 0.05)))
    h.changeColsCost(ncol, np.arange(ncol, dtype=np.int32), cost / cscale)
    h.run()
    status = h.modelStatusToString(h.getModelStatus())
    sol = h.getSolution()
    x = np.asarray(sol.col_value)
    n, k, m = P.n, P.k, P.m
    duals = np.zeros((k, m))
    rd = np.asarray(sol.row_dual)
    nb = len(active_t) * m
    if m and len(rd) == n + nb:
        duals[active_t] = rd[n:].reshape(len(active_t), m)
    if len(x) < ncol:
        return TransportSolution(x=prev.x, pu=pu, pt=pt, value=prev.value, slack=prev.slack, row_dual=None,
                                 status=status, cost_scale=cscale, handle=None)
    xs = x[:ncol].clip(0, 1)
    return TransportSolution(
        x=xs, pu=pu, pt=pt, value=float((cost * xs).sum()), slack=float(x[ncol:].sum()),
        row_dual=duals, status=status, cost_scale=cscale, handle=prev.handle,
    )


def round_assignment(P: Problem, sol: TransportSolution) -> np.ndarray:
    """Each unit to its largest fractional territory."""
    order = np.lexsort((-sol.x, sol.pu))
    pu = sol.pu[order]
    first = np.r_[True, pu[1:] != pu[:-1]]
    a = np.empty(P.n, np.int64)
    a[pu[first]] = sol.pt[order][first]
    return a


def fractional_centers(P: Problem, sol: TransportSolution, old: np.ndarray) -> np.ndarray:
    """Weighted means of the fractional assignment (free territories only)."""
    wx = P.w[sol.pu] * sol.x
    S0 = np.bincount(sol.pt, wx, P.k)
    Sx = np.bincount(sol.pt, wx * P.xy[sol.pu, 0], P.k)
    Sy = np.bincount(sol.pt, wx * P.xy[sol.pu, 1], P.k)
    c = old.copy()
    ok = (S0 > 0) & ~P.fixed
    c[ok, 0] = Sx[ok] / S0[ok]
    c[ok, 1] = Sy[ok] / S0[ok]
    return c


def lagrangian_bound(P: Problem, centers: np.ndarray, duals_scaled: np.ndarray | None, cscale: float) -> float:
    """Valid lower bound on Σ w_i d(i, c_t) over assignments to FIXED centres meeting the
    balance tolerances: L(π) = Σ_i min_t [w_i d_it − Σ_m π_mt a_im/T_mt]
    + Σ_mt [π⁺ (1−tol) − π⁻ (1+tol)], maximised over π ∈ {0, ±duals} (any π is valid)."""
    k, m = P.k, P.m
    best = -np.inf
    pis = [np.zeros((k, m))]
    if duals_scaled is not None and m:
        pis += [duals_scaled * cscale, -duals_scaled * cscale]
    for pi in pis:
        const = float((np.maximum(pi, 0) * (1 - P.tol)[None, :]).sum() - (np.maximum(-pi, 0) * (1 + P.tol)[None, :]).sum())
        total = 0.0
        coef = pi / P.T.clip(1e-300)  # (k, m)
        for s in range(0, P.n, 2048):
            idx = np.arange(s, min(P.n, s + 2048))
            c = P.w[idx, None] * cost_to_centers(P, idx, centers)
            if m:
                c = c - P.A[idx] @ coef.T
            total += float(c.min(1).sum())
        best = max(best, total + const)
    return max(best, 0.0)


def disruption_lp(P: Problem, tol_scale: float = 1.0, time_limit: float = 60.0, max_pairs: int = 3_000_000,
                  scope: str = "all", return_x: bool = False):
    """LP relaxation of minimum disruption: min Σ d_i (1 − x_i,cur(i)) subject to the balance
    bounds; locked units and frozen territories stay. When n·k ≤ ``max_pairs`` every unit may
    take every territory, so the value is a valid lower bound for any plan (contiguous or not).
    Otherwise a unit may take the territories within two steps of its current one in the
    territory graph (a reference value, not a proof). Returns (value, status, scope)."""
    n, k = P.n, P.k
    cur = P.current
    if scope == "neighbours":
        src = np.repeat(np.arange(n), np.diff(P.indptr))
        pu = np.r_[np.arange(n), src]
        pt = np.r_[cur, cur[P.indices]]
        key = np.unique(pu * k + pt)
        pu, pt = key // k, key % k
        scope = "current or a graph neighbour's territory (the issue's reference LP)"
    elif scope != "two_steps" and n * k <= max_pairs:
        pu = np.repeat(np.arange(n), k)
        pt = np.tile(np.arange(k), n)
        scope = "all territories (valid lower bound)"
    else:
        src = np.repeat(np.arange(n), np.diff(P.indptr))
        ta, tb = cur[src], cur[P.indices]
        from scipy.sparse import csr_array as _csr

        tg = _csr((np.ones(len(ta)), (ta, tb)), shape=(k, k))
        tg = ((tg + _csr(np.eye(k))) > 0).astype(float)
        t2 = ((tg @ tg) > 0).tocsr()
        ip, ix = t2.indptr, t2.indices
        cnt = np.diff(ip)[cur]
        pu = np.repeat(np.arange(n), cnt)
        pt = np.concatenate([ix[ip[t]:ip[t + 1]] for t in cur]) if n else np.zeros(0, np.int64)
        scope = "current territory or one within two steps of it (reference, not a bound)"
    keep = (pt == cur[pu]) | ((P.lock[pu] < 0) & ~P.frozen[pt] & ~P.frozen[cur[pu]])
    pu, pt = pu[keep], pt[keep]
    c = np.where(pt == cur[pu], 0.0, P.dis[pu])
    dscale = float(P.dis.mean()) if P.dis.mean() > 0 else 1.0
    c = c / dscale
    ncol = len(pu)
    active_t, nb, rows, cols, vals = _balance_entries(P, pu, pt)
    rows = np.concatenate(rows)
    vals = np.concatenate(vals)
    cols = np.concatenate(cols)
    order = np.lexsort((rows, cols))
    rows, cols, vals = rows[order], cols[order], vals[order]
    start = np.searchsorted(cols, np.arange(ncol + 1))
    tol = P.tol * tol_scale
    h, highspy = _highs()
    h.setOptionValue("time_limit", float(max(time_limit, 1.0)))
    _run_colwise(h, highspy, c, np.ones(ncol), np.r_[np.ones(n), np.tile(1 - tol, len(active_t))],
                 np.r_[np.ones(n), np.tile(1 + tol, len(active_t))], start, rows, vals)
    status = h.modelStatusToString(h.getModelStatus())
    if status != "Optimal":
        return (None, status, scope) if not return_x else (None, status, scope, None)
    val = float(h.getInfo().objective_function_value) * dscale
    if return_x:
        x = np.asarray(h.getSolution().col_value)
        return val, status, scope, (pu, pt, x)
    return val, status, scope


def hop_distances(P: Problem, base: np.ndarray, R: int) -> np.ndarray:
    """(n, k) int16: graph steps from each unit to the nearest unit of territory t in ``base``
    (0 inside t), capped at R + 1 (= farther than R). Virtual edges count as links."""
    from scipy.sparse import csr_array

    n, k = P.n, P.k
    G = csr_array((np.ones(len(P.indices), np.float32), P.indices, P.indptr), shape=(n, n))
    D = np.full((n, k), R + 1, np.int16)
    reached = np.zeros((n, k), bool)
    reached[np.arange(n), base] = True
    D[reached] = 0
    front = reached.astype(np.float32)
    for h in range(1, R + 1):
        nxt = (G @ front) > 0
        nxt &= ~reached
        if not nxt.any():
            break
        D[nxt] = h
        reached |= nxt
        front = nxt.astype(np.float32)
    return D


def guide_lp(P: Problem, base: np.ndarray, R: int, tol_scale: float = 1.0, cap: float | None = None,
             time_limit: float = 30.0, D: np.ndarray | None = None, unit_charge: float = 0.02,
             cost_ref: np.ndarray | None = None, integral: bool = False, mip_gap: float = 0.02):
    """Minimum-disruption LP from ``base`` with a geographic (shortest-path) contiguity
    relaxation: unit u may join territory t only if t's region in ``base`` is within R graph
    steps of u, and only as far as one of its neighbours one step closer to t joins t:
    x_ut ≤ Σ_{v ∈ N(u), D_vt = D_ut − 1} x_vt. Cost: disruption of every unit not in its
    ``base`` territory. Balance rows are elastic (heavy penalty), and ``cap`` (disruption
    still allowed) is a row, so the LP is always feasible.

    Returns dict(value (disruption part), slack (Σ relative deviation beyond the
    tolerances), status, pu, pt, x, D (hops per column)) or None (no solution)."""
    n, k = P.n, P.k
    if D is None:
        D = hop_distances(P, base, R)
    ok = D <= R
    pu, pt = np.nonzero(ok)  # sorted by unit, then territory
    keep = (pt == base[pu]) | ((P.lock[pu] < 0) & ~P.frozen[pt] & ~P.frozen[base[pu]])
    lk = P.lock >= 0
    if lk.any():  # locked units: only their lock territory (it holds them in base)
        keep &= ~lk[pu] | (pt == P.lock[pu])
    pu, pt = pu[keep], pt[keep]
    ph = D[pu, pt].astype(np.int64)
    ncol = len(pu)
    dscale = float(P.dis.mean()) if P.dis.mean() > 0 else 1.0
    ref = base if cost_ref is None else cost_ref
    c_true = np.where(pt == ref[pu], 0.0, P.dis[pu]) / dscale
    # tie-break: a small charge per moved unit, so free units (zero disruption) move only
    # where they help (they still serve as corridors)
    c = c_true + np.where(pt == ref[pu], 0.0, unit_charge)
    key = pu * k + pt
    # precedence rows: one per column with hops >= 1
    ip = P.indptr
    deg = np.diff(ip)
    pcol = np.flatnonzero(ph >= 1)
    rep = np.repeat(pcol, deg[pu[pcol]])
    starts = ip[pu[pcol]]
    offs = np.arange(len(rep)) - np.repeat(np.cumsum(deg[pu[pcol]]) - deg[pu[pcol]], deg[pu[pcol]])
    nb = P.indices[np.repeat(starts, deg[pu[pcol]]) + offs]
    good = D[nb, pt[rep]] == ph[rep] - 1
    rep, nb = rep[good], nb[good]
    nkey = nb * k + pt[rep]
    pos = np.searchsorted(key, nkey)
    pos = np.minimum(pos, ncol - 1)
    found = key[pos] == nkey
    rep, pos = rep[found], pos[found]
    prow_of = np.full(ncol, -1, np.int64)
    prow_of[pcol] = np.arange(len(pcol))
    active_t, nb_rows, rows, cols, vals = _balance_entries(P, pu, pt)
    r0 = n + nb_rows  # precedence rows start
    rcap = r0 + len(pcol)  # cap row (optional)
    rows += [r0 + prow_of[pcol], r0 + prow_of[rep]]
    cols += [pcol, pos]
    vals += [np.ones(len(pcol)), -np.ones(len(rep))]
    has_cap = cap is not None and np.isfinite(cap)
    if has_cap:
        nz = np.flatnonzero(c_true > 0)
        rows.append(np.full(len(nz), rcap))
        cols.append(nz)
        vals.append(c_true[nz])
    # elastic slack columns, two per balance row
    pen = 50.0 * max(n, 1)
    if nb_rows:
        br = n + np.arange(nb_rows)
        rows += [br, br]
        cols += [ncol + np.arange(nb_rows), ncol + nb_rows + np.arange(nb_rows)]
        vals += [np.ones(nb_rows), -np.ones(nb_rows)]
    rows = np.concatenate(rows)
    cols = np.concatenate(cols)
    vals = np.concatenate(vals)
    ntot = ncol + 2 * nb_rows
    nrow = rcap + (1 if has_cap else 0)
    order = np.lexsort((rows, cols))
    rows, cols, vals = rows[order], cols[order], vals[order]
    tol = P.tol * tol_scale
    h, highspy = _highs()
    inf = highspy.kHighsInf
    h.setOptionValue("time_limit", float(max(time_limit, 0.5)))
    lp = highspy.HighsLp()
    lp.num_col_ = ntot
    lp.num_row_ = nrow
    lp.col_cost_ = np.r_[c, np.full(2 * nb_rows, pen)]
    lp.col_lower_ = np.zeros(ntot)
    lp.col_upper_ = np.r_[np.ones(ncol), np.full(2 * nb_rows, inf)]
    lo = np.r_[np.ones(n), np.tile(1 - tol, len(active_t)), np.full(len(pcol), -inf)]
    hi = np.r_[np.ones(n), np.tile(1 + tol, len(active_t)), np.zeros(len(pcol))]
    if has_cap:
        lo = np.r_[lo, -inf]
        hi = np.r_[hi, max(cap, 0.0) / dscale]
    lp.row_lower_ = lo
    lp.row_upper_ = hi
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.searchsorted(cols, np.arange(ntot + 1)).astype(np.int32)
    lp.a_matrix_.index_ = rows.astype(np.int32)
    lp.a_matrix_.value_ = vals
    if integral:
        lp.integrality_ = [highspy.HighsVarType.kInteger] * ncol + [highspy.HighsVarType.kContinuous] * (2 * nb_rows)
        h.setOptionValue("mip_rel_gap", float(mip_gap))
    h.passModel(lp)
    h.run()
    status = h.modelStatusToString(h.getModelStatus())
    x = np.asarray(h.getSolution().col_value)
    if integral and len(x) == ntot and status in ("Optimal", "Time limit reached") and \
            h.getInfo().primal_solution_status == 2:
        status = "Optimal" if status == "Optimal" else "Feasible"
    elif status != "Optimal" or len(x) != ntot:
        return None
    xs = x[:ncol].clip(0, 1)
    if integral and status not in ("Optimal", "Feasible"):
        return None
    return {"value": float((c_true * xs).sum() * dscale), "slack": float(x[ncol:].sum()), "status": status,
            "pu": pu, "pt": pt, "x": xs, "hops": ph, "R": R}
