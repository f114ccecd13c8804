"""Multi-measure recursive bisection: a construction for several balance measures at once.

Single-unit moves (descent, annealing) stall when measures disagree *regionally* (the
western states hold 39 % of the land but 16 % of the ZIPs): every territory must mix regions
in the national ratio, which takes coordinated shifts across many territories. Recursive
bisection makes those shifts first, top-down: a region that must hold ``k`` territories
is cut in two connected parts for ``k1 = k // 2`` and ``k - k1`` territories, and each part
gets its share ``k1 / k`` (by the territories' targets) of **every** measure at once; then
each part is cut again, down to single territories.

One cut of a region (all on the unit graph, both sides kept connected):

1. candidates: straight-line cuts at ``ANGLES`` directions (units sorted by their
   projection; the prefix whose worst measure is closest to its share), each made one piece
   per side (stray fragments join the other side); the same "grown" sweeps (each prefix
   connected) by distance from ``DISCS`` sampled units; disc cuts with the first measure
   at its share whose second measure's signed error is bisected to zero between two
   centres of opposite sign (``_disc_roots``); and cuts of ``TREES`` random spanning
   trees of the region (the subtree whose measures are closest to their shares: both sides
   connected by construction, the multi-constraint tree cut of ReCom);
2. the best few (worst relative error over the measures, in tolerance units) are repaired
   by boundary moves: a unit on the cut moves to the other side when that lowers the sum of
   squared errors (plus boundary smoothness and a small distance term), the giving side
   staying connected (the unit's neighbours on its side hang together);
3. the repaired candidate with the smallest error wins (among those within ``GOAL`` of the
   tolerance, the one with the fewest cut edges).

Errors of the levels add up (a side ``d`` off hands that bias to all its territories), so
each cut aims at ``GOAL`` x tolerance; the search that follows (annealing, recombination,
compactness descent) fine-tunes. Pure numpy/scipy, deterministic for a seed.
"""
from __future__ import annotations

import numpy as np
from scipy.sparse import csr_array
from scipy.sparse.csgraph import breadth_first_order, connected_components, minimum_spanning_tree

__all__ = ["bisect_plan", "applicable"]

#: straight-line cut directions tried per region
ANGLES = 48
#: disc cuts (units sorted by distance from a sampled unit) per region
DISCS = 24
#: geometric cuts made one piece per side and scored (the best by raw error)
ONE_PIECE_BEST = 16
#: random spanning trees cut per region
TREES = 8
#: candidates repaired per region (the best by error before repair)
REPAIR_BEST = 3
#: skip the disc root search when a line cut is already within GOAL (faster)
SKIP_DISCS_WHEN_EASY = False
#: score a cut by the best next cut of each side too (see _cut_once)
LOOKAHEAD = False
#: bisection steps on a disc's size when the pockets it encloses join it
POCKET_STEPS = 12
#: extra rounds of disc and tree cuts for a region whose best cut misses GOAL
RETRIES = 3
#: each cut aims at this fraction of the tolerance (errors of the levels add up)
GOAL = 0.15
#: boundary-move rounds per repair (each moves at most one unit)
REPAIR_ROUNDS = 200
#: weight of boundary smoothness (neighbours on the receiving side) in the repair's order
SMOOTH = 0.5
#: boundary units tried per repair round (best first, each re-scored before it moves)
MOVES_PER_ROUND = 64
#: quick mode (large maps: all-US ZIPs, k=500): regions above this many units get only
#: QUICK_ANGLES line sweeps, QUICK_DISCS disc sweeps and two METIS bisections (pymetis:
#: one on the measures' summed shares, one with every measure as a vertex weight), no disc
#: root search and no retries; smaller regions get QUICK_SMALL_* sweeps and the tree cuts
QUICK_REGION = 2000
QUICK_ANGLES = 8
QUICK_DISCS = 4
#: quick mode, smaller regions: line and disc sweeps (the tree cuts as usual)
QUICK_SMALL_ANGLES = 16
QUICK_SMALL_DISCS = 8


def applicable(P) -> bool:
    """Bisection builds a plan from scratch: free centres, no locks or frozen territories, no
    current plan to stay near, a connected unit graph, several balance measures."""
    if P.m < 2 or P.indptr is None or P.k < 2 or P.current is not None:
        return False
    if P.fixed.any() or (P.lock >= 0).any() or P.frozen.any() or P.cost is not None:
        return False
    g = csr_array((np.ones(len(P.indices)), P.indices, P.indptr), shape=(P.n, P.n))
    return connected_components(g, directed=False)[0] == 1


def bisect_plan(P, rng: np.random.Generator, deadline: float | None = None, stop=None,
                quick: bool = False) -> np.ndarray | None:
    """A contiguous plan (territory per unit) from multi-measure recursive bisection.

    After ``deadline`` (``time.monotonic()``) the remaining cuts skip the extra rounds;
    ``stop()`` returning true (cancelled, out of time) aborts and returns None. ``quick``:
    no extra rounds at all, and regions above ``QUICK_REGION`` units get a few line and disc
    sweeps plus METIS bisections instead of the full candidate set, smaller ones fewer sweeps
    (29,832 ZIPs, k=500: 54-59 s under load 5, the line-cut-only bisection 106 s)."""
    g = csr_array((np.ones(len(P.indices)), P.indices, P.indptr), shape=(P.n, P.n))
    a = np.zeros(P.n, np.int64)
    scale = P.A.sum(0) / max(P.n, 1)
    scale[scale <= 0] = 1.0
    tol = np.maximum(P.tol, 1e-6)
    import time

    stack = [(np.arange(P.n), np.arange(P.k))]
    fast = quick
    while stack:
        if stop is not None and stop():
            return None
        if deadline is not None and time.monotonic() > deadline:
            fast = True  # out of its time: line cuts and their repair only
        units, terr = stack.pop()
        if len(terr) == 1:
            a[units] = terr[0]
            continue
        if len(units) < len(terr):  # cannot happen on a connected graph with n >= k; guard
            a[units] = terr[np.arange(len(units)) % len(terr)]
            continue
        k1 = len(terr) // 2
        t1, t2 = terr[:k1], terr[k1:]
        share = P.T[t1].sum(0) / np.maximum(P.T[terr].sum(0), 1e-300)
        big = quick and len(units) > QUICK_REGION
        sweeps = ((QUICK_ANGLES, QUICK_DISCS) if big else (QUICK_SMALL_ANGLES, QUICK_SMALL_DISCS)) if quick \
            else (ANGLES, DISCS)
        side = _cut(P, g, units, share, len(t1), len(t2), tol, rng, fast, deadline, quick=big, sweeps=sweeps)
        stack.append((units[side], t1))
        stack.append((units[~side], t2))
    return a


# ---------------------------------------------------------------------------------------
def _err(S1, R, share, tol):
    """Worst relative error of side 1's measures against their shares, in tolerance units."""
    return np.max(np.abs(S1 / np.maximum(R, 1e-300) - share) / (share * tol))


def _cut(P, g, units, share, k1, k2, tol, rng, fast=False, deadline=None, quick=False, sweeps=(ANGLES, DISCS)):
    """Boolean mask over ``units``: True = side 1 (the ``k1`` territories). Up to
    ``RETRIES`` more rounds of disc and tree cuts (other centres, other trees) while the best
    cut misses ``GOAL``."""
    best = None
    for attempt in range(1 + (0 if fast else RETRIES)):
        e, side = _cut_once(P, g, units, share, k1, k2, tol, rng, lines=(attempt == 0), fast=fast,
                            deadline=deadline, quick=quick, sweeps=sweeps)
        if best is None or e < best[0]:
            best = (e, side)
        if best[0] <= GOAL:
            break
    return best[1]


def _cut_once(P, g, units, share, k1, k2, tol, rng, lines=True, fast=False, deadline=None, quick=False,
              sweeps=(ANGLES, DISCS)):
    """One round of candidate cuts: (error, side mask) of the best. The disc root search
    stops at ``deadline`` (``time.monotonic()``) with the discs it has, so one large cut cannot
    outlast the start's time. ``sweeps``: numbers of line and disc sweeps; ``quick``: METIS
    bisections too."""
    n = len(units)
    sub = g[units][:, units]
    sub = csr_array(sub)
    A = P.A[units]
    R = A.sum(0)
    xy = P.xy[units]
    cands = []
    raw = []  # (error before the one-piece fix, side mask) of the geometric cuts
    lo = min(k1, n - 1) - 1
    hi = max(n - k2, lo + 1)
    lo2 = min(k2, n - 1) - 1
    hi2 = max(n - k1, lo2 + 1)

    def sweep(key):
        # the prefix of the units sorted by ``key`` closest to side 1's share, and the
        # prefix closest to side 2's share (then side 1 is the rest)
        order = _grow(sub.indptr, sub.indices, key)
        cum = np.cumsum(A[order], 0) / np.maximum(R, 1e-300)
        e = np.max(np.abs(cum - share) / (share * tol), 1)
        i = lo + int(np.argmin(e[lo:hi]))
        side = np.zeros(n, bool)
        side[order[: i + 1]] = True
        raw.append((float(e[i]), side))
        if True:  # the grown part as side 2 (side 1 = the rest, possibly in pockets)
            e2 = np.max(np.abs(cum - (1 - share)) / (share * tol), 1)
            i = lo2 + int(np.argmin(e2[lo2:hi2]))
            side = np.ones(n, bool)
            side[order[: i + 1]] = False
            raw.append((float(e2[i]), side))

    # 1. straight-line cuts (a ham-sandwich cut exists for two measures and equal halves) and
    #    disc cuts around sampled units (for unequal shares, where no line may balance both)
    n_ang = sweeps[0] if lines else 0
    for th in 2 * np.pi * np.arange(n_ang) / max(n_ang, 1):
        sweep(xy @ np.array([np.cos(th), np.sin(th)]))
    for c in xy[rng.choice(n, min(n, sweeps[1]), replace=False)]:
        sweep(((xy - c) ** 2).sum(1))
    if quick:
        for multi in (False, True):
            side = _metis_side(sub, A, R, share, k1, k2, int(rng.integers(2**31 - 1)), multi)
            if side is not None:
                raw.append((_err(A[side].sum(0), R, share, tol), side))
    raw.sort(key=lambda x: x[0])
    for _, side in raw[:ONE_PIECE_BEST]:
        side = _one_piece(sub, side, A, share, R)
        if side is not None:
            cands.append(side)
    raw = []
    easy = any(_err(A[sd].sum(0), R, share, tol) <= GOAL for sd in cands)
    if P.m >= 2 and n > 3 and not fast and not (easy and SKIP_DISCS_WHEN_EASY):
        # disc cuts with the first measure exact and the second found by root-finding: a
        # disc around a dense place holds too little of a sparse measure, one around an
        # empty place too much, so between two such centres the second error changes sign
        for grown_side in (True, False):
            cands.extend(_disc_roots(sub, A, R, xy, share, tol, k1, k2, grown_side, rng, deadline=deadline))
    raw.sort(key=lambda x: x[0])
    for _, side in raw[:ONE_PIECE_BEST]:
        side = _one_piece(sub, side, A, share, R)
        if side is not None:
            cands.append(side)
    # 2. random spanning-tree cuts (both sides connected by construction)
    if n > 2:
        coo = sub.tocoo()
        up = coo.row < coo.col
        r_, c_ = coo.row[up], coo.col[up]
        for _ in range(TREES):
            wts = rng.random(len(r_)) + 1e-3
            tree = minimum_spanning_tree(csr_array((wts, (r_, c_)), shape=(n, n)))
            tree = tree + tree.T
            root = int(rng.integers(n))
            order, pred = breadth_first_order(tree, root, directed=False)
            acc = A.copy()
            cnt = np.ones(n)
            for v in order[:0:-1]:
                p = pred[v]
                acc[p] += acc[v]
                cnt[p] += cnt[v]
            rel = acc / np.maximum(R, 1e-300)
            e1 = np.max(np.abs(rel - share) / (share * tol), 1)  # subtree = side 1
            e2 = np.max(np.abs((1 - rel) - share) / (share * tol), 1)  # subtree = side 2
            e1[root] = e2[root] = np.inf
            e1[(cnt < k1) | (n - cnt < k2)] = np.inf
            e2[(cnt < k2) | (n - cnt < k1)] = np.inf
            v1, v2 = int(np.argmin(e1)), int(np.argmin(e2))
            flip = e2[v2] < e1[v1]
            v = v2 if flip else v1
            if not np.isfinite(min(e1[v1], e2[v2])):
                continue
            # the subtree of v: units whose BFS ancestors pass through v
            inside = np.zeros(n, bool)
            inside[v] = True
            for u in order:
                if u != root and inside[pred[u]]:
                    inside[u] = True
            cands.append(~inside if flip else inside)
    if not cands:  # pragma: no cover - a connected region always has a line cut
        side = np.zeros(n, bool)
        side[: max(1, n * k1 // (k1 + k2))] = True
        return np.inf, side
    errs = np.array([_err(A[s].sum(0), R, share, tol) for s in cands])
    best = []
    for i in np.argsort(errs, kind="stable")[:REPAIR_BEST]:
        s = _repair(sub, cands[i].copy(), A, R, share, tol, xy, k1, k2)
        best.append((_err(A[s].sum(0), R, share, tol), s))
    # look one level ahead: a side whose measures sit at opposite ends (a path from the
    # dense to the sparse place) cannot be cut again into balanced connected parts, so a
    # cut is scored by its own error and by the best next cut of each side (connected line
    # sweeps); among those within GOAL, the fewest cut edges
    scored = []
    for e, sd in best:
        la = max(_lookahead(sub, A, xy, sd, k1, tol), _lookahead(sub, A, xy, ~sd, k2, tol)) if LOOKAHEAD else 0.0
        scored.append((max(e, la), _cut_edges(sub, sd), e, sd))
    good = [x for x in scored if x[0] <= GOAL]
    if good:
        _, _, e, sd = min(good, key=lambda x: (x[1], x[0]))
    else:
        _, _, e, sd = min(scored, key=lambda x: (x[0], x[1]))
    return e, sd


def _metis_side(sub, A, R, share, k1, k2, seed: int, multi: bool):
    """METIS bisection of the region (pymetis, contiguous parts requested) with side 1's
    share as its target weight: vertex weights are the units' summed shares of the measures
    (``multi`` false) or every measure's share as its own constraint (METIS multi-constraint;
    it balances them loosely on real maps, 10 % off at the top of all-US ZIPs, so the repair
    and the other candidates still decide). None when METIS fails or leaves a side with too
    few units for its territories."""
    import warnings

    import pymetis

    n = len(A)
    sh = A / np.maximum(R, 1e-300)
    if not multi:
        sh = sh.sum(1, keepdims=True)
    vw = np.maximum(np.rint(sh * (1e6 / np.maximum(sh.sum(0), 1e-300))), 1).astype(np.int64)
    f = float(np.clip(np.mean(share), 1e-6, 1 - 1e-6))
    opt = pymetis.Options()
    opt.contig = 1
    opt.ufactor = 1
    opt.seed = seed
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = pymetis.part_graph(2, pymetis.CSRAdjacency(sub.indptr.tolist(), sub.indices.tolist()),
                                     vweights=vw.ravel().tolist(), tpwgts=[f, 1 - f], options=opt)
    except Exception:  # pragma: no cover - METIS refuses the region: other candidates remain
        return None
    side = np.asarray(res.vertex_part) == 0
    if side.sum() < k1 or (~side).sum() < k2:
        return None
    return side


def _lookahead(sub, A, xy, side, kk, tol, angles=16):
    """Error of the best connected line sweep of the units of ``side`` into ``kk // 2`` and
    ``kk - kk // 2`` territories (0 for a single territory)."""
    if kk < 2:
        return 0.0
    idx = np.flatnonzero(side)
    if len(idx) < kk:
        return np.inf
    ss = csr_array(sub[idx][:, idx])
    a_, x_ = A[idx], xy[idx]
    R = a_.sum(0)
    sh = np.full(A.shape[1], (kk // 2) / kk)
    lo, hi = kk // 2 - 1, len(idx) - (kk - kk // 2)
    best = np.inf
    for th in 2 * np.pi * np.arange(angles) / angles:
        order = _grow(ss.indptr, ss.indices, x_ @ np.array([np.cos(th), np.sin(th)]))
        cum = np.cumsum(a_[order], 0) / np.maximum(R, 1e-300)
        e = np.max(np.abs(cum - sh) / (sh * tol), 1)
        i = lo + int(np.argmin(e[lo:max(hi, lo + 1)]))
        if e[i] >= best:
            continue
        sd = np.zeros(len(idx), bool)
        sd[order[: i + 1]] = True
        sd = _one_piece(ss, sd, a_, sh, R)  # the rest in one piece too
        if sd is not None:
            best = min(best, _err(a_[sd].sum(0), R, sh, tol))
    return best


def _disc_side(sub, A, R, xy, share, c, grown_side, k1, k2):
    """The disc grown around ``c`` until it holds its side's share of the first measure
    (side 1 = the disc when ``grown_side``, else the rest), made one piece per side."""
    n = len(xy)
    order = _grow(sub.indptr, sub.indices, ((xy - c) ** 2).sum(1))
    cum0 = np.cumsum(A[order, 0]) / max(R[0], 1e-300)
    want = share[0] if grown_side else 1 - share[0]
    lo, hi = (k1, n - k2) if grown_side else (k2, n - k1)
    lo, hi = lo - 1, hi - 1  # prefix indices allowed

    def side_at(i):
        sd = np.zeros(n, bool) if grown_side else np.ones(n, bool)
        sd[order[: i + 1]] = grown_side
        sd = _one_piece(sub, sd, A, share, R)
        if sd is None:
            return None, np.inf
        return sd, A[sd == grown_side, 0].sum() / max(R[0], 1e-300)

    # pockets the disc encloses join it (one piece per side): shrink the disc until the
    # first measure, pockets included, is at its share (a bisection on the prefix length)
    i_hi = min(max(int(np.searchsorted(cum0, want)), lo), hi)
    sd, got = side_at(i_hi)
    if sd is None or got <= want:
        return sd
    i_lo = lo
    best = (abs(got - want), sd)
    for _ in range(POCKET_STEPS):
        if i_hi - i_lo <= 1:
            break
        mid = (i_lo + i_hi) // 2
        sm, gm = side_at(mid)
        if sm is not None and abs(gm - want) < best[0]:
            best = (abs(gm - want), sm)
        if sm is not None and gm > want:
            i_hi = mid
        else:
            i_lo = mid
    return best[1]


def _disc_roots(sub, A, R, xy, share, tol, k1, k2, grown_side, rng, n_centres=16, steps=12, deadline=None):
    """Disc cuts whose second measure's signed error is bisected to zero along the segment
    between two centres of opposite sign (the first measure held at its share)."""
    n = len(xy)
    inv = 1.0 / (share * tol)
    cs = xy[rng.choice(n, min(n, n_centres), replace=False)]
    ev = []
    import time

    def late() -> bool:
        return deadline is not None and time.monotonic() > deadline

    for c in cs:
        if late() and ev:
            break
        sd = _disc_side(sub, A, R, xy, share, c, grown_side, k1, k2)
        if sd is not None:
            ev.append((c, (A[sd].sum(0) / np.maximum(R, 1e-300) - share) * inv, sd))
    out = [min(ev, key=lambda x: np.abs(x[1]).max())[2]] if ev else []
    pos = [x for x in ev if x[1][1] > 0]
    neg = [x for x in ev if x[1][1] < 0]
    pairs = sorted(((((p[0] - q[0]) ** 2).sum(), ip, iq) for ip, p in enumerate(pos) for iq, q in enumerate(neg)))[:4]
    for _, ip, iq in pairs:
        if late():
            break
        (ca, ea, sa), (cb, eb, sb) = pos[ip], neg[iq]
        best = min(((np.abs(ea).max(), sa), (np.abs(eb).max(), sb)), key=lambda x: x[0])
        for _ in range(steps):
            if SKIP_DISCS_WHEN_EASY and best[0] <= 0.5 * GOAL:
                break
            cm = 0.5 * (ca + cb)
            sm = _disc_side(sub, A, R, xy, share, cm, grown_side, k1, k2)
            if sm is None:
                break
            em = (A[sm].sum(0) / np.maximum(R, 1e-300) - share) * inv
            if np.abs(em).max() < best[0]:
                best = (np.abs(em).max(), sm)
            if em[1] > 0:
                ca = cm
            else:
                cb = cm
        out.append(best[1])
    return out


def _grow(indptr, indices, key):
    """Units in the order a region grows from the unit of smallest ``key``, always adding
    the neighbouring unit of smallest ``key`` (every prefix is connected)."""
    import heapq

    n = len(key)
    keyl = key.tolist()
    start = int(np.argmin(key))
    seen = np.zeros(n, bool)
    seen[start] = True
    heap = [(keyl[start], start)]
    out = []
    ip, ix = indptr.tolist(), indices.tolist()
    while heap:
        _, u = heapq.heappop(heap)
        out.append(u)
        for v in ix[ip[u]:ip[u + 1]]:
            if not seen[v]:
                seen[v] = True
                heapq.heappush(heap, (keyl[v], v))
    if len(out) < n:  # pragma: no cover - the region is connected
        rest = np.flatnonzero(~seen)
        out.extend(rest[np.argsort(key[rest], kind="stable")].tolist())
    return np.asarray(out)


def _cut_edges(sub, side):
    coo = sub.tocoo()
    return int((side[coo.row] != side[coo.col]).sum())


def _one_piece(sub, side, A, share, R):
    """Make both sides connected: keep each side's largest component (by the measures'
    shares), fragments join the other side (they border it: the region is connected).
    None when a side ends empty."""
    n = len(side)
    if not hasattr(sub, "_src"):
        coo = sub.tocoo()
        sub._src, sub._dst = coo.row, coo.col
    src, dst = sub._src, sub._dst
    wt = (A / np.maximum(R, 1e-300)).sum(1) + 1e-12
    for which in (True, False):
        mask = side == which
        if not mask.any():
            return None
        keep_e = mask[src] & mask[dst]
        gg = csr_array((np.ones(int(keep_e.sum())), (src[keep_e], dst[keep_e])), shape=(n, n))
        ncomp, lab = connected_components(gg, directed=False)
        labs = lab[mask]
        if len(np.unique(labs)) > 1:
            size = np.bincount(labs, wt[mask], ncomp)
            keep = int(size.argmax())
            side[mask & (lab != keep)] = not which
    if side.all() or not side.any():
        return None
    return side


def _repair(sub, side, A, R, share, tol, xy, k1, k2):
    """Boundary moves between the two sides that lower Σ_j (error_j / tol_j)², each side
    kept connected (a moved unit's neighbours on its old side must hang together)."""
    indptr, indices = sub.indptr, sub.indices
    n = len(side)
    Rn = np.maximum(R, 1e-300)
    An = A / Rn  # share of the region per unit
    w = 1.0 / (share * tol)
    S1 = An[side].sum(0)
    src = np.repeat(np.arange(n), np.diff(indptr))
    dst = indices
    diam2 = max(float(((xy - xy.mean(0)) ** 2).sum(1).mean()), 1e-12)
    e = (S1 - share) * w
    for _ in range(REPAIR_ROUNDS):
        if np.max(np.abs(e)) <= 0.25 * GOAL:
            break
        bnd = np.unique(src[side[src] != side[dst]])
        if len(bnd) == 0:
            break
        sgn = np.where(side[bnd], -1.0, 1.0)  # moving to side 1 adds, to side 2 removes
        e_new = e[None, :] + sgn[:, None] * An[bnd] * w[None, :]
        gain = (e ** 2).sum() - (e_new ** 2).sum(1)
        # a small compactness term: prefer units close to the receiving side's centroid
        c1 = xy[side].mean(0)
        c2 = xy[~side].mean(0)
        d_to = np.where(side[bnd], ((xy[bnd] - c2) ** 2).sum(1), ((xy[bnd] - c1) ** 2).sum(1))
        d_from = np.where(side[bnd], ((xy[bnd] - c1) ** 2).sum(1), ((xy[bnd] - c2) ** 2).sum(1))
        # boundary smoothness (as in Fiduccia-Mattheyses): prefer units with more neighbours
        # on the receiving side; it keeps the cut from growing tentacles
        other = np.bincount(src, side[src] != side[dst], n)[bnd]
        deg = np.maximum(np.diff(indptr)[bnd], 1)
        smooth = (2.0 * other - deg) / deg
        scale = max(float(np.abs(gain).max()), 1e-12)
        score = gain + SMOOTH * scale * smooth - 0.02 * (d_to - d_from) / diam2 * scale
        n1 = int(side.sum())
        moved = 0
        for i in np.argsort(-score, kind="stable")[:MOVES_PER_ROUND]:
            u = int(bnd[i])
            s = bool(side[u])
            sg = -1.0 if s else 1.0
            e_try = e + sg * An[u] * w
            if (e ** 2).sum() - (e_try ** 2).sum() <= 1e-12:
                continue
            if (s and n1 - 1 < k1) or (not s and n - n1 - 1 < k2):
                continue
            nbu = indices[indptr[u]:indptr[u + 1]]
            if not (side[nbu] != s).any():  # no longer on the cut
                continue
            if not _stays_connected(indptr, indices, side, u):
                continue
            side[u] = not s
            n1 += -1 if s else 1
            e = e_try
            moved += 1
            if np.max(np.abs(e)) <= 0.25 * GOAL:
                break
        if not moved:
            break
    return side


def _stays_connected(indptr, indices, side, u):
    """Sufficient test: ``u``'s neighbours on its side are connected among themselves
    through its side (a BFS on the side without ``u``, stopped once all are reached)."""
    s = side[u]
    nb = [int(v) for v in indices[indptr[u]:indptr[u + 1]] if side[v] == s and v != u]
    if len(nb) == 0:
        return False  # u alone on its side
    if len(nb) == 1:
        return True
    want = set(nb)
    seen = {nb[0], u}
    stack = [nb[0]]
    found = 1
    while stack and found < len(want):
        v = stack.pop()
        for x in indices[indptr[v]:indptr[v + 1]]:
            x = int(x)
            if x not in seen and side[x] == s:
                seen.add(x)
                if x in want:
                    found += 1
                stack.append(x)
    return found >= len(want)
