"""Forecasting engine: MASE by hand, model choice against seasonal naive, reconciliation."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from territorium.analytics.forecast import (InsufficientHistory, backtest, fit_model, forecast_hierarchy,
                                            forecast_series, history_needed, mase, seasonal_naive)
from territorium.analytics.reconcile import METHODS, hierarchy, reconcile, shrink_covariance


def test_mase_and_seasonal_naive_by_hand():
    # m = 2 on a straight line: seasonal differences are all 2, so the scale is 2
    y = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
    assert seasonal_naive(y[:4], 3, m=2).tolist() == [3.0, 4.0, 3.0]
    assert mase([5.0, 6.0], [3.0, 4.0], y[:4], m=2) == pytest.approx(1.0)   # errors 2, 2 / 2
    assert mase([5.0, 6.0], [5.0, 5.0], y[:4], m=2) == pytest.approx(0.25)  # errors 0, 1 / 2
    # backtest: origin 0 trains on 5 points (forecast 4, 5 for 6, 7), origin 1 on 6 (5, 6 for 7, 8)
    bt = backtest(y, h=2, origins=2, m=2, models=["snaive", "sarima_drift"])
    assert bt["train"].tolist() == [5, 6]
    assert bt["snaive"].tolist() == pytest.approx([1.0, 1.0])
    # the challenger's MASE is its own forecast error over the same scale, recomputed by hand
    for o, T in enumerate((5, 6)):
        f = fit_model("sarima_drift", y[:T], 2, m=2)["mean"]
        scale = np.mean(np.abs(y[2:T] - y[:T - 2]))
        assert bt["sarima_drift"][o] == pytest.approx(np.mean(np.abs(y[T:T + 2] - f)) / scale, rel=1e-9)


def test_holt_winters_beats_seasonal_naive_on_trend_and_season():
    rng = np.random.default_rng(3)
    t = np.arange(66)
    truth = 200 * 1.012 ** t * (1 + 0.3 * np.sin(2 * np.pi * t / 12))   # 15%/year growth
    y = truth * np.exp(rng.normal(0, 0.03, 66))
    f = forecast_series(y[:60], 6, 4, models=["snaive", "hw_add", "hw_mul"])
    assert f.model in ("hw_add", "hw_mul") and f.offered
    assert f.ratio < 0.5                       # seasonal naive misses a year of growth
    assert np.max(np.abs(f.mean / truth[60:] - 1)) < 0.08
    assert np.all(f.lower < f.mean) and np.all(f.mean < f.upper)


def _seasonal_random_walk(seed: int, n: int = 40) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = np.empty(n)
    y[:12] = 100 + 20 * np.sin(2 * np.pi * np.arange(12) / 12)
    for t in range(12, n):
        y[t] = y[t - 12] + rng.normal(0, 5)
    return y


def test_seasonal_naive_kept_on_noise():
    """Each month is a random walk over the years: seasonal naive is the best forecast there is.

    (On white noise a level model rightly beats seasonal naive, so the noise that must keep
    seasonal naive is the noise of the seasonal differences.)"""
    kept = [forecast_series(_seasonal_random_walk(s), 6, 4, models=["snaive", "hw_add", "sarima_drift"]).model
            == "snaive" for s in range(6)]
    assert sum(kept) >= 5, kept


def test_too_little_history_names_series_and_months():
    assert history_needed(6, 4) == 22
    bottom = pd.DataFrame({"a": np.arange(1.0, 25.0), "b": np.r_[np.zeros(9), np.arange(1.0, 16.0)]})
    keys = pd.DataFrame({"region": ["N", "S"]}, index=["a", "b"])
    with pytest.raises(InsufficientHistory) as e:
        forecast_hierarchy(bottom, keys, horizon=6, origins=4, models=["snaive"])
    msg = str(e.value)
    assert "region S (15 months)" in msg and "bottom b (15 months)" in msg and "at least 22" in msg
    assert "region N" not in msg


def _grouped(seed: int = 0):
    """6 territory × state cells, territories and states crossed (T2 straddles two states)."""
    rng = np.random.default_rng(seed)
    t = np.arange(36)
    season = 1 + 0.25 * np.sin(2 * np.pi * t / 12)
    cells = ["T1|NY", "T2|NY", "T2|NJ", "T3|NJ", "T4|PA", "T5|PA"]
    bottom = pd.DataFrame({c: (50 + 20 * i) * 1.01 ** t * season * np.exp(rng.normal(0, 0.05, 36))
                           for i, c in enumerate(cells)},
                          index=pd.period_range("2023-01", periods=36, freq="M"))
    keys = pd.DataFrame({"state": [c.split("|")[1] for c in cells],
                         "territory": [c.split("|")[0] for c in cells]}, index=cells)
    return bottom, keys


def test_reconciled_forecasts_add_up_exactly():
    bottom, keys = _grouped()
    hf = forecast_hierarchy(bottom, keys, levels=["state", "territory"], horizon=4, origins=3,
                            models=["snaive", "sarima_drift"])
    H = hf.hierarchy
    rec = hf.reconciled()
    b = rec[H.rows("bottom")]
    scale = np.abs(rec).max()
    assert np.abs(rec[0] - b.sum(0)).max() <= 1e-9 * scale
    for level in ("state", "territory"):
        for i in H.rows(level):
            members = H.S[i].astype(bool)
            assert np.abs(rec[i] - b[members].sum(0)).max() <= 1e-9 * scale
        assert np.abs(rec[H.rows(level)].sum(0) - rec[0]).max() <= 1e-9 * scale
    # the base forecasts did not add up (else the test would prove nothing)
    base = hf.base()
    assert np.abs(base[0] - base[H.rows("bottom")].sum(0)).max() > 1e-3 * scale
    # the backtest is reported for every series and the intervals contain the forecasts
    assert hf.series["mase_reconciled"].notna().all()
    fc = hf.forecast
    assert (fc["lower"] <= fc["forecast"] + 1e-9).all() and (fc["forecast"] <= fc["upper"] + 1e-9).all()


@pytest.mark.parametrize("method", METHODS)
def test_reconcile_is_a_projection(method):
    keys = pd.DataFrame({"state": ["A", "A", "B"], "territory": ["t1", "t2", "t2"]}, index=["x", "y", "z"])
    H = hierarchy(keys)
    rng = np.random.default_rng(1)
    resid = rng.normal(size=(30, H.n)) * np.linspace(1, 3, H.n)
    coherent = H.aggregate(np.array([3.0, 5.0, 7.0]))
    assert np.allclose(reconcile(coherent, H.S, method, resid)[0], coherent, atol=1e-9)  # unchanged
    base = coherent + rng.normal(size=H.n)
    rec, G = reconcile(base, H.S, method, resid)
    assert np.allclose(rec, H.aggregate(G @ base), atol=1e-12)
    if method == "ols":  # the orthogonal projection onto the coherent subspace, computed apart
        P = H.S @ np.linalg.inv(H.S.T @ H.S) @ H.S.T
        assert np.allclose(rec, P @ base, atol=1e-9)


def test_shrinkage_matches_the_formula():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(25, 3)) @ np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 0.3], [0.0, 0.0, 1.0]])
    W, lam = shrink_covariance(x)
    # Schäfer–Strimmer intensity written out element by element
    T = len(x)
    cov = x.T @ x / T
    sd = np.sqrt(np.diag(cov))
    xs = x / sd
    num = den = 0.0
    for i in range(3):
        for j in range(3):
            if i != j:
                w = xs[:, i] * xs[:, j]
                num += np.var(w) / (T - 1)          # estimated variance of the correlation r_ij
                den += (cov[i, j] / (sd[i] * sd[j])) ** 2
    assert lam == pytest.approx(min(max(num / den, 0), 1), rel=1e-9)
    assert np.allclose(W, lam * np.diag(np.diag(cov)) + (1 - lam) * cov)
