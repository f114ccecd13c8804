"""Difference-in-differences: the 2×2 comparison, two-way fixed effects, and the event study.

* :func:`did` — one treated group, one start date: the change of the treated units' mean
  outcome from before to after, minus the same change for the controls. Standard errors are
  clustered by unit (or by ``cluster=``); an event study is run alongside for the plot and the
  pre-trend test.
* :func:`twfe` — ``y_it = a_i + l_t + b·D_it + e``, unit and time fixed effects, cluster-robust
  SE. Right for a common start; **biased under staggered adoption with effects that change
  over time** (already-treated units act as controls): use :func:`callaway_santanna` there.
* :func:`event_study` — leads and lags of adoption in a TWFE regression (reference period −1),
  with a joint Wald test that all leads are zero (the pre-trend test), or with few clusters a
  randomization test over the units' adoption dates (:mod:`._pretrend`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Optional

import numpy as np
import pandas as pd

from ._base import ImpactResult, draw_event_study, new_figure, relative_effect
from ._ols import cluster_ols, demean_twoway
from ._panel import Panel, prepare, require_columns
from ._pretrend import DRAWS, randomization_pretrend, wald_problem

__all__ = ["did", "twfe", "event_study", "DidResult", "TwfeResult", "EventStudyResult"]


def _t_ci(est, se, alpha, df):
    from scipy import stats
    if not math.isfinite(se):
        return (float("nan"), float("nan"))
    q = stats.t.ppf(1 - alpha / 2, max(df, 1))
    return (float(est - q * se), float(est + q * se))


def _few_clusters_note(P: Panel, clusters: np.ndarray) -> list:
    k = len(np.unique(clusters[P.treated]))
    if k < 5:
        return [f"only {k} treated cluster(s): cluster-robust SEs are unreliable with so few (the pre-trend "
                "test is a randomization test); prefer synthetic_control / synthetic_did (placebo inference)"]
    return []


def _cluster_codes(panel: pd.DataFrame, P: Panel, unit: str, cluster: Optional[str]) -> np.ndarray:
    """Cluster id per unit of ``P`` (units by default)."""
    if cluster is None or cluster == unit:
        return np.arange(P.n)
    require_columns(panel, {"cluster": cluster})
    m = panel.groupby(unit)[cluster].first()
    vals = m.reindex(P.units).to_numpy()
    if pd.isna(vals).any():
        raise ValueError(f"cluster column {cluster!r} is empty for some units")
    return pd.factorize(vals)[0]


# ----------------------------------------------------------------------------------------
# event study
# ----------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class EventStudyResult(ImpactResult):
    """TWFE event study; ``estimate`` is the mean of the post-adoption coefficients (e ≥ 0).

    ``details["coefficients"]`` holds one row per event time (reference −1 at zero).
    """

    label = "mean post-adoption effect"

    def _title(self) -> str:
        return "event study"

    def table(self) -> pd.DataFrame:
        return pd.concat([self._headline_frame(), self.details["coefficients"].assign(
            term=lambda d: "e=" + d["event_time"].astype(str))], ignore_index=True, sort=False)

    def plot(self):
        fig, ax = new_figure()
        _draw_event(ax[0, 0], self.details["coefficients"], self.outcome)
        ax[0, 0].set_title(self.summary(), fontsize=8)
        return fig


def _draw_event(a, coef: pd.DataFrame, outcome: str) -> None:
    draw_event_study(a, coef, ylabel=f"effect on {outcome}")


def _event_fit(P: Panel, clusters: np.ndarray, *, leads: Optional[int], lags: Optional[int], alpha: float,
               seed: Optional[int] = 0, permutations: int = DRAWS):
    N, T = P.Y.shape
    treated = P.treated
    if not treated.any():
        raise ValueError("no treated units: nothing to estimate")
    u = np.repeat(np.arange(N), T)
    t = np.tile(np.arange(T), N)
    e = (t - np.repeat(P.cohort, T)).astype(float)
    e[np.repeat(~treated, T)] = np.nan
    lo = -leads if leads is not None else int(np.nanmin(e))
    hi = lags if lags is not None else int(np.nanmax(e))
    eb = np.clip(e, lo, hi)  # endpoints binned
    times = [k for k in range(lo, hi + 1) if k != -1 and (eb == k).any()]
    if not (~treated).any() and times:
        # without never-treated units, one more relative time must go (collinear with time FE)
        times = times[1:]
        drop_note = f"no never-treated units: event time {lo} also normalised to zero"
    else:
        drop_note = None
    M = np.zeros((N * T, len(times) + 1))
    M[:, 0] = P.Y.ravel()
    col = {k: j + 1 for j, k in enumerate(times)}
    ebi = np.where(np.isnan(eb), -10 ** 9, eb).astype(np.int64)
    cidx = np.array([col.get(int(v), 0) for v in range(lo, hi + 1)])
    inside = (ebi >= lo) & (ebi <= hi)
    rows = np.flatnonzero(inside)
    cols = cidx[ebi[rows] - lo]
    keep = cols > 0
    M[rows[keep], cols[keep]] = 1.0
    M = demean_twoway(M, u, t, copy=False)
    cl = np.repeat(clusters, T)
    fit = cluster_ols(M[:, 1:], M[:, 0], cl, extra_k=N + T - 1)
    df = fit.n_clusters - 1
    rows = []
    for j, k in enumerate(times):
        ci = _t_ci(fit.beta[j], fit.se[j], alpha, df)
        rows.append({"event_time": k, "estimate": fit.beta[j], "se": fit.se[j], "ci_lo": ci[0], "ci_hi": ci[1],
                     "n_obs": int((eb == k).sum())})
    rows.append({"event_time": -1, "estimate": 0.0, "se": 0.0, "ci_lo": 0.0, "ci_hi": 0.0,
                 "n_obs": int((eb == -1).sum())})
    coef = pd.DataFrame(rows).sort_values("event_time").reset_index(drop=True)
    lead_idx = [j for j, k in enumerate(times) if k <= -2]
    pretrend = _pretrend_test(P, clusters, fit, lead_idx, seed=seed, draws=permutations)
    post_idx = [j for j, k in enumerate(times) if k >= 0]
    w = np.zeros(len(times))
    w[post_idx] = 1.0 / max(len(post_idx), 1)
    est = float(w @ fit.beta)
    se = float(math.sqrt(max(w @ fit.vcov @ w, 0.0)))
    return coef, est, se, pretrend, fit, drop_note, eb


def _pretrend_test(P: Panel, clusters: np.ndarray, fit, lead_idx, *, seed, draws) -> dict:
    """The cluster-robust Wald test that every lead is zero, F(q, G−1), where it is reliable;
    else the randomization test over adoption dates (see :mod:`._pretrend`)."""
    q = len(lead_idx)
    out = {"pretrend_p": float("nan"), "pretrend_F": float("nan"), "pretrend_leads": q,
           "pretrend_test": "none", "pretrend_stat": float("nan"), "pretrend_draws": 0}
    if q == 0:
        out["pretrend_note"] = "no pre-periods to test"
        return out
    idx = np.asarray(lead_idx, dtype=int)
    tr_cl = np.unique(clusters[P.treated])
    nv_cl = np.unique(clusters[~P.treated])
    min_group = min(len(tr_cl), len(nv_cl)) if len(nv_cl) else len(tr_cl)
    reason = wald_problem(fit.vcov[np.ix_(idx, idx)], q, fit.n_clusters, min_group)
    if reason is None:
        F, p, _ = fit.wald(lead_idx)
        out.update(pretrend_p=p, pretrend_F=F, pretrend_test="wald")
        return out
    blocks = None
    if fit.n_clusters < P.n:
        same = pd.Series(P.cohort).groupby(clusters).nunique().max() == 1
        blocks = clusters if same else None
    rt = randomization_pretrend(P.Y, P.cohort, control="never" if (~P.treated).any() else "notyet",
                                blocks=blocks, draws=draws, seed=seed)
    if rt is None:
        out["pretrend_note"] = "no pre-periods to test"
        return out
    by = "clusters'" if blocks is not None else "units'"
    out.update(pretrend_p=rt["p"], pretrend_stat=rt["stat"], pretrend_draws=rt["draws"],
               pretrend_test="randomization",
               pretrend_note=(f"pre-trend test by randomization over the {by} adoption dates "
                              f"({'all ' if rt['exact'] else ''}{rt['draws']} re-assignments) because {reason}"))
    return out


def event_study(panel: pd.DataFrame, *, unit: str, time: str, outcome: str,
                first_treat: Optional[str] = None, treatment: Optional[str] = None,
                treated_units: Optional[Iterable] = None, start: Any = None,
                leads: Optional[int] = None, lags: Optional[int] = None,
                cluster: Optional[str] = None, alpha: float = 0.05, log_outcome: bool = False,
                treated: Optional[str] = None, seed: Optional[int] = 0,
                permutations: int = DRAWS) -> EventStudyResult:
    """Leads and lags of adoption in a two-way fixed-effects regression.

    ``y_it = a_i + l_t + sum_{e != -1} b_e 1[t - g_i = e] + e_it``, event times beyond
    ``-leads`` / ``lags`` binned into the end points; reference period e = −1. The pre-trend
    test is the joint cluster-robust Wald test that every lead (e ≤ −2) is zero, F(q, G−1), when
    that test is reliable (a non-singular covariance of the leads, at least 10 clusters per lead,
    5 treated and 5 never-treated clusters); otherwise a randomization test over the units'
    adoption dates (``diagnostics["pretrend_test"]`` says which; see :mod:`._pretrend`).

    Parameters
    ----------
    panel : DataFrame
        Long panel, one row per unit and period.
    unit, time, outcome : str
        Column names.
    first_treat, treatment, treated_units + start
        Who is treated when (see :func:`territorium.analytics.causal.twfe`).
    leads, lags : int, optional
        Bin event times below ``-leads`` and above ``lags``.
    cluster : str, optional
        Cluster column (default: the unit).
    seed, permutations : int
        Seed and number of re-assignments of the randomization pre-trend test (few clusters).

    Returns
    -------
    EventStudyResult
        ``estimate`` = mean of the coefficients at e ≥ 0; ``diagnostics["pretrend_p"]``.
    """
    treatment = treatment or treated
    P = prepare(panel, unit=unit, time=time, outcome=outcome, treatment=treatment, first_treat=first_treat,
                treated_units=treated_units, start=start)
    clusters = _cluster_codes(panel, P, unit, cluster)
    coef, est, se, pt, fit, note, eb = _event_fit(P, clusters, leads=leads, lags=lags, alpha=alpha, seed=seed,
                                                  permutations=permutations)
    ci = _t_ci(est, se, alpha, fit.n_clusters - 1)
    post = P.status() > 0
    cf = float(np.mean(P.Y[post])) - est if post.any() else None
    rel, rel_ci = relative_effect(est, ci, cf, log_outcome=log_outcome)
    notes = list(P.notes) + ([note] if note else []) + _few_clusters_note(P, clusters)
    if pt.get("pretrend_note"):
        notes.append(pt.pop("pretrend_note"))
    diag = {**pt, "n_units": P.n, "n_treated": int(P.treated.sum()), "n_periods": P.T,
            "n_clusters": fit.n_clusters, "notes": notes}
    return EventStudyResult(method="event_study", outcome=outcome, estimate=est, se=se, ci=ci, relative=rel,
                            relative_ci=rel_ci, alpha=alpha, diagnostics=diag,
                            details={"coefficients": coef})


# ----------------------------------------------------------------------------------------
# TWFE
# ----------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class TwfeResult(ImpactResult):
    """Static two-way fixed effects; ``details["means"]`` holds treated vs control means by period."""

    label = "D (treated × post)"

    def _title(self) -> str:
        return "TWFE"

    def plot(self):
        return _plot_means(self)


def _plot_means(res: ImpactResult):
    m = res.details["means"]
    fig, ax = new_figure(2 if "coefficients" in res.details else 1, 1, figsize=(8, 7 if "coefficients" in res.details else 4.5))
    a = ax[0, 0]
    x = np.arange(len(m))
    a.plot(x, m["treated"], "o-", label="treated units")
    a.plot(x, m["control"], "s-", label="control units")
    if "start_index" in res.details:
        a.axvline(res.details["start_index"] - 0.5, color="grey", ls="--")
    step = max(1, len(m) // 12)
    a.set_xticks(x[::step], [str(v) for v in m["time"].iloc[::step]], rotation=30, fontsize=7)
    a.set_ylabel(f"mean {res.outcome}")
    a.legend(fontsize=8)
    a.set_title(res.summary(), fontsize=8)
    if "coefficients" in res.details:
        _draw_event(ax[1, 0], res.details["coefficients"], res.outcome)
    return fig


def _means_frame(P: Panel) -> pd.DataFrame:
    tr = P.treated
    return pd.DataFrame({"time": [P.label(i) for i in range(P.T)],
                         "treated": P.Y[tr].mean(axis=0),
                         "control": P.Y[~tr].mean(axis=0) if (~tr).any() else np.nan})


def twfe(panel: pd.DataFrame, *, unit: str, time: str, outcome: str,
         treatment: Optional[str] = None, first_treat: Optional[str] = None,
         treated_units: Optional[Iterable] = None, start: Any = None,
         cluster: Optional[str] = None, alpha: float = 0.05, log_outcome: bool = False,
         treated: Optional[str] = None) -> TwfeResult:
    """Two-way fixed-effects regression ``y_it = a_i + l_t + b·D_it + e_it``, cluster-robust SE.

    Treatment is one of: ``treatment`` (0/1 status column D_it; ``treated`` is an alias),
    ``first_treat`` (unit column with the first treated period, 0/NaN = never), or
    ``treated_units`` with ``start``. Standard errors are CR1, clustered by unit unless
    ``cluster`` names another column, with small-sample factor G/(G−1)·(N−1)/(N−K) and K
    counting every absorbed fixed effect (as a regression on dummies does). The CI uses
    t(G−1).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"u": [1, 1, 2, 2, 3, 3], "t": [1, 2] * 3, "y": [1.0, 2.0, 1.0, 4.0, 2.0, 3.1]})
    >>> round(twfe(df, unit="u", time="t", outcome="y", treated_units=[2], start=2).estimate, 3)
    1.95
    """
    treatment = treatment or treated
    P = prepare(panel, unit=unit, time=time, outcome=outcome, treatment=treatment, first_treat=first_treat,
                treated_units=treated_units, start=start, absorbing=False)
    N, T = P.Y.shape
    D = P.status()
    if D.min() == D.max():
        raise ValueError("treatment never varies: every row is treated or none is")
    u = np.repeat(np.arange(N), T)
    t = np.tile(np.arange(T), N)
    M = demean_twoway(np.column_stack([P.Y.ravel(), D.ravel()]), u, t)
    clusters = _cluster_codes(panel, P, unit, cluster)
    fit = cluster_ols(M[:, 1:], M[:, 0], np.repeat(clusters, T), extra_k=N + T - 1)
    est, se = float(fit.beta[0]), float(fit.se[0])
    ci = _t_ci(est, se, alpha, fit.n_clusters - 1)
    on = D > 0
    cf = float(P.Y[on].mean()) - est
    rel, rel_ci = relative_effect(est, ci, cf, log_outcome=log_outcome)
    cohorts = np.unique(P.cohort[P.treated])
    notes = list(P.notes) + _few_clusters_note(P, clusters)
    if len(cohorts) > 1:
        notes.append(f"staggered adoption ({len(cohorts)} start dates): TWFE can be biased when effects "
                     "change over time; compare callaway_santanna")
    diag = {"n_units": N, "n_treated": int(P.treated.sum()), "n_periods": T, "n_clusters": fit.n_clusters,
            "n_cohorts": int(len(cohorts)), "notes": notes}
    details = {"means": _means_frame(P)}
    if len(cohorts) == 1:
        details["start_index"] = int(cohorts[0])
    return TwfeResult(method="twfe", outcome=outcome, estimate=est, se=se, ci=ci, relative=rel, relative_ci=rel_ci,
                      alpha=alpha, diagnostics=diag, details=details)


# ----------------------------------------------------------------------------------------
# 2×2 DiD
# ----------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class DidResult(ImpactResult):
    """2×2 difference-in-differences with the event study used for the plot and pre-trend test."""

    label = "DiD (treated × post)"

    def _title(self) -> str:
        return "DiD"

    def table(self) -> pd.DataFrame:
        cells = self.details["cells"]
        return pd.concat([self._headline_frame(), cells], ignore_index=True, sort=False)

    def plot(self):
        return _plot_means(self)


def did(panel: pd.DataFrame, *, unit: str, time: str, outcome: str,
        treated_units: Optional[Iterable] = None, start: Any = None,
        treatment: Optional[str] = None, first_treat: Optional[str] = None,
        cluster: Optional[str] = None, alpha: float = 0.05, log_outcome: bool = False,
        treated: Optional[str] = None, seed: Optional[int] = 0, permutations: int = DRAWS) -> DidResult:
    """Classic 2×2 difference-in-differences for one treated group with one start date.

    Each unit's outcome is averaged over the pre-period and the post-period; the estimate is
    ``(post − pre | treated) − (post − pre | control)``, i.e. OLS of the unit's change on a
    treated dummy, with CR1 standard errors clustered by unit (or ``cluster``) and a t(G−1)
    interval. With at least two pre-periods an event study runs alongside (event times beyond
    ±20 binned into the end points): its lead coefficients give ``diagnostics["pretrend_p"]``
    (the Wald test, or with few clusters the randomization test of :func:`event_study`; ``seed``
    and ``permutations`` are that test's) and the plot. With one pre-period there is nothing to
    test: ``pretrend_test`` is ``"none"`` and the summary says so.

    Treatment: ``treated_units`` + ``start``; or ``treatment`` (0/1 per row, or a unit flag
    with ``start``); or ``first_treat`` with a single start date. Staggered starts raise
    ``ValueError`` (use :func:`callaway_santanna`).
    """
    treatment = treatment or treated
    P = prepare(panel, unit=unit, time=time, outcome=outcome, treatment=treatment, first_treat=first_treat,
                treated_units=treated_units, start=start)
    cohorts = np.unique(P.cohort[P.treated])
    if len(cohorts) == 0:
        raise ValueError("no treated units: nothing to estimate")
    if len(cohorts) > 1:
        raise ValueError(f"treatment starts at {len(cohorts)} different dates ({[P.label(c) for c in cohorts[:5]]}): "
                         "a 2×2 DiD needs one start; use callaway_santanna for staggered adoption")
    if not (~P.treated).any():
        raise ValueError("no control units: every unit is treated")
    g = int(cohorts[0])
    pre = P.Y[:, :g].mean(axis=1)
    post = P.Y[:, g:].mean(axis=1)
    delta = post - pre
    tr = P.treated.astype(float)
    X = np.column_stack([np.ones(P.n), tr])
    clusters = _cluster_codes(panel, P, unit, cluster)
    fit = cluster_ols(X, delta, clusters)
    est, se = float(fit.beta[1]), float(fit.se[1])
    ci = _t_ci(est, se, alpha, fit.n_clusters - 1)
    cf = float(post[P.treated].mean()) - est
    rel, rel_ci = relative_effect(est, ci, cf, log_outcome=log_outcome)
    cells = pd.DataFrame({
        "term": ["treated pre", "treated post", "control pre", "control post"],
        "estimate": [pre[P.treated].mean(), post[P.treated].mean(), pre[~P.treated].mean(), post[~P.treated].mean()]})
    diag = {"n_units": P.n, "n_treated": int(P.treated.sum()), "n_periods": P.T, "n_pre": g, "n_post": P.T - g,
            "n_clusters": fit.n_clusters, "notes": list(P.notes) + _few_clusters_note(P, clusters)}
    details = {"cells": cells, "means": _means_frame(P), "start_index": g}
    if g >= 2:
        # event times beyond ±20 are binned into the end points (keeps long weekly panels cheap)
        coef, _, _, pt, _, _, _ = _event_fit(P, clusters, leads=min(g, 20), lags=min(P.T - g - 1, 20),
                                             alpha=alpha, seed=seed, permutations=permutations)
        if pt.get("pretrend_note"):
            diag["notes"].append(pt.pop("pretrend_note"))
        diag.update(pt)
        details["coefficients"] = coef
    else:
        diag.update(pretrend_p=float("nan"), pretrend_test="none", pretrend_leads=0)
        diag["notes"].append("no pre-periods to test: one period before the start")
    return DidResult(method="did", outcome=outcome, estimate=est, se=se, ci=ci, relative=rel, relative_ci=rel_ci,
                     alpha=alpha, diagnostics=diag, details=details)
