"""Core types shared by every layer: units, their adjacency graph, alignments.

Everything here is plain data (NumPy arrays, pandas frames, frozen dataclasses) so the
engine can run in a worker process or on a cluster without touching files or databases.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

__all__ = [
    "Adjacency",
    "Units",
    "MEASURES",
    "EQUAL_AREA_CRS",
]

#: Equal-area projection used for unit points, areas and distances in the US (metres).
EQUAL_AREA_CRS = "EPSG:5070"

#: Standard per-unit measures aggregated from accounts and orders.
MEASURES = (
    "account_count",
    "revenue",
    "order_count",
    "customers",
    "potential",
    "workload",
)


@dataclass(frozen=True)
class Adjacency:
    """Undirected unit graph in CSR form.

    ``indices[indptr[i]:indptr[i+1]]`` are the neighbours of unit ``i``; every edge is
    stored in both directions. ``virtual`` is aligned with ``indices`` and is True for
    edges that do not come from a shared border (island links added to keep the graph
    connected, or long-range links between point units).
    """

    indptr: np.ndarray
    indices: np.ndarray
    virtual: np.ndarray

    def __post_init__(self) -> None:
        if len(self.indices) != len(self.virtual):
            raise ValueError("indices and virtual must have the same length")
        if self.indptr[-1] != len(self.indices):
            raise ValueError("indptr[-1] must equal len(indices)")

    @property
    def n(self) -> int:
        return len(self.indptr) - 1

    @property
    def n_edges(self) -> int:
        """Number of undirected edges."""
        return len(self.indices) // 2

    def neighbors(self, i: int) -> np.ndarray:
        return self.indices[self.indptr[i] : self.indptr[i + 1]]

    def degree(self) -> np.ndarray:
        return np.diff(self.indptr)

    def to_scipy(self):
        """The graph as a ``scipy.sparse.csr_array`` of ones."""
        from scipy.sparse import csr_array

        data = np.ones(len(self.indices), dtype=np.int8)
        return csr_array((data, self.indices, self.indptr), shape=(self.n, self.n))

    def edges(self, include_virtual: bool = True) -> np.ndarray:
        """Undirected edges as an ``(m, 2)`` array with ``i < j``."""
        src = np.repeat(np.arange(self.n), np.diff(self.indptr))
        mask = src < self.indices
        if not include_virtual:
            mask &= ~self.virtual
        return np.column_stack([src[mask], self.indices[mask]])

    def virtual_edges(self) -> np.ndarray:
        src = np.repeat(np.arange(self.n), np.diff(self.indptr))
        mask = (src < self.indices) & self.virtual
        return np.column_stack([src[mask], self.indices[mask]])

    def n_components(self) -> int:
        from scipy.sparse.csgraph import connected_components

        if self.n == 0:
            return 0
        return int(connected_components(self.to_scipy(), directed=False)[0])

    @classmethod
    def from_edges(
        cls,
        n: int,
        edges: np.ndarray | Iterable[tuple[int, int]],
        virtual: np.ndarray | Iterable[bool] | None = None,
    ) -> "Adjacency":
        """Build from an ``(m, 2)`` edge list (either direction; duplicates and loops dropped).

        An edge given both as virtual and real is kept as real.
        """
        e = np.asarray(list(edges) if not isinstance(edges, np.ndarray) else edges, dtype=np.int64)
        e = e.reshape(-1, 2)
        v = (
            np.zeros(len(e), dtype=bool)
            if virtual is None
            else np.asarray(list(virtual) if not isinstance(virtual, np.ndarray) else virtual, dtype=bool)
        )
        keep = e[:, 0] != e[:, 1]
        e, v = e[keep], v[keep]
        a = np.minimum(e[:, 0], e[:, 1])
        b = np.maximum(e[:, 0], e[:, 1])
        # de-duplicate: real wins over virtual (sort virtual=False first)
        order = np.lexsort((v, b, a))
        a, b, v = a[order], b[order], v[order]
        first = np.ones(len(a), dtype=bool)
        first[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
        a, b, v = a[first], b[first], v[first]
        src = np.concatenate([a, b])
        dst = np.concatenate([b, a])
        vv = np.concatenate([v, v])
        order = np.lexsort((dst, src))
        src, dst, vv = src[order], dst[order], vv[order]
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.add.at(indptr, src + 1, 1)
        indptr = np.cumsum(indptr)
        return cls(indptr=indptr, indices=dst.astype(np.int64), virtual=vv)

    def subgraph(self, keep: np.ndarray) -> "Adjacency":
        """Induced subgraph on the units where boolean mask ``keep`` is True (renumbered)."""
        keep = np.asarray(keep, dtype=bool)
        new_id = np.full(self.n, -1, dtype=np.int64)
        new_id[keep] = np.arange(int(keep.sum()))
        e = np.column_stack(
            [np.repeat(np.arange(self.n), np.diff(self.indptr)), self.indices]
        )
        m = keep[e[:, 0]] & keep[e[:, 1]]
        return Adjacency.from_edges(int(keep.sum()), new_id[e[m]], self.virtual[m])


@dataclass(frozen=True)
class Units:
    """The basic units of a plan (ZIPs, counties, states, accounts or custom polygons).

    Attributes
    ----------
    level : str
        ``state``, ``county``, ``zip``, ``account`` or ``custom``.
    table : pandas.DataFrame
        One row per unit, in graph order, indexed ``0..n-1``. Required columns:
        ``unit_id`` (str), ``name`` (str), ``x``, ``y`` (projected metres, ``crs``),
        ``lon``, ``lat`` (WGS84 degrees), ``area_km2``. Optional: ``state``,
        ``county_fips`` and any measure column (see :data:`MEASURES`); measures are
        float64 and never NaN once aggregated.
    adjacency : Adjacency
        Unit graph; connected for every unit set built by :mod:`territorium.geo`.
    geometry : geopandas.GeoSeries or None
        Polygons in WGS84 (EPSG:4326), aligned with ``table``; None for point units.
    crs : str
        CRS of ``x``/``y``.
    notes : tuple of str
        Human-readable remarks from the build (islands linked, units folded, ...).
    """

    level: str
    table: pd.DataFrame
    adjacency: Adjacency
    geometry: object | None = None
    crs: str = EQUAL_AREA_CRS
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if len(self.table) != self.adjacency.n:
            raise ValueError(
                f"table has {len(self.table)} rows but adjacency has {self.adjacency.n} nodes"
            )
        if self.geometry is not None and len(self.geometry) != len(self.table):
            raise ValueError("geometry must be aligned with table")

    def __len__(self) -> int:
        return len(self.table)

    @property
    def n(self) -> int:
        return len(self.table)

    @property
    def ids(self) -> np.ndarray:
        return self.table["unit_id"].to_numpy()

    @property
    def xy(self) -> np.ndarray:
        """Projected coordinates as an ``(n, 2)`` float array (metres)."""
        return self.table[["x", "y"]].to_numpy(dtype=np.float64)

    def measure(self, name: str) -> np.ndarray:
        if name not in self.table.columns:
            raise KeyError(
                f"unknown measure {name!r}; available: "
                + ", ".join(c for c in self.table.columns if c not in ("unit_id", "name"))
            )
        return self.table[name].to_numpy(dtype=np.float64)

    def index_of(self, unit_ids: Iterable[str]) -> np.ndarray:
        """Positions of ``unit_ids``; raises KeyError naming the unknown ids."""
        lookup = pd.Index(self.table["unit_id"].astype(str))
        ids = [str(u) for u in unit_ids]
        pos = lookup.get_indexer(ids)
        if (pos < 0).any():
            missing = [u for u, p in zip(ids, pos) if p < 0]
            raise KeyError(f"unknown unit ids: {', '.join(missing[:10])}"
                           + (f" (+{len(missing) - 10} more)" if len(missing) > 10 else ""))
        return pos

    def with_measures(self, measures: Mapping[str, object] | pd.DataFrame) -> "Units":
        """A copy with measure columns added or replaced.

        Each value is either a plain sequence / NumPy array in unit (graph) order, of length
        ``n``, or a pandas Series indexed by ``unit_id``. A DataFrame is taken column by
        column, with the same rule for its index. Labelled values are aligned by unit id,
        whatever their order; every unit must appear exactly once, and an unknown, missing
        or repeated id, a length mismatch, a non-numeric value or NaN raises ``ValueError``
        naming the measure and the ids. A Series or DataFrame whose index is the default
        ``RangeIndex`` ``0..n-1`` is taken as positions (unit order), like an array; any
        other numeric index is refused, since it cannot say which unit is which.

        >>> from territorium.geo.grid import grid_units
        >>> u = grid_units(1, 3)
        >>> list(u.ids)
        ['g000_000', 'g001_000', 'g002_000']
        >>> s = pd.Series({"g002_000": 3.0, "g000_000": 1.0, "g001_000": 2.0})
        >>> u.with_measures({"m": s}).measure("m").tolist()
        [1.0, 2.0, 3.0]
        """
        if isinstance(measures, pd.DataFrame):
            measures = {str(c): measures[c] for c in measures.columns}
        ids = pd.Index(self.table["unit_id"].astype(str))
        t = self.table.copy()
        for k in measures:
            t[k] = self._aligned(str(k), measures[k], ids)
        return Units(self.level, t, self.adjacency, self.geometry, self.crs, self.notes)

    def _aligned(self, name: str, v, ids: pd.Index) -> np.ndarray:
        n = len(ids)
        if isinstance(v, pd.Series) and not v.index.equals(pd.RangeIndex(n)):
            idx = v.index
            if pd.api.types.is_integer_dtype(idx) or pd.api.types.is_float_dtype(idx):
                raise ValueError(
                    f"measure {name!r}: a Series indexed by numbers other than 0..{n - 1} "
                    "cannot be matched to unit ids (FIPS codes and ZIPs are strings); index "
                    "it by unit_id, or pass .to_numpy() if the values are in unit order"
                )
            key = pd.Index(idx.astype(str))
            dup = key[key.duplicated()].unique()
            if len(dup):
                raise ValueError(f"measure {name!r}: unit ids given more than once: "
                                 + ", ".join(map(str, dup[:10])))
            unknown = key.difference(ids)
            if len(unknown):
                raise ValueError(f"measure {name!r}: unknown unit ids: "
                                 + ", ".join(map(str, unknown[:10]))
                                 + (f" (+{len(unknown) - 10} more)" if len(unknown) > 10 else ""))
            missing = ids.difference(key)
            if len(missing):
                raise ValueError(f"measure {name!r}: no value for {len(missing)} unit(s): "
                                 + ", ".join(map(str, missing[:10])))
            v = pd.Series(v.to_numpy(), index=key).reindex(ids)
        try:
            a = np.asarray(v, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise ValueError(f"measure {name!r}: values must be numbers ({e})") from None
        if a.shape != (n,):
            raise ValueError(f"measure {name!r}: expected {n} values (one per unit), got shape {a.shape}")
        if np.isnan(a).any():
            bad = ids[np.isnan(a)]
            raise ValueError(f"measure {name!r}: missing (NaN) value for unit(s) "
                             + ", ".join(map(str, bad[:10])))
        return a

    def subset(self, keep: np.ndarray) -> "Units":
        """Induced sub-units on boolean mask ``keep`` (graph may become disconnected)."""
        keep = np.asarray(keep, dtype=bool)
        t = self.table.loc[keep].reset_index(drop=True)
        g = None if self.geometry is None else self.geometry[keep].reset_index(drop=True)
        return Units(self.level, t, self.adjacency.subgraph(keep), g, self.crs, self.notes)
