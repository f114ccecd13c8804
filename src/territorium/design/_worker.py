"""One start of the multistart: construction, repair, improvement (or realignment).

A top-level function so it can run in a worker process; it returns plain data.
"""
from __future__ import annotations

import time

import numpy as np

from ._lp import candidates, disruption_lp, fractional_centers, round_assignment, transport_lp
from ._problem import Problem, structurally_infeasible
from ._search import Search, State

__all__ = ["run_start"]


def _seed_centers(P: Problem, rng: np.random.Generator) -> np.ndarray:
    from sklearn.cluster import kmeans_plusplus

    c = P.centers.copy()
    free = np.flatnonzero(~P.fixed)
    if len(free) == 0:
        return c
    w = P.w + 1e-9 * max(P.w.max(), 1.0)
    rs = int(rng.integers(2**31 - 1))
    nf = min(len(free), P.n)
    cc, _ = kmeans_plusplus(P.xy, nf, sample_weight=w, random_state=rs)
    c[free[:nf]] = cc
    # a few weighted Lloyd (k-means) steps: centres follow the weight, fixed ones stay
    from scipy.spatial import cKDTree

    for _ in range(6):
        _, lab = cKDTree(c).query(P.xy)
        S0 = np.bincount(lab, w, P.k)
        ok = (S0 > 0) & ~P.fixed
        c[ok, 0] = np.bincount(lab, w * P.xy[:, 0], P.k)[ok] / S0[ok]
        c[ok, 1] = np.bincount(lab, w * P.xy[:, 1], P.k)[ok] / S0[ok]
    return c


def _cancelled(cancel) -> bool:
    return cancel is not None and bool(cancel() if callable(cancel) else cancel.is_set())


def _fill_empty(P: Problem, a: np.ndarray, c: np.ndarray) -> None:
    """Give every empty territory the free unit nearest its centre (taken from a territory
    that keeps at least one unit)."""
    size = np.bincount(a, minlength=P.k)
    for t in np.flatnonzero(size == 0):
        if P.frozen[t]:
            continue
        d = ((P.xy - c[t]) ** 2).sum(1)
        ok = (P.lock < 0) & (size[a] > 1)
        if not ok.any():
            continue
        d[~ok] = np.inf
        u = int(d.argmin())
        size[a[u]] -= 1
        a[u] = t
        size[t] += 1


def run_start(P: Problem, index: int, seed_seq, deadline_wall: float, budget: float,
              mode: str = "design", L: int = 12, lloyd: int = 3, cancel=None, progress=None) -> dict:
    t_start = time.time()
    deadline_wall = min(deadline_wall, t_start + budget)
    mono_deadline = time.monotonic() + max(0.0, deadline_wall - time.time())
    rng = np.random.default_rng(seed_seq)
    relax = None
    duals = None
    cscale = 1.0
    lp_status = None
    if mode == "realign":
        c0 = np.where(np.isnan(P.centers), 0.0, P.centers)
        best = None
        plan = (("greedy", 0.1), ("flow", 0.1), ("lp", 0.1), ("greedy", 0.03), ("greedy", 0.3))
        rngs = seed_seq.spawn(len(plan))
        for vi, (variant, beta) in enumerate(plan):
            if variant == "lp":
                if P.m == 0 or time.monotonic() > mono_deadline:
                    break
                left = deadline_wall - time.time()
                val, status, _, sol = disruption_lp(P, time_limit=max(0.5, 0.5 * left), scope="neighbours",
                                                    return_x=True)
                if sol is None:
                    continue
                pu, pt, x = sol
                a = P.current.copy()
                order = np.lexsort((-x, pu))
                first = np.r_[True, pu[order][1:] != pu[order][:-1]]
                a[pu[order][first]] = pt[order][first]
            else:
                a = P.current.copy()
                if best is not None and time.monotonic() > mono_deadline:
                    break
            st_v = State(P, a, c0)
            st_v.sync_centers()
            sr = Search(st_v, np.random.default_rng(rngs[vi]), mono_deadline, cancel, progress)
            if variant == "lp":
                for u in np.flatnonzero(st_v.a != P.current):
                    sr.reason[int(u)] = ("lp", int(P.current[u]), int(st_v.a[u]))
                sr.repair()
            sr.realign(beta=beta, flow_first=(variant == "flow"))
            st_v.sync_centers()
            moved = float(P.dis[st_v.a != P.current].sum())
            if variant == "lp" and moved > P.max_dis + 1e-9:
                continue  # the LP start broke the disruption cap
            key = (round(st_v.violation(P.tol, sq=False), 9), moved)
            if best is None or key < best[0]:
                best = (key, st_v, sr)
        _, st, srch = best
    else:
        c = _seed_centers(P, rng)
        sol = None
        lp_time = 0.0
        L_cur = L
        for it in range(max(1, lloyd)):
            left = deadline_wall - time.time()
            if it > 0 and (left < 3 * lp_time or _cancelled(cancel)):
                break
            t_lp = time.time()
            # warm re-solve with new costs while the candidate columns are enough (no slack
            # used); otherwise rebuild with twice as many candidates per unit
            reuse = sol if (sol is not None and sol.slack <= 1e-7) else None
            if sol is not None and sol.slack > 1e-7:
                L_cur = min(2 * L_cur, 48, P.k)
            sol = transport_lp(P, c, L=L_cur, time_limit=max(0.1, 0.5 * left), prev=reuse)
            lp_time = time.time() - t_lp
            c_new = fractional_centers(P, sol, c)
            if P.fixed.all() or np.allclose(c_new, c, atol=1e-3):
                break
            if it < lloyd - 1:
                c = c_new
        relax = sol.value if (sol.status == "Optimal" and sol.slack <= 1e-7) else None
        duals = sol.row_dual
        cscale = sol.cost_scale
        lp_status = sol.status
        lp_centers = c.copy()
        if sol.status == "Optimal":
            a = round_assignment(P, sol)
        else:  # LP cut short: nearest candidate centre (the search balances afterwards)
            tt, _ = candidates(P, c, P.k)
            ok = ~P.frozen[tt]
            a = tt[np.arange(P.n), ok.argmax(1)]
            lk = P.lock >= 0
            a[lk] = P.lock[lk]
        _fill_empty(P, a, c)
        st = State(P, a, c)
        st.sync_centers()
        srch = Search(st, rng, mono_deadline, cancel, progress)
        srch.repair()
        st.sync_centers()
        srch.improve()
        st.sync_centers()
        if st.violation(P.tol) > 0 and not structurally_infeasible(P):
            srch.iterated()
            st.sync_centers()
        c = lp_centers
    tolv = P.tol
    viol = st.violation(tolv, sq=False)
    pieces_bad = 0
    if P.indptr is not None:
        lab = st.components()
        ncomp = lab.max() + 1
        terr = np.zeros(ncomp, np.int64)
        terr[lab] = st.a
        pieces_bad = int((np.bincount(terr, minlength=P.k) > 1).sum())
    return {
        "index": index,
        "assignment": st.a.copy(),
        "centers": st.c.copy(),
        "objective": st.objective(),
        "violation": viol,
        "pieces_bad": pieces_bad,
        "relaxation": relax,
        "relax_centers": c if mode != "realign" else None,
        "duals": duals,
        "cost_scale": cscale,
        "lp_status": lp_status,
        "reasons": srch.reason,
        "stopped": srch.stopped,
        "n_moves": srch.n_moves,
        "time": time.time() - t_start,
    }
