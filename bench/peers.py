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
