"""Forecast intervals calibrated on the rolling-origin backtest (split-conformal), checked out of sample."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import typer
from scipy.stats import norm
from typer.testing import CliRunner

from territorium.analytics.forecast import (calibrate_intervals, conformal_quantile, conformal_rank,
                                            forecast_hierarchy, nested_coverage, seasonal_naive)
from territorium.commands import analytics as cmd

Z80 = norm.ppf(0.9)  # half-width of a central 80 % normal interval, in sd


def test_conformal_quantile_by_hand():
    e = np.array([3.0, -1.0, 4.0, -1.0, 5.0, -9.0, 2.0, 6.0])       # |e| sorted: 1 1 2 3 4 5 6 9
    assert conformal_rank(8, 0.8) == 8                               # ⌈9 · 0.8⌉ = ⌈7.2⌉
    assert conformal_quantile(np.abs(e), 0.8) == 9.0
    assert conformal_rank(8, 0.5) == 5 and conformal_quantile(np.abs(e), 0.5) == 4.0   # ⌈4.5⌉ = 5th
    assert conformal_rank(4, 0.8) == 4 and conformal_quantile([1.0, 2.0, 3.0, 4.0], 0.8) == 4.0
    assert conformal_quantile([1.0, 2.0, 3.0], 0.8) == np.inf       # ⌈3.2⌉ = 4 > 3 scores
    assert conformal_quantile([np.nan, 2.0, 1.0, 3.0, 5.0], 0.8) == 5.0   # NaN dropped: 4th of 4

    # through calibrate_intervals: 1 series, 8 origins, 1 horizon, scale 2 -> scores |e| / 2
    A = e.reshape(1, 8, 1)
    cal = calibrate_intervals(A, np.zeros_like(A), np.full((1, 8), 2.0), np.ones_like(A), np.ones_like(A),
                              ["total"], level=0.8, min_errors=8)
    assert cal.pool[0, 0] == "series" and cal.q[0, 0] == 4.5 and cal.n_errors[0, 0] == 8
    lo, hi = cal.bounds(np.array([[100.0]]), np.array([3.0]), np.ones((1, 1)), np.ones((1, 1)))
    assert (lo[0, 0], hi[0, 0]) == (100.0 - 13.5, 100.0 + 13.5)     # q · today's scale, both sides

    # too few for a scaled pool: the model interval (half-widths 1 below, 2 above) is widened by the
    # factor quantile of e⁺/2, e⁻/1 = 1.5 1 2 1 2.5 9 1 3 -> sorted 1 1 1 1.5 2 2.5 3 9 -> 8th = 9
    cal = calibrate_intervals(A, np.zeros_like(A), np.full((1, 8), 2.0), np.ones_like(A), np.full_like(A, 2.0),
                              ["total"], level=0.8, min_errors=20)
    assert cal.pool[0, 0] == "level, all horizons" and not cal.scaled[0, 0] and cal.q[0, 0] == 9.0
    lo, hi = cal.bounds(np.array([[100.0]]), np.array([3.0]), np.ones((1, 1)), np.full((1, 1), 2.0))
    assert (lo[0, 0], hi[0, 0]) == (91.0, 118.0)


def test_fallback_pools_by_hand():
    # series a: 2 origins × 2 horizons = 4 errors -> its level's factor quantile is finite (4 ≥ 0.8/0.2);
    # series b (its own level) has no errors -> the pool of all series; alone, nothing is enough
    A = np.array([[[1.0, 2.0], [3.0, 4.0]], [[np.nan, np.nan], [np.nan, np.nan]]])
    ones = np.ones_like(A)
    cal = calibrate_intervals(A, np.zeros_like(A), np.ones((2, 2)), ones, ones, ["a", "b"], 0.8, min_errors=20)
    assert cal.pool[0].tolist() == ["level, all horizons"] * 2 and cal.q[0].tolist() == [4.0, 4.0]
    assert cal.pool[1].tolist() == ["all series, all horizons"] * 2 and cal.q[1].tolist() == [4.0, 4.0]
    cal = calibrate_intervals(A[:, :1, :1], np.zeros((2, 1, 1)), np.ones((2, 1)), ones[:, :1, :1],
                              ones[:, :1, :1], ["a", "b"], 0.8)
    assert cal.pool.ravel().tolist() == ["none", "none"] and cal.q.ravel().tolist() == [1.0, 1.0]


def test_a_level_of_several_series_pools_its_scaled_errors_per_horizon():
    """A level with several series uses its per-horizon scaled errors as soon as their quantile is
    finite (9 states × 1 origin = 9 errors here, under min_errors = 20); a level of one series
    (the total) is its own series pool and still needs min_errors, so it falls back to the
    model-width factor; min_level_errors raises the bar for the others."""
    rng = np.random.default_rng(3)
    groups = ["total"] + ["state"] * 9
    A = rng.standard_normal((10, 1, 2))
    P, S, W = np.zeros_like(A), np.ones((10, 1)), np.ones_like(A)
    cal = calibrate_intervals(A, P, S, W, W, groups, 0.8)
    assert cal.pool[1:].ravel().tolist() == ["level"] * 18 and cal.scaled[1:].all()
    assert (cal.n_errors[1:] == 9).all()
    for k in range(2):                                  # the 8th smallest of the 9 |errors| at horizon k
        assert cal.q[1, k] == np.sort(np.abs(A[1:, 0, k]))[7]
    assert cal.pool[0].tolist() == ["all series, all horizons"] * 2   # 2 own errors: too few even as a factor
    cal = calibrate_intervals(A, P, S, W, W, groups, 0.8, min_level_errors=10)
    assert cal.pool[1:].ravel().tolist() == ["level, all horizons"] * 18 and not cal.scaled[1:].any()


def _level_panel(seed: int, K: int = 4, h: int = 6):
    """1 total, 9 states, 40 territories; exchangeable errors of sd = each series' scale, constant
    over horizons; the model's interval has the wrong shape (width 0.3·k·scale at horizon k)."""
    rng = np.random.default_rng(seed)
    groups = np.array(["total"] + ["state"] * 9 + ["territory"] * 40)
    n = len(groups)
    scale = rng.uniform(5, 50, n)
    A = 1000.0 + rng.standard_normal((n, K, h)) * scale[:, None, None]
    W = 0.3 * np.arange(1, h + 1)[None, None, :] * scale[:, None, None] * np.ones((n, K, 1))
    return A, np.full_like(A, 1000.0), np.repeat(scale[:, None], K, axis=1), W, groups


def test_every_level_keeps_its_promise_out_of_sample_per_horizon():
    """Four origins, nested (origin o judged by a calibration on the origins before it), 200 data
    sets. States and territories pool scaled errors per horizon: every horizon's coverage lands
    at the finite-sample promise mean_o ⌈(n_o+1)·0.8⌉/(n_o+1) (states: n = 9, 18, 27 → 82.1 %;
    territories: 40, 80, 120 → 80.3 %), within ±5 points of 80 % at every horizon. The
    model-width factor (the old fall-back for the states' 9 and 18 errors) inherits the model's
    wrong shape: 38 % at horizon 1, 99 % at horizon 6. The total, one series, can only use the
    factor over its 6·o errors; its finite-sample rank covers more than nominal (≈ 86 %)."""
    reps = 200
    hits = {"new": [], "old": []}
    for r in range(reps):
        A, P, S, W, g = _level_panel(r)
        hits["new"].append(nested_coverage(A, P, S, W, W, list(g), 0.8))
        hits["old"].append(nested_coverage(A, P, S, W, W, list(g), 0.8, min_level_errors=10**6))
    g = _level_panel(0)[4]
    new, old = np.array(hits["new"]), np.array(hits["old"])
    promise = {"state": np.mean([8 / 10, 16 / 19, 23 / 28]), "territory": np.mean([33 / 41, 65 / 81, 97 / 121])}
    for lv, p in promise.items():
        by_h = np.nanmean(new[:, g == lv], axis=(0, 1, 2))
        # 200 data sets; the SD of a horizon's mean coverage is ≈ 0.05/√200·√(9 or 40 correlated) < 0.01
        np.testing.assert_allclose(by_h, p, atol=0.02)
        assert np.all(np.abs(by_h - 0.8) <= 0.05), (lv, by_h)
    old_state = np.nanmean(old[:, g == "state"], axis=(0, 1, 2))
    assert old_state[0] < 0.5 and old_state[-1] > 0.95
    total = float(np.nanmean(new[:, g == "total"]))
    assert 0.8 <= total <= 0.9, total


def test_finite_sample_rank_gives_the_promised_coverage():
    """With exchangeable scores, P(new score ≤ the ⌈(n+1)(1−α)⌉-th of n) = ⌈(n+1)(1−α)⌉ / (n+1)."""
    rng = np.random.default_rng(0)
    reps = 20_000
    for n in (4, 9, 10, 30):
        x = np.abs(rng.standard_normal((reps, n + 1)))
        k = conformal_rank(n, 0.8)
        q = np.sort(x[:, :n], axis=1)[:, k - 1]
        assert conformal_quantile(x[0, :n], 0.8) == q[0]
        hit = float(np.mean(x[:, n] <= q))
        assert hit == pytest.approx(k / (n + 1), abs=0.012), (n, hit)
        assert k / (n + 1) >= 0.8 - 1e-12


def _seasonal_panel(seed: int, n: int, T: int, sigma: np.ndarray) -> np.ndarray:
    """Stable seasonal series plus white noise of known sd ``sigma`` (one row per series)."""
    rng = np.random.default_rng(seed)
    t = np.arange(T)
    level = rng.uniform(200, 400, (n, 1))
    amp = rng.uniform(0.1, 0.3, (n, 1))
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    return level * (1 + amp * np.sin(2 * np.pi * t / 12 + phase)) + sigma[:, None] * rng.standard_normal((n, T))


def _snaive_backtest(y: np.ndarray, h: int, K: int):
    """Seasonal-naive backtest arrays (n, K, h) and MASE scales (n, K), written out by hand."""
    n, T = y.shape
    A, P = np.empty((n, K, h)), np.empty((n, K, h))
    S = np.empty((n, K))
    for o in range(K):
        Tn = T - h - (K - 1 - o)
        for i in range(n):
            P[i, o] = seasonal_naive(y[i, :Tn], h)
            A[i, o] = y[i, Tn:Tn + h]
            S[i, o] = np.mean(np.abs(y[i, 12:Tn] - y[i, :Tn - 12]))
    return A, P, S


def test_calibration_repairs_an_overconfident_model_out_of_sample():
    n, T, h, K = 40, 42, 6, 8
    sigma = np.random.default_rng(1).uniform(5, 20, n)
    y = _seasonal_panel(1, n, T, sigma)
    A, P, S = _snaive_backtest(y, h, K)
    # seasonal naive's error is the difference of two noises: sd σ√2. The "model" claims 80 % but
    # its interval is half as wide as it should be.
    true_hw = Z80 * sigma * np.sqrt(2)
    W = np.broadcast_to((0.5 * true_hw)[:, None, None], A.shape).copy()
    raw = np.abs(A - P) <= W
    assert raw[:, 1:].mean() < 0.5                    # P(|N(0,1)| < 0.64) = 0.48
    groups = ["bottom"] * n
    hit = nested_coverage(A, P, S, W, W, groups, 0.8)
    assert np.isnan(hit[:, 0]).all() and np.isfinite(hit[:, 1:]).all()   # origin 0 has nothing before it
    cov = float(np.nanmean(hit))
    assert 0.70 <= cov <= 0.90, cov
    by_h = np.nanmean(hit, axis=(0, 1))
    assert by_h.min() >= 0.65 and by_h.max() <= 0.95, by_h
    # nested: what happens at the last origin changes no judgement of an earlier one
    A2 = A.copy()
    A2[:, -1] += 1e6
    hit2 = nested_coverage(A2, P, S, W, W, groups, 0.8)
    assert np.array_equal(hit2[:, :-1], hit[:, :-1], equal_nan=True) and np.nanmean(hit2[:, -1]) == 0.0
    # calibrated on every origin, the half-width matches the planted noise: the MASE scale is
    # E|ε_t − ε_{t−12}| = σ√2·√(2/π), so q → z₀.₉ / √(2/π) and q · scale → z₀.₉ · σ√2
    cal = calibrate_intervals(A, P, S, W, W, groups, 0.8)
    assert (cal.pool == "level").all() and (cal.n_errors == n * K).all()
    assert np.median(cal.q) == pytest.approx(Z80 / np.sqrt(2 / np.pi), rel=0.15)
    scale_now = np.mean(np.abs(y[:, 12:] - y[:, :-12]), axis=1)
    lo, hi = cal.bounds(np.zeros((n, h)), scale_now, W[:, 0], W[:, 0])
    assert np.median(hi / true_hw[:, None]) == pytest.approx(1.0, rel=0.15)
    assert np.allclose(hi, -lo)
    # without enough errors per horizon the model interval is widened by a pooled factor: ≈ 2 here
    cal = calibrate_intervals(A, P, S, W, W, groups, 0.8, min_errors=10**6, min_level_errors=10**6)
    assert (cal.pool == "level, all horizons").all() and not cal.scaled.any()
    assert cal.q[0, 0] == pytest.approx(2.0, rel=0.15)
    cov = float(np.nanmean(nested_coverage(A, P, S, W, W, groups, 0.8, min_errors=10**6,
                                           min_level_errors=10**6)))
    assert 0.70 <= cov <= 0.90, cov


def _hierarchy(seed: int, nb: int = 12, T: int = 48, sigma: float = 0.08):
    rng = np.random.default_rng(seed)
    t = np.arange(T)
    cols = {}
    for j in range(nb):
        mu = rng.uniform(50, 200) * (1 + rng.uniform(0, 0.02)) ** t * \
            (1 + rng.uniform(0.1, 0.4) * np.sin(2 * np.pi * t / 12 + rng.uniform(0, 2 * np.pi)))
        cols[f"b{j}"] = mu * np.exp(rng.normal(0, sigma, T))
    bottom = pd.DataFrame(cols, index=pd.period_range("2021-01", periods=T, freq="M"))
    keys = pd.DataFrame({"region": [f"r{j % 3}" for j in range(nb)]}, index=bottom.columns)
    return bottom, keys


def test_hierarchy_intervals_are_calibrated_and_points_coherent():
    bottom, keys = _hierarchy(0)
    hf = forecast_hierarchy(bottom, keys, horizon=6, origins=8, models=["snaive", "sarima_drift"], seed=0)
    H = hf.hierarchy
    rec = hf.reconciled()
    for lv in ("region", "bottom"):
        assert np.abs(rec[H.rows(lv)].sum(0) - rec[0]).max() <= 1e-9 * np.abs(rec).max()
    cv = hf.coverage.set_index("level")
    assert cv.loc["bottom", "points"] == 12 * 7 * 6                     # origins 2..8 judged
    for lv in ("region", "bottom"):
        assert 0.70 <= cv.loc[lv, "calibrated"] <= 0.90, cv
    # the total has one series: four errors per horizon are too few, so its model interval is
    # widened by a factor pooled over its horizons, and the notes say so
    assert cv.loc["total", "calibration"].startswith("level, all horizons (48 errors)")
    assert any(n.startswith("total: fewer than 20 backtest errors") for n in hf.notes)
    fc = hf.forecast
    assert (fc["lower"] <= fc["forecast"]).all() and (fc["forecast"] <= fc["upper"]).all()
    assert {"model_lower", "model_upper", "base_lower", "base_upper"} <= set(fc.columns)
    # the interval columns are the calibration applied around the reconciled forecast
    n, hz = H.n, hf.horizon
    scale_now = np.mean(np.abs(hf.history[:, 12:] - hf.history[:, :-12]), axis=1)
    lo_w = rec - fc["model_lower"].to_numpy().reshape(n, hz)
    hi_w = fc["model_upper"].to_numpy().reshape(n, hz) - rec
    lo, hi = hf.calibration.bounds(rec, scale_now, lo_w, hi_w)
    assert np.allclose(fc["upper"].to_numpy().reshape(n, hz), hi)
    assert np.allclose(fc["lower"].to_numpy().reshape(n, hz), np.clip(lo, 0, None))
    # the backtest table carries every judged outcome; the level table is its mean
    bt = hf.backtest
    assert len(bt) == n * 8 * 6
    assert bt.loc[bt["level"] == "bottom", "in_calibrated"].mean() == pytest.approx(cv.loc["bottom", "calibrated"])
    # without calibration the model's interval (moved to the reconciled forecast) is used
    raw = forecast_hierarchy(bottom, keys, horizon=6, origins=8, models=["snaive", "sarima_drift"], seed=0,
                             calibrate=False)
    assert np.allclose(raw.forecast["lower"], raw.forecast["model_lower"]) and not raw.calibrated
    assert np.allclose(raw.reconciled(), rec)


def test_forecast_cli_reports_coverage_per_level_as_json(pf_demo, tmp_path):
    _, url = pf_demo
    app = typer.Typer()
    cmd.register(app)
    res = CliRunner().invoke(app, ["forecast", "--database", url, "--models", "snaive", "--backtest-origins", "3",
                                   "--level", "state", "--json", "--out", str(tmp_path / "f.csv")])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    cov = {r["level"]: r for r in doc["coverage"]}
    assert set(cov) == {"total", "state", "territory", "bottom"} and doc["intervals"] == "calibrated"
    assert cov["territory"]["series"] == 40 and cov["territory"]["points"] == 40 * 2 * 6
    for r in cov.values():
        assert 0.0 <= r["calibrated"] <= 1.0 and 0.0 <= r["base"] <= 1.0
    assert {r["level"] for r in doc["forecast"]} == {"state"} and len(doc["forecast"]) == 9 * 6
    fc = pd.read_csv(tmp_path / "f.csv")
    assert (fc["lower"] <= fc["forecast"]).all() and (fc["forecast"] <= fc["upper"]).all()
    assert {"model_lower", "model_upper"} <= set(fc.columns)
