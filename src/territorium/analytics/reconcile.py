"""Forecast reconciliation: make forecasts of a hierarchy add up (total = Σ regions = Σ territories).

Pure NumPy. A hierarchy (or a grouped structure: territories and states both partition the
total) is described by its *summing matrix* ``S`` (n series × m bottom series): every series is
``S @ bottom``. Base forecasts ``ŷ`` made series by series do not add up; the reconciled
forecasts

    ỹ = S G ŷ,   G = (S' W⁻¹ S)⁻¹ S' W⁻¹

do, exactly, for any positive definite ``W`` (Wickramasuriya, Athanasopoulos & Hyndman 2019,
"Optimal forecast reconciliation for hierarchical and grouped time series through trace
minimization", JASA 114:804–819). The choice of ``W`` gives the method:

========== ==========================================================================
ols        ``W = I``
wls_struct ``W = diag(S 1)``: the number of bottom series under each series
wls_var    ``W = diag(σ̂²)``: in-sample one-step residual variances
mint_shrink``W`` = residual covariance shrunk towards its diagonal (Schäfer–Strimmer
           intensity, as in the R package ``hts``)
========== ==========================================================================

If the base forecast errors at a horizon have covariance ``Σ``, the reconciled ones have
``S G Σ G' S'`` (:func:`reconciled_covariance`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "METHODS",
    "Hierarchy",
    "hierarchy",
    "shrink_covariance",
    "reconciliation_matrix",
    "reconcile",
    "reconciled_covariance",
]

#: Reconciliation methods (choices of W).
METHODS = ("ols", "wls_struct", "wls_var", "mint_shrink")


@dataclass(frozen=True)
class Hierarchy:
    """Every series of a hierarchy and how it sums from the bottom series.

    Attributes
    ----------
    levels : tuple of str
        Level of each series (row of ``S``): ``"total"``, each grouping level, then ``bottom``.
    names : tuple of str
        Name of each series within its level (``"total"`` for the total).
    S : ndarray of shape (n, m)
        Summing matrix (0/1): series ``i`` is ``S[i] @ bottom``.
    bottom : tuple of str
        Bottom series ids, in column order of ``S``.
    """

    levels: tuple[str, ...]
    names: tuple[str, ...]
    S: np.ndarray
    bottom: tuple[str, ...]

    @property
    def n(self) -> int:
        return self.S.shape[0]

    @property
    def m(self) -> int:
        return self.S.shape[1]

    def rows(self, level: str) -> np.ndarray:
        """Row positions of the series of ``level``."""
        return np.flatnonzero(np.asarray(self.levels) == level)

    def aggregate(self, bottom: np.ndarray) -> np.ndarray:
        """All series from bottom values: ``(m, ...)`` -> ``(n, ...)``."""
        return np.tensordot(self.S, np.asarray(bottom, dtype=np.float64), axes=(1, 0))


def hierarchy(keys: pd.DataFrame, levels: Sequence[str] | None = None, *, bottom_level: str = "bottom") -> Hierarchy:
    """The summing matrix of a hierarchy (or grouped structure) from the keys of its bottom series.

    Parameters
    ----------
    keys : DataFrame
        One row per bottom series (index: its id); one column per grouping level giving the
        group the bottom series belongs to. Levels may be nested (territory within region) or
        crossed (territory and state): both give a valid ``S``.
    levels : sequence of str, optional
        The grouping columns, top-down (default: all columns of ``keys``).
    bottom_level : str, default "bottom"
        Level name of the bottom series.

    Returns
    -------
    Hierarchy
        Rows: the total, then each level's groups (sorted), then the bottom series.

    Examples
    --------
    >>> k = pd.DataFrame({"region": ["N", "N", "S"]}, index=["a", "b", "c"])
    >>> h = hierarchy(k)
    >>> h.levels, h.names
    (('total', 'region', 'region', 'bottom', 'bottom', 'bottom'), ('total', 'N', 'S', 'a', 'b', 'c'))
    >>> h.S.astype(int).tolist()
    [[1, 1, 1], [1, 1, 0], [0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]]
    """
    if keys.index.has_duplicates:
        dup = keys.index[keys.index.duplicated()].tolist()[:5]
        raise ValueError(f"bottom series ids must be unique; duplicated: {dup}")
    levels = list(keys.columns if levels is None else levels)
    m = len(keys)
    if m == 0:
        raise ValueError("a hierarchy needs at least one bottom series")
    rows = [np.ones(m)]
    lv, nm = ["total"], ["total"]
    for level in levels:
        if level not in keys.columns:
            raise KeyError(f"level {level!r} is not a column of keys")
        col = keys[level]
        if col.isna().any():
            raise ValueError(f"level {level!r}: bottom series {keys.index[col.isna()].tolist()[:5]} have no group")
        col = col.astype(str).to_numpy()
        for g in sorted(set(col)):
            rows.append((col == g).astype(np.float64))
            lv.append(level)
            nm.append(g)
    rows.extend(np.eye(m))
    lv.extend([bottom_level] * m)
    nm.extend(str(i) for i in keys.index)
    return Hierarchy(tuple(lv), tuple(nm), np.vstack(rows), tuple(str(i) for i in keys.index))


def shrink_covariance(resid: np.ndarray) -> tuple[np.ndarray, float]:
    """Residual covariance shrunk towards its diagonal (Schäfer & Strimmer 2005).

    ``resid`` is ``(T, n)`` (time × series), assumed mean zero as in MinT: the sample
    covariance is ``R'R / T``. Returns ``(λ D + (1 - λ) Σ̂, λ)`` with the intensity ``λ`` of
    the R package ``hts`` (``shrink.estim``), clipped to [0, 1].

    >>> rng = np.random.default_rng(0)
    >>> W, lam = shrink_covariance(rng.normal(size=(200, 3)))
    >>> W.shape, 0.0 <= lam <= 1.0
    ((3, 3), True)
    """
    x = np.asarray(resid, dtype=np.float64)
    T = x.shape[0]
    if T < 2:
        raise ValueError("need at least two residual time points for a covariance")
    cov = x.T @ x / T
    sd = np.sqrt(np.diag(cov))
    ok = sd > 0
    target = np.diag(np.diag(cov))
    if ok.sum() < 2:
        return target, 1.0
    xs = x[:, ok] / sd[ok]
    v = (1.0 / (T * (T - 1))) * ((xs**2).T @ (xs**2) - (xs.T @ xs) ** 2 / T)
    np.fill_diagonal(v, 0.0)
    corr = cov[np.ix_(ok, ok)] / np.outer(sd[ok], sd[ok])
    d = corr**2
    np.fill_diagonal(d, 0.0)
    denom = d.sum()
    lam = 1.0 if denom <= 0 else float(np.clip(v.sum() / denom, 0.0, 1.0))
    return lam * target + (1.0 - lam) * cov, lam


def _weights(S: np.ndarray, method: str, resid: np.ndarray | None) -> np.ndarray:
    n = S.shape[0]
    if method == "ols":
        return np.eye(n)
    if method == "wls_struct":
        return np.diag(S.sum(1))
    if resid is None:
        raise ValueError(f"method {method!r} needs in-sample residuals (T × n)")
    r = np.asarray(resid, dtype=np.float64)
    if r.ndim != 2 or r.shape[1] != n:
        raise ValueError(f"residuals must be (T, {n}), got {r.shape}")
    if method == "wls_var":
        W = np.diag((r**2).mean(0))
    elif method == "mint_shrink":
        W = shrink_covariance(r)[0]
        # identical series (a territory inside one state) give perfectly correlated residuals;
        # a tiny ridge keeps W positive definite when the shrinkage intensity is 0
        W = W + np.diag(1e-8 * np.diag(W))
    else:
        raise ValueError(f"unknown reconciliation method {method!r}; choose from {', '.join(METHODS)}")
    # series with no residual variance (e.g. all zero) would make W singular
    diag = np.diag(W).copy()
    floor = 1e-9 * max(float(diag.max()), 1e-12)
    W = W + np.diag(np.where(diag <= floor, floor, 0.0))
    return W


def reconciliation_matrix(S: np.ndarray, method: str = "mint_shrink", resid: np.ndarray | None = None) -> np.ndarray:
    """``G = (S' W⁻¹ S)⁻¹ S' W⁻¹`` (m × n) for the chosen method; ``S G`` projects onto coherent forecasts.

    >>> S = np.array([[1., 1.], [1., 0.], [0., 1.]])
    >>> G = reconciliation_matrix(S, "ols")
    >>> (S @ G @ np.array([10., 4., 5.])).round(6).tolist()   # total was 1 above the sum
    [9.666667, 4.333333, 5.333333]
    """
    S = np.asarray(S, dtype=np.float64)
    if method not in METHODS:
        raise ValueError(f"unknown reconciliation method {method!r}; choose from {', '.join(METHODS)}")
    W = _weights(S, method, resid)
    WiS = np.linalg.solve(W, S)                      # W⁻¹ S   (n × m)
    A = S.T @ WiS                                    # S' W⁻¹ S (m × m)
    return np.linalg.solve(A, WiS.T)                 # (S'W⁻¹S)⁻¹ S'W⁻¹  (m × n)


def reconcile(base: np.ndarray, S: np.ndarray, method: str = "mint_shrink",
              resid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Reconciled forecasts ``S G ŷ`` and ``G``.

    Parameters
    ----------
    base : ndarray (n,) or (n, h)
        Base forecasts of every series (rows in the order of ``S``).
    S : ndarray (n, m)
        Summing matrix.
    method : {"ols", "wls_struct", "wls_var", "mint_shrink"}
    resid : ndarray (T, n), optional
        In-sample one-step residuals (needed by ``wls_var`` and ``mint_shrink``).

    Returns
    -------
    (reconciled, G) : ndarray like ``base``, ndarray (m, n)
        The bottom rows of ``reconciled`` sum exactly (to rounding) to every upper row.
    """
    S = np.asarray(S, dtype=np.float64)
    y = np.asarray(base, dtype=np.float64)
    if y.shape[0] != S.shape[0]:
        raise ValueError(f"base has {y.shape[0]} series but S has {S.shape[0]} rows")
    G = reconciliation_matrix(S, method, resid)
    bottom = G @ y
    return S @ bottom, G


def reconciled_covariance(S: np.ndarray, G: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Covariance ``S G Σ G' S'`` of the reconciled forecast errors, given the base ones ``Σ``."""
    P = np.asarray(S, dtype=np.float64) @ np.asarray(G, dtype=np.float64)
    return P @ np.asarray(sigma, dtype=np.float64) @ P.T
