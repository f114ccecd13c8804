"""A tiny synthetic map for tests and examples: an ``nx`` × ``ny`` grid of square units."""
from __future__ import annotations

import numpy as np
import pandas as pd

from territorium.model import Adjacency, Units


def grid_units(nx: int, ny: int, *, cell_m: float = 10_000.0, seed: int | None = None) -> Units:
    """Square cells with rook adjacency; measures are ones, or random if ``seed`` is given.

    >>> u = grid_units(4, 3)
    >>> u.n, u.adjacency.n_edges, u.adjacency.n_components()
    (12, 17, 1)
    """
    ii, jj = np.meshgrid(np.arange(nx), np.arange(ny), indexing="xy")
    ii, jj = ii.ravel(), jj.ravel()
    n = nx * ny
    idx = jj * nx + ii
    edges = []
    right = ii < nx - 1
    edges.append(np.column_stack([idx[right], idx[right] + 1]))
    up = jj < ny - 1
    edges.append(np.column_stack([idx[up], idx[up] + nx]))
    adj = Adjacency.from_edges(n, np.vstack(edges))
    rng = np.random.default_rng(seed) if seed is not None else None
    t = pd.DataFrame(
        {
            "unit_id": [f"g{r:03d}_{c:03d}" for r, c in zip(jj, ii)],
            "name": [f"cell {r},{c}" for r, c in zip(jj, ii)],
            "x": (ii + 0.5) * cell_m,
            "y": (jj + 0.5) * cell_m,
            "lon": ii * 0.1,
            "lat": jj * 0.1,
            "area_km2": np.full(n, (cell_m / 1000) ** 2),
        }
    )
    for name in ("account_count", "revenue", "order_count", "customers", "potential", "workload"):
        t[name] = np.ones(n) if rng is None else rng.gamma(2.0, 1.0, n)
    return Units("custom", t, adj)
