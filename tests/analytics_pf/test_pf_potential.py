"""Potential engine on simulated accounts whose true conditional quantiles are known."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from territorium.analytics.potential import (coverage, estimate_potential, next_rep_sites, spearman,
                                             validate_potential, white_space)

FAST = {"max_iter": 60}


def _accounts(n: int, seed: int):
    """Wallet = exp(mu(x) + sigma(x) * eps): the q-quantile given x is exp(mu + sigma * z_q)."""
    rng = np.random.default_rng(seed)
    size = rng.uniform(0, 1, n)
    kind = rng.choice(["salon", "spa", "store"], n)
    urban = rng.uniform(0, 1, n)
    mu = 9 + 2.5 * size + np.select([kind == "spa", kind == "store"], [0.4, 1.2], 0.0) + 0.5 * urban
    sigma = 0.25 + 0.35 * urban                    # heteroscedastic: cities are less predictable
    wallet = np.exp(mu + sigma * rng.normal(size=n))
    X = pd.DataFrame({"size": size, "kind": kind, "urban": urban, "noise": rng.normal(size=n)})
    return X, wallet, mu, sigma


def test_interval_coverage_is_nominal_on_held_out_accounts():
    X, wallet, mu, sigma = _accounts(2000, seed=0)
    v, est = validate_potential(X, wallet, truth=wallet, test_share=0.3, folds=3, n_threads=1, params=FAST)
    assert v.nominal == pytest.approx(0.8)
    assert abs(v.coverage - 0.8) <= 0.07, v
    assert abs(v.quantile_hit - 0.9) <= 0.07, v
    assert abs(est.coverage_cv - 0.8) <= 0.07
    # the estimated q0.9 tracks the true conditional q0.9
    true_q9 = np.exp(mu + sigma * norm.ppf(0.9))
    assert np.median(np.abs(np.log(est.table["potential"] / true_q9))) < 0.15
    # the interval widens where the truth is noisier (heteroscedasticity learnt)
    width = np.log(est.table["upper"] / est.table["lower"])
    assert spearman(width.to_numpy(), sigma) > 0.5


def test_white_space_ranks_follow_the_truth():
    X, wallet, mu, sigma = _accounts(2000, seed=1)
    rng = np.random.default_rng(2)
    revenue = wallet * rng.beta(2, 5, len(wallet)) * (rng.random(len(wallet)) < 0.6)  # share of wallet won
    target = wallet.copy()
    target[rng.random(len(wallet)) < 0.5] = np.nan          # CRM potential filled for half
    est = estimate_potential(X, target, revenue, folds=3, n_threads=1, params=FAST)
    ws_true = white_space(wallet, revenue)
    rho = spearman(est.table["white_space"].to_numpy(), ws_true)
    assert rho >= 0.75, rho
    # a peer that ignores the features (revenue × constant) does far worse
    assert spearman(white_space(3 * revenue, revenue), ws_true) < rho - 0.2
    assert set(est.table["scored_by"]) == {"out-of-fold", "full model"}
    assert (est.table["white_space"] >= 0).all()


def test_calibration_fixes_a_miscalibrated_model():
    """Far too few boosting rounds: the raw quantiles stay near the unconditional ones, so the
    raw interval is too wide and covers too much; calibration brings it back to nominal."""
    X, wallet, _, _ = _accounts(2000, seed=3)
    params = {"max_iter": 8, "learning_rate": 0.1}
    v, est = validate_potential(X, wallet, test_share=0.3, folds=3, n_threads=1, params=params)
    raw = estimate_potential(X, wallet, folds=3, n_threads=1, params=params, calibrate=False)
    assert est.coverage_raw > 0.83
    assert abs(v.coverage - 0.8) <= 0.07, v
    cal_width = np.log(est.table["upper"] / est.table["lower"]).median()
    raw_width = np.log(raw.table["upper"] / raw.table["lower"]).median()
    assert cal_width < raw_width


def test_bad_input_is_refused():
    X, wallet, _, _ = _accounts(100, seed=4)
    with pytest.raises(ValueError, match="non-negative"):
        estimate_potential(X, -wallet)
    few = np.full(100, np.nan)
    few[:10] = wallet[:10]
    with pytest.raises(ValueError, match="only 10 accounts have a target"):
        estimate_potential(X, few)
    with pytest.raises(ValueError, match="low < high"):
        estimate_potential(X, wallet, interval=(0.9, 0.1))


def test_next_rep_sites_by_hand():
    # rep at the origin covers cluster A; clusters B (white space 90) and C (30) are uncovered
    xy = np.array([[0, 0], [5, 0], [100, 0], [104, 3], [300, 0], [303, 0], [600, 0.0]])
    ws = np.array([50, 50, 40, 50, 20, 10, 0.0])
    sites = next_rep_sites(xy, ws, np.array([[1.0, 0.0]]), radius_km=20, top=5)
    assert sites["unit"].iloc[0] in (2, 3) and sites["unit"].iloc[1] in (4, 5)
    assert sites["reach_value"].tolist() == [90.0, 30.0]           # B first, then C; A is covered
    assert sites["reach_units"].tolist() == [2, 2]
    assert len(sites) == 2                                         # nothing else worth a rep
    assert sites["nearest_rep_km"].iloc[0] == pytest.approx(np.hypot(*(xy[sites["unit"].iloc[0]] - [1, 0])))


def test_metrics_by_hand():
    assert coverage(np.array([1.0, 5.0, 9.0, np.nan]), np.zeros(4), np.full(4, 6.0)) == pytest.approx(2 / 3)
    assert spearman(np.array([1.0, 2.0, 3.0]), np.array([3.0, 2.0, 1.0])) == pytest.approx(-1.0)
