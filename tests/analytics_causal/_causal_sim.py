"""Simulated panels with planted effects, for the causal-estimator tests (truth is known)."""
from __future__ import annotations

import numpy as np
import pandas as pd


def factor_panel(n_units: int = 40, n_periods: int = 30, *, treated=(0,), start: int = 20,
                 effect: float = 5.0, noise: float = 1.0, seed: int = 0, level: float = 100.0,
                 trend: float = 0.5) -> pd.DataFrame:
    """Interactive fixed effects: y = level + a_i + trend·t + l_i·f_t + e, plus ``effect`` on the
    treated units from ``start`` on. Treated units' loadings are averages of three donors'
    (inside the donors' convex hull), so synthetic control can reproduce them."""
    rng = np.random.default_rng(seed)
    f = np.cumsum(rng.normal(size=(n_periods, 2)), axis=0)
    lam = rng.normal(size=(n_units, 2))
    a = rng.normal(scale=5.0, size=n_units)
    treated = list(treated)
    donors = [i for i in range(n_units) if i not in treated]
    for i in treated:
        pick = rng.choice(donors, size=3, replace=False)
        lam[i] = lam[pick].mean(axis=0)
        a[i] = a[pick].mean()
    t = np.arange(n_periods)
    Y = level + a[:, None] + trend * t[None, :] + lam @ f.T + rng.normal(scale=noise, size=(n_units, n_periods))
    D = np.zeros_like(Y)
    D[treated, start:] = 1.0
    Y = Y + effect * D
    return pd.DataFrame({"unit": np.repeat([f"r{i:03d}" for i in range(n_units)], n_periods),
                         "week": np.tile(t + 1, n_units), "sales": Y.ravel(), "D": D.ravel().astype(int)})


def staggered_panel(n_units: int = 900, n_periods: int = 12, *, cohorts=(4, 7, 10), never_share: float = 0.25,
                    slope: float = 0.4, seed: int = 0, noise: float = 1.0):
    """Staggered adoption with dynamic effects growing with exposure (tau = slope·(e+1)) and
    larger for early cohorts. Returns (panel, true simple ATT, true dynamic ATT by event time)."""
    rng = np.random.default_rng(seed)
    n_never = int(round(n_units * never_share))
    g = np.r_[np.zeros(n_never, dtype=int), rng.choice(cohorts, size=n_units - n_never)]
    t = np.arange(1, n_periods + 1)
    a = rng.normal(scale=2.0, size=n_units)
    b = 0.3 * t + np.sin(t)
    Y = 10 + a[:, None] + b[None, :] + rng.normal(scale=noise, size=(n_units, n_periods))
    E = t[None, :] - g[:, None]
    treated = (g[:, None] > 0) & (E >= 0)
    mult = np.where(g == min(cohorts), 1.5, 1.0)[:, None]
    tau = np.where(treated, slope * (E + 1) * mult, 0.0)
    Y = Y + tau
    df = pd.DataFrame({"unit": np.repeat(np.arange(n_units), n_periods), "period": np.tile(t, n_units),
                       "y": Y.ravel(), "first_treat": np.repeat(g, n_periods), "D": treated.ravel().astype(int)})
    # truth, aggregated exactly as the estimator's "simple" aggregation (cohort-size weights)
    true_simple = float(tau[treated].mean())
    true_dyn = {int(e): float(tau[treated & (E == e)].mean()) for e in np.unique(E[treated])}
    return df, true_simple, true_dyn


def confounded_visits(n: int = 2000, *, theta: float = 120.0, seed: int = 0):
    """Visits depend non-linearly on account traits that also drive revenue (confounding).

    revenue = theta·visits + g(X) + noise, visits = m(X) + noise; naive OLS of revenue on
    visits is biased upwards (bigger accounts get more visits and buy more anyway)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    m = 4.0 + 2.0 * np.tanh(X[:, 0]) + 0.8 * np.sin(2 * X[:, 1]) + 0.5 * (X[:, 2] > 0)
    visits = m + rng.normal(scale=1.0, size=n)
    g = 300 * np.tanh(X[:, 0]) + 100 * np.cos(X[:, 1]) + 60 * X[:, 2] ** 2 + 40 * X[:, 3]
    revenue = 2000 + theta * visits + g + rng.normal(scale=100.0, size=n)
    return pd.DataFrame({"revenue": revenue, "visits": visits, **{f"x{j}": X[:, j] for j in range(5)}})


def bsts_panel(n_periods: int = 80, start: int = 60, *, effect: float = 5.0, seed: int = 0, n_controls: int = 5):
    """One treated series = 20 + 0.8·(common control signal) + slow random-walk level + noise;
    ``n_controls`` untreated series measure the control signal with noise. ``effect`` is added
    to the treated series from period index ``start`` on."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_periods)
    ar = np.zeros(n_periods)
    for i in range(1, n_periods):
        ar[i] = 0.7 * ar[i - 1] + rng.normal(scale=3.0)
    x = 100 + 10 * np.sin(2 * np.pi * t / 12) + ar
    level = np.cumsum(rng.normal(scale=0.3, size=n_periods))
    y = 20 + 0.8 * x + level + rng.normal(scale=1.0, size=n_periods)
    y[start:] += effect
    rows = [pd.DataFrame({"unit": "treated", "month": t + 1, "sales": y})]
    for c in range(n_controls):
        rows.append(pd.DataFrame({"unit": f"c{c}", "month": t + 1, "sales": x + rng.normal(scale=1.0, size=n_periods)}))
    return pd.concat(rows, ignore_index=True)


def scaled_confounders(n: int = 2000, *, theta: float = 120.0, seed: int = 0):
    """Confounders on wildly different scales, acting linearly on both visits and sales.

    annual_revenue in dollars (log-normal around 1e6, long right tail), share in 0..1, employees
    1..1000 and a string tier; visits and sales both rise with every one of them, so the naive
    slope of sales on visits is far above ``theta`` (about 3.5×)."""
    rng = np.random.default_rng(seed)
    revenue = np.exp(rng.normal(np.log(1e6), 1.0, n))
    share = rng.uniform(0.0, 1.0, n)
    employees = rng.integers(1, 1000, n).astype(float)
    tier = rng.choice(np.array(["A", "B", "C"]), n, p=[0.2, 0.3, 0.5])
    ta, tb = (tier == "A").astype(float), (tier == "B").astype(float)
    visits = (2 + 1.0e-6 * revenue + 3.0 * share + 0.002 * employees + 2.0 * ta + 1.0 * tb
              + rng.normal(0.0, 1.0, n))
    sales = (5000 + theta * visits + 4e-4 * revenue + 800 * share + 0.5 * employees + 600 * ta + 300 * tb
             + rng.normal(0.0, 150.0, n))
    return pd.DataFrame({"sales": sales, "visits": visits, "annual_revenue": revenue, "share": share,
                         "employees": employees, "tier": tier})


def few_unit_staggered(seed: int = 0, *, pre_trend: float = 0.0, effect: float = 0.3, n_periods: int = 36,
                       cohorts=(9, 17, 25), sizes=(2, 4, 2), n_never: int = 1) -> pd.DataFrame:
    """The shape of the demo's state × month campaign panel: 9 units (3 cohorts of 2, 4 and 2
    units, 1 never treated), 36 periods; log-scale outcome with unit levels, a common random-walk
    shock and unit-specific noise (SD 0.05-0.25). ``effect`` from adoption on; ``pre_trend`` adds
    ``pre_trend · (e + 1)`` at event times e < 0 (treated units drift towards their start)."""
    rng = np.random.default_rng(seed)
    g = np.r_[np.repeat(np.array(cohorts), sizes), np.zeros(n_never, dtype=int)]
    n = len(g)
    t = np.arange(1, n_periods + 1)
    a = rng.normal(scale=2.0, size=n)
    common = rng.normal(0.0, 0.1, size=n_periods).cumsum()
    sd = rng.uniform(0.05, 0.25, size=n)
    Y = 8 + a[:, None] + common[None, :] + rng.normal(size=(n, n_periods)) * sd[:, None]
    E = t[None, :] - g[:, None]
    tr = (g > 0)[:, None]
    Y = Y + np.where(tr & (E >= 0), effect, 0.0) + np.where(tr & (E < 0), pre_trend * (E + 1), 0.0)
    return pd.DataFrame({"unit": np.repeat([f"s{i}" for i in range(n)], n_periods),
                         "month": np.tile(t, n), "y": Y.ravel(), "first_treat": np.repeat(g, n_periods)})
