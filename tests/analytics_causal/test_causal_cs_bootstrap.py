"""Callaway–Sant'Anna inference: the multiplier bootstrap of R ``did`` (Mammen or Rademacher
multipliers, one per cluster, uniform sup-t bands), checked against the published mpdta
output and by simulation: intervals around a planted ATT must cover it at the nominal rate.

Coverage tolerance: with R replications of a 95 % interval the hit count is Binomial(R, 0.95),
SD sqrt(0.95·0.05/R) = 1.54 points for R = 200; we accept ±3 SD (a correct method fails this
about 3 times in 1,000), i.e. 90.4 %–99.6 %.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from _shared_data import causal_dir

from territorium.analytics.causal import callaway_santanna

REPS = 200
TOL = 3 * math.sqrt(0.95 * 0.05 / REPS)


def _effect(e):
    return np.where(e >= 0, 1.0 + 0.5 * e, 0.0)


def clustered_staggered(seed: int, *, n_clusters: int = 60, per: int = 1, n_periods: int = 7,
                        shock: float = 1.0, idio: float = 0.5) -> tuple[pd.DataFrame, float]:
    """Units nested in clusters; a cluster is never treated, or adopts in period 3 or 5 (in
    turn). y = a_i + θ_t + u_ct (cluster-period shock) + e_it + (1 + 0.5·e) from adoption on.
    Returns the panel and the true simple ATT (cohort-size weights over post cells)."""
    rng = np.random.default_rng(seed)
    T = n_periods
    cohort_of_cluster = np.array([(0, 3, 5)[c % 3] for c in range(n_clusters)])
    cl = np.repeat(np.arange(n_clusters), per)
    g = cohort_of_cluster[cl]
    n = len(cl)
    t = np.arange(T)
    u = rng.normal(scale=shock, size=(n_clusters, T))[cl]
    y = (rng.normal(scale=2.0, size=n)[:, None] + 0.3 * t[None, :] + u
         + rng.normal(scale=idio, size=(n, T)))
    e = np.where(g[:, None] > 0, t[None, :] - g[:, None], -99)
    y = y + _effect(e)
    # truth: post cells (g, t ≥ g) weighted by cohort size
    num = den = 0.0
    for gg in (3, 5):
        ng = (g == gg).sum()
        for tt in range(gg, T):
            num += ng * float(_effect(np.array(tt - gg)))
            den += ng
    df = pd.DataFrame({"unit": np.repeat(np.arange(n), T), "cluster": np.repeat(cl, T),
                       "period": np.tile(t, n), "y": y.ravel(), "first_treat": np.repeat(g, T)})
    return df, num / den


def _cs(df, **kw):
    return callaway_santanna(df, unit="unit", time="period", outcome="y", first_treat="first_treat", **kw)


def _covers(ci, x) -> bool:
    return ci[0] <= x <= ci[1]


@pytest.mark.slow
def test_unit_level_intervals_cover_the_planted_att():
    """60 units, 20 never treated: analytic and bootstrap (Mammen) 95 % intervals of the simple
    ATT, and the bootstrap's uniform band over all event times (truth 0 before adoption)."""
    hits = {"analytic": 0, "bootstrap": 0, "band": 0, "pointwise_all": 0}
    for r in range(REPS):
        df, att = clustered_staggered(1000 + r)
        a = _cs(df)
        b = _cs(df, bootstrap=499, seed=r)
        assert a.estimate == pytest.approx(b.estimate, abs=1e-12)
        hits["analytic"] += _covers(a.ci, att)
        hits["bootstrap"] += _covers(b.ci, att)
        d = b.details["dynamic"]
        truth = _effect(d["event_time"].to_numpy())
        hits["band"] += bool(np.all((d["cband_lo"] <= truth) & (truth <= d["cband_hi"])))
        hits["pointwise_all"] += bool(np.all((d["ci_lo"] <= truth) & (truth <= d["ci_hi"])))
    cov = {k: v / REPS for k, v in hits.items()}
    assert cov["analytic"] == pytest.approx(0.95, abs=TOL), cov
    assert cov["bootstrap"] == pytest.approx(0.95, abs=TOL), cov
    assert cov["band"] == pytest.approx(0.95, abs=TOL), cov
    # eight event times: pointwise intervals all cover together far less often than the band
    assert cov["pointwise_all"] < cov["band"] - 0.1, cov


@pytest.mark.slow
def test_cluster_bootstrap_covers_where_unit_level_ses_do_not():
    """45 clusters of 3 units sharing period shocks (intra-cluster correlation 0.8): SEs that
    treat units as independent are too small by about √2.6; one multiplier per cluster fixes it."""
    hits_unit = hits_cl = 0
    for r in range(REPS):
        df, att = clustered_staggered(5000 + r, n_clusters=45, per=3)
        u = _cs(df)
        c = _cs(df, cluster="cluster", bootstrap=199, seed=r, multipliers="rademacher")
        hits_unit += _covers(u.ci, att)
        hits_cl += _covers(c.ci, att)
    assert hits_cl / REPS == pytest.approx(0.95, abs=TOL)
    assert hits_unit / REPS < 0.88          # ≈ P(|Z| < 1.96/1.6) = 0.78 expected


def test_cluster_option_checks_and_notes():
    df, _ = clustered_staggered(0, n_clusters=45, per=3)
    r = _cs(df, cluster="cluster")
    assert r.diagnostics["n_clusters"] == 45
    assert r.diagnostics["se_method"].startswith("multiplier bootstrap (999 draws, mammen weights, clustered")
    assert any("999 draws" in n for n in r.diagnostics["notes"])
    bad = df.copy()
    bad.loc[bad.index[3], "cluster"] = 99           # unit 0 changes cluster in one period
    with pytest.raises(ValueError, match=r"cluster column 'cluster' changes within unit 0"):
        _cs(bad, cluster="cluster")
    with pytest.raises(ValueError, match=r"cluster column 'state' is not in the panel"):
        _cs(df, cluster="state")
    with pytest.raises(ValueError, match="multipliers must be"):
        _cs(df, bootstrap=9, multipliers="normal")


def test_single_never_treated_cluster_is_flagged():
    """All never-treated units in one cluster (the demo's held-out state): its shocks sit in every
    ATT(g,t) and no SE can estimate them; the result says so."""
    df, _ = clustered_staggered(1, n_clusters=9, per=4)
    never_cl = df.loc[df.first_treat == 0, "cluster"].unique()
    one = df[~df.cluster.isin(never_cl[1:])]                      # keep one never-treated cluster
    r = _cs(one, cluster="cluster", bootstrap=99)
    assert r.diagnostics["n_never_treated_clusters"] == 1
    assert any("single never-treated cluster" in n for n in r.diagnostics["notes"])
    many = _cs(df, cluster="cluster", bootstrap=99)
    assert many.diagnostics["n_never_treated_clusters"] == 3
    assert not any("single never-treated" in n for n in many.diagnostics["notes"])


def test_mpdta_bootstrap_matches_published_did_output():
    """R did, att_gt(mpdta, bstrap = TRUE, biters = 1000): ATT(g,t) SEs 0.0237 … 0.0174 and a
    uniform band whose critical value is (−0.0105 + 0.0740)/0.0237 = 2.68; aggte simple SE ≈
    0.0118. Both sides are 1,000-draw bootstraps (IQR-based SEs vary by ≈ 3 % between runs):
    the mean ratio over the 12 cells must be within 5 %, each cell within 20 %."""
    m = pd.read_csv(causal_dir() / "mpdta.csv")
    pub = np.array([0.0237, 0.0330, 0.0404, 0.0364, 0.0243, 0.0205, 0.0162, 0.0203, 0.0142, 0.0162,
                    0.0178, 0.0174])
    for w in ("mammen", "rademacher"):
        r = callaway_santanna(m, unit="countyreal", time="year", outcome="lemp", first_treat="first.treat",
                              bootstrap=1000, seed=0, multipliers=w)
        gt = r.details["att_gt"]
        assert list(zip(gt["group"], gt["time"]))[:2] == [(2004, 2004), (2004, 2005)]
        ratio = gt["se"].to_numpy() / pub
        assert ratio.mean() == pytest.approx(1.0, abs=0.05), (w, ratio)
        assert np.all(np.abs(ratio - 1) < 0.2), (w, ratio)
        assert r.aggregate("simple")[1] == pytest.approx(0.0118, rel=0.05)
        assert r.diagnostics["uniform_crit_att_gt"] == pytest.approx(2.68, abs=0.25)
        assert np.all(gt["cband_hi"] - gt["cband_lo"] > gt["ci_hi"] - gt["ci_lo"])
