"""Peer partitioners the design benchmark compares against, run in the same process.

- GerryChain ``recursive_tree_part``: random spanning-tree splits, single balance measure.
- METIS (``pymetis``): multilevel graph partitioning with vertex weights, contiguity option on.
- Weighted k-means (scikit-learn): the compactness reference, no contiguity, no balance.

Each returns an assignment array (unit -> part 0..k-1) or raises; the benchmark times them.
"""
from __future__ import annotations

import warnings

import numpy as np

from territorium.model import Units


def gerrychain_tree(units: Units, k: int, measure: str, epsilon: float = 0.05, seed: int = 0) -> np.ndarray:
    """GerryChain's recursive_tree_part on the unit graph (balances one measure within ±epsilon)."""
    import random

    import networkx as nx
    from gerrychain import Graph

    try:
        from gerrychain.partition import recursive_tree_part
    except ImportError:  # GerryChain < 1.0
        from gerrychain.tree import recursive_tree_part

    g = nx.Graph()
    w = units.measure(measure)
    g.add_nodes_from((i, {"pop": float(w[i])}) for i in range(units.n))
    g.add_edges_from(map(tuple, units.adjacency.edges()))
    random.seed(seed)
    target = float(w.sum()) / k
    try:
        parts = recursive_tree_part(Graph.from_networkx(g), range(k), target, "pop", epsilon, node_repeats=0, rng=seed)
    except TypeError:  # older GerryChain: global random
        parts = recursive_tree_part(Graph.from_networkx(g), range(k), target, "pop", epsilon, node_repeats=0)
    out = np.empty(units.n, dtype=np.int64)
    for node, p in parts.items():
        out[node] = p
    return out


def metis(units: Units, k: int, measure: str, ufactor: int = 50, seed: int = 0) -> np.ndarray:
    """METIS k-way partition, vertex weights = ``measure`` (integerised), contiguous partitions requested."""
    import pymetis

    w = units.measure(measure)
    scale = 1_000_000.0 / max(w.sum(), 1e-9)
    vw = np.maximum(np.rint(w * scale), 1).astype(np.int64)
    opt = pymetis.Options()
    opt.contig = 1
    opt.ufactor = ufactor  # allowed imbalance in 1/1000 (50 = 5%)
    opt.seed = seed
    adj = units.adjacency
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        res = pymetis.part_graph(k, xadj=adj.indptr.tolist(), adjncy=adj.indices.tolist(),
                                 vweights=vw.tolist(), options=opt)
    return np.asarray(res.vertex_part, dtype=np.int64)


def weighted_kmeans(units: Units, k: int, weight: np.ndarray, seed: int = 0) -> tuple[np.ndarray, float]:
    """Weighted k-means on projected points: (assignment, moment of inertia)."""
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=k, n_init=4, random_state=seed)
    km.fit(units.xy, sample_weight=weight)
    return km.labels_.astype(np.int64), float(km.inertia_)


def moment_of_inertia(xy: np.ndarray, w: np.ndarray, assign: np.ndarray, k: int) -> float:
    """Σ w·|x − c_t|² with c_t the weighted mean of part t (metres², as k-means inertia)."""
    W = np.bincount(assign, weights=w, minlength=k)
    sx = np.bincount(assign, weights=w * xy[:, 0], minlength=k)
    sy = np.bincount(assign, weights=w * xy[:, 1], minlength=k)
    sq = np.bincount(assign, weights=w * (xy ** 2).sum(1), minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        moi = sq - np.where(W > 0, (sx ** 2 + sy ** 2) / W, 0.0)
    return float(np.maximum(moi, 0).sum())


def max_deviation(values: np.ndarray, assign: np.ndarray, k: int) -> float:
    """Largest |total_t / mean − 1| over parts."""
    tot = np.bincount(assign, weights=values, minlength=k)
    mean = values.sum() / k
    return float(np.abs(tot / mean - 1).max()) if mean > 0 else 0.0


def non_contiguous(units: Units, assign: np.ndarray, k: int) -> int:
    """Number of parts that are not one connected piece on the unit graph (virtual edges count)."""
    from scipy.sparse.csgraph import connected_components

    e = units.adjacency.edges()
    same = assign[e[:, 0]] == assign[e[:, 1]]
    from scipy.sparse import coo_array

    m = coo_array((np.ones(same.sum()), (e[same, 0], e[same, 1])), shape=(units.n, units.n))
    _, lab = connected_components(m, directed=False)
    pieces = np.zeros(k, dtype=np.int64)
    for t in range(k):
        members = lab[assign == t]
        pieces[t] = len(np.unique(members))
    return int((pieces > 1).sum())


def plain_anneal(units: Units, k: int, measures: list[str], tol: float = 0.05, seed: int = 0,
                 budget_s: float = 60.0, start: np.ndarray | None = None) -> np.ndarray:
    """The issue's "plain simulated annealing": a random spanning-tree start balanced on the
    first measure (GerryChain ``recursive_tree_part``, or ``start``), then single-unit moves
    across territory borders that keep every territory connected (exact BFS check), accepted
    by the Metropolis rule. Phase 1 (until every measure is within ``tol``, at most 70 % of
    the budget; longer while no plan within ``tol`` was found): energy = Σ_t Σ_m (excess over 0.95·tol / tol)² + 0.02·k·MoI/MoI₀, temperature
    0.05 → 0.001. Phase 2 (the rest): a move must keep every measure within ``tol``;
    Metropolis on k·ΔMoI/MoI₀, temperature 1e-3 → 1e-6, from the best plan of phase 1. Returns the most compact plan within
    tolerance seen (or, when none, the least violating one). Pure Python, seeded."""
    import math
    import random
    import time

    t0 = time.perf_counter()
    rng = random.Random(seed)
    a = (gerrychain_tree(units, k, measures[0], tol, seed) if start is None else np.asarray(start)).copy()
    n = units.n
    ip, ix = units.adjacency.indptr, units.adjacency.indices
    nbrs = [ix[ip[i]:ip[i + 1]].tolist() for i in range(n)]
    edges = [(i, j) for i in range(n) for j in nbrs[i]]
    M = np.column_stack([units.measure(m) for m in measures])
    mm = M.shape[1]
    T = (M.sum(0) / k).tolist()
    A = M.tolist()
    w = units.measure(measures[0]).tolist()
    xs, ys = units.xy[:, 0].tolist(), units.xy[:, 1].tolist()
    al = a.tolist()
    tot = [[0.0] * mm for _ in range(k)]
    S0, Sx, Sy, S2 = [0.0] * k, [0.0] * k, [0.0] * k, [0.0] * k
    size = [0] * k

    def recount():
        for t in range(k):
            tot[t] = [0.0] * mm
            S0[t] = Sx[t] = Sy[t] = S2[t] = 0.0
            size[t] = 0
        for i in range(n):
            t = al[i]
            for j in range(mm):
                tot[t][j] += A[i][j]
            S0[t] += w[i]; Sx[t] += w[i] * xs[i]; Sy[t] += w[i] * ys[i]  # noqa: E702
            S2[t] += w[i] * (xs[i] ** 2 + ys[i] ** 2)
            size[t] += 1

    recount()

    def mom(s0, sx, sy, s2):
        return max(s2 - (sx * sx + sy * sy) / s0, 0.0) if s0 > 1e-300 else 0.0

    def excess(row, lim):
        e = 0.0
        for j in range(mm):
            d = abs(row[j] / T[j] - 1.0) - lim
            if d > 0:
                e += (d / tol) ** 2
        return e

    moi0 = sum(mom(S0[t], Sx[t], Sy[t], S2[t]) for t in range(k)) or 1.0
    inner = 0.95 * tol
    E = [excess(tot[t], inner) for t in range(k)]

    def connected_without(u, ta):
        nb = [v for v in nbrs[u] if al[v] == ta]
        if len(nb) <= 1:
            return True
        targets = set(nb[1:])
        seen = {u, nb[0]}
        stack = [nb[0]]
        while stack:
            v = stack.pop()
            for x in nbrs[v]:
                if x not in seen and al[x] == ta:
                    if x in targets:
                        targets.discard(x)
                        if not targets:
                            return True
                    seen.add(x)
                    stack.append(x)
        return False

    def violation():
        return sum(max(0.0, abs(tot[t][j] / T[j] - 1) - tol) for t in range(k) for j in range(mm))

    best = (violation(), sum(mom(S0[t], Sx[t], Sy[t], S2[t]) for t in range(k)), list(al))
    phase, t_phase = 1, t0
    budget1 = 0.7 * budget_s
    tries = 0
    while True:
        if (tries & 1023) == 0:
            now = time.perf_counter()
            if now - t0 >= budget_s:
                break
            if phase == 1 and best[0] <= 0.0 and (sum(E) <= 0.0 or now - t0 >= budget1):
                phase, t_phase = 2, now  # feasible: compactness only from here
                al[:] = best[2]
                recount()
                E = [excess(tot[t], inner) for t in range(k)]
            if phase == 1:
                temp = 0.05 * (0.001 / 0.05) ** min(1.0, (now - t0) / budget1)
            else:
                temp = 1e-3 * (1e-3) ** ((now - t_phase) / max(budget_s - (t_phase - t0), 1e-9))
        tries += 1
        u, v = edges[rng.randrange(len(edges))]
        ta, tb = al[u], al[v]
        if ta == tb or size[ta] <= 1:
            continue
        Au = A[u]
        ra = [tot[ta][j] - Au[j] for j in range(mm)]
        rb = [tot[tb][j] + Au[j] for j in range(mm)]
        wu = w[u]
        wx, wy, wq = wu * xs[u], wu * ys[u], wu * (xs[u] ** 2 + ys[u] ** 2)
        dm = (mom(S0[ta] - wu, Sx[ta] - wx, Sy[ta] - wy, S2[ta] - wq) + mom(S0[tb] + wu, Sx[tb] + wx, Sy[tb] + wy, S2[tb] + wq)
              - mom(S0[ta], Sx[ta], Sy[ta], S2[ta]) - mom(S0[tb], Sx[tb], Sy[tb], S2[tb])) / moi0
        if phase == 1:
            ea, eb = excess(ra, inner), excess(rb, inner)
            dE = ea + eb - E[ta] - E[tb] + 0.02 * k * dm
        else:
            if excess(ra, tol) > 0 or excess(rb, tol) > 0:
                continue
            ea = eb = 0.0
            dE = k * dm
        if dE > 0 and rng.random() >= math.exp(-dE / temp):
            continue
        if not connected_without(u, ta):
            continue
        al[u] = tb
        tot[ta], tot[tb] = ra, rb
        E[ta], E[tb] = (ea, eb) if phase == 1 else (excess(ra, inner), excess(rb, inner))
        size[ta] -= 1
        size[tb] += 1
        S0[ta] -= wu; Sx[ta] -= wx; Sy[ta] -= wy; S2[ta] -= wq  # noqa: E702
        S0[tb] += wu; Sx[tb] += wx; Sy[tb] += wy; S2[tb] += wq  # noqa: E702
        if phase == 2 or E[ta] + E[tb] <= 0.0:
            viol = violation() if phase == 1 else 0.0
            if viol <= best[0]:
                obj = sum(mom(S0[t], Sx[t], Sy[t], S2[t]) for t in range(k))
                if viol < best[0] or obj < best[1]:
                    best = (viol, obj, list(al))
        elif best[0] > 0 and (tries & 255) == 0:
            viol = violation()
            if viol < best[0]:
                best = (viol, sum(mom(S0[t], Sx[t], Sy[t], S2[t]) for t in range(k)), list(al))
    return np.asarray(best[2], dtype=np.int64)
