"""Compactness among feasible plans: lexicographic polish once every tolerance holds.

Balance is a hard constraint; compactness (the weighted moment of inertia) is optimised only
inside the feasible region. Two moves, both of which never leave it:

* :func:`recombine_feasible` — multi-measure ReCom as an improvement step: merge two
  bordering territories and cut the region again along an edge of a random spanning tree
  (both sides connected by construction); among all cuts of ``n_trees`` trees, only those
  whose two sides meet **every** measure's (inner) tolerance count, and the one with the
  smallest moment of inertia is kept if it beats the pair's current moment. This reshapes
  two territories at once (a long thin pair becomes two round ones) where single-unit moves
  would have to pass through plans outside the tolerances.
* :func:`anneal_feasible` — simulated annealing of single-unit moves across a territory
  border (a random edge of the plan's cut). The energy is the moment of inertia relative to
  the start plus ``MU · t0 · Σ (excess over the inner margin / tol)²``: a territory may pass
  the inner margin (97 % of each tolerance) at a price that rises steeply, so the walk can
  cross narrow parts of the feasible region; only plans within every real tolerance are
  kept as the best (``SOFT = False``: a move must keep both territories within every
  tolerance, a territory already outside the inner margin may not get worse). The giving
  territory stays one piece (exact check). Metropolis rule, at a temperature falling
  geometrically from ``t0``, the median uphill change of the moment over a sample of border
  moves, to a thousandth of it. The schedule follows the number of tries (``TRIES_PER_UNIT · n``), so
  the result is reproducible for a seed when the time budget is enough (a budget cut short
  stops the walk before it has cooled; the best plan seen is still returned). Returns the most
  compact plan it saw.

Both apply to free centres with the squared Euclidean cost (the moment of inertia); with
fixed centres or a custom cost they do nothing (the descent and polish of the search still
run). Locked, exclave units and frozen territories never move.
"""
from __future__ import annotations

import math
import time

import numpy as np

from ._anneal import apply_move, state_lists
from ._recom import _neighbours, split

__all__ = ["anneal_feasible", "recombine_feasible", "applicable"]

#: annealing tries per unit (the schedule's length when the time budget allows)
TRIES_PER_UNIT = 300
#: at most this many tries (about 30 s on this machine): on all-US ZIPs 300 tries per unit
#: would not fit any time limit, and a walk stopped by the clock has not cooled
TRIES_MAX = 1_500_000
#: end temperature relative to the start temperature
COOL = 1e-3
#: soft tolerances: a territory may pass its inner tolerance margin at a cost of
#: ``MU · t0 · (excess / tol)²`` (``t0`` the start temperature); the best plan within the
#: real tolerances is kept. ``SOFT = False``: every move must stay within them.
SOFT = True
MU = 1000.0
#: the soft penalty counts from this share of each tolerance: a quadratic penalty is flat
#: near its start, so with 97 % (the search's inner margin) the walk sat a hair over the
#: tolerances in some territory almost all the time (counties k=20, three measures: no
#: plan within all 60 bounds seen in 53,000 moves)
SOFT_MARGIN = 0.9


def applicable(P, st) -> bool:
    """Free Euclidean centres, a graph, at least two territories, no realignment."""
    return (P.indptr is not None and P.k >= 2 and P.current is None and P.cost is None
            and bool(st.free.all()))


def _feasible(st, tol) -> bool:
    return st.violation(tol) <= 0.0


def recombine_feasible(srch, tries: int, n_trees: int = 12) -> dict:
    """``tries`` recombination steps on random bordering pairs of territories, each kept only
    when both new territories meet every tolerance and the pair's moment of inertia falls.
    Returns ``{"tries", "kept", "objective_before", "objective_after"}``."""
    st, P = srch.s, srch.P
    out = {"tries": 0, "kept": 0, "objective_before": st.objective(), "objective_after": None}
    if not applicable(P, st) or P.m == 0 or not _feasible(st, P.tol):
        out["objective_after"] = out["objective_before"]
        return out
    rng = srch.rng
    tol_in = srch.tol_in
    open_t = np.flatnonzero(~P.frozen)
    for _ in range(tries):
        if srch.out_of_time():
            break
        out["tries"] += 1
        t = int(rng.choice(open_t))
        nbs = _neighbours(st, t)
        if not nbs:
            continue
        b = int(nbs[int(rng.integers(len(nbs)))])
        pair = [t, b]
        nodes = np.flatnonzero(np.isin(st.a, pair))
        before = float(st.f_terr(st.S0[pair], st.Sx[pair], st.Sy[pair], st.S2[pair], st.Lc[pair],
                                 st.free[pair]).sum())
        scale = max(before, 1e-12)
        cut = split(st, nodes, t, [b], rng, n_trees, tol_in, scale)
        if cut is None:
            continue
        score, side = cut
        # split() scores 1e6 x squared excess + moment / scale: a cut within every inner
        # tolerance scores its moment alone, below the pair's current moment (1.0)
        if score >= 1.0 - 1e-9:
            continue
        inside = np.zeros(P.n, bool)
        inside[side] = True
        old = st.a[nodes].copy()
        new = np.where(inside[nodes], t, b)
        if (P.exclave[nodes] & (new != old)).any():
            continue
        changed = np.flatnonzero(new != old)
        for j in changed.tolist():
            st.move(int(nodes[j]), int(new[j]))
        after = float(st.f_terr(st.S0[pair], st.Sx[pair], st.Sy[pair], st.S2[pair], st.Lc[pair],
                                st.free[pair]).sum())
        dev = np.abs(st.dev()[pair])
        if after < before * (1 - 1e-9) and (dev <= P.tol[None, :] + 1e-12).all():
            for j in changed.tolist():
                u = int(nodes[j])
                srch._note(u, int(old[j]), int(new[j]), "compactness")
            srch.n_moves += len(changed)
            out["kept"] += 1
        else:
            for j in changed.tolist():
                st.move(int(nodes[j]), int(old[j]))
    st.sync_centers()
    out["objective_after"] = st.objective()
    return out


def anneal_feasible(srch, budget_s: float, tries: int | None = None, soft: bool = SOFT) -> dict:
    """Anneal the moment of inertia of a feasible plan without leaving the tolerances (see
    the module docstring). Returns ``{"tries", "moves", "objective_before",
    "objective_after", "seconds", "temperature"}``."""
    st, P = srch.s, srch.P
    t_begin = time.monotonic()
    obj0 = st.objective()
    out = {"tries": 0, "moves": 0, "objective_before": obj0, "objective_after": obj0,
           "seconds": 0.0, "temperature": None}
    if not applicable(P, st) or not _feasible(st, P.tol) or obj0 <= 0:
        return out
    end = min(srch.deadline, t_begin + max(0.0, budget_s))
    n_tries = int(min(TRIES_PER_UNIT * P.n, TRIES_MAX)) if tries is None else int(tries)
    k, m = P.k, P.m
    tol = P.tol.tolist()
    tin = srch.tol_in.tolist()
    tsoft = (P.tol * SOFT_MARGIN).tolist()
    inv_tol = [1.0 / max(x, 1e-9) for x in tol]
    invT = (1.0 / P.T.clip(1e-300)).tolist()
    L = state_lists(st)
    A, tot, frozen, size, w, xs, ys, q, S0, Sx, Sy, S2 = L
    al = st.al
    mov = (srch.movable & ~P.exclave).tolist()
    src_l, dst_l = srch.src.tolist(), srch.dst.tolist()
    rng = srch.rng
    inv0 = 1.0 / obj0

    def mom(s0, sx, sy, s2):
        return max(s2 - (sx * sx + sy * sy) / s0, 0.0) if s0 > 1e-300 else 0.0

    def fits(t, row, old):
        # every measure within the tolerance; beyond the inner margin only if not worse
        it = invT[t]
        for j in range(m):
            d = abs(row[j] * it[j] - 1.0)
            if d > tin[j]:
                if d > tol[j] or d > abs(old[j] * it[j] - 1.0):
                    return False
        return True

    def d_mom(u, ta, tb):
        wu = w[u]
        wx, wy, wq = wu * xs[u], wu * ys[u], wu * q[u]
        return (mom(S0[ta] - wu, Sx[ta] - wx, Sy[ta] - wy, S2[ta] - wq)
                + mom(S0[tb] + wu, Sx[tb] + wx, Sy[tb] + wy, S2[tb] + wq)
                - mom(S0[ta], Sx[ta], Sy[ta], S2[ta]) - mom(S0[tb], Sx[tb], Sy[tb], S2[tb])) * inv0

    def excess(t, row):
        # squared excess over SOFT_MARGIN of each tolerance, in tolerance units
        it = invT[t]
        e = 0.0
        for j in range(m):
            d = abs(row[j] * it[j] - 1.0) - tsoft[j]
            if d > 0:
                d *= inv_tol[j]
                e += d * d
        return e

    def over(t, row):
        it = invT[t]
        return int(any(abs(row[j] * it[j] - 1.0) > tol[j] for j in range(m)))

    E = [0.0 if frozen[t] else excess(t, tot[t]) for t in range(k)]
    V = [0 if frozen[t] else over(t, tot[t]) for t in range(k)]
    n_over = sum(V)

    # start temperature: the median uphill change of a sample of border moves
    a_np = st.a
    cut = np.flatnonzero(a_np[srch.src] != a_np[srch.dst])
    if len(cut) == 0:
        return out
    sample = [d_mom(src_l[e], al[src_l[e]], al[dst_l[e]]) for e in rng.choice(cut, min(len(cut), 2000)).tolist()]
    up = [x for x in sample if x > 0]
    t0 = float(np.median(up)) if up else 1e-4
    out["temperature"] = t0
    mu = MU * t0
    log_cool = math.log(COOL)
    cur = 1.0
    best = (1.0, st.a.copy())
    a_start = st.a.copy()
    done = moves = 0
    batch = 2048
    temp = t0
    while done < n_tries:
        now = time.monotonic()
        if now >= end or srch.out_of_time():
            break
        temp = t0 * math.exp(log_cool * min(done / n_tries, 1.0))
        cut = np.flatnonzero(st.a[srch.src] != st.a[srch.dst])
        if len(cut) == 0:
            break
        ei = cut[rng.integers(0, len(cut), batch)].tolist()
        ur = rng.random(batch).tolist()
        done += batch
        for r in range(batch):
            e = ei[r]
            u = src_l[e]
            ta = al[u]
            tb = al[dst_l[e]]
            if ta == tb or not mov[u] or frozen[ta] or frozen[tb] or size[ta] <= 1:
                continue
            dm = d_mom(u, ta, tb)
            if not soft and dm > 0 and ur[r] >= math.exp(-dm / temp):
                continue
            Au = A[u]
            ra = [tot[ta][j] - Au[j] for j in range(m)]
            rb = [tot[tb][j] + Au[j] for j in range(m)]
            if soft:
                ea, eb = excess(ta, ra), excess(tb, rb)
                de = dm + mu * (ea + eb - E[ta] - E[tb])
                if de > 0 and ur[r] >= math.exp(-de / temp):
                    continue
            elif not fits(ta, ra, tot[ta]) or not fits(tb, rb, tot[tb]):
                continue
            if not st.connected_without(u):
                continue
            if soft:
                E[ta], E[tb] = ea, eb
                va, vb = over(ta, ra), over(tb, rb)
                n_over += va + vb - V[ta] - V[tb]
                V[ta], V[tb] = va, vb
            apply_move(st, L, u, ta, tb, ra, rb)
            moves += 1
            cur += dm
            if n_over == 0 and cur < best[0] * (1 - 1e-5):
                best = (cur, st.a.copy())
    st.recount()
    st.sync_centers()
    if n_over > 0 or best[0] < cur - 1e-12:  # back to the most compact plan within tolerance
        for u in np.flatnonzero(best[1] != st.a).tolist():
            st.move(u, int(best[1][u]))
        st.recount()
        st.sync_centers()
    for u in np.flatnonzero(st.a != a_start).tolist():
        srch._note(u, int(a_start[u]), int(st.a[u]), "compactness")
    srch.n_moves += moves
    out.update(tries=done, moves=moves, objective_after=st.objective(), seconds=time.monotonic() - t_begin)
    return out

