"""Rep-home territories grown from a fractional assignment that respects contiguity paths.

With fixed centres (rep homes) and several balance measures the plain transport LP meets
every tolerance by scattering units: a potential-rich ZIP goes a little to each of many
homes, so the rounded plan falls apart into pieces whose repair undoes the balance.
Here the LP carries the *shortest-path contiguity relaxation* around each home: with
``D[u, t]`` the road-free graph distance (km along unit-to-unit links) from the anchor unit
of territory ``t`` (its home unit),

    x[u, t] <= sum of x[v, t] over the neighbours v of u with D[v, t] < D[u, t],

so a unit may join a territory only as far as a neighbour closer to the home joins too:
every positive share lies on a chain of shares leading back to the home, and a territory
can still reach far (a corridor) when the tolerances need it. Candidate pairs are the balls
around each home (closed under the chains), large enough to hold several times the
territory's target of every measure. The solution is rounded by growing every territory from
its home, one bordering unit at a time, the unit with the largest share first, so each
territory is one piece by construction; units no share reaches go to the bordering
territory that most lacks them. The search (descent, recombination, annealing) finishes.
"""
from __future__ import annotations

import heapq

import numpy as np
from scipy.sparse import csr_array
from scipy.sparse.csgraph import dijkstra

from ._lp import _balance_entries, _elastic_columns, _highs, _run_colwise, pair_cost
from ._problem import Problem

__all__ = ["applicable", "anchors", "path_lp", "grow", "homes_start"]

#: a territory's ball holds this many times its target of every measure (at least)
BALL_FACTOR = 4.0
#: at most this many (unit, territory) columns (the LP gets slow beyond it)
MAX_PAIRS = 400_000


def applicable(P: Problem) -> bool:
    """Every centre fixed, one connected unit graph with contiguity, a measure to balance,
    no current plan and every territory anchored at a locked unit (its home)."""
    if P.indptr is None or not P.contiguity or P.m == 0 or P.current is not None or P.k < 2:
        return False
    if not P.fixed.all() or P.frozen.any():
        return False
    return all(len(a) for a in anchors(P))


def anchors(P: Problem) -> list[np.ndarray]:
    """Locked units of each territory (the home unit with ``home_inside``)."""
    lk = np.flatnonzero(P.lock >= 0)
    return [lk[P.lock[lk] == t] for t in range(P.k)]


def _graph(P: Problem) -> csr_array:
    src = np.repeat(np.arange(P.n), np.diff(P.indptr))
    dst = P.indices
    length = np.sqrt(((P.xy[src] - P.xy[dst]) ** 2).sum(1)) + 1e-3
    return csr_array((length, (src, dst)), shape=(P.n, P.n))


def path_lp(P: Problem, time_limit: float = 30.0, ball: float = BALL_FACTOR) -> dict | None:
    """The transport LP with shortest-path contiguity rows around each home.

    Returns ``{"x", "pu", "pt", "D", "slack", "status"}`` (shares per candidate pair, the
    (k, n) graph distances from each home) or None when the LP could not be built."""
    n, k = P.n, P.k
    anc = anchors(P)
    D = dijkstra(_graph(P), directed=False, indices=[int(a[0]) for a in anc])  # (k, n)
    # balls: each territory reaches the units nearest its home until it holds `ball` times
    # its target of every measure; every unit is in the ball of its nearest home
    near = D.argmin(0)
    radius = np.zeros(k)
    for t in range(k):
        order = np.argsort(D[t], kind="stable")
        cum = np.cumsum(P.A[order], axis=0)
        need = ball * P.T[t]
        reach = np.all(cum >= need[None, :], axis=1)
        j = int(np.argmax(reach)) if reach.any() else n - 1
        radius[t] = D[t, order[j]]
        own = near == t
        if own.any():
            radius[t] = max(radius[t], float(D[t, own].max()))
    cand = D <= radius[:, None]  # (k, n), closed under shortest-path predecessors
    lk = P.lock >= 0
    cand[:, lk] = False
    cand[P.lock[lk], np.flatnonzero(lk)] = True
    pt, pu = np.nonzero(cand)
    if len(pu) > MAX_PAIRS:
        return None
    order = np.lexsort((pt, pu))
    pu, pt = pu[order], pt[order]
    ncol = len(pu)
    col = np.full((k, n), -1, np.int64)
    col[pt, pu] = np.arange(ncol)
    cost = P.w[pu] * pair_cost(P, pu, pt, P.centers)
    cscale = float(cost.mean()) if cost.size and cost.mean() > 0 else 1.0
    c = cost / cscale
    active_t, nb, rows, cols, vals = _balance_entries(P, pu, pt)
    # precedence rows: x[u,t] - sum of closer neighbours' x[v,t] <= 0 (not for anchors)
    src = np.repeat(np.arange(n), np.diff(P.indptr))
    dst = P.indices
    is_anchor = np.zeros((k, n), bool)
    for t, a in enumerate(anc):
        is_anchor[t, a] = True
    need = ~is_anchor[pt, pu]
    prow = np.full(ncol, -1, np.int64)
    prow[need] = n + nb + np.arange(int(need.sum()))
    npr = int(need.sum())
    # every (edge u-v, territory t) with both candidates and v closer to t's home than u
    eu = np.repeat(src, k)
    ev = np.repeat(dst, k)
    et = np.tile(np.arange(k), len(src))
    ok = (col[et, eu] >= 0) & (col[et, ev] >= 0) & (D[et, ev] < D[et, eu])
    eu, ev, et = eu[ok], ev[ok], et[ok]
    cu = col[et, eu]
    ok2 = prow[cu] >= 0
    rows += [prow[need], prow[cu[ok2]]]
    cols += [np.flatnonzero(need), col[et[ok2], ev[ok2]]]
    vals += [np.ones(npr), -np.ones(int(ok2.sum()))]
    rows, cols, vals, start, ntot = _elastic_columns(rows, cols, vals, n, ncol, nb)
    pen = float(max(c.sum(), 1.0)) * 10.0
    tol = P.tol
    h, highspy = _highs()
    h.setOptionValue("time_limit", float(max(time_limit, 0.05)))
    h.setOptionValue("solver", "ipm")  # interior point without crossover: shares suffice
    h.setOptionValue("run_crossover", "off")
    _run_colwise(h, highspy, np.r_[c, np.full(2 * nb, pen)], np.r_[np.ones(ncol), np.full(2 * nb, highspy.kHighsInf)],
                 np.r_[np.ones(n), np.tile(1 - tol, len(active_t)), np.full(npr, -highspy.kHighsInf)],
                 np.r_[np.ones(n), np.tile(1 + tol, len(active_t)), np.zeros(npr)], start, rows, vals)
    status = h.modelStatusToString(h.getModelStatus())
    x = np.asarray(h.getSolution().col_value)
    if len(x) != ntot:
        return None
    return {"x": x[:ncol].clip(0, 1), "pu": pu, "pt": pt, "D": D, "slack": float(x[ncol:].sum()),
            "status": status}


def grow(P: Problem, x: np.ndarray, pu: np.ndarray, pt: np.ndarray, D: np.ndarray) -> np.ndarray:
    """Round shares ``x`` over pairs (``pu``, ``pt``) to a plan in which every territory is
    one piece: grow all territories from their anchors, one bordering unit at a time, always
    for the territory furthest below its target (on the measure it lacks most), which takes
    its bordering unit with the largest priority: the largest share on any chain through the
    unit away from the home (a unit with a small share on the way to the territory's large
    ones counts as much), ties nearer the home. A territory that reaches every target, or
    has no bordering free unit, stops; the units left go to the bordering territory that
    lacks the most."""
    n, k = P.n, P.k
    share = {}
    for u, t, v in zip(pu.tolist(), pt.tolist(), x.tolist()):
        if v > 1e-6:
            share[(u, t)] = v
    far_first = np.lexsort((-D[pt, pu], pt))
    for c in far_first.tolist():
        u, t = int(pu[c]), int(pt[c])
        s = share.get((u, t), 0.0)
        if s <= 0:
            continue
        du = D[t, u]
        for v in P.indices[P.indptr[u]:P.indptr[u + 1]].tolist():
            if D[t, v] < du and share.get((v, t), 0.0) < s:
                share[(v, t)] = s
    a = np.full(n, -1, np.int64)
    tot = np.zeros((k, P.m))
    Tinv = 1.0 / np.maximum(P.T, 1e-300)
    nbrs = [P.indices[P.indptr[i]:P.indptr[i + 1]].tolist() for i in range(n)]
    heaps: list[list] = [[] for _ in range(k)]

    def take(u: int, t: int) -> None:
        a[u] = t
        tot[t] += P.A[u]
        for v in nbrs[u]:
            if a[v] < 0:
                heapq.heappush(heaps[t], (-share.get((v, t), 0.0), float(D[t, v]), v))

    for t, anc in enumerate(anchors(P)):
        for u in anc.tolist():
            take(int(u), t)
    lack = (1.0 - tot * Tinv).max(1)
    active = np.ones(k, bool)
    for only_shares in (True, False):
        active[:] = True
        while active.any():
            t = int(np.flatnonzero(active)[np.argmax(lack[active])])
            if only_shares and lack[t] <= 0:
                active[t] = False
                continue
            h = heaps[t]
            while h and (a[h[0][2]] >= 0 or (only_shares and h[0][0] >= 0)):
                if a[h[0][2]] >= 0:
                    heapq.heappop(h)
                else:
                    break
            if not h or a[h[0][2]] >= 0 or (only_shares and h[0][0] >= 0):
                active[t] = False
                continue
            _, _, u = heapq.heappop(h)
            take(u, t)
            lack[t] = float((1.0 - tot[t] * Tinv[t]).max())
    rest = np.flatnonzero(a < 0)  # not reachable from any anchor (another component)
    if len(rest):
        a[rest] = D[:, rest].argmin(0)
    return a


def homes_start(P: Problem, time_limit: float) -> tuple[np.ndarray, dict] | None:
    """A start plan for a rep-home design: :func:`path_lp` rounded by :func:`grow`; None when
    not applicable or the LP gave nothing."""
    if not applicable(P):
        return None
    sol = path_lp(P, time_limit=time_limit)
    if sol is None:
        return None
    a = grow(P, sol["x"], sol["pu"], sol["pt"], sol["D"])
    return a, {"slack": sol["slack"], "status": sol["status"], "pairs": len(sol["pu"])}
