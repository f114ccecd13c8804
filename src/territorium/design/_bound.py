"""Lower bound on the moment of inertia that holds for ANY centres (mass concentration).

For a territory t with compactness mass M_t = Σ_{i∈t} w_i and weighted centroid μ_t,

    MOI_t = Σ_{i∈t} w_i |x_i − μ_t|² = (1 / (2 M_t)) Σ_{j∈t} Σ_{l∈t} w_j w_l |x_j − x_l|².

For a fixed j, the inner sum is at least g_j(M_t), the least cost Σ w_l |x_j − x_l|² of
gathering mass M_t around j from all units (fractional knapsack by distance, j itself first).
g_j(M)/M is the mean of a non-decreasing function over [0, M], so it grows with M; hence for
every territory with M_t ≥ M_min:

    MOI_t ≥ ½ Σ_{j∈t} w_j g_j(M_t)/M_t ≥ ½ Σ_{j∈t} w_j g_j(M_min)/M_min,

and summing over territories (they partition the units):

    MOI ≥ LB = Σ_j w_j g_j(M_min) / (2 M_min).

A fixed centre can only raise a territory's moment (the centroid minimises it), so LB bounds
every mode with the Euclidean cost. If only the K nearest units are examined and they hold
less than M_min, the rest is charged at the K-th distance (a further underestimate).
"""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

__all__ = ["mass_concentration_bound"]


def mass_concentration_bound(xy: np.ndarray, w: np.ndarray, m_min: float, k_max: int = 256) -> float:
    n = len(xy)
    if n == 0 or m_min <= 0:
        return 0.0
    W = float(w.sum())
    if W <= 0:
        return 0.0
    m_min = min(m_min, W)
    K = int(min(n, k_max, max(8, np.ceil(3.0 * n * m_min / W))))
    tree = cKDTree(xy)
    total = 0.0
    for s in range(0, n, 4096):
        idx = np.arange(s, min(n, s + 4096))
        d, j = tree.query(xy[idx], k=K)
        d = np.asarray(d).reshape(len(idx), K)
        j = np.asarray(j).reshape(len(idx), K)
        d2 = d ** 2
        ww = w[j]
        cum = np.cumsum(ww, axis=1)
        before = cum - ww  # mass strictly before each neighbour
        take = np.clip(m_min - before, 0.0, ww)  # fractional knapsack
        g = (take * d2).sum(1)
        short = m_min - cum[:, -1]
        g = g + np.where(short > 0, short * d2[:, -1], 0.0)
        total += float((w[idx] * g).sum())
    return total / (2.0 * m_min)
