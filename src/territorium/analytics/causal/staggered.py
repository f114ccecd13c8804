"""Callaway & Sant'Anna (2021): group-time ATTs for staggered adoption, and their aggregations.

For every cohort g (units first treated in period g) and period t, ATT(g,t) is the 2×2 DiD of
cohort g against a control group between t and a base period b:

    ATT(g,t) = mean_{G=g}(Y_t − Y_b) − mean_{C}(Y_t − Y_b)

(unconditional parallel trends; the outcome-regression estimator without covariates is this
difference of means). Controls are the never-treated units (``control="never"``) or the units
not yet treated by max(t, b) (``"notyet"``). Post periods use b = g − 1; pre periods use
b = t − 1 (``base_period="varying"``, R ``did``'s default) or b = g − 1 (``"universal"``).

Inference follows the R ``did`` package: each ATT(g,t) has an influence function; the
aggregations (``simple``, ``dynamic`` — event time — and ``group``) are linear in the ATTs with
group-size weights, and their influence functions include the estimation of those weights.
Standard errors are analytic (``sqrt(mean(IF²)/n)``) or, with ``bootstrap=B``, from R ``did``'s
multiplier bootstrap (Mammen or Rademacher multipliers, seeded; one per unit, or one per cluster
with ``cluster=``, which implies the bootstrap as in R), with uniform sup-t bands for the
ATT(g,t)s and the event study. The pre-trend test is the Wald test that
every pre-period ATT(g,t) is zero (chi-square, as R ``did`` reports) when that test is reliable;
with few units — a singular covariance of the pre-period ATTs, fewer than 10 units per
restriction, or a cohort or control group under 5 units — it is a randomization test over the
units' adoption dates instead (:mod:`._pretrend`; ``diagnostics["pretrend_test"]`` says which).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Optional

import numpy as np
import pandas as pd
from scipy import stats

from ._base import ImpactResult, draw_event_study, new_figure, normal_ci, relative_effect
from ._panel import NEVER, prepare
from ._pretrend import DRAWS, randomization_pretrend, wald_problem

__all__ = ["callaway_santanna", "CallawaySantAnnaResult"]


@dataclass(frozen=True, eq=False)
class CallawaySantAnnaResult(ImpactResult):
    """Staggered DiD. ``estimate`` is the aggregation named in ``details["aggregation"]``.

    ``details``: ``att_gt`` (one row per cohort and period), ``dynamic`` (by event time),
    ``group`` (by cohort), ``overall`` (simple / dynamic / group with SEs).
    """

    @property
    def label(self) -> str:  # type: ignore[override]
        return f"ATT ({self.details.get('aggregation', 'simple')})"

    def _title(self) -> str:
        return f"Callaway–Sant'Anna ATT ({self.details.get('aggregation', 'simple')})"

    def aggregate(self, kind: str) -> tuple[float, float]:
        """(estimate, se) of the ``simple``, ``dynamic`` or ``group`` aggregation."""
        row = self.details["overall"].set_index("aggregation").loc[kind]
        return float(row["estimate"]), float(row["se"])

    def table(self) -> pd.DataFrame:
        ov = self.details["overall"].rename(columns={"aggregation": "term"})
        ov["term"] = "ATT " + ov["term"]
        dyn = self.details["dynamic"].assign(term=lambda d: "e=" + d["event_time"].astype(str))
        grp = self.details["group"].assign(term=lambda d: "g=" + d["group"].astype(str)).drop(columns=["group"])
        return pd.concat([ov, dyn, grp], ignore_index=True, sort=False)

    def plot(self):
        fig, ax = new_figure()
        a = ax[0, 0]
        draw_event_study(a, self.details["dynamic"], ylabel=f"ATT on {self.outcome}",
                         xlabel="periods since adoption (event time)",
                         labels=("pre-treatment", "post-treatment"))
        a.set_title(self.summary(), fontsize=8)
        return fig


def _wif(keep: np.ndarray, pg: np.ndarray, Gmat: np.ndarray) -> np.ndarray:
    """Influence of estimating the group-share weights (R did's ``wif``); n × len(keep).

    ``Gmat[:, k]`` is the 0/1 membership of unit i in the cohort of cell ``keep[k]``.
    """
    s = pg[keep].sum()
    dev = Gmat - pg[keep][None, :]
    if1 = dev / s
    if2 = dev.sum(axis=1, keepdims=True) * (pg[keep] / s ** 2)[None, :]
    return if1 - if2


def _mammen(rng, n, B):
    a = (1 - math.sqrt(5)) / 2
    b = (1 + math.sqrt(5)) / 2
    p = (math.sqrt(5) + 1) / (2 * math.sqrt(5))
    return np.where(rng.random((B, n)) < p, a, b)


def _rademacher(rng, n, B):
    return np.where(rng.random((B, n)) < 0.5, -1.0, 1.0)


_MULTIPLIERS = {"mammen": _mammen, "rademacher": _rademacher}
_IQR_Z = stats.norm.ppf(0.75) - stats.norm.ppf(0.25)


class _SE:
    """Analytic or multiplier-bootstrap standard errors from influence functions.

    The bootstrap is R ``did``'s ``mboot``: B draws of mean-zero, unit-variance multipliers
    (Mammen's two-point or Rademacher), one per cluster (per unit by default), applied to the
    influence functions summed within each cluster; the SE is the draws' interquartile range
    over that of the standard normal. One matrix of multipliers serves every quantity, so the
    draws of different cells are joint and give the sup-t critical value of uniform bands.
    """

    def __init__(self, n: int, bootstrap: int, seed, clusters: Optional[np.ndarray] = None,
                 weights: str = "mammen"):
        self.n = n
        self.B = int(bootstrap or 0)
        self.clusters = clusters
        self.G = int(clusters.max()) + 1 if clusters is not None else n
        self.V = _MULTIPLIERS[weights](np.random.default_rng(seed), self.G, self.B) if self.B > 0 else None

    def _sums(self, inf: np.ndarray) -> np.ndarray:
        if self.clusters is None:
            return inf
        out = np.zeros((self.G, inf.shape[1]))
        np.add.at(out, self.clusters, inf)
        return out

    def draws(self, inf: np.ndarray) -> np.ndarray:
        """B × k bootstrap draws of (estimate − truth)."""
        return self.V @ self._sums(inf) / self.n

    def __call__(self, inf: np.ndarray) -> np.ndarray:
        inf = inf[:, None] if inf.ndim == 1 else inf
        if self.B == 0:
            return np.sqrt((self._sums(inf) ** 2).sum(axis=0)) / self.n
        q75, q25 = np.quantile(self.draws(inf), [0.75, 0.25], axis=0)
        return (q75 - q25) / _IQR_Z

    def uniform_crit(self, inf: np.ndarray, se: np.ndarray, alpha: float) -> float:
        """Sup-t critical value for a band covering every column with finite, positive SE at once
        (R ``did``'s ``cband``); the pointwise normal one without bootstrap draws."""
        ok = np.isfinite(se) & (se > 0)
        if self.B == 0 or ok.sum() == 0:
            return float(stats.norm.ppf(1 - alpha / 2))
        t = np.abs(self.draws(inf[:, ok])) / se[ok][None, :]
        return float(np.quantile(t.max(axis=1), 1 - alpha))


def _unit_clusters(panel: pd.DataFrame, unit: str, units: np.ndarray, cluster: str) -> tuple[np.ndarray, np.ndarray]:
    """Cluster code per unit (in ``units`` order) and the cluster labels; the cluster must not
    change within a unit (R ``did`` requires the same)."""
    if cluster not in panel.columns:
        shown = ", ".join(map(str, list(panel.columns)[:20]))
        raise ValueError(f"cluster column {cluster!r} is not in the panel (columns: {shown})")
    col = panel[[unit, cluster]]
    if col[cluster].isna().any():
        i = int(np.flatnonzero(col[cluster].isna().to_numpy())[0])
        raise ValueError(f"cluster column {cluster!r} is empty in row {i + 1} (unit {col[unit].iloc[i]!r})")
    k = col.groupby(unit)[cluster].nunique()
    if (k > 1).any():
        u = k.index.tolist()[int(np.flatnonzero(k.to_numpy() > 1)[0])]
        vals = sorted(map(str, col.loc[col[unit] == u, cluster].unique()))[:3]
        raise ValueError(f"cluster column {cluster!r} changes within unit {u!r} ({', '.join(vals)}): "
                         "a unit must stay in one cluster")
    lab = col.groupby(unit)[cluster].first().reindex(units)
    codes, labels = pd.factorize(lab.to_numpy())
    return codes, np.asarray(labels)


def callaway_santanna(panel: pd.DataFrame, *, unit: str, time: str, outcome: str,
                      first_treat: Optional[str] = None, treatment: Optional[str] = None,
                      treated_units: Optional[Iterable] = None, start: Any = None,
                      control: str = "never", base_period: str = "varying", anticipation: int = 0,
                      aggregation: str = "simple", bootstrap: int = 0, seed: Optional[int] = 0,
                      alpha: float = 0.05, log_outcome: bool = False,
                      treated: Optional[str] = None, permutations: int = DRAWS,
                      cluster: Optional[str] = None, multipliers: str = "mammen") -> CallawaySantAnnaResult:
    """Group-time ATTs (Callaway & Sant'Anna 2021) with simple, dynamic and group aggregations.

    Parameters
    ----------
    panel : DataFrame
        Balanced long panel (units with gaps are dropped and listed in ``diagnostics["notes"]``).
    unit, time, outcome : str
        Column names.
    first_treat : str
        Unit column holding the first treated period (0, empty or NaN = never treated; a period
        after the panel's end counts as never treated in the window). Alternatively
        ``treatment`` (0/1 status per row) or ``treated_units`` + ``start``.
    control : {"never", "notyet"}
        Never-treated units only, or units not yet treated at max(t, base period).
    base_period : {"varying", "universal"}
        Base of the pre-period ATT(g,t)s: the previous period (R's default) or g − 1.
    anticipation : int
        Periods of anticipation: the base period is g − 1 − anticipation.
    aggregation : {"simple", "dynamic", "group"}
        Which aggregation is the headline ``estimate`` (all three are in ``details["overall"]``).
    bootstrap : int
        0 for analytic standard errors, else the number of multiplier-bootstrap draws (R ``did``'s
        ``bstrap=TRUE, biters=B``); with draws, ``details["dynamic"]`` and ``details["att_gt"]``
        also carry uniform (sup-t) bands ``cband_lo`` / ``cband_hi``.
    cluster : str, optional
        Unit column (constant within a unit) to cluster on, e.g. the state of a territory. As in
        R ``did``, clustering uses the multiplier bootstrap (999 draws when ``bootstrap=0``), one
        multiplier per cluster. With a single never-treated cluster the control group's common
        shocks cannot be estimated: a note says so (use more held-out clusters).
    multipliers : {"mammen", "rademacher"}
        Bootstrap multipliers: Mammen's two-point weights (R ``did``) or ±1.
    seed : int
        Seed of the bootstrap draws and of the randomization pre-trend test.
    permutations : int
        Re-assignments of the randomization pre-trend test (used instead of the Wald test when
        there are few units; every distinct re-assignment when there are no more than this).

    Returns
    -------
    CallawaySantAnnaResult
    """
    if control not in ("never", "notyet"):
        raise ValueError(f"control must be 'never' or 'notyet', not {control!r}")
    if base_period not in ("varying", "universal"):
        raise ValueError(f"base_period must be 'varying' or 'universal', not {base_period!r}")
    if aggregation not in ("simple", "dynamic", "group"):
        raise ValueError(f"aggregation must be 'simple', 'dynamic' or 'group', not {aggregation!r}")
    if multipliers not in _MULTIPLIERS:
        raise ValueError(f"multipliers must be 'mammen' or 'rademacher', not {multipliers!r}")
    if int(bootstrap or 0) < 0:
        raise ValueError(f"bootstrap must be 0 (analytic SEs) or a number of draws, not {bootstrap!r}")
    treatment = treatment or treated
    P = prepare(panel, unit=unit, time=time, outcome=outcome, treatment=treatment, first_treat=first_treat,
                treated_units=treated_units, start=start)
    Y = P.Y
    n, T = Y.shape
    G = P.cohort.copy()
    notes = list(P.notes)
    never = G == NEVER
    if not (~never).any():
        raise ValueError("no treated units: every unit is never treated in the window")
    tmax = T  # periods usable (exclusive)
    if control == "never" and not never.any():
        raise ValueError(f"control='never' but no unit is never treated (first-treatment column "
                         f"{first_treat or treatment!r}); use control='notyet'")
    if control == "notyet" and not never.any():
        # R did: the last cohort serves as control only; periods from its start are dropped
        last = int(G.max())
        notes.append(f"no never-treated units: the last cohort ({P.label(last)}) serves as control; "
                     f"periods from {P.label(last)} on are not used")
        tmax = last
        G = np.where(G == last, NEVER, G)
        never = G == NEVER
    clusters, cl_labels = None, None
    if cluster is not None and cluster != unit:
        clusters, cl_labels = _unit_clusters(panel, unit, P.units, cluster)
        if not bootstrap:
            bootstrap = 999
            notes.append(f"clustered by {cluster!r}: multiplier bootstrap with 999 draws (as R did)")
    n_cl_never = len(np.unique(clusters[never])) if clusters is not None else int(never.sum())
    if n_cl_never == 1:
        who = (f"cluster {cl_labels[clusters[never][0]]!r}" if clusters is not None
               else f"unit {P.units[never][0]!r}")
        notes.append(f"a single never-treated {'cluster' if clusters is not None else 'unit'} ({who}) is the "
                     "control group: its own shocks are in every ATT(g,t) but cannot be estimated from one "
                     "cluster, so the standard errors (analytic or bootstrap) leave them out and intervals "
                     "are too narrow; hold out more clusters, or use control='notyet' where cohorts differ")
    glist = np.unique(G[~never])
    # cohort membership and shares
    onehot = (G[:, None] == glist[None, :]).astype(float)     # n × nG
    pg_group = onehot.mean(axis=0)
    cells = []
    infs = []
    for gi, g in enumerate(glist):
        tr = G == g
        ntr = tr.sum()
        for t in range(0, tmax):
            if t >= g - anticipation:
                b = g - 1 - anticipation
            else:
                b = t - 1 if base_period == "varying" else g - 1 - anticipation
            if b < 0:
                continue
            if base_period == "universal" and t == b:
                cells.append((g, t, b, 0.0, gi, 0, 0))
                infs.append(np.zeros(n))
                continue
            if control == "never":
                c = never
            else:
                c = never | (G > max(t, b) + anticipation)
                c &= ~tr
            nc = c.sum()
            if nc == 0:
                continue
            dy = Y[:, t] - Y[:, b]
            mt, mc = dy[tr].mean(), dy[c].mean()
            att = mt - mc
            inf = np.zeros(n)
            inf[tr] = n * (dy[tr] - mt) / ntr
            inf[c] = -n * (dy[c] - mc) / nc
            cells.append((g, t, b, att, gi, int(ntr), int(nc)))
            infs.append(inf)
    if not cells:
        raise ValueError("no group-time cell has both a pre-period and controls")
    gg = np.array([c[0] for c in cells])
    tt = np.array([c[1] for c in cells])
    bb = np.array([c[2] for c in cells])
    att = np.array([c[3] for c in cells])
    gidx = np.array([c[4] for c in cells])
    IF = np.column_stack(infs)                  # n × cells
    se_of = _SE(n, bootstrap, seed, clusters, multipliers)
    se_gt = se_of(IF)
    is_ref = (base_period == "universal") & (tt == bb)
    se_gt = np.where(is_ref, np.nan, se_gt)
    crit_gt = se_of.uniform_crit(IF, se_gt, alpha)
    pg = pg_group[gidx]
    Gmat_cells = onehot[:, gidx]                # n × cells (membership in the cell's cohort)
    post = tt >= gg

    def agg(keep, w, wif_on=True):
        keep = np.asarray(keep)
        est = float(att[keep] @ w)
        inf = IF[:, keep] @ w
        if wif_on:
            inf = inf + _wif(keep, pg, Gmat_cells[:, keep]) @ att[keep]
        return est, inf

    z = stats.norm.ppf(1 - alpha / 2)
    # simple -----------------------------------------------------------------------------
    kp = np.flatnonzero(post)
    w_simple = pg[kp] / pg[kp].sum()
    simple_est, simple_inf = agg(kp, w_simple)
    # dynamic ----------------------------------------------------------------------------
    e_all = tt - gg
    eseq = np.unique(e_all)
    dyn_inf, dyn_est = [], []
    for e in eseq:
        ke = np.flatnonzero(e_all == e)
        w = pg[ke] / pg[ke].sum()
        est_e, inf_e = agg(ke, w)
        dyn_est.append(est_e)
        dyn_inf.append(inf_e)
    dyn_inf_m = np.column_stack(dyn_inf)
    dyn_se = se_of(dyn_inf_m)
    dyn_est = np.array(dyn_est)
    ref_e = np.array([bool(np.all(is_ref[e_all == e])) for e in eseq])
    dyn_se = np.where(ref_e, np.nan, dyn_se)
    crit_dyn = se_of.uniform_crit(dyn_inf_m, dyn_se, alpha)
    epos = eseq >= 0
    dynamic_est = float(dyn_est[epos].mean())
    dynamic_inf = dyn_inf_m[:, epos].mean(axis=1)
    # group ------------------------------------------------------------------------------
    grp_est, grp_inf = [], []
    for gi in range(len(glist)):
        kg = np.flatnonzero((gidx == gi) & post)
        if len(kg) == 0:
            grp_est.append(np.nan)
            grp_inf.append(np.zeros(n))
            continue
        w = pg[kg] / pg[kg].sum()
        est_g, inf_g = agg(kg, w, wif_on=False)
        grp_est.append(est_g)
        grp_inf.append(inf_g)
    grp_est = np.array(grp_est)
    grp_inf_m = np.column_stack(grp_inf)
    okg = ~np.isnan(grp_est)
    wg = pg_group[okg] / pg_group[okg].sum()
    group_est = float(grp_est[okg] @ wg)
    wif_g = _wif(np.arange(okg.sum()), pg_group[okg], onehot[:, okg])
    group_inf = grp_inf_m[:, okg] @ wg + wif_g @ grp_est[okg]
    grp_se = se_of(grp_inf_m)
    overall_se = se_of(np.column_stack([simple_inf, dynamic_inf, group_inf]))
    overall = pd.DataFrame({"aggregation": ["simple", "dynamic", "group"],
                            "estimate": [simple_est, dynamic_est, group_est], "se": overall_se})
    overall["ci_lo"] = overall["estimate"] - z * overall["se"]
    overall["ci_hi"] = overall["estimate"] + z * overall["se"]

    # pre-trend test: R did's Wald test on the pre-period ATT(g,t)s where it is reliable, a
    # randomization test over the units' adoption dates where it is not (few units)
    pre = np.flatnonzero((~post) & ~is_ref)
    pre_p, W, stat, draws = float("nan"), float("nan"), float("nan"), 0
    if len(pre) == 0:
        test, reason = "none", "no pre-periods to test"
        notes.append(reason)
    else:
        # as R did: cells whose ATT has no sampling variance are left out of the Wald test
        pre_w = pre[(IF[:, pre] ** 2).sum(axis=0) > 1e-300]
        Vpre = IF[:, pre_w].T @ IF[:, pre_w] / n
        min_group = int(min(min(cells[k][5], cells[k][6]) for k in pre))
        reason = wald_problem(Vpre, len(pre_w), n, min_group) if len(pre_w) else "no pre-period ATT varies"
        if reason is None:
            test = "wald"
            W = float(n * att[pre_w] @ np.linalg.solve(Vpre, att[pre_w]))
            pre_p = float(stats.chi2.sf(W, len(pre_w)))
        else:
            rt = randomization_pretrend(Y[:, :tmax], G, control=control, anticipation=anticipation,
                                        draws=permutations, seed=seed)
            if rt is None:
                test, reason = "none", "no pre-periods to test"
                notes.append(reason)
            else:
                test = "randomization"
                pre_p, stat, draws = rt["p"], rt["stat"], rt["draws"]
                notes.append(f"pre-trend test by randomization over the units' adoption dates "
                             f"({'all ' if rt['exact'] else ''}{draws} re-assignments) because {reason}")

    lab = P.label
    att_gt = pd.DataFrame({"group": [lab(g) for g in gg], "time": [lab(t) for t in tt],
                           "base": [lab(b) for b in bb], "event_time": e_all, "estimate": att, "se": se_gt,
                           "n_treated": [c[5] for c in cells], "n_control": [c[6] for c in cells]})
    att_gt["ci_lo"] = att_gt["estimate"] - z * att_gt["se"]
    att_gt["ci_hi"] = att_gt["estimate"] + z * att_gt["se"]
    dynamic = pd.DataFrame({"event_time": eseq, "estimate": dyn_est, "se": dyn_se})
    dynamic["ci_lo"] = dynamic["estimate"] - z * dynamic["se"]
    dynamic["ci_hi"] = dynamic["estimate"] + z * dynamic["se"]
    if se_of.B:
        for frame, c in ((att_gt, crit_gt), (dynamic, crit_dyn)):
            frame["cband_lo"] = frame["estimate"] - c * frame["se"]
            frame["cband_hi"] = frame["estimate"] + c * frame["se"]
    group = pd.DataFrame({"group": [lab(g) for g in glist], "estimate": grp_est, "se": grp_se,
                          "n_units": onehot.sum(axis=0).astype(int)})
    group["ci_lo"] = group["estimate"] - z * group["se"]
    group["ci_hi"] = group["estimate"] + z * group["se"]

    row = overall.set_index("aggregation").loc[aggregation]
    est, se = float(row["estimate"]), float(row["se"])
    ci = normal_ci(est, se, alpha)
    # counterfactual mean of the treated cells, with the headline's weights
    ybar = np.array([Y[G == g, t].mean() for g, t in zip(gg, tt)])
    if aggregation == "simple":
        wcell = np.zeros(len(att))
        wcell[kp] = w_simple
    elif aggregation == "group":
        wcell = np.zeros(len(att))
        for j, gi in enumerate(np.flatnonzero(okg)):
            kg = np.flatnonzero((gidx == gi) & post)
            wcell[kg] += wg[j] * pg[kg] / pg[kg].sum()
    else:
        wcell = np.zeros(len(att))
        for e in eseq[epos]:
            ke = np.flatnonzero(e_all == e)
            wcell[ke] += pg[ke] / pg[ke].sum() / epos.sum()
    cf = float(wcell @ (ybar - att))
    rel, rel_ci = relative_effect(est, ci, cf, log_outcome=log_outcome)
    diag = {"pretrend_p": pre_p, "pretrend_test": test, "pretrend_W": W, "pretrend_stat": stat,
            "pretrend_draws": draws, "pretrend_cells": int(len(pre)), "n_units": n,
            "n_treated": int((~never).sum()), "n_never_treated": int(never.sum()), "n_periods": T,
            "n_cohorts": int(len(glist)), "control": control, "base_period": base_period,
            "se_method": (f"multiplier bootstrap ({bootstrap} draws, {multipliers} weights"
                          + (f", clustered by {cluster!r}, {se_of.G} clusters)" if clusters is not None else ")")
                          if bootstrap else "analytic influence function"),
            "n_clusters": se_of.G, "n_never_treated_clusters": n_cl_never,
            "uniform_crit_att_gt": crit_gt, "uniform_crit_dynamic": crit_dyn,
            "notes": notes}
    return CallawaySantAnnaResult(
        method="callaway_santanna", outcome=outcome, estimate=est, se=se, ci=ci, relative=rel, relative_ci=rel_ci,
        alpha=alpha, diagnostics=diag,
        details={"aggregation": aggregation, "overall": overall, "att_gt": att_gt, "dynamic": dynamic, "group": group})
