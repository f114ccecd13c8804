"""One start of the multistart: construction, repair, improvement (or realignment).

A top-level function so it can run in a worker process; it returns plain data.
"""
from __future__ import annotations

import time

import numpy as np

from ._anneal import anneal
from ._bisect import applicable as bisect_applicable, bisect_plan
from ._compact import anneal_feasible, applicable as compact_applicable, recombine_feasible
from ._homes import applicable as homes_applicable, homes_start
from ._lp import candidates, disruption_lp, fractional_centers, guide_lp, hop_distances, round_assignment, transport_lp
from ._problem import Problem, structurally_infeasible
from ._recom import recombine, recombine_disruption
from ._repair import local_repair
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


def _spread_by_mass(P: Problem, c: np.ndarray, fill: np.ndarray, low: float = 0.5) -> int:
    """Move centres that the transport LP cannot fill into the heaviest cells.

    k-means places centres by weight × spread, so a large sparse region (Alaska) gets
    several centres; their nearest units hold a fraction of a territory's target and the
    LP (each unit sees only its nearest centres) leaves them nearly empty, which no boundary
    move repairs later. Each free centre with ``fill`` (LP mass of the first balance measure
    / target) below ``low`` moves into the cell of one of the most over-filled territories,
    which is split in two by a weighted 2-means of the units nearest its centre. Returns the
    number of centres moved (``c`` is changed in place)."""
    from scipy.spatial import cKDTree

    if P.m == 0 or P.k < 2:
        return 0
    free = ~P.fixed
    stuck = np.flatnonzero(free & (fill < low))
    if len(stuck) == 0:
        return 0
    stuck = stuck[np.argsort(fill[stuck], kind="stable")]
    heavy = [int(h) for h in np.argsort(-fill, kind="stable") if fill[h] >= low and h not in set(stuck)]
    _, lab = cKDTree(c).query(P.xy)
    mass = P.A[:, 0]
    moved = 0
    for t, h in zip(stuck, heavy):
        pts = np.flatnonzero(lab == h)
        if len(pts) < 2:
            continue
        xy, wt = P.xy[pts], mass[pts] + 1e-12
        mu = np.average(xy, axis=0, weights=wt)
        cov = np.cov((xy - mu).T, aweights=wt)
        vals, vecs = np.linalg.eigh(np.atleast_2d(cov))
        axis = vecs[:, -1] * np.sqrt(max(vals[-1], 1e-12))
        two = np.array([mu - 0.5 * axis, mu + 0.5 * axis])
        for _ in range(8):  # weighted 2-means inside the heavy cell
            side = ((xy[:, None, :] - two[None]) ** 2).sum(-1).argmin(1)
            for j in (0, 1):
                if wt[side == j].sum() > 0:
                    two[j] = np.average(xy[side == j], axis=0, weights=wt[side == j])
        if free[h]:
            c[h], c[t] = two[0], two[1]
        else:  # a fixed centre stays; the moved one takes the half away from it
            c[t] = two[int(((two - c[h]) ** 2).sum(1).argmax())]
        moved += 1
    return moved


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


def _sub_deadline(srch, share: float, fn, *args, **kw):
    """Run ``fn`` with the search deadline moved to ``share`` of the time left (the real
    deadline and stop reason are restored afterwards unless the real deadline passed)."""
    real = srch.deadline
    if share < 1.0:
        srch.deadline = time.monotonic() + share * max(0.0, real - time.monotonic())
    try:
        return fn(*args, **kw)
    finally:
        srch.deadline = real
        if srch.stopped == "time_limit" and time.monotonic() < real:
            srch.stopped = "converged"


def _improve_keeping_feasible(srch) -> None:
    """The penalised descent on a plan that meets every tolerance; when it ends outside one,
    or less compact (it aims at the inner margin, 97 % of each tolerance, and pays for it in
    compactness when the plan sits between the two), the plan goes back to what it was."""
    st, P = srch.s, srch.P
    a0, reason0, f0 = st.a.copy(), dict(srch.reason), st.objective()
    srch.improve()
    st.sync_centers()
    if st.violation(P.tol) > 0 or st.objective() > f0 * (1 + 1e-9):
        srch._restore(a0, reason0)


def _lp_start(P: Problem, c: np.ndarray, L: int, lloyd: int, deadline_wall: float, cancel):
    """The balanced transport LP around the seeded centres (Lloyd rounds, more candidates or
    spread centres while it needs slack), rounded: (assignment, centres, relaxation value or
    None, row duals, cost scale, LP status)."""
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
        if sol.slack > 1e-7 and P.m and it < lloyd - 1:
            # centres the LP cannot fill (a sparse corner) move into over-full cells
            fill = np.bincount(sol.pt, P.A[sol.pu, 0] * sol.x, P.k) / P.T[:, 0].clip(1e-300)
            if _spread_by_mass(P, c_new, fill):
                c = c_new
                continue
        if sol.slack > 1e-7 and P.fixed.all() and L_cur < min(48, P.k) and it < lloyd - 1:
            # fixed centres (rep homes) do not move, so only more candidate territories per
            # unit can take the slack away (demo: 12 nearest homes leave the LP 10.9 target
            # shares short; all 40 balance it): solve again with twice as many
            continue
        if P.fixed.all() or np.allclose(c_new, c, atol=1e-3):
            break
        if it < lloyd - 1:
            c = c_new
    relax = sol.value if (sol.status == "Optimal" and sol.slack <= 1e-7) else None
    duals = sol.row_dual
    cscale = sol.cost_scale
    lp_status = sol.status
    if sol.status == "Optimal":
        a = round_assignment(P, sol)
    else:  # LP cut short: nearest candidate centre (the search balances afterwards)
        tt, _ = candidates(P, c, P.k)
        ok = ~P.frozen[tt]
        a = tt[np.arange(P.n), ok.argmax(1)]
        lk = P.lock >= 0
        a[lk] = P.lock[lk]
    _fill_empty(P, a, c)
    return a, c, relax, duals, cscale, lp_status


def _repair_round(P: Problem, st: State, end: float, cancel, log: list, levels=None) -> None:
    """One round of the exact local repair until ``end`` (monotonic), applied to ``st``."""
    if st.violation(P.tol) <= 0 or _cancelled(cancel) or end - time.monotonic() < 1.0:
        return
    b, info = local_repair(P, st.a, end, levels=levels)
    info.pop("log", None)
    log.append(info)
    for u in np.flatnonzero(b != st.a).tolist():
        st.move(u, int(b[u]))
    st.recount()
    st.sync_centers()


def run_start(P: Problem, index: int, seed_seq, deadline_wall: float, budget: float,
              mode: str = "design", L: int = 12, lloyd: int = 3, cancel=None, progress=None,
              polish: int = 0) -> dict:
    t_start = time.time()
    deadline_wall = min(deadline_wall, t_start + budget)
    mono_deadline = time.monotonic() + max(0.0, deadline_wall - time.time())
    rng = np.random.default_rng(seed_seq)
    relax = None
    anneal_info = None
    compact_info = None
    duals = None
    cscale = 1.0
    lp_status = None
    bisected = False
    if mode == "realign":
        st, srch, realign_info = _realign(P, seed_seq, deadline_wall, mono_deadline, cancel, progress,
                                          polish=REALIGN_POLISH_ROUNDS if polish else 0)
    else:
        c = _seed_centers(P, rng)
        bis = P.m > 1 and BISECT_EVERY and index % BISECT_EVERY == 0 and bisect_applicable(P)
        anchored = P.m > 1 and homes_applicable(P)  # every territory at its home, several measures
        quick = bis and P.n > BISECT_MAX_N
        ab = None
        if quick:
            # a large map with several measures: the quick bisection (METIS and a few sweeps
            # per large region, no retries) instead of the transport LP, which alone took 110 s
            # of a 280 s start on all-US ZIPs with k=500 and rounded to a plan 19x off
            ab = bisect_plan(P, rng, stop=lambda: _cancelled(cancel) or time.monotonic() > mono_deadline,
                             quick=True)
        if ab is not None:
            a = ab
            bisected = True
            S0 = np.bincount(a, P.w, P.k)
            ok = S0 > 0
            c[ok, 0] = np.bincount(a, P.w * P.xy[:, 0], P.k)[ok] / S0[ok]
            c[ok, 1] = np.bincount(a, P.w * P.xy[:, 1], P.k)[ok] / S0[ok]
            lp_centers = c.copy()
            lp_status = "skipped (quick bisection start)"
        else:
            a, c, relax, duals, cscale, lp_status = _lp_start(P, c, L, lloyd, deadline_wall, cancel)
            lp_centers = c.copy()
        if bis and not quick:
            # several measures: multi-measure recursive bisection builds the start (every
            # territory gets its share of every measure top-down; see design/_bisect.py)
            ab = bisect_plan(P, rng, deadline=time.monotonic() + BISECT_SHARE * max(0.0, deadline_wall - time.time()),
                             stop=lambda: _cancelled(cancel) or time.monotonic() > mono_deadline)
            if ab is not None:  # None: cancelled or out of time (the LP-rounded plan stays)
                a = ab
                bisected = True
        if anchored and HOMES_EVERY and index % HOMES_EVERY == 0:
            # rep homes with several measures: the transport LP with shortest-path contiguity
            # rows around each home, grown into one-piece territories (design/_homes.py)
            hs = homes_start(P, time_limit=HOMES_SHARE * max(0.0, deadline_wall - time.time()))
            if hs is not None:
                a = hs[0]
        st = State(P, a, c)
        st.sync_centers()
        srch = Search(st, rng, mono_deadline, cancel, progress)
        srch.repair()
        st.sync_centers()
        # the first descent may take a share of the time only when several measures are
        # balanced: when it stalls on them, the annealing below does better with the rest
        large = quick and bisected  # the quick bisection's start on a large map
        _sub_deadline(srch, (IMPROVE_SHARE_LARGE if large else IMPROVE_SHARE) if P.m > 1 else 1.0, srch.improve)
        st.sync_centers()
        hopeless = structurally_infeasible(P)
        if st.violation(P.tol) > 0 and not hopeless:
            # coarse units: merge a violating territory with one or two neighbours and cut the
            # region again along a spanning tree; then unit moves fine-tune
            if _sub_deadline(srch, (RECOMBINE_SHARE_LARGE if large else RECOMBINE_SHARE) if P.m > 1 else 1.0,
                             recombine, srch,
                             patience=max(40, 2 * P.k)):
                st.sync_centers()
                if P.m == 1 or st.violation(P.tol) <= 0:
                    srch.improve()
                    st.sync_centers()
        if st.violation(P.tol) > 0 and not hopeless and P.m > 1 and P.indptr is not None:
            # measures that do not move together: anneal single-unit moves on every
            # tolerance at once (contiguity kept at each step)
            repair_rounds = []
            if large and REPAIR_FIRST:
                # coarse units the descent and recombination cannot trade (Manhattan, Honolulu):
                # exact MIPs on clusters of the territories still outside (design/_repair.py),
                # then the annealing, then the repair again to the deadline
                _repair_round(P, st, time.monotonic() + REPAIR_FIRST * (mono_deadline - time.monotonic()),
                              cancel, repair_rounds)
            homes = anchored and not large and REPAIR_HOMES_ANNEAL < 1.0
            if repair_rounds:
                share = REPAIR_ANNEAL_SHARE
            else:
                share = REPAIR_HOMES_ANNEAL if homes else ANNEAL_SHARE
            info = anneal(srch, share * (mono_deadline - time.monotonic()))
            anneal_info = info
            st.sync_centers()
            if repair_rounds or homes:
                # rep homes: the annealing stalls with a few territories just outside where
                # the homes crowd (Long Island's 8 in make demo's design); exact MIPs on
                # large clusters of them and their neighbours finish the job
                _repair_round(P, st, mono_deadline - 0.5, cancel, repair_rounds,
                              levels=REPAIR_HOMES_LEVELS if homes else None)
                anneal_info["repair"] = repair_rounds
            if st.violation(P.tol) <= 0:
                _improve_keeping_feasible(srch)
        if st.violation(P.tol) > 0 and not hopeless and anneal_info is None:
            srch.iterated()
            st.sync_centers()
        if bisected:
            # the search must not end worse than the bisected start (time-limited steps can
            # be cut short): keep the start when it has less excess over the tolerances
            st0 = State(P, a, st.c.copy())
            if st0.violation(P.tol, sq=False) < st.violation(P.tol, sq=False) - 1e-12:
                for u in np.flatnonzero(st.a != a).tolist():
                    st.move(u, int(a[u]))
                st.recount()
                st.sync_centers()
        if polish and st.violation(P.tol) <= 0 and compact_applicable(P, st):
            # lexicographic: compactness among plans that meet every tolerance (recombination
            # of bordering pairs whose cut keeps both within tolerance, then annealing of
            # feasibility-keeping unit moves; see design/_compact.py)
            compact_info = {"recombine": _sub_deadline(srch, COMPACT_RECOM_SHARE, recombine_feasible, srch,
                                                       COMPACT_RECOM_TRIES * P.k)}
            compact_info["anneal"] = anneal_feasible(srch, COMPACT_ANNEAL_SHARE * (mono_deadline - time.monotonic()))
            _improve_keeping_feasible(srch)
        if polish and st.violation(P.tol) <= 0:
            srch.polish(polish)
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
        "realign": realign_info if mode == "realign" else None,
        "anneal": anneal_info,
        "compact": compact_info,
        "bisect": bisected,
    }


#: rep-home designs (every centre fixed) with several measures: starts 0, 2, ... begin from
#: the path-LP growth of design/_homes.py (its LP may take this share of the time left)
HOMES_EVERY = 2
HOMES_SHARE = 0.3
#: with two or more balance measures, starts 0, BISECT_EVERY, 2·BISECT_EVERY, ... begin from
#: the multi-measure recursive bisection instead of the rounded transport LP (0: never)
BISECT_EVERY = 2
#: share of a start's time after which the bisection stops its extra cut rounds (disc cuts,
#: retries) and finishes with line cuts and their repair (1.0 let it take a whole 60 s start
#: on real_cz on the loaded 2-core machine, leaving the annealing nothing; 0.3: the bisection
#: 29 s, the annealing 12 s, 0.98 -> 0.023 excess)
BISECT_SHARE = 0.3
#: no bisection start above this many units: on all-US ZIPs (29,832 units, k=500, three
#: measures) it took the whole 280 s and the plan ended 830 % off with no search time left
BISECT_MAX_N = 10_000

#: once every tolerance holds (design mode, free centres): recombination tries per territory
#: on bordering pairs (a cut must keep both within every tolerance and lower their moment),
#: the share of the remaining time they may take, and the share of what is left then that
#: the feasibility-keeping annealing may take (the descent and the polish get the rest)
COMPACT_RECOM_TRIES = 8
COMPACT_RECOM_SHARE = 0.15
COMPACT_ANNEAL_SHARE = 0.85

#: share of a start's time the first penalised descent may take with several measures
IMPROVE_SHARE = 0.25

#: share of the time left that the recombination step may take with several measures
RECOMBINE_SHARE = 0.2

#: the same two shares after the quick bisection start of a large map (all-US ZIPs, k=500,
#: three measures): there the vectorised descent and the recombination fix far more per
#: second than the pure-Python annealing (one start, 280 s: with 0.25 / 0.2 the descent was
#: cut off at 58 s and the annealing took 0.73 -> 0.53 excess in 130 s, 46-51 territories
#: left outside ±5 %; with 0.6 the descent ended by itself at 88 s, 29 left)
IMPROVE_SHARE_LARGE = 0.6
RECOMBINE_SHARE_LARGE = 0.6

#: large maps (the quick bisection start): the share of the time left after the
#: recombination that the exact local repair of the territories still outside may take
#: (design/_repair.py; 0: no repair), then the annealing's share of what is left, then a
#: second repair round to the deadline. Exploration on all-US ZIPs, k=500, three measures:
#: from the plan the annealing left (20 territories outside), 9 after 33 s of repair; the
#: annealing took 27 -> 24 in 60-90 s
REPAIR_FIRST = 0.6
REPAIR_ANNEAL_SHARE = 0.5

#: rep-home designs (every territory anchored at its home, several measures): the share of
#: the time left that the annealing may take before the exact local repair gets the rest,
#: with larger clusters and longer MIPs than on large maps (1.0: no repair)
REPAIR_HOMES_ANNEAL = 0.5
REPAIR_HOMES_LEVELS = ((700, 24, 8, 12.0), (1500, 40, 12, 25.0))

#: share of a start's remaining time the multi-measure annealing may take when the
#: descent and the recombination left a tolerance unmet (it stops as soon as every
#: tolerance is met, leaving the rest to the compactness descent and polish)
ANNEAL_SHARE = 1.0

#: rounds of the realignment's disruption polish (send some moved units home, rebalance,
#: keep if it moves less); a fixed number keeps results reproducible when they finish in time
REALIGN_POLISH_ROUNDS = 20

#: tries of the realignment's recombination polish per territory, and at most (re-cut a random
#: pair of neighbouring territories where it moves the least); a fixed number keeps results
#: reproducible when they finish in time
REALIGN_RECOM_TRIES = (75, 3000)

#: graph-step radii tried by the realignment guide LP (the smallest whose LP meets the
#: tolerances is used: larger radii give lower but more fractional LPs that round worse)
HOP_LADDER = (2, 3, 4, 6, 9, 13, 18)
#: the guide LP is also solved with integer x (MIP) when it has at most this many columns
MIP_MAX_COLS = 12000
#: above this many units, stop trying further candidates once one meets the tolerances (the
#: LP-rounded candidate wins on large maps; the rest of the time goes to lowering disruption)
STOP_WHEN_FEASIBLE_N = 2000


def _realign(P: Problem, seed_seq, deadline_wall: float, mono_deadline: float, cancel, progress,
             polish: int = 0):
    """Realignment candidates from the repaired current plan; the best (least excess over
    tolerance, then least disruption) wins. Returns (state, search, info)."""
    c0 = np.where(np.isnan(P.centers), 0.0, P.centers)
    t_begin = time.time()
    total = max(0.5, deadline_wall - t_begin)
    # 1. repair the current plan's stray pieces (forced disruption, reported separately)
    st0 = State(P, P.current.copy(), c0)
    st0.sync_centers()
    sr0 = Search(st0, np.random.default_rng(seed_seq.spawn(1)[0]), mono_deadline, cancel, progress)
    rep = sr0.repair_pieces()
    base = st0.a.copy()
    base_reason = dict(sr0.reason)
    base_dis = sr0.dis_used
    info = {"repair": rep, "repair_units": sorted(sr0.repair_units), "lp": None, "lp_R": None,
            "lp_slack": None, "variants": [], "bound": None}
    if P.m and P.indptr is not None:
        # valid lower bound (every territory for every unit, contiguity ignored), from the
        # original current plan
        try:
            info["bound"] = disruption_lp(P, time_limit=max(1.0, 0.2 * total), scope="all")
        except Exception as e:  # pragma: no cover - best effort
            info["bound"] = (None, f"error: {e}", "all")

    def fresh(rng_seq, deadline):
        st = State(P, base, c0)
        st.sync_centers()
        sr = Search(st, np.random.default_rng(rng_seq), deadline, cancel, progress)
        sr.reason = dict(base_reason)
        sr.dis_used = base_dis
        sr.repair_units = set(sr0.repair_units)
        return st, sr

    candidates_ = []
    rngs = seed_seq.spawn(8)
    need = P.m > 0 and st0.violation(P.tol, sq=False) > 0
    # 2. LP-guided: geographic min-disruption LP (shortest-path contiguity relaxation) over a
    #    growing radius, rounded along the boundary, then the greedy to finish
    if need and P.indptr is not None:
        cap_left = P.max_dis - base_dis
        D = None
        sols = []
        for R in HOP_LADDER:
            left = deadline_wall - time.time()
            if left < 0.3 * total and sols:
                break
            D = hop_distances(P, base, R)
            sol = guide_lp(P, base, R, tol_scale=0.995, cap=cap_left if np.isfinite(cap_left) else None,
                           time_limit=max(0.5, 0.25 * left), D=D)
            if sol is None:
                continue
            sols.append(sol)
            if sol["slack"] <= 1e-7:
                break
            if not (D > R).any():  # every territory already reaches every unit
                break
        # reference value at the user's tolerances (no cap) for the report
        if sols:
            R = sols[-1]["R"]
            ref = guide_lp(P, base, R, tol_scale=1.0, cap=None,
                           time_limit=max(0.5, 0.15 * (deadline_wall - time.time())), D=hop_distances(P, base, R))
            if ref is not None and ref["slack"] <= 1e-7:
                info["lp"] = ref["value"]
                info["lp_R"] = R
            info["lp_slack"] = sols[-1]["slack"]
        if sols:
            sol = sols[-1]
            nvar = 4
            variants = ["lp-round", "lp-guide"]
            left = deadline_wall - time.time()
            if len(sol["x"]) <= MIP_MAX_COLS and left > 2.0:
                # small instance: the same LP with integer x (HiGHS MIP, time-limited)
                mip = guide_lp(P, base, sol["R"], tol_scale=0.995,
                               cap=cap_left if np.isfinite(cap_left) else None,
                               time_limit=max(0.5, min(0.25 * left, 15.0)), integral=True)
                if mip is not None:
                    variants.insert(0, ("mip-round", mip))
                    nvar += 1
            for vi, variant in enumerate(variants):
                vsol = sol
                if isinstance(variant, tuple):
                    variant, vsol = variant
                now = time.monotonic()
                if now > mono_deadline - 0.5 or (P.n > STOP_WHEN_FEASIBLE_N and candidates_ and _best_key(P, candidates_)[0][0] <= 0):
                    break
                # the first LP variant gets the largest share: it usually wins on large maps
                share = 0.45 if vi == 0 else 1.0 / (nvar - vi)
                sub = min(mono_deadline, now + max(1.0, (mono_deadline - now) * share))
                st, sr = fresh(rngs[vi], sub)
                if variant in ("lp-round", "mip-round"):
                    sr.lp_round(vsol)
                else:
                    sr.set_lp_guide(vsol)
                sr.realign(beta=0.1)
                st.sync_centers()
                candidates_.append((variant, st, sr))
    # 3. greedy variants from the repaired plan (each with a share of the time left)
    plan = (("flow", 0.1), ("greedy", 0.1), ("greedy", 0.03))
    for vi, (variant, beta) in enumerate(plan):
        if not need:
            break
        now = time.monotonic()
        if candidates_ and (now > mono_deadline - 0.5 or (P.n > STOP_WHEN_FEASIBLE_N and _best_key(P, candidates_)[0][0] <= 0)):
            break
        sub = min(mono_deadline, now + max(1.0, (mono_deadline - now) / (len(plan) - vi)))
        st, sr = fresh(rngs[3 + vi], sub)
        sr.realign(beta=beta, flow_first=(variant == "flow"))
        st.sync_centers()
        candidates_.append((variant, st, sr))
    if not candidates_:
        st, sr = fresh(rngs[7], mono_deadline)
        candidates_.append(("repair", st, sr))
    for name, st, sr in candidates_:
        info["variants"].append((name, round(st.violation(P.tol, sq=False), 9),
                                 float(P.dis[st.a != P.current].sum())))
    key, idx = _best_key(P, candidates_)
    name, st, sr = candidates_[idx]
    if need and time.monotonic() < mono_deadline - 0.5:
        # time left: keep lowering the winner's disruption (send-backs and swaps, no new excess)
        sr.deadline = mono_deadline
        sr.stopped = "converged"
        before = float(P.dis[st.a != P.current].sum())
        for _ in range(100):
            if sr.out_of_time():
                break
            n_sw = sr.disruption_swaps()
            sr.cleanup_disruption()
            if n_sw == 0:
                break
        if polish and not sr.out_of_time():
            sr.realign_polish(polish)
        if polish and not sr.out_of_time():
            # re-cut pairs of territories where they move the least (spanning-tree cuts)
            recombine_disruption(sr, min(REALIGN_RECOM_TRIES[0] * P.k, REALIGN_RECOM_TRIES[1]))
            sr.cleanup_disruption()
        st.sync_centers()
        after = float(P.dis[st.a != P.current].sum())
        if after < before:
            info["variants"].append((name + "+polish", round(st.violation(P.tol, sq=False), 9), after))
    if sr.stopped == "converged" and sr0.stopped != "converged":
        sr.stopped = sr0.stopped
    return st, sr, info


def _best_key(P: Problem, cands):
    keys = [(round(st.violation(P.tol, sq=False), 9), float(P.dis[st.a != P.current].sum()), i)
            for i, (_, st, _) in enumerate(cands)]
    best = min(keys)
    return best, best[2]
