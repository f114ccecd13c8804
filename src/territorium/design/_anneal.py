"""Multi-measure balance by simulated annealing of single-unit moves.

Balance is a hard constraint: this phase looks for a plan that meets every tolerance at
once, for any number of measures that need not move together (ZIP counts and land area,
city counts and places). The energy of a plan is the squared excess of every territory over
every tolerance, in units of that tolerance,

    E = sum_t sum_j (max(0, |tot_tj / T_tj - 1| - margin * tol_j) / tol_j)^2
        + lam * MoI / MoI_start,

so one measure cannot be traded against another, a unit taken from a neighbour at the edge
of its tolerance and given to a territory far outside its own lowers the energy (large
deviations spread outwards instead of stalling), and a small moment-of-inertia term keeps
the walk from growing tentacles. A move sends one unit across a territory border to the
neighbouring territory (a random cut edge); it is accepted with the Metropolis rule at a
temperature that falls geometrically with the time spent. The receiving territory stays
connected because the unit borders it; the giving one must stay connected without the unit
(checked only when the move would be accepted: the unit's neighbours in it connected among
themselves, else a BFS inside it; exact), so contiguity holds at every step. Locked units, exclave units and frozen territories never move, and no
territory is emptied.

The loop runs on Python floats (a few microseconds a try) and keeps the plan with the
smallest violation of the real tolerances (ties: smaller moment of inertia).
"""
from __future__ import annotations

import math
import time

import numpy as np

__all__ = ["anneal"]

import os as _os

_DEBUG = bool(_os.environ.get("TERRITORIUM_ANNEAL_DEBUG"))
_last = [0.0]

#: aim this far inside each tolerance, so the polish that follows has room to work
MARGIN = 0.9
#: weight of the moment-of-inertia term, per territory (relative to the starting moment)
LAM_PER_TERRITORY = 0.02
#: start and end temperatures, in tolerance units of excess
T_START, T_END = 0.05, 0.001
#: reheat (start the cooling again over the time left) when the best violation has not
#: fallen for this share of the budget (and at least REHEAT_MIN_S seconds)
REHEAT_AFTER = 0.15
REHEAT_MIN_S = 3.0
#: the temperature a reheat starts from
REHEAT_T = 0.015
#: with at least this many territories, most tries go near the territories outside the
#: inner margin: a border edge is drawn from the cut edges between territories that are
#: outside it or border one that is (FOCUS_SHARE of the tries), the rest from every cut edge.
#: On all-US ZIPs with k=500 a tenth of the territories miss a tolerance after the descent,
#: and uniform tries spent nine in ten on moves that change no excess
FOCUS_MIN_K = 100
FOCUS_SHARE = 0.8


def state_lists(st):
    """The working state as Python lists for a pure-Python move loop (a few microseconds a
    try): measures per unit, totals per territory, frozen flags, sizes, compactness weights,
    coordinates, |x|², and the moment sums Σw, Σwx, Σwy, Σw|x|² per territory."""
    P = st.P
    return (P.A.tolist(), st.tot.tolist(), P.frozen.tolist(), st.size.tolist(), P.w.tolist(),
            P.xy[:, 0].tolist(), P.xy[:, 1].tolist(), st.q.tolist(),
            st.S0.tolist(), st.Sx.tolist(), st.Sy.tolist(), st.S2.tolist())


def apply_move(st, L, u: int, ta: int, tb: int, ra: list, rb: list) -> None:
    """Move unit ``u`` from ``ta`` to ``tb`` in the state and in its lists ``L`` (from
    :func:`state_lists`); ``ra``, ``rb``: the two territories' new measure totals."""
    _, tot, _, size, w, xs, ys, q, S0, Sx, Sy, S2 = L
    st.move(u, tb)
    tot[ta], tot[tb] = ra, rb
    size[ta] -= 1
    size[tb] += 1
    wu = w[u]
    wx, wy, wq = wu * xs[u], wu * ys[u], wu * q[u]
    S0[ta] -= wu; Sx[ta] -= wx; Sy[ta] -= wy; S2[ta] -= wq  # noqa: E702
    S0[tb] += wu; Sx[tb] += wx; Sy[tb] += wy; S2[tb] += wq  # noqa: E702


def anneal(srch, budget_s: float, *, margin: float = MARGIN, lam: float | None = None,
           stop_when_feasible: bool = True) -> dict:
    """Anneal the plan of ``srch`` (a :class:`~territorium.design._search.Search`) toward
    every tolerance for at most ``budget_s`` seconds (and never past ``srch.deadline``).

    Returns ``{"tries", "moves", "violation_before", "violation_after", "seconds"}`` with
    violations as the sum of excesses over the real tolerances (fractions)."""
    st, P = srch.s, srch.P
    t_begin = time.monotonic()
    out = {"tries": 0, "moves": 0, "violation_before": st.violation(P.tol, sq=False),
           "violation_after": None, "seconds": 0.0}
    if P.m == 0 or P.indptr is None or P.k < 2:
        out["violation_after"] = out["violation_before"]
        return out
    end = min(srch.deadline, t_begin + max(0.0, budget_s))
    k, m = P.k, P.m
    tol = [float(x) for x in P.tol]
    tin = [float(x) * margin for x in P.tol]
    inv_tol = [1.0 / max(x, 1e-9) for x in tol]
    T = P.T.tolist()
    invT = [[1.0 / max(T[t][j], 1e-300) for j in range(m)] for t in range(k)]
    L = state_lists(st)
    A, tot, frozen, size, w, xs, ys, q, S0, Sx, Sy, S2 = L
    al = st.al
    free = st.free.tolist()

    def mom(t, s0, sx, sy, s2):
        if not free[t]:
            return 0.0
        return max(s2 - (sx * sx + sy * sy) / s0, 0.0) if s0 > 1e-300 else 0.0

    moi0 = sum(mom(t, S0[t], Sx[t], Sy[t], S2[t]) for t in range(k))
    lam = (LAM_PER_TERRITORY * k if lam is None else lam) / max(moi0, 1e-300)

    def excess(t, row, lim, sq=True):
        if frozen[t]:
            return 0.0
        e = 0.0
        it = invT[t]
        for j in range(m):
            d = abs(row[j] * it[j] - 1.0) - lim[j]
            if d > 0:
                d *= inv_tol[j]
                e += d * d if sq else d
        return e

    E_t = [excess(t, tot[t], tin) for t in range(k)]
    # each territory's excess over the real tolerances, kept up to date move by move (the sum
    # over every territory after each move cost O(k))
    V_t = [excess(t, tot[t], tol, False) for t in range(k)]
    focus = k >= FOCUS_MIN_K
    movable = srch.movable & ~P.exclave
    mov = movable.tolist()
    src = srch.src
    dst = srch.dst
    src_l, dst_l = src.tolist(), dst.tolist()
    rng = srch.rng

    def real_violation():
        return sum(V_t)

    best_v = real_violation()
    best_obj = sum(mom(t, S0[t], Sx[t], Sy[t], S2[t]) for t in range(k))
    best_a = st.a.copy()
    a_start = st.a.copy()
    cur_v = best_v
    temp = T_START
    tries = moves = reheats = 0
    t_cycle = t_best = t_begin
    t_hi = T_START
    batch = 1024
    since_best = 0
    while True:
        now = time.monotonic()
        if now >= end or srch.out_of_time():
            break
        if best_v > 0 and now - t_best > max(REHEAT_MIN_S, REHEAT_AFTER * (end - t_begin)) and end - now > REHEAT_MIN_S:
            # stuck near the end of a cooling with a tolerance still unmet: heat again and
            # cool over the time that is left
            t_cycle, t_best, t_hi = now, now, REHEAT_T
            reheats += 1
        frac = (now - t_cycle) / max(end - t_cycle, 1e-9)
        if _DEBUG and now - _last[0] > 2.0:
            _last[0] = now
            print(f"anneal {now - t_begin:.1f}s T={temp:.4f} E={sum(E_t):.3f} best_v={best_v:.4f} tries={tries} moves={moves}", flush=True)
        temp = t_hi * math.exp(math.log(T_END / t_hi) * frac)
        a_np = st.a
        cut = np.flatnonzero(a_np[src] != a_np[dst])
        if len(cut) == 0:
            break
        if focus:
            hot = np.asarray(E_t) > 0.0
            ts, td = a_np[src[cut]], a_np[dst[cut]]
            warm = hot.copy()
            warm[td[hot[ts]]] = True
            warm[ts[hot[td]]] = True
            near = cut[warm[ts] & warm[td]]
            nf = int(FOCUS_SHARE * batch) if len(near) else 0
            ei = np.concatenate([near[rng.integers(0, max(len(near), 1), nf)],
                                 cut[rng.integers(0, len(cut), batch - nf)]]).tolist()
        else:
            ei = cut[rng.integers(0, len(cut), batch)].tolist()
        ur = rng.random(batch).tolist()
        for r in range(batch):
            e = ei[r]
            u = src_l[e]
            ta = al[u]
            tb = al[dst_l[e]]
            if ta == tb or not mov[u] or frozen[ta] or frozen[tb] or size[ta] <= 1:
                continue
            tries += 1
            Au = A[u]
            ra = [tot[ta][j] - Au[j] for j in range(m)]
            rb = [tot[tb][j] + Au[j] for j in range(m)]
            ea, eb = excess(ta, ra, tin), excess(tb, rb, tin)
            dE = ea + eb - E_t[ta] - E_t[tb]
            if lam > 0.0:
                wu = w[u]
                wx, wy, wq = wu * xs[u], wu * ys[u], wu * q[u]
                dm = (mom(ta, S0[ta] - wu, Sx[ta] - wx, Sy[ta] - wy, S2[ta] - wq)
                      + mom(tb, S0[tb] + wu, Sx[tb] + wx, Sy[tb] + wy, S2[tb] + wq)
                      - mom(ta, S0[ta], Sx[ta], Sy[ta], S2[ta]) - mom(tb, S0[tb], Sx[tb], Sy[tb], S2[tb]))
                dE += lam * dm
            if dE > 0 and ur[r] >= math.exp(-dE / temp):
                continue
            # contiguity: ta must stay connected without u (ring of u's neighbours in ta
            # first, then a BFS inside ta; exact)
            if not st.connected_without(u):
                continue
            # apply
            apply_move(st, L, u, ta, tb, ra, rb)
            E_t[ta], E_t[tb] = ea, eb
            V_t[ta], V_t[tb] = excess(ta, ra, tol, False), excess(tb, rb, tol, False)
            moves += 1
            since_best += 1
            if E_t[ta] + E_t[tb] <= 0.0 or since_best >= 64:
                since_best = 0
                cur_v = real_violation()
                obj = None
                if cur_v < best_v - 1e-12 or (cur_v <= best_v + 1e-12 and cur_v <= 0.0):
                    obj = sum(mom(t, S0[t], Sx[t], Sy[t], S2[t]) for t in range(k))
                    if cur_v < best_v - 1e-12 or obj < best_obj:
                        if cur_v < best_v - 1e-12:
                            t_best = time.monotonic()
                        best_v, best_obj = cur_v, obj
                        best_a = st.a.copy()
                if stop_when_feasible and (sum(E_t) <= 0.0 or cur_v <= 0.0):
                    break
        else:
            continue
        break
    # restore the best plan seen
    if not np.array_equal(best_a, st.a):
        for u in np.flatnonzero(best_a != st.a).tolist():
            st.move(u, int(best_a[u]))
    st.recount()
    st.sync_centers()
    for u in np.flatnonzero(st.a != a_start).tolist():
        srch._note(u, int(a_start[u]), int(st.a[u]), "balance")
    srch.n_moves += moves
    out.update(tries=tries, moves=moves, reheats=reheats, violation_after=st.violation(P.tol, sq=False),
               seconds=time.monotonic() - t_begin)
    return out
