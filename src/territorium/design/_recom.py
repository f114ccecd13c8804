"""Recombination: merge a territory that misses a tolerance with one or two neighbours and
split the merged region again along a cut of a random spanning tree.

This is the ReCom move of DeFord, Duchin & Solomon (2019, "Recombination: a family of Markov
chains for redistricting"), used here as a large-neighbourhood improvement step rather than
a sampler, with every balance measure at once and compactness as the tie-break. Unit moves and
swaps change a territory one border unit at a time; when units are coarse (King County is 91 %
of a territory, Snohomish 23 %) the balanced combination is several units away and every step
towards it is worse. Re-splitting a merged pair or triple reaches it in one move:

* both sides of a spanning-tree edge cut are connected, so contiguity holds by construction;
* the measures, compactness sums (Σw, Σwx, Σwy, Σw|x|², Σw·cost) and lock counts of every
  subtree come from one pass over the tree in reverse depth-first order, so all n − 1 cuts of
  a tree are scored in O(n);
* a cut is valid only if each side keeps the units locked to it; it is scored by the squared
  excess over the (inner) tolerances, then by the moment of inertia (or linear cost for fixed
  centres) of the two sides;
* the best cut over ``n_trees`` trees is kept only if the plan's violation falls.

A triple is split in two steps: first one territory against the other two (with their summed
target), then the remaining pair. Pure arrays in, assignment changes out; the random spanning
trees come from the search's seeded generator, so a run is reproducible.
"""
from __future__ import annotations

import numpy as np
from scipy.sparse import coo_array
from scipy.sparse.csgraph import depth_first_order, minimum_spanning_tree

#: squared-excess weight against compactness when scoring a cut
EXCESS_WEIGHT = 1e6


def _cols(st, nodes, ta, tb_list):
    """Per-unit columns summed over subtrees: measures, Σw, Σwx, Σwy, Σwq, cost to ta, cost
    to the B side's territories, locks to ta, locks to the B side."""
    P = st.P
    w = P.w[nodes]
    xy = P.xy[nodes]
    cols = [P.A[nodes] if P.m else np.zeros((len(nodes), 0)),
            w[:, None], (w * xy[:, 0])[:, None], (w * xy[:, 1])[:, None], (w * st.q[nodes])[:, None],
            (w * st.unit_cost(nodes, np.full(len(nodes), ta)))[:, None]]
    for tb in tb_list:
        cols.append((w * st.unit_cost(nodes, np.full(len(nodes), tb)))[:, None])
    lk = P.lock[nodes]
    cols.append((lk == ta).astype(float)[:, None])
    cols.append(np.isin(lk, tb_list).astype(float)[:, None])
    return np.hstack(cols)


def _side_obj(free, S0, Sx, Sy, S2, Lc):
    with np.errstate(divide="ignore", invalid="ignore"):
        mom = np.where(S0 > 1e-300, S2 - (Sx * Sx + Sy * Sy) / np.where(S0 > 1e-300, S0, 1.0), 0.0)
    return np.maximum(mom, 0.0) if free else Lc


def _region_edges(P, nodes):
    """Local edge list (i < j) of the subgraph on ``nodes``."""
    nn = len(nodes)
    loc = np.full(P.n, -1, np.int64)
    loc[nodes] = np.arange(nn)
    ip, ix = P.indptr, P.indices
    deg = ip[nodes + 1] - ip[nodes]
    src = np.repeat(np.arange(nn), deg)
    dst = loc[np.concatenate([ix[ip[u]:ip[u + 1]] for u in nodes.tolist()])]
    m = (dst >= 0) & (src < dst)
    return src[m], dst[m]


def _tree_sums(nn, s_, d_, C, rng, extra=None):
    """A random spanning tree of the region (edge weights uniform, plus ``extra``): its
    depth-first order, predecessors, root and every subtree's column sums; None when the
    region is not connected."""
    wts = rng.random(len(s_)) + 1e-3
    if extra is not None:
        wts = wts + extra
    G = coo_array((wts, (s_, d_)), shape=(nn, nn)).tocsr()
    tree = minimum_spanning_tree(G)
    tree = tree + tree.T
    root = int(rng.integers(nn))
    order, pred = depth_first_order(tree, root, directed=False, return_predecessors=True)
    if len(order) != nn:
        return None
    # a subtree is a contiguous run of the depth-first order, so its sums are differences of
    # prefix sums (one row add per unit in a Python loop took 2/3 of the time)
    size = [1] * nn
    pl = pred.tolist()
    for v in order[:0:-1].tolist():
        size[pl[v]] += size[v]
    pos = np.empty(nn, np.int64)
    pos[order] = np.arange(nn)
    cs = np.zeros((nn + 1, C.shape[1]))
    np.cumsum(C[order], axis=0, out=cs[1:])
    sub = cs[pos + np.asarray(size)] - cs[pos]
    return order, pred, root, sub


def _subtree(nn, order, pred, v) -> np.ndarray:
    """Boolean mask of the subtree below ``v`` (contiguous in depth-first order)."""
    pos = np.empty(nn, np.int64)
    pos[order] = np.arange(nn)
    size = np.ones(nn, np.int64)
    for x in order[:0:-1].tolist():
        size[pred[x]] += size[x]
    inside = np.zeros(nn, bool)
    inside[order[pos[v]:pos[v] + size[v]]] = True
    return inside


def split(st, nodes: np.ndarray, ta: int, tb_list: list[int], rng: np.random.Generator, n_trees: int,
          tol: np.ndarray, scale: float):
    """Best cut of the connected region ``nodes`` into a side for ``ta`` and a side for the
    territories ``tb_list`` (their summed target). Returns (score, units of the ta side) or
    None (region not connected, no cut keeps the locks)."""
    P = st.P
    nn = len(nodes)
    if nn < 2:
        return None
    s_, d_ = _region_edges(P, nodes)
    if len(s_) < nn - 1:
        return None
    C = _cols(st, nodes, ta, tb_list)
    tot = C.sum(0)
    m_ = P.m
    Ta = P.T[ta]
    Tb = P.T[tb_list].sum(0)
    nb_lock_a = tot[-2]
    one_b = len(tb_list) == 1
    best = None
    for _ in range(n_trees):
        drawn = _tree_sums(nn, s_, d_, C, rng)
        if drawn is None:
            return None
        order, pred, root, sub = drawn
        comp = tot - sub
        # side A = subtree, side B = the rest; and the mirror (A = the rest)
        best_here = None
        for A, B in ((sub, comp), (comp, sub)):
            ok = (A[:, -2] == nb_lock_a) & (A[:, -1] == 0)
            ok[root] = False
            if not ok.any():
                continue
            if m_:
                da = A[:, :m_] / Ta - 1
                db = B[:, :m_] / Tb - 1
                ex = (np.maximum(np.abs(da) - tol, 0) ** 2).sum(1) + (np.maximum(np.abs(db) - tol, 0) ** 2).sum(1)
            else:
                ex = np.zeros(nn)
            k0 = m_
            fa = _side_obj(bool(st.free[ta]), A[:, k0], A[:, k0 + 1], A[:, k0 + 2], A[:, k0 + 3], A[:, k0 + 4])
            if one_b:
                fb = _side_obj(bool(st.free[tb_list[0]]), B[:, k0], B[:, k0 + 1], B[:, k0 + 2], B[:, k0 + 3],
                               B[:, k0 + 5])
            else:  # two territories still to split: their joint moment as a proxy
                fb = _side_obj(True, B[:, k0], B[:, k0 + 1], B[:, k0 + 2], B[:, k0 + 3], B[:, k0 + 5])
            score = EXCESS_WEIGHT * ex + (fa + fb) / scale
            score[~ok] = np.inf
            v = int(np.argmin(score))
            if np.isfinite(score[v]) and (best_here is None or score[v] < best_here[0]):
                best_here = (float(score[v]), v, A is sub)
        if best_here is None:
            continue
        if best is None or best_here[0] < best[0]:
            sc, v, is_sub = best_here
            inside = _subtree(nn, order, pred, v)
            best = (sc, nodes[inside] if is_sub else nodes[~inside])
    return best


def _neighbours(st, t: int) -> list[int]:
    P = st.P
    mem = np.flatnonzero(st.a == t)
    ip, ix = P.indptr, P.indices
    nb = np.unique(st.a[np.concatenate([ix[ip[u]:ip[u + 1]] for u in mem.tolist()])]) if len(mem) else []
    return [int(b) for b in nb if b != t and not P.frozen[b]]


def recombine(srch, max_tries: int | None = None, n_trees: int = 20, patience: int = 40) -> int:
    """Recombination steps on the territories outside their tolerances (see the module
    docstring) until every tolerance holds, ``patience`` tries in a row bring nothing, or
    ``max_tries`` (default 30·k) are spent. Returns the number of steps kept."""
    st, P = srch.s, srch.P
    if P.m == 0 or P.indptr is None or P.k < 2 or P.current is not None:
        return 0
    rng = srch.rng
    tol = srch.tol_in
    max_tries = 30 * P.k if max_tries is None else max_tries
    kept = 0
    idle = 0
    for _ in range(max_tries):
        if idle >= patience or srch.out_of_time():
            break
        dev = st.dev()
        ex = np.maximum(np.abs(dev) - P.tol[None, :], 0.0).sum(1)
        ex[P.frozen] = 0.0
        bad = np.flatnonzero(ex > 0)
        if len(bad) == 0:
            break
        idle += 1
        t = int(rng.choice(bad, p=ex[bad] / ex[bad].sum()))
        nbs = _neighbours(st, t)
        if not nbs:
            continue
        # partner: the neighbour whose deviation best cancels t's (with some randomness)
        comb = np.abs(dev[t][None, :] + dev[nbs]).sum(1)
        b = nbs[int(np.argmin(comb + 0.5 * comb.mean() * rng.random(len(nbs))))]
        group = [t, b]
        if rng.random() < 0.5:  # a triple: a third territory bordering the pair
            more = sorted((set(nbs) | set(_neighbours(st, b))) - {t, b})
            if more:
                dev2 = dev[t] + dev[b]
                comb3 = np.abs(dev2[None, :] + dev[more]).sum(1)
                group.append(more[int(np.argmin(comb3 + 0.5 * comb3.mean() * rng.random(len(more))))])
        nodes = np.flatnonzero(np.isin(st.a, group))
        before = (st.violation(P.tol), st.objective())
        worst0 = float(np.abs(dev[group]).max())
        scale = max(float(st.f_terr(st.S0[group], st.Sx[group], st.Sy[group], st.S2[group], st.Lc[group],
                                    st.free[group]).sum()), 1e-12)
        first = split(st, nodes, group[0], group[1:], rng, n_trees, tol, scale)
        if first is None:
            continue
        new = {int(u): group[0] for u in first[1].tolist()}
        if len(group) == 3:
            rest = np.setdiff1d(nodes, first[1])
            second = split(st, rest, group[1], [group[2]], rng, n_trees, tol, scale)
            if second is None:
                continue
            inside = set(second[1].tolist())
            for u in rest.tolist():
                new[u] = group[1] if u in inside else group[2]
        else:
            for u in nodes.tolist():
                new.setdefault(u, group[1])
        old = {u: int(st.a[u]) for u in nodes.tolist()}
        changed = [u for u in nodes.tolist() if new[u] != old[u]]
        if not changed:
            continue
        for u in changed:
            st.move(u, new[u])
        st.sync_centers()
        after = (st.violation(P.tol), st.objective())
        if after[0] < before[0] - 1e-12:
            worst1 = float(np.abs(st.dev()[group]).max())
            for u in changed:
                srch.reason[u] = ("recombination", old[u], new[u], tuple(group), worst0, worst1)
                srch.n_moves += 1
            kept += 1
            idle = 0
        else:
            for u in changed:
                st.move(u, old[u])
            st.sync_centers()
    return kept


def _split_disruption(st, nodes, ta: int, tb: int, rng, n_trees: int, tol: np.ndarray, bias: float):
    """Least-disruption cut of the region of territories ta and tb that keeps both within
    ``tol`` and their locks: (disruption of the region, units of the ta side) or None. The
    trees prefer edges inside one current territory (``bias`` added to the others), so most
    cuts move whole branches across the current boundary."""
    P = st.P
    nn = len(nodes)
    s_, d_ = _region_edges(P, nodes)
    if nn < 2 or len(s_) < nn - 1:
        return None
    cn = P.current[nodes]
    dis = P.dis[nodes]
    lk = P.lock[nodes]
    C = np.column_stack([P.A[nodes], dis * (cn != ta), dis * (cn != tb), (lk == ta), (lk == tb)]).astype(float)
    tot = C.sum(0)
    m_ = P.m
    cross = bias * (cn[s_] != cn[d_])
    best = None
    for _ in range(n_trees):
        drawn = _tree_sums(nn, s_, d_, C, rng, cross)
        if drawn is None:
            return None
        order, pred, root, sub = drawn
        comp = tot - sub
        for A, B, is_sub in ((sub, comp, True), (comp, sub, False)):
            ok = (np.abs(A[:, :m_] / P.T[ta] - 1) <= tol).all(1) & (np.abs(B[:, :m_] / P.T[tb] - 1) <= tol).all(1)
            ok &= (A[:, m_ + 2] == tot[m_ + 2]) & (A[:, m_ + 3] == 0)
            ok[root] = False
            d = np.where(ok, A[:, m_] + B[:, m_ + 1], np.inf)
            v = int(np.argmin(d))
            if np.isfinite(d[v]) and (best is None or d[v] < best[0] - 1e-12):
                inside = _subtree(nn, order, pred, v)
                best = (float(d[v]), nodes[inside] if is_sub else nodes[~inside])
    return best


def recombine_disruption(srch, tries: int, n_trees: int = 20, bias: float = 100.0) -> int:
    """Realignment polish once the tolerances hold: ``tries`` times, merge a random territory
    with a random neighbour and cut the pair again where it moves the fewest accounts (or
    whatever ``disruption`` counts) while both stay within tolerance; keep the cut only if it
    moves less than the pair does now. Contiguity holds by construction, locks are kept,
    totals elsewhere do not change. Returns the number of cuts kept."""
    st, P = srch.s, srch.P
    if P.current is None or P.m == 0 or P.indptr is None or P.k < 2:
        return 0
    if st.violation(P.tol, sq=False) > 0:
        return 0
    rng = srch.rng
    tol = srch.tol_in
    active = np.flatnonzero(~P.frozen)
    kept = 0
    for _ in range(tries):
        if srch.out_of_time() or len(active) < 2:
            break
        t = int(active[rng.integers(len(active))])
        nbs = _neighbours(st, t)
        if not nbs:
            continue
        b = nbs[int(rng.integers(len(nbs)))]
        nodes = np.flatnonzero((st.a == t) | (st.a == b))
        now = float(P.dis[nodes][st.a[nodes] != P.current[nodes]].sum())
        res = _split_disruption(st, nodes, t, b, rng, n_trees, tol, bias)
        if res is None or res[0] >= now - 1e-9:
            continue
        side = np.zeros(P.n, bool)
        side[res[1]] = True
        for u in nodes.tolist():
            nt = t if side[u] else b
            if st.al[u] != nt:
                ot = st.al[u]
                st.move(u, nt)
                if nt == P.current[u]:
                    srch.reason.pop(u, None)
                else:
                    srch.reason[u] = ("recombination", ot, nt, (t, b), None, None)
        kept += 1
    st.sync_centers()
    srch.dis_used = float(P.dis[st.a != P.current].sum())
    return kept
