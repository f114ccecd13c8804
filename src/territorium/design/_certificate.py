"""Proofs that no plan meets the tolerances, and valid lower bounds on the worst excess.

Every bound here holds for every plan whose territories are each one connected piece (and
that keeps the locks and frozen territories); the excess of a plan is
``max over (territory, measure) of |total / target − 1| − tolerance`` (0 when every
tolerance holds), as a fraction of the target. A bound above zero is a proof that no such
plan exists; :class:`Certificate` says which units, which measure and which region.

Four arguments, each a relaxation of the design problem:

* **unit** (granularity): the territory holding unit ``u`` is ``u`` alone or contains ``u``
  and one of its neighbours (it is one piece); adding units never lowers a total
  (:func:`territorium.design._problem.violation_lower_bound`).
* **region** (whole territories): a territory lies inside one connected component of the
  unit graph (a region cut off by water, with no island link), so a component's totals
  must be shared by whole territories: the ones anchored there (home / locked units) plus
  any number of the free ones. A small MIP over "territory t lives in component C"
  (bisection on the excess ``s``) finds the least excess compatible with that.
* **region behind one link** (:mod:`territorium.design._bridge`): a region that reaches the
  rest of the map through one edge is covered by whole territories inside it plus one piece
  (with the link's end) of at most one territory that crosses; a small MIP per number of
  inside territories gives the least excess (certificate kind ``region``).
* **lp** (contiguity relaxed): the transport LP in which unit ``u`` may join territory ``t``
  only if they are in the same component and, when ``t`` has an anchor unit ``r`` (rep home
  or lock), some path from ``u`` to ``r`` stays below ``t``'s upper bound on every measure
  (a territory holding both holds such a path; the cheapest path per measure is a
  node-weighted Dijkstra). It minimises the worst excess ``s`` with fractional units; its
  optimum is a valid lower bound, and when it is positive the balance rows with non-zero
  duals name the territories and the measure that cannot be met together.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_array
from scipy.sparse.csgraph import connected_components, dijkstra

from ._bridge import bridge_bound
from ._problem import Problem, territory_labels, violation_lower_bound

__all__ = ["Certificate", "ViolationBound", "violation_bound", "region_bound", "relaxation_bound",
           "unit_bound"]

#: the LP bound is skipped above this many (unit, territory) columns
LP_MAX_PAIRS = 3_000_000


@dataclass(frozen=True)
class Certificate:
    """Why no contiguous plan meets the tolerances.

    Attributes
    ----------
    kind : str
        ``unit``, ``region`` or ``lp`` (see the module docstring).
    bound : float
        A valid lower bound on the worst excess over a tolerance (fraction of target), > 0.
    measure : str
        The measure that cannot be met.
    units : tuple of int
        Unit positions the argument is about (the unit, the cut-off region, or the units
        that may join the binding territories).
    territories : tuple of int
        Territories the argument is about.
    text : str
        The argument in a planner's words (unit ids, territory labels, figures).
    """

    kind: str
    bound: float
    measure: str
    units: tuple
    territories: tuple
    text: str


@dataclass(frozen=True)
class ViolationBound:
    """The best valid lower bound on the worst excess found, with its certificate (if > 0)."""

    lower_bound: float
    method: str
    certificate: Certificate | None
    notes: tuple = ()


def _edges(P: Problem):
    src = np.repeat(np.arange(P.n), np.diff(P.indptr))
    return src, P.indices


def _components(P: Problem) -> np.ndarray:
    src, dst = _edges(P)
    g = csr_array((np.ones(len(src)), (src, dst)), shape=(P.n, P.n))
    return connected_components(g, directed=False)[1]


def _anchors(P: Problem) -> list[np.ndarray]:
    """Units that must belong to each territory (home, locks; all units of a frozen one)."""
    out = []
    for t in range(P.k):
        if P.frozen[t] and P.current is not None:
            out.append(np.flatnonzero(P.current == t))
        else:
            out.append(np.flatnonzero(P.lock == t))
    return out


def _applicable(P: Problem) -> bool:
    return P.indptr is not None and P.contiguity and P.m > 0 and P.n > 0


def unit_bound(P: Problem, ids) -> tuple[float, Certificate | None]:
    """The granularity argument (a unit alone, or with any one neighbour)."""
    if not _applicable(P):
        return 0.0, None
    b, u = violation_lower_bound(P)
    if b <= 0:
        return 0.0, None
    Tm = P.T[~P.frozen].mean(0)
    alone = np.maximum((1 - P.tol) - P.A[u] / Tm, P.A[u] / Tm - (1 + P.tol))
    j = int(np.argmax(alone))
    text = (f"unit {ids[u]}: a territory is one piece, so it holds {ids[u]} alone or with at least one of its "
            f"neighbours; alone it is {P.A[u, j] / Tm[j] - 1:+.1%} of a territory's {P.measures[j]} target, and "
            f"every neighbour pushes some measure over its upper bound: every plan misses a tolerance by at "
            f"least {b:.2%} of target")
    return float(b), Certificate("unit", float(b), P.measures[j], (int(u),), (), text)


def region_bound(P: Problem, ids, lab: np.ndarray | None = None,
                 time_limit: float = 10.0) -> tuple[float, Certificate | None]:
    """Whole territories per connected component (regions with no link to the rest).

    A placement MIP stopped by the clock counts as feasible, which only lowers the bound."""
    deadline = time.time() + time_limit
    if not _applicable(P):
        return 0.0, None
    lab = _components(P) if lab is None else lab
    nc = int(lab.max()) + 1
    if nc < 2:
        return 0.0, None
    anchors = _anchors(P)
    home = np.full(P.k, -1, np.int64)
    for t, an in enumerate(anchors):
        comps = np.unique(lab[an])
        if len(comps) > 1:  # anchors in two regions: no plan is one piece (reported elsewhere)
            return 0.0, None
        if len(comps):
            home[t] = int(comps[0])
    aC = np.zeros((nc, P.m))
    np.add.at(aC, lab, P.A)
    free = np.flatnonzero(home < 0)

    def feasible(s: float) -> bool:
        lo = np.clip(1 - P.tol - s, 0, None)[None, :] * P.T
        hi = (1 + P.tol + s)[None, :] * P.T
        left = deadline - time.time()
        if left <= 0.05:
            return True  # out of time: assume feasible (the bound stays valid, only weaker)
        return _placement_feasible(lo, hi, home, free, aC, min(5.0, left))

    if feasible(0.0):
        return 0.0, None
    top = 1.0
    while top < 1e6 and not feasible(top):
        top *= 4
    lo_s, hi_s = 0.0, top
    for _ in range(30):
        mid = 0.5 * (lo_s + hi_s)
        if feasible(mid):
            hi_s = mid
        else:
            lo_s = mid
        if hi_s - lo_s < 1e-5:
            break
    b = lo_s
    if b <= 1e-6:
        return 0.0, None
    # name the tightest region: the one whose totals fit worst with whole territories (its
    # anchored ones, or the best whole number of average free ones when none is anchored)
    labels = territory_labels(P.k)
    Tbar = P.T[free].mean(0) if len(free) else P.T.mean(0)
    best = None
    for c in range(nc):
        ts = np.flatnonzero(home == c)
        units_c = np.flatnonzero(lab == c)
        for j in range(P.m):
            share = aC[c, j] / max(P.A[:, j].sum(), 1e-300)
            Tsum = P.T[ts, j].sum()
            if len(free):
                score = min(abs(aC[c, j] / (Tsum + q * Tbar[j]) - 1) for q in range(0 if len(ts) else 1, len(free) + 1))
            else:
                score = abs(aC[c, j] / Tsum - 1) if Tsum > 0 else np.inf
            if best is None or score > best[0]:
                best = (score, c, j, ts, units_c, share)
    _, c, j, ts, units_c, share = best
    who = ", ".join(str(ids[u]) for u in units_c[:5]) + (", ..." if len(units_c) > 5 else "")
    terr = ", ".join(labels[t] for t in ts[:10]) if len(ts) else "no territory anchored there"
    text = (f"region of {len(units_c)} unit(s) ({who}) with no link to the rest of the map holds "
            f"{share:.1%} of {P.measures[j]}; a territory is one piece, so the region is covered by whole "
            f"territories ({terr}{' plus free ones' if len(free) else ''}), and no choice of them can take "
            f"its totals within the tolerances: every plan misses a tolerance by at least {b:.2%} of target")
    return float(b), Certificate("region", float(b), P.measures[j], tuple(int(u) for u in units_c),
                                 tuple(int(t) for t in ts), text)


def _placement_feasible(lo, hi, home, free, aC, time_limit: float = 5.0) -> bool:
    """Can whole territories (anchored ones fixed, free ones placed anywhere) cover every
    component within [Σ lo, Σ hi] on every measure? Exact for no free territory; a small
    MIP (binary placement) otherwise."""
    nc, m = aC.shape
    base_lo = np.zeros((nc, m))
    base_hi = np.zeros((nc, m))
    anch = home >= 0
    np.add.at(base_lo, home[anch], lo[anch])
    np.add.at(base_hi, home[anch], hi[anch])
    n_anch = np.bincount(home[anch], minlength=nc)
    if len(free) == 0:
        ok = (base_lo <= aC + 1e-9 * np.abs(aC).max()).all() and (aC <= base_hi + 1e-9 * np.abs(aC).max()).all()
        return bool(ok and (n_anch > 0).all())
    from ._lp import _highs

    h, highspy = _highs()
    inf = highspy.kHighsInf
    nf = len(free)
    nvar = nf * nc  # y[f, c]
    h.addVars(nvar, np.zeros(nvar), np.ones(nvar))
    h.changeColsIntegrality(nvar, np.arange(nvar, dtype=np.int32), np.ones(nvar, np.uint8))
    col = np.arange(nvar).reshape(nf, nc)
    for i in range(nf):  # each free territory in exactly one component
        h.addRow(1.0, 1.0, nc, col[i].astype(np.int32), np.ones(nc))
    for c in range(nc):
        idx = col[:, c].astype(np.int32)
        if n_anch[c] == 0:  # a component with units needs a territory
            h.addRow(1.0, inf, nf, idx, np.ones(nf))
        for j in range(m):
            # Σ_f y lo_f ≤ a_C − base_lo ;  Σ_f y hi_f ≥ a_C − base_hi
            h.addRow(-inf, float(aC[c, j] - base_lo[c, j]), nf, idx, lo[free, j].astype(float))
            h.addRow(float(aC[c, j] - base_hi[c, j]), inf, nf, idx, hi[free, j].astype(float))
    h.setOptionValue("time_limit", float(time_limit))
    h.run()
    st = h.modelStatusToString(h.getModelStatus())
    return st != "Infeasible"


def _path_excess(P: Problem, anchors: list[np.ndarray], lab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, k) arrays: a lower bound on the excess of territory t in any contiguous plan that puts
    unit u in t (inf when u and t's anchor are in different components, 0 without anchor),
    and the measure that gives it.

    t holds its anchor r and u, hence a path between them, so its total of measure j is at
    least the cheapest node-weighted path from r to u (both ends included)."""
    n, k = P.n, P.k
    E = np.zeros((n, k))
    J = np.zeros((n, k), np.int8)  # the measure that gives E
    src, dst = _edges(P)
    rooted = [t for t in range(k) if len(anchors[t])]
    for t in rooted:
        E[lab != lab[anchors[t][0]], t] = np.inf
    if not rooted:
        return E, J
    roots = np.array([anchors[t][0] for t in rooted])
    uniq = np.unique(roots)
    row = {int(r): i for i, r in enumerate(uniq.tolist())}
    for j in range(P.m):
        scale = max(float(P.T[:, j].max()), 1e-300)
        g = csr_array((P.A[dst, j] + 1e-12 * scale, (src, dst)), shape=(n, n))
        D = dijkstra(g, directed=True, indices=uniq)
        for t, r in zip(rooted, roots.tolist()):
            path = D[row[r]] + P.A[r, j]
            e = np.where(np.isfinite(path), path / max(P.T[t, j], 1e-300) - 1 - P.tol[j] - 1e-9, np.inf)
            J[e > E[:, t], t] = j
            E[:, t] = np.maximum(E[:, t], e)
    E[:, rooted] = np.maximum(E[:, rooted], 0.0)
    for t in rooted:
        E[anchors[t], t] = 0.0
    return E, J


def _lp_min_excess(P: Problem, ok: np.ndarray, time_limit: float):
    """min s over fractional assignments of units to allowed pairs with every (territory,
    measure) within (1 ± (tol + s)) · target. Returns (s or None, status, duals per (j, t))."""
    from ._lp import _highs

    n, k, m = P.n, P.k, P.m
    pu, pt = np.nonzero(ok)
    ncol = len(pu)
    act = np.flatnonzero(~P.frozen)
    na = len(act)
    h, highspy = _highs()
    inf = highspy.kHighsInf
    h.setOptionValue("time_limit", float(max(time_limit, 0.2)))
    # interior point without crossover: the min-max LP is very degenerate for the simplex
    # (demo, 214k columns: 6.6 s instead of over 60 s); a bound needs the value, not a vertex
    h.setOptionValue("solver", "ipm")
    h.setOptionValue("run_crossover", "off")
    h.addVars(ncol + 1, np.zeros(ncol + 1), np.r_[np.ones(ncol), inf])
    h.changeColCost(ncol, 1.0)
    A = csr_array((np.ones(ncol), (pu, np.arange(ncol))), shape=(n, ncol + 1))
    h.addRows(n, np.ones(n), np.ones(n), A.nnz, A.indptr.astype(np.int32), A.indices.astype(np.int32), A.data)
    pos = np.full(k, -1, np.int64)
    pos[act] = np.arange(na)
    sel = pos[pt] >= 0
    cols = np.flatnonzero(sel)
    ridx = pos[pt[cols]]
    row_of = {}
    for j in range(m):
        v = P.A[pu[cols], j] / P.T[pt[cols], j].clip(1e-300)
        for sign, lo, hi in ((1.0, 1 - P.tol[j], inf), (-1.0, -inf, 1 + P.tol[j])):
            M = csr_array((np.r_[v, np.full(na, sign)], (np.r_[ridx, np.arange(na)], np.r_[cols, np.full(na, ncol)])),
                          shape=(na, ncol + 1))
            row_of[(j, sign)] = h.getNumRow()
            h.addRows(na, np.full(na, lo), np.full(na, hi), M.nnz, M.indptr.astype(np.int32),
                      M.indices.astype(np.int32), M.data)
    h.run()
    st = h.modelStatusToString(h.getModelStatus())
    if st == "Infeasible":  # a unit with no allowed territory
        return np.inf, st, None
    if st != "Optimal":
        return None, st, None
    sol = h.getSolution()
    s = float(np.asarray(sol.col_value)[ncol])
    rd = np.abs(np.asarray(sol.row_dual))
    duals = np.zeros((m, k))
    for (j, sign), r0 in row_of.items():
        duals[j, act] += rd[r0:r0 + na]
    return max(s - 1e-6, 0.0), st, duals  # an interior-point value: keep it below the optimum


def relaxation_bound(P: Problem, ids, time_limit: float = 10.0,
                     lab: np.ndarray | None = None) -> tuple[float | None, Certificate | None, str]:
    """Contiguity relaxed to paths from the anchors: a per-unit path bound, then the
    transport LP minimising the worst excess over the pairs that bound allows.

    Any plan with worst excess ``E`` puts each unit ``u`` in a territory ``t`` whose path
    excess ``e_t(u) ≤ E``, so ``E ≥ s0 = max_u min_t e_t(u)``, and ``E ≥ s(E)``, the LP
    optimum over the pairs with ``e ≤ E``. ``s(θ)`` falls as ``θ`` grows, so the set of
    possible ``E`` is an interval ``[E*, ∞)``; the LP is solved at ``θ = s0`` and, if its
    optimum is above ``θ``, bisected while time allows. The lower end is returned.

    Returns ``(bound or None when not computed, certificate or None, method)``."""
    if not _applicable(P):
        return None, None, "no graph or no measure"
    n, k = P.n, P.k
    if n * k > LP_MAX_PAIRS:
        return None, None, f"LP bound skipped ({n}×{k} pairs > {LP_MAX_PAIRS:,})"
    t0 = time.time()
    lab = _components(P) if lab is None else lab
    anchors = _anchors(P)
    E, J = _path_excess(P, anchors, lab)
    lk = P.lock >= 0
    E[lk] = np.inf
    E[np.flatnonzero(lk), P.lock[lk]] = 0.0
    if P.current is not None and P.frozen.any():
        inf_ = P.frozen[P.current]
        E[inf_] = np.inf
        E[np.flatnonzero(inf_), P.current[inf_]] = 0.0
        E[np.ix_(~inf_, P.frozen)] = np.inf
    per_unit = E.min(1)
    u0 = int(np.argmax(per_unit))
    s0 = float(per_unit[u0])
    labels = territory_labels(k)
    method = "paths from the anchors + transport LP (contiguity relaxed)"
    if not np.isfinite(s0):
        return None, None, f"unit {ids[u0]} can join no territory (anchors cut off from it)"
    lo_e, hi_e = s0, None
    # HiGHS keeps its own limit; building the model and reading duals come on top (about
    # 15 % of an LP's time on the demo), so its limit is 85 % of what is left
    s, st, duals = _lp_min_excess(P, E <= s0, 0.85 * (time_limit - (time.time() - t0)))
    if s is None:
        return (s0 if s0 > 0 else None), _path_cert(P, ids, E, J, u0, s0, labels) if s0 > 0 else None, \
            f"LP not solved ({st}); path bound only"
    if s > s0 + 1e-7:
        hi_e = s
        while time.time() - t0 < 0.8 * time_limit and hi_e - lo_e > max(1e-4, 0.02 * hi_e):
            mid = 0.5 * (lo_e + hi_e)
            sm, _, dm = _lp_min_excess(P, E <= mid, 0.85 * (time_limit - (time.time() - t0)))
            if sm is None:
                break
            if sm <= mid:
                hi_e = mid
            else:
                lo_e = mid
                duals = dm if dm is not None else duals
    b = lo_e
    if b <= 1e-6:
        return 0.0, None, method
    if hi_e is None:  # the path bound alone
        return b, _path_cert(P, ids, E, J, u0, b, labels), method
    j = int(np.argmax(duals.sum(1))) if duals is not None else 0
    dj = duals[j] if duals is not None else np.zeros(k)
    terr = np.flatnonzero(dj > 1e-9 * max(dj.max(), 1e-300)).tolist()
    names = ", ".join(labels[t] for t in terr[:12]) + (", ..." if len(terr) > 12 else "")
    units = np.flatnonzero((E[:, terr] <= b).any(1)) if terr else np.zeros(0, np.int64)
    text = (f"even with fractional units and contiguity relaxed (a unit joins a territory only along a path "
            f"from the territory's home or locked units), {P.measures[j]} cannot be balanced in {names}: "
            f"every plan misses a tolerance by at least {b:.2%} of target")
    return b, Certificate("lp", b, P.measures[j], tuple(int(u) for u in units), tuple(int(t) for t in terr), text), \
        method


def _path_cert(P: Problem, ids, E, J, u, b, labels) -> Certificate:
    t = int(np.argmin(E[u]))
    j = int(J[u, t])
    text = (f"unit {ids[u]} is too far from every territory's home or locked units: the cheapest path from "
            f"any of them to it (in the nearest, {labels[t]}) already holds more {P.measures[j]} than the upper "
            f"bound, so every plan misses a tolerance by at least {b:.2%} of target")
    return Certificate("lp", float(b), P.measures[j], (int(u),), (t,), text)


#: seconds the bridge bound's MIPs may take in all when the time limit is already spent (each
#: is a few hundred binaries: Alaska's regions at k = 500 take 0.1-0.3 s each)
CHEAP_BRIDGE_TIME = 2.0

#: seconds the region bound's placement MIP may take when the time limit is already spent
#: (it is tiny: one binary per free territory and component; one component needs none)
CHEAP_REGION_TIME = 1.0


def violation_bound(P: Problem, ids, time_limit: float = 10.0, lp: bool = True,
                    skipped: str = "no time left") -> ViolationBound:
    """The largest of the unit, region and LP bounds, with its certificate.

    The unit bound (O(edges)) and the region bound (connected components, and a placement
    MIP only when there are several) are always computed, the region bound with at least
    ``CHEAP_REGION_TIME`` seconds; only the LP bound, which can take many seconds, is left out
    when ``lp`` is false or less than 0.2 s is left (its note then says ``skipped``)."""
    notes = []
    if not _applicable(P):
        return ViolationBound(0.0, "none", None, ("no graph or no balance measure",))
    t0 = time.time()
    lab = _components(P)
    cands = []
    b, c = unit_bound(P, ids)
    cands.append((b, "unit alone or with one neighbour", c))
    b, c = region_bound(P, ids, lab, time_limit=max(0.5 * time_limit, CHEAP_REGION_TIME))
    cands.append((b, "whole territories per region", c))
    b, c = bridge_bound(P, ids, time_limit=max(0.3 * time_limit, CHEAP_BRIDGE_TIME))
    cands.append((b, "regions behind one link", c))
    left = time_limit - (time.time() - t0)
    if lp and left > 0.2:
        b, c, note = relaxation_bound(P, ids, left, lab)
        if b is None:
            notes.append(note)
        else:
            cands.append((b, note, c))
    else:
        notes.append(f"LP bound skipped ({skipped})")
    b, method, cert = max(cands, key=lambda x: x[0])
    if b <= 0:
        return ViolationBound(0.0, ", ".join(x[1] for x in cands), None, tuple(notes))
    return ViolationBound(float(b), method, cert, tuple(notes))
