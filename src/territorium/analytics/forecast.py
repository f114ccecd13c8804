"""Monthly sales forecasts per territory and hierarchy level, checked against seasonal naive.

Every series is forecast by the model that did best in a rolling-origin backtest, and only if
it beat the seasonal-naive benchmark there (MASE ratio below 1); otherwise seasonal naive is
kept and the result says so. The forecasts of all levels are then reconciled so that bottom
series add up exactly to every level above (:mod:`territorium.analytics.reconcile`).

Candidate models (statsmodels):

=============== ===============================================================================
snaive          seasonal naive: the value of the same month a year earlier (the benchmark)
hw_add, hw_mul  Holt-Winters (``ExponentialSmoothing``): damped additive trend, additive or
                multiplicative seasonality; needs two full seasons plus two months of training
holt_pooled     damped Holt (``ExponentialSmoothing``) on the series divided by seasonal indices
                pooled from the hierarchy's total ("group seasonal indices"), so a series
                with fewer than two seasons still gets a seasonal, trending forecast
sarima_drift    ``SARIMAX`` (0,0,0)(0,1,0)m with a constant on log sales: seasonal naive with
                a fitted growth rate
sarima_ar1      ``SARIMAX`` (1,0,0)(0,1,0)m with a constant on log sales
sarima_airline  ``SARIMAX`` (0,1,1)(0,1,1)m on log sales; needs three seasons of training
=============== ===============================================================================

Log-scale models fall back to the raw scale when a series has a zero or negative month.

Accuracy is the mean absolute scaled error with seasonal scaling (Hyndman & Koehler 2006):
``MASE = mean|y - ŷ| / mean_t|y_t - y_{t-m}|`` (denominator over the training window of that
origin), averaged over the backtest origins.

Prediction intervals of the reconciled forecasts are calibrated on the same backtest
(:func:`calibrate_intervals`): split-conformal quantiles of the reconciled forecasts' scaled
errors, per horizon, pooled over the series of a hierarchy level. Their coverage is checked
out of sample by :func:`nested_coverage` (origin ``o`` judged by a calibration on the origins
before it).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import norm

from territorium.analytics.reconcile import (METHODS, Hierarchy, hierarchy, reconcile,
                                             reconciled_covariance, shrink_covariance)

__all__ = [
    "MODELS",
    "MODEL_LABELS",
    "InsufficientHistory",
    "SeriesForecast",
    "HierarchyForecast",
    "mase",
    "seasonal_naive",
    "seasonal_indices",
    "fit_model",
    "backtest",
    "forecast_series",
    "forecast_hierarchy",
    "history_needed",
    "POOLS",
    "IntervalCalibration",
    "conformal_rank",
    "conformal_quantile",
    "calibrate_intervals",
    "nested_coverage",
]

#: Candidate models, benchmark first.
MODELS = ("snaive", "hw_add", "hw_mul", "holt_pooled", "sarima_drift", "sarima_ar1", "sarima_airline")

MODEL_LABELS = {
    "snaive": "seasonal naive",
    "hw_add": "Holt-Winters additive (damped)",
    "hw_mul": "Holt-Winters multiplicative (damped)",
    "holt_pooled": "Holt (damped) × pooled seasonality",
    "sarima_drift": "SARIMA(0,0,0)(0,1,0) + drift",
    "sarima_ar1": "SARIMA(1,0,0)(0,1,0) + drift",
    "sarima_airline": "SARIMA(0,1,1)(0,1,1)",
}

_N_PATHS = 400  # bootstrap sample paths for exponential-smoothing intervals


class InsufficientHistory(ValueError):
    """Some series are too short for the requested horizon and backtest.

    ``short`` lists ``(series, months, needed)``.
    """

    def __init__(self, short: Sequence[tuple[str, int, int]], horizon: int, origins: int, m: int):
        self.short = list(short)
        needed = short[0][2] if short else 0
        head = ", ".join(f"{s} ({n} months)" for s, n, _ in self.short[:8])
        more = f" and {len(self.short) - 8} more" if len(self.short) > 8 else ""
        super().__init__(
            f"too little history: {head}{more}; a horizon of {horizon} months with {origins} backtest "
            f"origins needs at least {needed} months per series ({m} for the seasonal cycle + "
            f"{horizon} horizon + {origins} origins). Shorten --horizon or --backtest-origins.")


def history_needed(horizon: int, origins: int, m: int = 12) -> int:
    """Months of history a series needs: ``m + horizon + origins``.

    The shortest backtest training window (``m + 1`` months) then holds one full season plus
    one month, so seasonal naive and its MASE scale are defined.

    >>> history_needed(6, 4)
    22
    """
    return m + horizon + origins


# --------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------

def seasonal_naive(y: np.ndarray, h: int, m: int = 12) -> np.ndarray:
    """Seasonal naive forecast: ``ŷ_{T+k} = y_{T+k-m·(⌊(k-1)/m⌋+1)}``.

    >>> seasonal_naive(np.array([1., 2., 3., 4.]), 3, m=2).tolist()
    [3.0, 4.0, 3.0]
    """
    y = np.asarray(y, dtype=np.float64)
    if len(y) < m:
        raise ValueError(f"seasonal naive needs at least {m} observations, got {len(y)}")
    k = np.arange(h)
    return y[len(y) - m + (k % m)]


def _scale(train: np.ndarray, m: int) -> float:
    d = np.abs(train[m:] - train[:-m])
    return float(d.mean()) if len(d) else float("nan")


def mase(actual: np.ndarray, forecast: np.ndarray, train: np.ndarray, m: int = 12) -> float:
    """Mean absolute scaled error with seasonal scaling.

    ``mean|actual - forecast| / mean_{t>=m}|train_t - train_{t-m}|``; NaN when the training
    series has no seasonal variation (flat history).

    >>> mase([5., 6.], [3., 4.], [1., 2., 3., 4.], m=2)   # seasonal naive on a trend: 2 / 2
    1.0
    """
    a = np.asarray(actual, dtype=np.float64)
    f = np.asarray(forecast, dtype=np.float64)
    s = _scale(np.asarray(train, dtype=np.float64), m)
    if not np.isfinite(s) or s <= 0:
        return float("nan")
    return float(np.mean(np.abs(a - f)) / s)


def seasonal_indices(ref: np.ndarray, m: int = 12) -> np.ndarray | None:
    """Multiplicative seasonal indices (length ``m``, geometric mean 1) of a positive series.

    Fitted by least squares on ``log ref_t = a + b t + s_{t mod m}`` with ``Σ s = 0``, so a
    trend is not mistaken for seasonality even with fewer than two seasons of data. Index ``k``
    belongs to positions ``t`` with ``t % m == k`` (position 0 = first observation). None
    when the series has a non-positive value or fewer than ``m + 2`` observations.

    >>> t = np.arange(30)
    >>> s = np.log([0.8, 1.25] * 3)[np.arange(30) % 6]
    >>> seasonal_indices(100 * np.exp(0.01 * t + s), m=6).round(3).tolist()
    [0.8, 1.25, 0.8, 1.25, 0.8, 1.25]
    """
    r = np.asarray(ref, dtype=np.float64)
    T = len(r)
    if T < m + 2 or not np.all(np.isfinite(r)) or np.any(r <= 0):
        return None
    t = np.arange(T)
    X = np.column_stack([t / T] + [(t % m == k).astype(float) for k in range(m)])
    beta = np.linalg.lstsq(X, np.log(r), rcond=None)[0]
    s = beta[1:] - beta[1:].mean()
    return np.exp(s)


@dataclass(frozen=True)
class _Fit:
    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    sd: np.ndarray
    resid: np.ndarray  # in-sample one-step residuals on the original scale (NaN: undefined)


def _eligible(name: str, y: np.ndarray, m: int, season: np.ndarray | None) -> bool:
    T = len(y)
    if name == "snaive":
        return T >= m + 1
    if name in ("hw_add", "hw_mul"):
        return T >= 2 * m + 2 and (name == "hw_add" or bool(np.all(y > 0)))
    if name == "holt_pooled":
        return season is not None and T >= m + 2
    if name == "sarima_drift":
        return T >= m + 3
    if name == "sarima_ar1":
        return T >= m + 5
    if name == "sarima_airline":
        return T >= 3 * m
    raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")


def _snaive_fit(y: np.ndarray, h: int, m: int, z: float) -> _Fit:
    mean = seasonal_naive(y, h, m)
    res = np.full(len(y), np.nan)
    res[m:] = y[m:] - y[:-m]
    sigma = float(np.sqrt(np.nanmean(res[m:] ** 2))) if len(y) > m else 0.0
    sd = sigma * np.sqrt(np.arange(h) // m + 1.0)
    return _Fit(mean, mean - z * sd, mean + z * sd, sd, res)


def _es_fit(y: np.ndarray, h: int, m: int, level: float, rng, intervals: bool, **kw) -> _Fit:
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    model = ExponentialSmoothing(y, **kw)
    r = model.fit()
    mean = np.asarray(r.forecast(h), dtype=np.float64)
    res = np.asarray(y - r.fittedvalues, dtype=np.float64)
    if intervals:
        err = "mul" if kw.get("seasonal") == "mul" else "add"
        paths = np.asarray(r.simulate(h, repetitions=_N_PATHS, anchor="end", error=err,
                                      random_errors="bootstrap", random_state=rng), dtype=np.float64)
        paths = paths.reshape(h, -1)
        a = (1 - level) / 2
        lower, upper = np.quantile(paths, [a, 1 - a], axis=1)
        sd = paths.std(axis=1)
    else:
        lower = upper = sd = np.full(h, np.nan)
    return _Fit(mean, lower, upper, sd, res)


def _fit(name: str, y: np.ndarray, h: int, m: int, level: float, season: np.ndarray | None,
         rng, intervals: bool) -> _Fit:
    z = float(norm.ppf(0.5 + level / 2))
    T = len(y)
    if name == "snaive":
        return _snaive_fit(y, h, m, z)
    if name in ("hw_add", "hw_mul"):
        return _es_fit(y, h, m, level, rng, intervals, trend="add", damped_trend=True,
                       seasonal="add" if name == "hw_add" else "mul", seasonal_periods=m,
                       initialization_method="heuristic")
    if name == "holt_pooled":
        idx = season[np.arange(T + h) % m]
        f = _es_fit(y / idx[:T], h, m, level, rng, intervals, trend="add", damped_trend=True,
                    initialization_method="estimated")
        fi = idx[T:]
        return _Fit(f.mean * fi, f.lower * fi, f.upper * fi, f.sd * fi, f.resid * idx[:T])
    if name.startswith("sarima"):
        from statsmodels.tsa.statespace.sarimax import SARIMAX

        order, sorder, trend = {
            "sarima_drift": ((0, 0, 0), (0, 1, 0, m), "c"),
            "sarima_ar1": ((1, 0, 0), (0, 1, 0, m), "c"),
            "sarima_airline": ((0, 1, 1), (0, 1, 1, m), None),
        }[name]
        log = bool(np.all(y > 0))
        zt = np.log(y) if log else y
        fit_kw = {} if name == "sarima_airline" else {"method": "nm", "maxiter": 1000}
        r = SARIMAX(zt, order=order, seasonal_order=sorder, trend=trend).fit(disp=False, **fit_kw)
        fc = r.get_forecast(h)
        mu = np.asarray(fc.predicted_mean, dtype=np.float64)
        ci = np.asarray(fc.conf_int(alpha=1 - level), dtype=np.float64)
        fitted = np.asarray(r.fittedvalues, dtype=np.float64)
        if log:
            mean, lower, upper, fitted = np.exp(mu), np.exp(ci[:, 0]), np.exp(ci[:, 1]), np.exp(fitted)
        else:
            mean, lower, upper = mu, ci[:, 0], ci[:, 1]
        res = y - fitted
        burn = m + order[1] + (m if sorder[1] and sorder[2] else 0)
        res[:min(burn + 1, T)] = np.nan  # diffuse start: no real one-step forecasts there
        sd = (upper - lower) / (2 * z) if z > 0 else np.zeros(h)
        return _Fit(mean, lower, upper, sd, res)
    raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")


def fit_model(name: str, y: np.ndarray, h: int, *, m: int = 12, level: float = 0.8,
              season: np.ndarray | None = None, seed: int = 0) -> dict[str, np.ndarray]:
    """Fit one candidate to ``y`` and forecast ``h`` steps.

    Parameters
    ----------
    name : str
        One of :data:`MODELS`.
    y : array
        The training series (oldest first).
    h : int
        Horizon.
    m : int, default 12
        Season length.
    level : float, default 0.8
        Coverage of the prediction interval.
    season : array of length m, optional
        Pooled seasonal indices for ``holt_pooled`` (index ``k`` for positions ``t % m == k``).
    seed : int
        Seed of the bootstrap sample paths (exponential smoothing intervals).

    Returns
    -------
    dict with ``mean``, ``lower``, ``upper``, ``sd`` (length ``h``) and ``resid`` (length of ``y``).

    >>> y = 100 + 10 * np.sin(np.arange(30) * np.pi / 6)
    >>> fit_model("snaive", y, 2)["mean"].round(2).tolist()
    [100.0, 95.0]
    """
    y = np.asarray(y, dtype=np.float64)
    if not _eligible(name, y, m, season):
        raise ValueError(f"model {name!r} cannot be fitted to {len(y)} observations with m={m}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = _fit(name, y, h, m, level, season, np.random.default_rng(seed), True)
    return {"mean": f.mean, "lower": f.lower, "upper": f.upper, "sd": f.sd, "resid": f.resid}


def _safe_fit(name, y, h, m, level, season, rng, intervals) -> _Fit | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            f = _fit(name, y, h, m, level, season, rng, intervals)
    except (ValueError, np.linalg.LinAlgError, OverflowError, FloatingPointError, IndexError):
        return None
    if not np.all(np.isfinite(f.mean)):
        return None
    return f


@dataclass(frozen=True)
class _Backtest:
    mase: dict[str, np.ndarray]            # model -> MASE per origin
    fits: dict[str, list[_Fit | None]]     # model -> fit per origin
    train_len: tuple[int, ...]


def _run_backtest(y: np.ndarray, h: int, origins: int, m: int, models: Sequence[str],
                  season_at: Callable[[int], np.ndarray | None], level: float, rng) -> _Backtest:
    n = len(y)
    tl = tuple(n - h - (origins - 1 - o) for o in range(origins))
    out_m: dict[str, np.ndarray] = {}
    out_f: dict[str, list] = {}
    for name in models:
        scores = np.full(origins, np.nan)
        fits: list[_Fit | None] = []
        for o, T in enumerate(tl):
            train, test = y[:T], y[T:T + h]
            season = season_at(T) if name == "holt_pooled" else None
            f = _safe_fit(name, train, h, m, level, season, rng, True) if _eligible(name, train, m, season) else None
            fits.append(f)
            if f is not None:
                scores[o] = mase(test, f.mean, train, m)
            elif name != "snaive":
                scores[o] = np.inf
        out_m[name] = scores
        out_f[name] = fits
    return _Backtest(out_m, out_f, tl)


def backtest(y: np.ndarray, h: int = 6, origins: int = 4, *, m: int = 12,
             models: Sequence[str] = MODELS, reference: np.ndarray | None = None) -> pd.DataFrame:
    """Rolling-origin backtest: MASE of each model at each origin.

    Origin ``o`` (0-based, of ``origins``) trains on the first ``n - h - (origins - 1 - o)``
    observations and scores the next ``h``. ``reference`` (default ``y``) is the series whose
    seasonal indices ``holt_pooled`` uses, cut at the same origin.

    Returns a DataFrame: one row per origin (column ``train`` = training length), one column
    per model (NaN/inf where a model could not be fitted).

    >>> y = np.array([1., 2., 3., 4., 5., 6., 7., 8.])
    >>> backtest(y, h=2, origins=2, m=2, models=["snaive"])["snaive"].tolist()   # by hand: 1, 1
    [1.0, 1.0]
    """
    y = np.asarray(y, dtype=np.float64)
    ref = y if reference is None else np.asarray(reference, dtype=np.float64)
    need = history_needed(h, origins, m)
    if len(y) < need:
        raise InsufficientHistory([("series", len(y), need)], h, origins, m)
    bt = _run_backtest(y, h, origins, m, list(models), lambda T: seasonal_indices(ref[:T], m), 0.8,
                       np.random.default_rng(0))
    df = pd.DataFrame(bt.mase)
    df.insert(0, "train", bt.train_len)
    return df


# --------------------------------------------------------------------------------------------
# Interval calibration from the backtest
# --------------------------------------------------------------------------------------------

#: Where the errors behind a calibrated half-width come from, most specific first.
POOLS = ("series", "level", "level, all horizons", "all series, all horizons", "none")


def conformal_rank(n: int, level: float) -> int:
    """Rank of the split-conformal quantile of ``n`` scores: ``⌈(n + 1)·level⌉``.

    >>> conformal_rank(9, 0.8), conformal_rank(20, 0.8), conformal_rank(3, 0.8)
    (8, 17, 4)
    """
    return max(1, int(np.ceil((n + 1) * level - 1e-9)))


def conformal_quantile(scores, level: float) -> float:
    """Split-conformal quantile: the ``⌈(n + 1)·level⌉``-th smallest of the ``n`` finite scores.

    If a new score is exchangeable with these, it is at most this quantile with probability
    at least ``level`` (and less than ``level + 1/(n + 1)``). ``inf`` when the rank exceeds
    ``n``: too few scores for that level (fewer than ``level / (1 - level)``).

    >>> conformal_quantile([0.5, 0.1, 0.9, 0.3, 0.7, 0.2, 0.4, 0.8, 0.6], 0.8)   # 8th of 9
    0.8
    >>> conformal_quantile([1.0, 2.0, 3.0], 0.8)                                # 4th of 3
    inf
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    s = np.sort(s[np.isfinite(s)])
    k = conformal_rank(len(s), level)
    if len(s) == 0 or k > len(s):
        return float("inf")
    return float(s[k - 1])


@dataclass(frozen=True)
class IntervalCalibration:
    """Calibrated half-widths of every series and horizon, learnt from backtest errors.

    Attributes
    ----------
    level : float
        Nominal coverage.
    q : ndarray (n, h)
        Conformal quantile of the scores of the pool behind each series and horizon.
    scaled : ndarray (n, h) of bool
        True: the half-width is ``q × scale`` (scale = in-sample seasonal-naive MAE of the
        series, the MASE denominator), the same on both sides. False: the model's own lower and
        upper half-widths times ``q`` (``q = 1`` where ``pool == "none"``: model interval kept).
    pool : ndarray (n, h) of str
        One of :data:`POOLS`: the errors behind ``q``.
    n_errors : ndarray (n, h) of int
        How many errors that pool held.
    min_errors : int
        Fewest errors a scaled-error pool needed.
    """

    level: float
    q: np.ndarray
    scaled: np.ndarray
    pool: np.ndarray
    n_errors: np.ndarray
    min_errors: int

    def bounds(self, point: np.ndarray, scale: np.ndarray, lo_w: np.ndarray,
               hi_w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(lower, upper)`` around ``point`` (n, h), unclipped.

        ``scale`` (n,) is each series' MASE scale over its training months; ``lo_w``/``hi_w``
        (n, h) the model's own half-widths below and above the point.
        """
        s = np.asarray(scale, dtype=np.float64).reshape(-1, 1)
        lo = np.where(self.scaled, self.q * s, self.q * lo_w)
        hi = np.where(self.scaled, self.q * s, self.q * hi_w)
        return point - lo, point + hi


def _scores(actual, point, scale, lo_w, hi_w) -> tuple[np.ndarray, np.ndarray]:
    """Scaled absolute errors ``|e| / scale`` and model-width-normalised errors ``e⁺/hi_w, e⁻/lo_w``."""
    e = np.asarray(actual, dtype=np.float64) - np.asarray(point, dtype=np.float64)
    s = np.asarray(scale, dtype=np.float64)[..., None]
    with np.errstate(divide="ignore", invalid="ignore"):
        sc = np.where((s > 0) & np.isfinite(s), np.abs(e) / s, np.nan)
        w = np.where(e >= 0, hi_w, lo_w)
        fa = np.where(e == 0, 0.0, np.abs(e) / np.where(w > 0, w, np.nan))
    sc[~np.isfinite(sc)] = np.nan
    fa[~np.isfinite(fa) | ~np.isfinite(e)] = np.nan
    return sc, fa


def calibrate_intervals(actual: np.ndarray, point: np.ndarray, scale: np.ndarray, lo_w: np.ndarray,
                        hi_w: np.ndarray, groups: Sequence[str], level: float = 0.8,
                        min_errors: int = 20, min_level_errors: int | None = None) -> IntervalCalibration:
    """Interval half-widths from backtest errors (split-conformal, per series and horizon).

    For series ``i`` and horizon ``k`` the score of a backtest error ``e = y − ŷ`` (``ŷ`` the
    reconciled backtest forecast) is ``|e| / s_i`` with ``s_i`` the MASE scale of that origin's
    training months; the half-width is ``q_{ik} · s_i`` with ``q_{ik}`` the
    :func:`conformal_quantile` of the scores of the first pool below that holds enough
    errors:

    1. ``series``: series ``i``, horizon ``k`` (one error per origin), if ``min_errors``;
    2. ``level``: every series of ``i``'s group (hierarchy level), horizon ``k``, if the group
       has several series and the pool holds ``min_level_errors`` (default: as soon as the
       quantile is finite, ``level / (1 − level)`` errors: 4 for 80 %); a group of one series
       (the total) needs ``min_errors`` here too, as its pool is that series' own;
    3. ``level, all horizons``: that group, every horizon, with the *model-width* score
       ``e / w⁺`` (``e ≥ 0``) or ``−e / w⁻`` (``e < 0``), ``w±`` the model interval's
       half-widths at that horizon: the model's interval is widened (or narrowed) by ``q``;
       as soon as the quantile is finite (at least ``level / (1 − level)`` errors: 4 for
       80 %), because levels differ (aggregates are smoother) and the finite-sample rank
       already pays for a small pool with a wider interval;
    4. ``all series, all horizons``: as 3 over every series;
    5. ``none``: the model's interval is kept (``q = 1``).

    Parameters
    ----------
    actual, point, lo_w, hi_w : ndarray (n, K, h)
        Outcomes, reconciled backtest forecasts and model half-widths (below / above the point)
        of ``n`` series at ``K`` origins and ``h`` horizons (NaN: no forecast).
    scale : ndarray (n, K)
        MASE scale ``mean_t |y_t − y_{t−m}|`` of each series over each origin's training months.
    groups : sequence of str (n,)
        Pool of each series (its hierarchy level).
    level : float
        Nominal coverage ``1 − α``.
    min_errors : int
        Fewest errors a one-series scaled-error pool (1, and 2 for a group of one series) needs
        (raised to ``level / (1 − level)`` if below: the conformal quantile of fewer is infinite).
    min_level_errors : int, optional
        Fewest errors a scaled-error pool of several series at one horizon (2) needs; default
        the fewest with a finite quantile. Scaled errors of one level at one horizon are the
        better-matched pool: on the demo's states, calibrating from one or two origins (9 or 18
        errors) with the model-width factor of pool 3 instead covered 70–72 % for 80 %.

    Examples
    --------
    >>> e = np.array([[[1.0], [-2.0], [3.0], [-4.0], [5.0]]])        # 1 series, 5 origins, h=1
    >>> cal = calibrate_intervals(e, np.zeros_like(e), np.ones((1, 5)), np.ones_like(e),
    ...                           np.ones_like(e), ["total"], level=0.8, min_errors=4)
    >>> str(cal.pool[0, 0]), float(cal.q[0, 0])   # ⌈6·0.8⌉ = 5th smallest of |e| = 1, 2, 3, 4, 5
    ('series', 5.0)
    """
    A = np.asarray(actual, dtype=np.float64)
    n, K, h = A.shape
    g = np.asarray([str(x) for x in groups], dtype=object)
    if len(g) != n:
        raise ValueError(f"groups has {len(g)} entries for {n} series")
    finite = int(np.ceil(level / (1 - level) - 1e-9))   # fewest scores with a finite quantile
    need = max(int(min_errors), finite)
    need_level = max(int(min_level_errors), finite) if min_level_errors is not None else finite
    group_size = {x: int(np.sum(g == x)) for x in set(g.tolist())}
    sc, fa = _scores(A, point, scale, np.asarray(lo_w, dtype=np.float64), np.asarray(hi_w, dtype=np.float64))
    q = np.ones((n, h))
    scaled = np.zeros((n, h), dtype=bool)
    pool = np.full((n, h), "none", dtype=object)
    cnt = np.zeros((n, h), dtype=np.int64)
    cache: dict = {}

    def pooled(key, vals):
        if key not in cache:
            v = vals()
            v = v[np.isfinite(v)]
            cache[key] = (conformal_quantile(v, level), len(v))
        return cache[key]

    for i in range(n):
        rows = g == g[i]
        for k in range(h):
            own = sc[i, :, k]
            c = int(np.isfinite(own).sum())
            if c >= need:
                q[i, k], scaled[i, k], pool[i, k], cnt[i, k] = conformal_quantile(own, level), True, "series", c
                continue
            least_level = need_level if group_size[g[i]] > 1 else need
            for key, vals, is_scaled, least in (((g[i], k), lambda: sc[rows, :, k], True, least_level),
                                                ((g[i], None), lambda: fa[rows], False, finite),
                                                ((None, None), lambda: fa, False, finite)):
                qq, c = pooled(key, vals)
                if c >= least:
                    name = "level" if key[1] is not None else ("level, all horizons" if key[0] is not None
                                                               else "all series, all horizons")
                    q[i, k], scaled[i, k], pool[i, k], cnt[i, k] = qq, is_scaled, name, c
                    break
    return IntervalCalibration(float(level), q, scaled, pool, cnt, need)


def nested_coverage(actual: np.ndarray, point: np.ndarray, scale: np.ndarray, lo_w: np.ndarray,
                    hi_w: np.ndarray, groups: Sequence[str], level: float = 0.8, min_errors: int = 20,
                    clip: bool = True, min_level_errors: int | None = None) -> np.ndarray:
    """Out-of-sample coverage of the calibrated intervals: origin ``o`` is judged by an interval
    calibrated (:func:`calibrate_intervals`) on origins ``0 … o − 1`` only.

    Arguments as in :func:`calibrate_intervals`; ``clip`` clips lower bounds at 0 as the
    forecasts do. Returns an ``(n, K, h)`` array: 1.0 where the outcome fell inside, 0.0
    outside, NaN where not judged (origin 0, which has nothing before it, and missing forecasts).
    """
    A = np.asarray(actual, dtype=np.float64)
    P = np.asarray(point, dtype=np.float64)
    n, K, h = A.shape
    hit = np.full((n, K, h), np.nan)
    for o in range(1, K):
        cal = calibrate_intervals(A[:, :o], P[:, :o], scale[:, :o], lo_w[:, :o], hi_w[:, :o], groups, level,
                                  min_errors, min_level_errors)
        lo, hi = cal.bounds(P[:, o], scale[:, o], lo_w[:, o], hi_w[:, o])
        if clip:
            lo = np.clip(lo, 0.0, None)
        ok = np.isfinite(A[:, o]) & np.isfinite(P[:, o])
        hit[:, o] = np.where(ok, ((A[:, o] >= lo) & (A[:, o] <= hi)).astype(float), np.nan)
    return hit


# --------------------------------------------------------------------------------------------
# One series and a hierarchy
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SeriesForecast:
    """The forecast of one series with its backtest.

    Attributes
    ----------
    model : str
        The model used (``"snaive"`` unless a challenger beat it).
    challenger : str or None
        The best non-benchmark model in the backtest (None if none could be fitted).
    mase_model, mase_snaive : float
        Mean backtest MASE of the challenger and of seasonal naive.
    offered : bool
        Whether the challenger beat seasonal naive (ratio below ``1 - min_gain``) and is used.
    backtest : DataFrame
        MASE per origin (rows) and model (columns).
    mean, lower, upper, sd : ndarray
        Forecast of the used model and its prediction interval.
    resid : ndarray
        In-sample one-step residuals of the used model (NaN where undefined).
    note : str
    """

    model: str
    challenger: str | None
    mase_model: float
    mase_snaive: float
    offered: bool
    backtest: pd.DataFrame
    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    sd: np.ndarray
    resid: np.ndarray
    note: str = ""
    _fits: Mapping = field(default_factory=dict, repr=False, compare=False)

    @property
    def ratio(self) -> float:
        """MASE of the challenger / MASE of seasonal naive (below 1: the challenger is better)."""
        if not np.isfinite(self.mase_model) or not np.isfinite(self.mase_snaive) or self.mase_snaive <= 0:
            return float("nan")
        return self.mase_model / self.mase_snaive


def _choose(bt: _Backtest, models: Sequence[str], min_gain: float,
            every_origin: bool) -> tuple[str, str | None, float, float, bool, str]:
    sn_o = bt.mase["snaive"]
    sn = float(np.mean(sn_o)) if np.all(np.isfinite(sn_o)) else float("nan")
    best, best_score = None, np.inf
    for name in models:
        if name == "snaive":
            continue
        sc = bt.mase[name]
        s = float(np.mean(sc)) if np.all(np.isfinite(sc)) else np.inf
        if s < best_score - 1e-12:
            best, best_score = name, s
    if best is None:
        return "snaive", None, float("nan"), sn, False, "no challenger could be fitted; seasonal naive kept"
    if not np.isfinite(sn):
        return "snaive", best, best_score, sn, False, "flat history (MASE undefined); seasonal naive kept"
    beats = best_score < sn * (1 - min_gain)
    if beats and every_origin and not np.all(bt.mase[best] < sn_o):
        wins = int(np.sum(bt.mase[best] < sn_o))
        return "snaive", best, best_score, sn, False, (
            f"{best} beat seasonal naive on average (MASE {best_score:.3f} vs {sn:.3f}) but only at "
            f"{wins} of {len(sn_o)} origins; seasonal naive kept")
    if beats:
        return best, best, best_score, sn, True, ""
    return "snaive", best, best_score, sn, False, (
        f"best challenger {best} did not beat seasonal naive (MASE {best_score:.3f} vs {sn:.3f}); "
        "seasonal naive kept")


def _forecast_one(y: np.ndarray, ref: np.ndarray, h: int, origins: int, m: int, level: float,
                  models: Sequence[str], min_gain: float, every_origin: bool, seed) -> SeriesForecast:
    cache: dict[int, np.ndarray | None] = {}

    def season_at(T: int):
        if T not in cache:
            cache[T] = seasonal_indices(ref[:T], m)
        return cache[T]

    rng = np.random.default_rng(seed)
    bt = _run_backtest(y, h, origins, m, models, season_at, level, rng)
    model, chal, s_model, s_sn, offered, note = _choose(bt, models, min_gain, every_origin)
    f = _safe_fit(model, y, h, m, level, season_at(len(y)) if model == "holt_pooled" else None, rng, True)
    if f is None:  # the chosen model failed on the full history: fall back to the benchmark
        note = f"{model} failed on the full history; seasonal naive used"
        model, offered = "snaive", False
        f = _safe_fit("snaive", y, h, m, level, None, rng, True)
    table = pd.DataFrame(bt.mase)
    table.insert(0, "train", bt.train_len)
    return SeriesForecast(model, chal, s_model, s_sn, offered, table, f.mean, f.lower, f.upper, f.sd,
                          f.resid, note, {"bt": bt})


def _check_models(models: Sequence[str]) -> list[str]:
    models = ["snaive"] + [mm for mm in models if mm != "snaive"]
    for mm in models:
        if mm not in MODELS:
            raise ValueError(f"unknown model {mm!r}; choose from {', '.join(MODELS)}")
    return models


def forecast_series(y: np.ndarray, h: int = 6, origins: int = 4, *, m: int = 12, level: float = 0.8,
                    models: Sequence[str] = MODELS, reference: np.ndarray | None = None,
                    min_gain: float = 0.0, every_origin: bool = True, seed: int = 0) -> SeriesForecast:
    """Backtest every candidate on ``y``, keep the best if it beats seasonal naive, forecast ``h``.

    Parameters
    ----------
    y : array
        Monthly history, oldest first.
    h : int, default 6
        Horizon.
    origins : int, default 4
        Rolling origins of the backtest (each scores ``h`` steps).
    m : int, default 12
        Season length (MASE scaling and seasonal models).
    level : float, default 0.8
        Coverage of the prediction interval.
    models : sequence of str
        Candidates; ``"snaive"`` is always included as the benchmark.
    reference : array, optional
        Series whose seasonal indices ``holt_pooled`` uses (e.g. the hierarchy total;
        default ``y`` itself). Must be as long as ``y``.
    min_gain : float, default 0.0
        The best challenger is used only if its mean MASE is below ``(1 - min_gain) ×``
        seasonal naive's (MASE ratio below 1 by default) ...
    every_origin : bool, default True
        ... and, if True, it also beat seasonal naive at every backtest origin. Consecutive
        origins overlap, so a mean over a few of them rewards luck; asking for a win at every
        origin keeps seasonal naive where it is the right model (a seasonal random walk).
    seed : int
        Seed of the bootstrap sample paths for intervals.

    Returns
    -------
    SeriesForecast

    Examples
    --------
    >>> t = np.arange(60)
    >>> y = 100 * 1.02 ** t * (1 + 0.3 * np.sin(2 * np.pi * t / 12))
    >>> f = forecast_series(y, h=6, origins=3, models=["snaive", "hw_mul"])
    >>> f.model, f.ratio < 0.5
    ('hw_mul', True)
    """
    y = np.asarray(y, dtype=np.float64)
    if h < 1 or origins < 1:
        raise ValueError("horizon and backtest origins must be at least 1")
    if not 0 < level < 1:
        raise ValueError(f"interval level must be in (0, 1), got {level}")
    models = _check_models(models)
    ref = y if reference is None else np.asarray(reference, dtype=np.float64)
    if len(ref) != len(y):
        raise ValueError("reference must have the same length as y")
    need = history_needed(h, origins, m)
    if len(y) < need:
        raise InsufficientHistory([("series", len(y), need)], h, origins, m)
    return _forecast_one(y, ref, h, origins, m, level, models, min_gain, every_origin, seed)


@dataclass(frozen=True)
class HierarchyForecast:
    """Reconciled forecasts of every series of a hierarchy, with the backtest per series.

    Attributes
    ----------
    hierarchy : Hierarchy
        Levels, names and summing matrix of the series.
    periods : pandas Index
        The history's periods; ``future`` the forecast periods.
    history : ndarray (n, T)
        History of every series.
    series : DataFrame
        One row per series: level, name, months, model, challenger, mase_model, mase_snaive,
        ratio, offered, mase_reconciled (backtest MASE after reconciliation), coverage_base and
        coverage_reconciled (backtest share of actuals inside the base model's interval and
        inside that interval moved to the reconciled forecast, all origins),
        coverage_calibrated (share inside the calibrated interval, nested: origin ``o`` judged
        by a calibration on origins before ``o``), calibration (pool of its half-widths, see
        :data:`POOLS`), note.
    forecast : DataFrame
        Long table: level, name, period, model, base, base_lower, base_upper (the model's
        forecast and its own interval), forecast (reconciled), model_lower, model_upper (the
        model's interval moved to the reconciled forecast), lower, upper (the interval used:
        calibrated unless ``calibrate=False``). Lower bounds are clipped at 0.
    method : str
        Reconciliation method used; ``notes`` anything the user should know.
    coverage : DataFrame
        One row per level (total first, bottom last): series, points (outcomes judged by the
        nested check), nominal, coverage of the base model interval, of the model interval
        moved to the reconciled forecast and of the calibrated interval over those same
        points, width_ratio (median calibrated / model interval width of the forecast) and
        calibration (pools used).
    calibration : IntervalCalibration or None
        The calibration behind the forecast's intervals.
    backtest : DataFrame
        Long table of the reconciled backtest, one row per series, origin and horizon: level,
        name, origin, train (months), horizon, actual, forecast (reconciled), model_lower,
        model_upper, scale (MASE scale of the training months), in_base, in_model,
        in_calibrated (1/0; NaN where not judged).
    calibrated : bool
        Whether ``lower``/``upper`` are the calibrated intervals (else the model's).
    """

    hierarchy: Hierarchy
    periods: pd.Index
    future: pd.Index
    history: np.ndarray
    series: pd.DataFrame
    forecast: pd.DataFrame
    method: str
    level: float
    horizon: int
    origins: int
    notes: tuple[str, ...] = ()
    coverage: pd.DataFrame = field(default_factory=pd.DataFrame)
    calibration: IntervalCalibration | None = None
    backtest: pd.DataFrame = field(default_factory=pd.DataFrame)
    calibrated: bool = False

    def reconciled(self) -> np.ndarray:
        """Reconciled forecasts as an ``(n, h)`` array in hierarchy order."""
        return self.forecast["forecast"].to_numpy().reshape(self.hierarchy.n, self.horizon)

    def base(self) -> np.ndarray:
        """Base (unreconciled) forecasts as an ``(n, h)`` array."""
        return self.forecast["base"].to_numpy().reshape(self.hierarchy.n, self.horizon)


def _n_workers(n_jobs: int | None, tasks: int) -> int:
    import os

    if n_jobs is None:
        n_jobs = min(8, os.cpu_count() or 1)
    return max(1, min(int(n_jobs), tasks))


def _future_index(periods: pd.Index, h: int) -> pd.Index:
    if isinstance(periods, pd.PeriodIndex):
        return pd.period_range(periods[-1] + 1, periods=h, freq=periods.freq)
    if isinstance(periods, pd.DatetimeIndex) and periods.freq is not None:
        return pd.date_range(periods[-1] + periods.freq, periods=h, freq=periods.freq)
    return pd.RangeIndex(len(periods), len(periods) + h)


def _row_mean(a: np.ndarray) -> np.ndarray:
    """Mean of each row over its finite entries (NaN for a row with none)."""
    ok = np.isfinite(a)
    cnt = ok.sum(1)
    tot = np.where(ok, a, 0.0).sum(1)
    return np.where(cnt > 0, tot / np.maximum(cnt, 1), np.nan)


def _residual_matrix(resids: list[np.ndarray]) -> np.ndarray | None:
    R = np.vstack(resids).T  # T × n
    keep = np.all(np.isfinite(R), axis=1)
    R = R[keep]
    return R if len(R) >= 3 else None


def _reconcile_block(fits: Sequence[_Fit], S: np.ndarray, method: str, z: float,
                     intervals: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Reconciled means of one set of base fits (one row per series of ``S``) and the model
    interval's half-widths below and above them (``intervals``: shifted or gaussian)."""
    base = np.vstack([f.mean for f in fits])
    R = _residual_matrix([f.resid for f in fits])
    rec, G, used = _reconcile_safe(base, S, method, R)
    if intervals == "shifted":
        lo_w = np.clip(base - np.vstack([f.lower for f in fits]), 0.0, None)
        hi_w = np.clip(np.vstack([f.upper for f in fits]) - base, 0.0, None)
    else:
        n, h = base.shape
        sd_base = np.nan_to_num(np.vstack([f.sd for f in fits]))
        if R is not None:
            W = shrink_covariance(R)[0]
            d = np.sqrt(np.clip(np.diag(W), 1e-300, None))
            C = W / np.outer(d, d)
        else:
            C = np.eye(n)
        sd = np.empty_like(rec)
        for k in range(h):
            V = reconciled_covariance(S, G, C * np.outer(sd_base[:, k], sd_base[:, k]))
            sd[:, k] = np.sqrt(np.clip(np.diag(V), 0.0, None))
        lo_w = hi_w = z * sd
    return rec, lo_w, hi_w, used


def _reconcile_safe(base: np.ndarray, S: np.ndarray, method: str, R: np.ndarray | None):
    if method in ("wls_var", "mint_shrink") and R is None:
        rec, G = reconcile(base, S, "wls_struct")
        return rec, G, "wls_struct"
    return (*reconcile(base, S, method, R), method)


def forecast_hierarchy(
    bottom: pd.DataFrame,
    keys: pd.DataFrame,
    *,
    levels: Sequence[str] | None = None,
    horizon: int = 6,
    origins: int = 4,
    m: int = 12,
    level: float = 0.8,
    method: str = "mint_shrink",
    models: Sequence[str] = MODELS,
    min_gain: float = 0.0,
    every_origin: bool = True,
    seed: int = 0,
    n_jobs: int | None = 1,
    intervals: str = "shifted",
    calibrate: bool = True,
    min_errors: int = 20,
    min_level_errors: int | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> HierarchyForecast:
    """Forecast every series of a hierarchy, each checked against seasonal naive, and reconcile.

    Parameters
    ----------
    bottom : DataFrame
        Bottom series: index = periods (oldest first, e.g. a monthly ``PeriodIndex``), one
        column per bottom series id. Missing values count as 0.
    keys : DataFrame
        One row per bottom series id (index) with the group of each level in its columns
        (see :func:`territorium.analytics.reconcile.hierarchy`).
    levels : sequence of str, optional
        Grouping columns of ``keys``, top-down (default: all).
    horizon, origins, m, level, models, min_gain, every_origin, seed
        As in :func:`forecast_series`. ``holt_pooled`` pools seasonal indices from the total.
    n_jobs : int or None, default 1
        Worker processes for the per-series backtests (None: one per CPU, at most 8).
    intervals : {"shifted", "gaussian"}, default "shifted"
        The *model* interval of the reconciled forecasts (columns ``model_lower``,
        ``model_upper``). ``shifted``: each series keeps the width of its own model's interval
        (asymmetric for log models), moved to the reconciled value. ``gaussian``: ``ŷ ± z·sd``
        from the reconciled covariance ``S G Σ_h G' S'``, with ``Σ_h`` built from the base
        models' h-step standard deviations and the shrunk correlation of their in-sample
        residuals. The backtest reports its coverage (``coverage_reconciled``).
    calibrate : bool, default True
        Use intervals calibrated on the backtest errors of the reconciled forecasts
        (:func:`calibrate_intervals`, pools of at least ``min_errors`` errors) as ``lower``/
        ``upper``; False: the model interval. Either way the nested out-of-sample coverage of
        the calibrated intervals is reported (``coverage_calibrated``, ``coverage``).
    min_errors : int, default 20
        Fewest backtest errors a one-series per-horizon scaled-error calibration pool needs (see
        :func:`calibrate_intervals`).
    min_level_errors : int, optional
        Fewest errors a per-horizon pool of several series of one level needs (default: as soon
        as its conformal quantile is finite).
    method : {"mint_shrink", "wls_var", "wls_struct", "ols"}
        Reconciliation (see :mod:`territorium.analytics.reconcile`). Methods that need residuals
        fall back to ``wls_struct`` when fewer than 3 common residual months exist (noted).
    progress : callable(done, total, label), optional

    Returns
    -------
    HierarchyForecast

    Raises
    ------
    InsufficientHistory
        If any series has fewer than :func:`history_needed` months from its first sale.

    Examples
    --------
    >>> t = np.arange(36)
    >>> base = 100 * 1.02 ** t * (1 + 0.3 * np.sin(2 * np.pi * t / 12))
    >>> bottom = pd.DataFrame({"a": base, "b": 2 * base, "c": base + 5})
    >>> keys = pd.DataFrame({"region": ["N", "N", "S"]}, index=["a", "b", "c"])
    >>> hf = forecast_hierarchy(bottom, keys, horizon=3, origins=3,
    ...                         models=["snaive", "sarima_drift"])
    >>> rec = hf.reconciled()
    >>> bool(np.allclose(rec[0], rec[-3:].sum(0)))     # total = sum of the bottom series
    True
    """
    if method not in METHODS:
        raise ValueError(f"unknown reconciliation method {method!r}; choose from {', '.join(METHODS)}")
    if intervals not in ("shifted", "gaussian"):
        raise ValueError(f"intervals must be 'shifted' or 'gaussian', not {intervals!r}")
    if not 0 < level < 1:
        raise ValueError(f"interval level must be in (0, 1), got {level}")
    if horizon < 1 or origins < 1:
        raise ValueError("horizon and backtest origins must be at least 1")
    if min_errors < 1:
        raise ValueError(f"min_errors must be at least 1, got {min_errors}")
    missing = [c for c in bottom.columns if c not in keys.index]
    if missing:
        raise ValueError(f"bottom series without keys: {missing[:5]}")
    keys = keys.loc[list(bottom.columns)]
    H = hierarchy(keys, levels)
    Yb = bottom.fillna(0.0).to_numpy(dtype=np.float64).T  # m × T
    Y = H.S @ Yb                                           # n × T
    n, T = Y.shape
    label = [nm if lv == "total" else f"{lv} {nm}" for lv, nm in zip(H.levels, H.names)]

    # history check: months from the first non-zero value
    need = history_needed(horizon, origins, m)
    nz = Y != 0
    first = np.where(nz.any(1), nz.argmax(1), T)
    months = T - first
    short = [(label[i], int(months[i]), need) for i in range(n) if months[i] < need]
    if short:
        raise InsufficientHistory(short, horizon, origins, m)

    models = _check_models(models)
    ref = Y[0]
    # identical series (a territory inside one state, a region with one territory) are
    # forecast once
    _, uniq_of = np.unique(H.S, axis=0, return_inverse=True)
    uniq_of = np.asarray(uniq_of).reshape(-1)
    rep: dict[int, int] = {}
    for i, u in enumerate(uniq_of.tolist()):
        rep.setdefault(u, i)
    args = {u: (Y[i], ref, horizon, origins, m, level, models, min_gain, every_origin, [seed, i])
            for u, i in rep.items()}
    results: dict[int, SeriesForecast] = {}
    workers = _n_workers(n_jobs, len(rep))
    if workers <= 1:
        for done, (u, a) in enumerate(args.items()):
            if progress is not None:
                progress(done, len(rep), label[rep[u]])
            results[u] = _forecast_one(*a)
    else:
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(workers) as ex:
            futs = {ex.submit(_forecast_one, *a): u for u, a in args.items()}
            for done, fut in enumerate(as_completed(futs)):
                results[futs[fut]] = fut.result()
                if progress is not None:
                    progress(done + 1, len(rep), label[rep[futs[fut]]])
    if progress is not None:
        progress(len(rep), len(rep), "reconciling")
    per = [results[uniq_of[i]] for i in range(n)]

    # reconcile the final forecasts
    notes: list[str] = []
    z = float(norm.ppf(0.5 + level / 2))
    final = [_Fit(p.mean, p.lower, p.upper, p.sd, p.resid) for p in per]
    rec, lo_w, hi_w, used = _reconcile_block(final, H.S, method, z, intervals)
    base = np.vstack([p.mean for p in per])
    if used != method:
        notes.append(f"{method} needs at least 3 months of residuals common to all series; used {used}")

    # backtest of the reconciled forecasts and of the intervals (chosen models, per origin)
    shape = (n, origins, horizon)
    act, pt, bt_lo, bt_hi, b_lo, b_hi = (np.full(shape, np.nan) for _ in range(6))
    scale_bt = np.full((n, origins), np.nan)
    mase_rec = np.full((n, origins), np.nan)
    for o in range(origins):
        fits = [p._fits["bt"].fits[p.model][o] for p in per]
        if any(f is None for f in fits):
            continue
        Tn = per[0]._fits["bt"].train_len[o]
        r_o, lw_o, hw_o, _ = _reconcile_block(fits, H.S, method, z, intervals)
        a_o = Y[:, Tn:Tn + horizon]
        act[:, o], pt[:, o], bt_lo[:, o], bt_hi[:, o] = a_o, r_o, lw_o, hw_o
        b_lo[:, o] = np.vstack([f.lower for f in fits])
        b_hi[:, o] = np.vstack([f.upper for f in fits])
        scale_bt[:, o] = [_scale(Y[i, :Tn], m) for i in range(n)]
        for i in range(n):
            mase_rec[i, o] = mase(a_o[i], r_o[i], Y[i, :Tn], m)
    judged = np.isfinite(act) & np.isfinite(pt)
    with np.errstate(invalid="ignore"):
        in_base = np.where(judged, ((act >= b_lo) & (act <= b_hi)).astype(float), np.nan)
        in_model = np.where(judged, ((act >= np.clip(pt - bt_lo, 0.0, None)) & (act <= pt + bt_hi)).astype(float),
                            np.nan)

    # calibrated intervals: on every origin for the forecast, nested for the coverage check
    groups = list(H.levels)
    cal = calibrate_intervals(act, pt, scale_bt, bt_lo, bt_hi, groups, level, min_errors, min_level_errors)
    scale_now = np.array([_scale(Y[i], m) for i in range(n)])
    c_lo, c_hi = cal.bounds(rec, scale_now, lo_w, hi_w)
    in_cal = nested_coverage(act, pt, scale_bt, bt_lo, bt_hi, groups, level, min_errors,
                             min_level_errors=min_level_errors)
    m_lower, m_upper = np.clip(rec - lo_w, 0.0, None), rec + hi_w
    lower, upper = (np.clip(c_lo, 0.0, None), c_hi) if calibrate else (m_lower, m_upper)

    def pools_of(rows) -> str:
        out = []
        for name in POOLS:
            sel = cal.pool[rows] == name
            if sel.any():
                k = int(np.median(cal.n_errors[rows][sel])) if name != "none" else 0
                out.append(name if name == "none" else f"{name} ({k} errors)")
        return "; ".join(out)

    order = list(dict.fromkeys(H.levels))
    cov_rows = []
    for lv in order:
        rows = H.rows(lv)
        ev = np.isfinite(in_cal[rows])
        with np.errstate(invalid="ignore", divide="ignore"):
            width = (c_hi - c_lo)[rows] / (hi_w + lo_w)[rows]
        width = width[np.isfinite(width)]
        cov_rows.append({
            "level": lv, "series": len(rows), "points": int(ev.sum()), "nominal": level,
            "base": float(in_base[rows][ev].mean()) if ev.any() else float("nan"),
            "reconciled": float(in_model[rows][ev].mean()) if ev.any() else float("nan"),
            "calibrated": float(in_cal[rows][ev].mean()) if ev.any() else float("nan"),
            "width_ratio": float(np.median(width)) if len(width) else float("nan"),
            "calibration": pools_of(rows),
        })
        fallback = cal.pool[rows] != "series"
        fallback &= cal.pool[rows] != "level"
        if fallback.any():
            where = cal.pool[rows][fallback]
            kinds = sorted(set(where.tolist()), key=POOLS.index)
            what = []
            for kd in kinds:
                if kd == "none":
                    what.append("the models' own intervals are kept (no pool had enough errors)")
                else:
                    sel = cal.pool[rows] == kd
                    what.append(f"the model interval is scaled by a factor {np.median(cal.q[rows][sel]):.2f} "
                                f"pooled over {kd} ({int(np.median(cal.n_errors[rows][sel]))} errors)")
            notes.append(f"{lv}: fewer than {cal.min_errors} backtest errors per horizon for a scaled-error "
                         f"quantile in {int(fallback.sum())} of {fallback.size} (series, horizon) pairs; "
                         + "; ".join(what))
    if origins < 2:
        notes.append("one backtest origin: the calibrated intervals cannot be checked out of sample")
    coverage = pd.DataFrame(cov_rows)

    periods = bottom.index
    future = _future_index(periods, horizon)
    series = pd.DataFrame({
        "level": H.levels, "name": H.names, "months": months.astype(int),
        "model": [p.model for p in per], "challenger": [p.challenger for p in per],
        "mase_model": [p.mase_model for p in per], "mase_snaive": [p.mase_snaive for p in per],
        "ratio": [p.ratio for p in per], "offered": [p.offered for p in per],
        "mase_reconciled": _row_mean(mase_rec),
        "coverage_base": _row_mean(in_base.reshape(n, -1)),
        "coverage_reconciled": _row_mean(in_model.reshape(n, -1)),
        "coverage_calibrated": _row_mean(in_cal.reshape(n, -1)),
        "calibration": [pools_of(np.array([i])) for i in range(n)],
        "note": [p.note for p in per],
    })
    fc = pd.DataFrame({
        "level": np.repeat(H.levels, horizon), "name": np.repeat(H.names, horizon),
        "period": np.tile(np.asarray(future), n), "model": np.repeat([p.model for p in per], horizon),
        "base": base.ravel(), "base_lower": np.vstack([p.lower for p in per]).ravel(),
        "base_upper": np.vstack([p.upper for p in per]).ravel(),
        "forecast": rec.ravel(), "model_lower": m_lower.ravel(), "model_upper": m_upper.ravel(),
        "lower": lower.ravel(), "upper": upper.ravel(),
    })
    train = np.asarray(per[0]._fits["bt"].train_len)
    bt = pd.DataFrame({
        "level": np.repeat(H.levels, origins * horizon), "name": np.repeat(H.names, origins * horizon),
        "origin": np.tile(np.repeat(np.arange(origins), horizon), n),
        "train": np.tile(np.repeat(train, horizon), n), "horizon": np.tile(np.arange(1, horizon + 1), n * origins),
        "actual": act.ravel(), "forecast": pt.ravel(),
        "model_lower": np.clip(pt - bt_lo, 0.0, None).ravel(), "model_upper": (pt + bt_hi).ravel(),
        "scale": np.repeat(scale_bt, horizon, axis=1).ravel(),
        "in_base": in_base.ravel(), "in_model": in_model.ravel(), "in_calibrated": in_cal.ravel(),
    })
    return HierarchyForecast(H, periods, future, Y, series, fc, used, level, horizon, origins, tuple(notes),
                             coverage, cal, bt, bool(calibrate))
