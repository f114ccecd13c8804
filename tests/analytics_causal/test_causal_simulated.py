"""Simulated panels with planted effects: every estimator's interval covers the truth, and the
naive estimators that should fail (TWFE under staggered adoption, raw regression under
confounding) measurably do."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _causal_sim import bsts_panel, confounded_visits, factor_panel, staggered_panel

from territorium.analytics.causal import (analyse_geo_experiment, callaway_santanna, design_geo_experiment, did,
                                          dml_uplift, event_study, structural_counterfactual, synthetic_control,
                                          synthetic_did, twfe)
from territorium.analytics.causal.dml import robustness_value


def _twoway(seed: int, *, effect=2.0, n=60, T=10, start=6, pre_trend=0.0):
    rng = np.random.default_rng(seed)
    a = rng.normal(scale=3, size=n)
    b = np.cumsum(rng.normal(size=T))
    treated = np.arange(n) < n // 3
    t = np.arange(T)
    Y = 50 + a[:, None] + b[None, :] + rng.normal(size=(n, T))
    Y[treated] += pre_trend * (t - start)[None, :] * (t < start)[None, :]
    Y[np.ix_(treated, t >= start)] += effect
    return pd.DataFrame({"store": np.repeat([f"s{i}" for i in range(n)], T), "month": np.tile(t + 1, n),
                         "sales": Y.ravel()}), [f"s{i}" for i in range(n // 3)]


def test_did_and_twfe_cover_the_planted_effect():
    cover_did = cover_twfe = 0
    for seed in range(20):
        df, tr = _twoway(seed)
        r = did(df, unit="store", time="month", outcome="sales", treated_units=tr, start=7)
        w = twfe(df, unit="store", time="month", outcome="sales", treated_units=tr, start=7)
        assert r.estimate == pytest.approx(w.estimate, abs=1e-9)    # balanced, common start
        cover_did += r.ci[0] <= 2.0 <= r.ci[1]
        cover_twfe += w.ci[0] <= 2.0 <= w.ci[1]
    assert cover_did >= 17 and cover_twfe >= 17                       # nominal 95 %
    # relative effect: % of the treated units' counterfactual post mean
    cf = df[df.store.isin(tr) & (df.month >= 7)].sales.mean() - r.estimate
    assert r.relative == pytest.approx(100 * r.estimate / cf)


def test_event_study_pretrend_test_flags_a_violation():
    df, tr = _twoway(1)
    ok = event_study(df, unit="store", time="month", outcome="sales", treated_units=tr, start=7)
    assert ok.diagnostics["pretrend_p"] > 0.05
    assert ok.ci[0] <= 2.0 <= ok.ci[1]
    coef = ok.details["coefficients"].set_index("event_time")
    assert coef.loc[-1, "estimate"] == 0.0 and coef.index.min() == -6 and coef.index.max() == 3
    bad, _ = _twoway(1, pre_trend=0.6)
    r = event_study(bad, unit="store", time="month", outcome="sales", treated_units=tr, start=7)
    assert r.diagnostics["pretrend_p"] < 1e-3
    assert "REJECTED" in r.summary()
    d = did(bad, unit="store", time="month", outcome="sales", treated_units=tr, start=7)
    assert d.diagnostics["pretrend_p"] < 1e-3


def test_staggered_twfe_is_biased_callaway_santanna_is_not():
    df, true_simple, true_dyn = staggered_panel(seed=0)
    cs = callaway_santanna(df, unit="unit", time="period", outcome="y", first_treat="first_treat")
    tw = twfe(df, unit="unit", time="period", outcome="y", treatment="D")
    assert cs.ci[0] <= true_simple <= cs.ci[1]
    assert abs(tw.estimate - true_simple) > 10 * tw.se                  # TWFE: far off, confidently
    assert abs(tw.estimate - true_simple) > 0.5 * true_simple
    assert any("staggered" in n for n in tw.diagnostics["notes"])
    dyn = cs.details["dynamic"].set_index("event_time")
    covered = [dyn.loc[e, "ci_lo"] <= v <= dyn.loc[e, "ci_hi"] for e, v in true_dyn.items()]
    assert sum(covered) >= len(covered) - 1
    true_dynamic_overall = float(np.mean(list(true_dyn.values())))
    est, se = cs.aggregate("dynamic")
    assert abs(est - true_dynamic_overall) < 2.5 * se
    # no anticipation, parallel trends hold: pre-period ATTs are noise
    assert cs.diagnostics["pretrend_p"] > 0.01
    ny = callaway_santanna(df, unit="unit", time="period", outcome="y", first_treat="first_treat", control="notyet")
    assert ny.ci[0] <= true_simple <= ny.ci[1]


def test_staggered_without_never_treated_uses_last_cohort():
    df, _, _ = staggered_panel(seed=2, never_share=0.0)
    r = callaway_santanna(df, unit="unit", time="period", outcome="y", first_treat="first_treat", control="notyet")
    gt = r.details["att_gt"]
    assert set(gt["group"]) == {4, 7}
    assert gt["time"].max() < 10                                       # periods from the last cohort on dropped
    assert any("last cohort" in n for n in r.diagnostics["notes"])
    # truth on the cells used: tau = 0.4·(e+1), ×1.5 for the first cohort
    post = gt[gt.event_time >= 0]
    truth = np.where(post.group == 4, 1.5, 1.0) * 0.4 * (post.event_time + 1)
    assert np.all(np.abs(post.estimate - truth) < 4 * post.se)


def test_synthetic_control_covers_truth_and_placebo_p_separates():
    cover = 0
    for seed in range(10):
        df = factor_panel(seed=seed, effect=5.0)
        r = synthetic_control(df, unit="unit", time="week", outcome="sales", treated_units=["r000"], start=21)
        cover += r.ci[0] <= 5.0 <= r.ci[1]
        assert r.details["weights"].sum() == pytest.approx(1.0, abs=1e-9)
        assert (r.details["weights"] >= 0).all()
    assert cover >= 9
    p_big, p_none = [], []
    for seed in range(10):
        for effect, out in ((25.0, p_big), (0.0, p_none)):
            r = synthetic_control(factor_panel(seed=seed, effect=effect), unit="unit", time="week",
                                  outcome="sales", treated_units=["r000"], start=21)
            out.append(r.diagnostics["placebo_p"])
    assert max(p_big) <= 0.05                        # rank 1 of 40 (p = 1/40) every time
    assert np.mean(p_none) > 0.3 and sum(p < 0.1 for p in p_none) <= 2   # ~uniform under the null


def test_synthetic_control_weights_solve_the_simplex_problem():
    """Oracle: SLSQP on the same constrained least squares."""
    from scipy.optimize import minimize

    from territorium.analytics.causal.synth import simplex_ls

    rng = np.random.default_rng(0)
    A = 10 + rng.normal(size=(15, 12)).cumsum(axis=0)
    b = A[:, :3] @ np.array([0.5, 0.3, 0.2]) + rng.normal(scale=0.2, size=15)
    w = simplex_ls(A, b)
    ref = minimize(lambda x: np.sum((A @ x - b) ** 2), np.full(12, 1 / 12), method="SLSQP",
                   bounds=[(0, 1)] * 12, constraints=[{"type": "eq", "fun": lambda x: x.sum() - 1}],
                   options={"ftol": 1e-14, "maxiter": 1000})
    assert np.sum((A @ w - b) ** 2) <= ref.fun * (1 + 1e-6) + 1e-9
    assert w.sum() == pytest.approx(1.0) and w.min() >= 0


def test_synthetic_did_covers_truth():
    cover = 0
    for seed in range(5):
        r = synthetic_did(factor_panel(seed=seed, effect=5.0), unit="unit", time="week", outcome="sales",
                          treated_units=["r000"], start=21, reps=50, seed=seed)
        cover += r.ci[0] <= 5.0 <= r.ci[1]
        assert r.details["unit_weights"].sum() == pytest.approx(1.0)
        assert r.details["time_weights"].sum() == pytest.approx(1.0)
    assert cover >= 4
    several = ["r000", "r001", "r002", "r003"]
    r = synthetic_did(factor_panel(seed=1, effect=3.0, treated=(0, 1, 2, 3)), unit="unit", time="week",
                      outcome="sales", treated_units=several, start=21, reps=50)
    assert r.ci[0] <= 3.0 <= r.ci[1] and r.ci[0] > 0
    null = synthetic_did(factor_panel(seed=1, effect=0.0), unit="unit", time="week", outcome="sales",
                         treated_units=["r000"], start=21, reps=50)
    assert null.ci[0] <= 0.0 <= null.ci[1]


def test_structural_counterfactual_covers_truth_and_null():
    cover = cum_cover = null_cover = 0
    for seed in range(6):
        r = structural_counterfactual(bsts_panel(seed=seed), unit="unit", time="month", outcome="sales",
                                      treated_units=["treated"], start=61, n_sims=500)
        cover += r.ci[0] <= 5.0 <= r.ci[1]
        c = r.details["cumulative"]
        assert c["estimate"] == pytest.approx(20 * r.estimate)           # 20 post periods
        cum_cover += c["ci_lo"] <= 100.0 <= c["ci_hi"]
        r0 = structural_counterfactual(bsts_panel(seed=seed, effect=0.0), unit="unit", time="month",
                                       outcome="sales", treated_units=["treated"], start=61, n_sims=500)
        null_cover += r0.ci[0] <= 0.0 <= r0.ci[1]
    assert cover >= 5 and cum_cover >= 5 and null_cover >= 5
    assert r.diagnostics["tail_p"] < 0.01
    # a single series without controls (unit=None) still runs, with wider intervals
    one = bsts_panel(seed=0)
    one = one[one.unit == "treated"]
    s = structural_counterfactual(one, unit=None, time="month", outcome="sales", start=61, n_sims=300)
    assert s.diagnostics["controls"] == []
    assert (s.ci[1] - s.ci[0]) > (r.ci[1] - r.ci[0])


def test_dml_recovers_visit_uplift_where_naive_regression_fails():
    df = confounded_visits(n=3000, seed=0)
    r = dml_uplift(df, outcome="revenue", treatment="visits", covariates=[f"x{j}" for j in range(5)], seed=0)
    assert r.ci[0] <= 120.0 <= r.ci[1]
    naive = r.diagnostics["naive_estimate"]
    assert naive - 120.0 > 50 and naive - 120.0 > 20 * r.diagnostics["naive_se"]
    assert 0 < r.diagnostics["robustness_value_alpha"] < r.diagnostics["robustness_value"] < 1
    assert "omitted confounder" in r.diagnostics["sensitivity_note"]
    # array interface gives the same number
    X = df[[f"x{j}" for j in range(5)]].to_numpy()
    a = dml_uplift(df.revenue.to_numpy(), df.visits.to_numpy(), X, seed=0)
    assert a.estimate == pytest.approx(r.estimate, rel=1e-12)


def test_robustness_value_formula():
    """Cinelli & Hazlett (2020): RV = ½(√(f⁴+4f²) − f²), f = t/√dof; t = 2, dof = 100 → 0.1810."""
    assert robustness_value(2.0, 100) == pytest.approx(0.5 * (np.sqrt(0.2 ** 4 + 4 * 0.2 ** 2) - 0.2 ** 2))
    assert robustness_value(2.0, 100) == pytest.approx(0.1810, abs=1e-4)
    assert robustness_value(1.0, 100, alpha=0.05) == 0.0               # not significant: nothing to explain


def test_geo_design_mde_shrinks_with_more_treated_regions_and_analysis_recovers_effect():
    hist_full = factor_panel(n_units=80, n_periods=60, treated=(), effect=0.0, seed=3)
    hist = hist_full[hist_full.week <= 48]
    mdes = [design_geo_experiment(hist, unit="unit", time="week", outcome="sales", n_treated=k, test_periods=8,
                                  seed=1).mde for k in (2, 5, 10, 20, 40)]
    assert all(a > b for a, b in zip(mdes, mdes[1:])), mdes
    d = design_geo_experiment(hist, unit="unit", time="week", outcome="sales", n_treated=20, test_periods=8, seed=1)
    assert len(set(d.treatment) | set(d.control)) == 40 and not set(d.treatment) & set(d.control)
    assert d.pairs["distance"].is_monotonic_increasing
    test = hist_full[hist_full.week <= 56].copy()
    effect = 2 * d.mde
    test.loc[test.unit.isin(d.treatment) & (test.week >= 49), "sales"] += effect
    r = analyse_geo_experiment(test, unit="unit", time="week", outcome="sales", start=49, design=d)
    assert r.ci[0] <= effect <= r.ci[1] and r.ci[0] > 0
    assert r.diagnostics["n_pairs"] == 20
    null = analyse_geo_experiment(hist_full[hist_full.week <= 56], unit="unit", time="week", outcome="sales",
                                  start=49, design=d)
    assert null.ci[0] <= 0 <= null.ci[1]
    assert null.diagnostics["placebo_p"] > 0.05
    s = design_geo_experiment(hist, unit="unit", time="week", outcome="sales", n_treated=5, test_periods=8,
                              method="synthetic", seed=1)
    assert len(s.treatment) == 5 and len(s.control) == 75
    assert s.mde > 0 and len(s.placebo) == 20
