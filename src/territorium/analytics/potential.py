"""Account potential (wallet) and white space with quantile gradient boosting.

Potential is a conditional quantile: ``potential_q(x)`` is the value that a share ``q`` of the
accounts that look like ``x`` (firmographics, geography, purchase history, pipeline) stay
below. It is learnt with scikit-learn's ``HistGradientBoostingRegressor(loss="quantile")``
on a *target* that is observed for some accounts:

* ``crm`` — the CRM's own potential field (e.g. Salesforce ``Potential__c``) where it is
  filled in. Every account that has one gets an *out-of-fold* estimate (K-fold cross-fitting:
  the model that scores an account never saw its CRM value); the others are scored by a model
  trained on all of them.
* ``spend`` — the observed last-12-month spend of mature customers (customers in both of the
  last two years): the classic wallet estimate, a high quantile of what similar customers
  spend (Perlich, Rosset et al. 2007, "High-quantile modeling for customer wallet
  estimation"). Purchase-history features of the target window itself must then be left out.

Quantiles are learnt on ``log1p(target)`` (quantiles commute with monotone maps) and then
*calibrated*: each quantile is shifted on the log scale by the empirical quantile of the
out-of-fold residuals, so that a share ``q`` of the labelled accounts lies below it
(split-conformal calibration of each quantile, Romano, Patterson & Candès 2019). The interval
``[q_lo, q_hi]`` then covers about ``q_hi - q_lo`` of new accounts: :func:`validate_potential`
checks that on held-out accounts.

White space is ``max(potential - current revenue, 0)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "DEFAULT_PARAMS",
    "PotentialEstimate",
    "PotentialValidation",
    "estimate_potential",
    "validate_potential",
    "white_space",
    "spearman",
    "coverage",
    "next_rep_sites",
]

#: Gradient-boosting settings (scikit-learn ``HistGradientBoostingRegressor``).
DEFAULT_PARAMS: Mapping[str, object] = {
    "max_iter": 100,
    "learning_rate": 0.1,
    "max_leaf_nodes": 15,
    "min_samples_leaf": 20,
    "l2_regularization": 1.0,
    "early_stopping": False,
}
_MAX_CATEGORIES = 250


def white_space(potential: np.ndarray, revenue: np.ndarray) -> np.ndarray:
    """``max(potential - revenue, 0)``, NaN revenue counted as 0.

    >>> white_space(np.array([100., 50.]), np.array([30., 80.])).tolist()
    [70.0, 0.0]
    """
    p = np.asarray(potential, dtype=np.float64)
    r = np.nan_to_num(np.asarray(revenue, dtype=np.float64))
    return np.maximum(p - r, 0.0)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation over the pairs where both are finite (average ranks for ties).

    >>> round(spearman(np.array([1., 2., 3., 4.]), np.array([10., 20., 30., 25.])), 6)
    0.8
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return float("nan")
    ra = pd.Series(a[ok]).rank().to_numpy()
    rb = pd.Series(b[ok]).rank().to_numpy()
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def coverage(y: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Share of finite ``y`` inside ``[lower, upper]``.

    >>> coverage(np.array([1., 5., 9.]), np.array([0., 0., 0.]), np.array([6., 6., 6.]))
    0.6666666666666666
    """
    y = np.asarray(y, dtype=np.float64)
    ok = np.isfinite(y)
    if not ok.any():
        return float("nan")
    return float(np.mean((y[ok] >= np.asarray(lower)[ok]) & (y[ok] <= np.asarray(upper)[ok])))


# --------------------------------------------------------------------------------------------
# Feature matrix and models
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Design:
    X: np.ndarray
    categorical: np.ndarray  # bool per column
    columns: tuple[str, ...]


def _design(features: pd.DataFrame) -> _Design:
    """Numeric matrix for the booster: numbers as float (NaN kept), categories one-hot.

    (One-hot rather than the booster's native categorical splits: with the quantile loss
    those were many times slower in scikit-learn 1.9, for no gain in accuracy here.)
    """
    cols, names = [], []
    for c in features.columns:
        s = features[c]
        if pd.api.types.is_bool_dtype(s) or isinstance(s.dtype, pd.CategoricalDtype) or \
                pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s):
            v = s.astype("string")
            levels = v.value_counts().index[:_MAX_CATEGORIES]
            for lev in sorted(levels):
                cols.append((v == lev).fillna(False).to_numpy(dtype=np.float64))
                names.append(f"{c}={lev}")
        else:
            cols.append(pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan))
            names.append(str(c))
    X = np.column_stack(cols) if cols else np.zeros((len(features), 0))
    return _Design(X, np.zeros(X.shape[1], dtype=bool), tuple(names))


def _fit_quantiles(X: np.ndarray, y: np.ndarray, cat: np.ndarray, quantiles: Sequence[float],
                   params: Mapping, seed: int) -> list:
    from sklearn.ensemble import HistGradientBoostingRegressor

    models = []
    for q in quantiles:
        m = HistGradientBoostingRegressor(loss="quantile", quantile=float(q),
                                          categorical_features=cat if cat.any() else None,
                                          random_state=seed, **dict(params))
        m.fit(X, y)
        models.append(m)
    return models


def _predict(models: list, X: np.ndarray) -> np.ndarray:
    P = np.column_stack([m.predict(X) for m in models]) if len(X) else np.zeros((0, len(models)))
    return np.sort(P, axis=1)  # no quantile crossing


def _quantile_set(quantile: float, interval: tuple[float, float]) -> tuple[float, ...]:
    lo, hi = interval
    for q in (quantile, lo, hi):
        if not 0 < q < 1:
            raise ValueError(f"quantiles must be in (0, 1), got {q}")
    if not lo < hi:
        raise ValueError(f"interval must be (low, high) with low < high, got {interval}")
    return tuple(sorted({float(lo), 0.5, float(hi), float(quantile)}))


def _conformal_shift(resid: np.ndarray, q: float) -> float:
    """Shift ``s`` such that a share ``q`` of ``resid - s`` is ≤ 0 (finite-sample corrected)."""
    r = np.sort(resid[np.isfinite(resid)])
    n = len(r)
    if n == 0:
        return 0.0
    k = int(np.clip(np.ceil((n + 1) * q) - 1, 0, n - 1))
    return float(r[k])


@dataclass(frozen=True)
class PotentialEstimate:
    """Estimated potential, interval and white space of every account.

    Attributes
    ----------
    table : DataFrame
        Index as the input features; columns ``potential`` (the ``quantile``), ``lower``,
        ``median``, ``upper`` (the ``interval``), ``revenue``, ``white_space``, ``target``
        (the observed target, NaN where unknown) and ``scored_by`` (``out-of-fold`` for
        labelled accounts, ``full model`` for the others).
    quantile : float
    interval : tuple of float
    shifts : dict
        Calibration shift (log scale) of each quantile; 0 when ``calibrate=False``.
    coverage_raw : float
        Out-of-fold coverage of the uncalibrated interval on the labelled accounts.
    coverage_cv : float
        Cross-validated coverage of the calibrated interval: each fold's out-of-fold quantiles
        calibrated on the other folds' residuals only (NaN without calibration).
    quantile_hit_cv : float
        The same for the share of targets at or below ``potential`` (nominal: ``quantile``).
    n_labelled : int
    columns : tuple of str
        Feature columns used.
    """

    table: pd.DataFrame
    quantile: float
    interval: tuple[float, float]
    shifts: Mapping[float, float]
    coverage_raw: float
    coverage_cv: float
    quantile_hit_cv: float
    n_labelled: int
    columns: tuple[str, ...]
    folds: int
    notes: tuple[str, ...] = field(default_factory=tuple)


def estimate_potential(
    features: pd.DataFrame,
    target: pd.Series | np.ndarray,
    revenue: pd.Series | np.ndarray | None = None,
    *,
    quantile: float = 0.9,
    interval: tuple[float, float] = (0.1, 0.9),
    folds: int = 5,
    calibrate: bool = True,
    min_labelled: int = 50,
    params: Mapping | None = None,
    n_threads: int | None = None,
    seed: int = 0,
) -> PotentialEstimate:
    """Quantile-boosted potential of every account, out-of-fold where the target is known.

    Parameters
    ----------
    features : DataFrame
        One row per account. Numeric columns are used as numbers (NaN allowed), object /
        string / bool / category columns as categories.
    target : array or Series
        The learning target (CRM potential, or spend of mature customers); NaN where unknown.
        Must be ≥ 0.
    revenue : array or Series, optional
        Current revenue (trailing 12 months) for the white space; 0 if omitted.
    quantile : float, default 0.9
        The quantile reported as ``potential``.
    interval : (float, float), default (0.1, 0.9)
        The quantiles of the interval.
    folds : int, default 5
        Cross-fitting folds over the labelled accounts.
    calibrate : bool, default True
        Shift each quantile so that its out-of-fold coverage is nominal.
    min_labelled : int, default 50
        Fewest labelled accounts to learn from.
    params : mapping, optional
        Overrides of :data:`DEFAULT_PARAMS`.
    n_threads : int, optional
        Limit the booster's OpenMP threads (e.g. 1 on a busy shared machine, where spinning
        threads slow it down many times); default: scikit-learn's choice.
    seed : int, default 0

    Returns
    -------
    PotentialEstimate

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.uniform(0, 1, 600)
    >>> y = np.exp(3 + 2 * x + rng.normal(0, 0.3, 600))
    >>> y[::4] = np.nan                                   # a quarter without a target
    >>> est = estimate_potential(pd.DataFrame({"x": x}), y, folds=3, seed=0, n_threads=1,
    ...                          params={"max_iter": 40})
    >>> round(coverage(y, est.table["lower"], est.table["upper"]), 1)   # nominal 0.8
    0.8
    """
    if not isinstance(features, pd.DataFrame):
        raise TypeError("features must be a pandas DataFrame")
    n = len(features)
    y = np.asarray(target, dtype=np.float64).reshape(-1)
    if len(y) != n:
        raise ValueError(f"target has {len(y)} values for {n} accounts")
    if np.any(y[np.isfinite(y)] < 0):
        raise ValueError("target must be non-negative")
    rev = np.zeros(n) if revenue is None else np.nan_to_num(np.asarray(revenue, dtype=np.float64).reshape(-1))
    if len(rev) != n:
        raise ValueError(f"revenue has {len(rev)} values for {n} accounts")
    qs = _quantile_set(quantile, interval)
    lab = np.flatnonzero(np.isfinite(y))
    if len(lab) < max(min_labelled, folds * 2):
        raise ValueError(f"only {len(lab)} accounts have a target; need at least {max(min_labelled, folds * 2)}")
    if folds < 2:
        raise ValueError("folds must be at least 2")
    prm = {**DEFAULT_PARAMS, **(params or {})}
    D = _design(features)
    ly = np.log1p(y)
    if n_threads is not None:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=int(n_threads)):
            return _estimate(features, D, y, ly, rev, lab, qs, quantile, interval, folds, calibrate, prm, seed)
    return _estimate(features, D, y, ly, rev, lab, qs, quantile, interval, folds, calibrate, prm, seed)


def _estimate(features, D, y, ly, rev, lab, qs, quantile, interval, folds, calibrate, prm, seed) -> PotentialEstimate:
    from sklearn.model_selection import KFold

    n = len(features)
    P = np.full((n, len(qs)), np.nan)
    fold_of = np.full(n, -1)
    kf = KFold(folds, shuffle=True, random_state=seed)
    for k, (tr, te) in enumerate(kf.split(lab)):
        models = _fit_quantiles(D.X[lab[tr]], ly[lab[tr]], D.categorical, qs, prm, seed + k)
        P[lab[te]] = _predict(models, D.X[lab[te]])
        fold_of[lab[te]] = k
    rest = np.setdiff1d(np.arange(n), lab)
    if len(rest):
        models = _fit_quantiles(D.X[lab], ly[lab], D.categorical, qs, prm, seed + folds)
        P[rest] = _predict(models, D.X[rest])
    i_lo, i_hi = qs.index(float(interval[0])), qs.index(float(interval[1]))
    i_q = qs.index(float(quantile))
    cov_raw = coverage(ly[lab], P[lab, i_lo], P[lab, i_hi])
    resid = ly[:, None] - P
    # cross-validated check of the calibration: fold k is calibrated on the other folds only
    cov_cv = hit_cv = float("nan")
    if calibrate:
        inside = np.zeros(n, dtype=bool)
        below = np.zeros(n, dtype=bool)
        for k in range(folds):
            mine = lab[fold_of[lab] == k]
            other = lab[fold_of[lab] != k]
            sh = np.array([_conformal_shift(resid[other, j], q) for j, q in enumerate(qs)])
            Pk = np.sort(P[mine] + sh, axis=1)
            inside[mine] = (ly[mine] >= Pk[:, i_lo]) & (ly[mine] <= Pk[:, i_hi])
            below[mine] = ly[mine] <= Pk[:, i_q]
        cov_cv, hit_cv = float(inside[lab].mean()), float(below[lab].mean())
    shifts = {q: (_conformal_shift(resid[lab, j], q) if calibrate else 0.0) for j, q in enumerate(qs)}
    P = P + np.array([shifts[q] for q in qs])
    P = np.sort(P, axis=1)
    V = np.expm1(np.clip(P, 0.0, 700.0))
    col = {q: V[:, j] for j, q in enumerate(qs)}
    pot = col[float(quantile)]
    table = pd.DataFrame({
        "potential": pot, "lower": col[float(interval[0])], "median": col[0.5],
        "upper": col[float(interval[1])], "revenue": rev, "white_space": white_space(pot, rev),
        "target": y, "scored_by": np.where(np.isfinite(y), "out-of-fold", "full model"),
    }, index=features.index)
    return PotentialEstimate(table, float(quantile), (float(interval[0]), float(interval[1])), shifts,
                             cov_raw, cov_cv, hit_cv, int(len(lab)), D.columns, int(folds))


@dataclass(frozen=True)
class PotentialValidation:
    """Held-out check of :func:`estimate_potential`.

    A share ``test_share`` of the labelled accounts is hidden (their target set to NaN), the
    whole procedure (cross-fitting and calibration) runs on the rest, and the hidden accounts
    are scored.

    Attributes
    ----------
    nominal : float
        ``interval[1] - interval[0]``.
    coverage : float
        Share of held-out targets inside the calibrated interval.
    coverage_raw : float
        The same for the uncalibrated quantile models (out-of-fold on the training part).
    quantile_hit : float
        Share of held-out targets at or below ``potential`` (nominal: ``quantile``).
    median_width : float
        Median of ``upper / lower`` over held-out accounts (how wide the interval is).
    spearman_target : float
        Rank correlation of the held-out targets with the estimated median.
    spearman_white_space : float
        Rank correlation of estimated white space with the true white space
        (``truth - revenue``, ≥ 0) on held-out accounts; NaN without ``truth``.
    spearman_white_space_all : float
        The same over every account with a truth (out-of-fold or unlabelled estimates).
    n_train, n_test : int
    """

    nominal: float
    coverage: float
    coverage_raw: float
    quantile: float
    quantile_hit: float
    median_width: float
    spearman_target: float
    spearman_white_space: float
    spearman_white_space_all: float
    n_train: int
    n_test: int


def validate_potential(
    features: pd.DataFrame,
    target: pd.Series | np.ndarray,
    revenue: pd.Series | np.ndarray | None = None,
    truth: pd.Series | np.ndarray | None = None,
    *,
    test_share: float = 0.25,
    quantile: float = 0.9,
    interval: tuple[float, float] = (0.1, 0.9),
    folds: int = 5,
    calibrate: bool = True,
    params: Mapping | None = None,
    n_threads: int | None = None,
    seed: int = 0,
) -> tuple[PotentialValidation, PotentialEstimate]:
    """Hide ``test_share`` of the labelled accounts, estimate on the rest, score the hidden ones.

    ``truth`` (e.g. the demo's planted potential) is only used for the white-space rank
    correlation; pass the target itself when the target is the truth (CRM potential on the
    demo). Returns the validation and the estimate made without the hidden targets.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> x = rng.uniform(0, 1, 800)
    >>> y = np.exp(3 + 2 * x + rng.normal(0, 0.3, 800))
    >>> v, _ = validate_potential(pd.DataFrame({"x": x}), y, truth=y, folds=3, n_threads=1,
    ...                           params={"max_iter": 40})
    >>> abs(v.coverage - 0.8) < 0.07, v.spearman_white_space > 0.8
    (True, True)
    """
    if not 0 < test_share < 1:
        raise ValueError("test_share must be in (0, 1)")
    y = np.asarray(target, dtype=np.float64).reshape(-1)
    lab = np.flatnonzero(np.isfinite(y))
    rng = np.random.default_rng(seed)
    test = np.sort(rng.choice(lab, max(1, int(round(test_share * len(lab)))), replace=False))
    y_train = y.copy()
    y_train[test] = np.nan
    est = estimate_potential(features, y_train, revenue, quantile=quantile, interval=interval,
                             folds=folds, calibrate=calibrate, params=params, n_threads=n_threads, seed=seed)
    t = est.table
    yt = y[test]
    lo, hi = t["lower"].to_numpy()[test], t["upper"].to_numpy()[test]
    rev = t["revenue"].to_numpy()
    sp_ws = sp_all = float("nan")
    if truth is not None:
        tr = np.asarray(truth, dtype=np.float64).reshape(-1)
        ws_true = white_space(tr, rev)
        sp_ws = spearman(t["white_space"].to_numpy()[test], ws_true[test])
        sp_all = spearman(t["white_space"].to_numpy(), ws_true)
    return PotentialValidation(
        nominal=float(interval[1] - interval[0]),
        coverage=coverage(yt, lo, hi),
        coverage_raw=est.coverage_raw,
        quantile=float(quantile),
        quantile_hit=float(np.mean(yt <= t["potential"].to_numpy()[test])),
        median_width=float(np.median(hi / np.maximum(lo, 1e-9))),
        spearman_target=spearman(yt, t["median"].to_numpy()[test]),
        spearman_white_space=sp_ws,
        spearman_white_space_all=sp_all,
        n_train=int(len(lab) - len(test)),
        n_test=int(len(test)),
    ), est


# --------------------------------------------------------------------------------------------
# Where should the next rep go?
# --------------------------------------------------------------------------------------------

def next_rep_sites(
    xy_km: np.ndarray,
    value: np.ndarray,
    rep_xy_km: np.ndarray,
    *,
    radius_km: float = 40.0,
    top: int = 10,
) -> pd.DataFrame:
    """Greedy maximal covering: where a new rep would reach the most uncovered white space.

    A unit is *covered* when some rep's home is within ``radius_km``. The first site is the
    unit with the most uncovered ``value`` within ``radius_km``; its reach then counts as
    covered and the next site is chosen the same way (Church & ReVelle 1974, greedy).

    Parameters
    ----------
    xy_km : ndarray (n, 2)
        Unit points in a projected CRS, in km.
    value : ndarray (n,)
        White space (or potential) per unit.
    rep_xy_km : ndarray (r, 2)
        Current rep homes, in km (may be empty).
    radius_km : float
        Reach of a rep.
    top : int
        Number of sites.

    Returns
    -------
    DataFrame with ``unit`` (position), ``reach_value`` (uncovered value within the radius
    when chosen), ``reach_units`` and ``nearest_rep_km`` (from the site to the nearest current
    rep); sites with no uncovered value are not returned.

    Examples
    --------
    >>> xy = np.array([[0., 0.], [10., 0.], [200., 0.], [205., 0.]])
    >>> next_rep_sites(xy, np.array([5., 5., 7., 1.]), np.array([[0., 0.]]), radius_km=20,
    ...                top=3)[["unit", "reach_value"]].to_dict("list")
    {'unit': [2], 'reach_value': [8.0]}
    """
    from scipy.spatial import cKDTree

    xy = np.asarray(xy_km, dtype=np.float64)
    v = np.nan_to_num(np.asarray(value, dtype=np.float64))
    n = len(xy)
    tree = cKDTree(xy)
    reps = np.asarray(rep_xy_km, dtype=np.float64).reshape(-1, 2)
    if len(reps):
        d_rep, _ = cKDTree(reps).query(xy)
    else:
        d_rep = np.full(n, np.inf)
    uncovered = d_rep > radius_km
    from scipy.sparse import csr_array

    pairs = tree.query_pairs(r=radius_km, output_type="ndarray")
    ii = np.concatenate([pairs[:, 0], pairs[:, 1], np.arange(n)])
    jj = np.concatenate([pairs[:, 1], pairs[:, 0], np.arange(n)])
    A = csr_array((np.ones(len(ii)), (ii, jj)), shape=(n, n))  # unit -> units within reach
    rows = []
    for _ in range(max(0, int(top))):
        score = A @ np.where(uncovered, v, 0.0)
        best = int(np.argmax(score))
        if score[best] <= 0:
            break  # nothing uncovered is left worth a rep
        reach = A.indices[A.indptr[best]:A.indptr[best + 1]]
        rows.append((best, float(score[best]), int(uncovered[reach].sum()), float(d_rep[best])))
        uncovered[reach] = False
    df = pd.DataFrame(rows, columns=["unit", "reach_value", "reach_units", "nearest_rep_km"])
    return df
