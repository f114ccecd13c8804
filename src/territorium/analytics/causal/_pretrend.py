"""The pre-trend test: a joint Wald test where it is reliable, a randomization test otherwise.

The usual pre-trend test is a Wald test that every pre-period estimate (event-study leads, or
Callaway–Sant'Anna's pre-period ATT(g,t)s) is zero, with a covariance estimated from the units
(clusters). It breaks down with few units:

* the covariance of q estimates computed from G clusters has rank at most G − 1, so with more
  leads than clusters it is **singular**. A pseudo-inverse then silently drops most of the
  restrictions while the reference distribution still counts all q of them, and the p-value
  is ≈ 1 whatever the data (or, when round-off leaves tiny non-zero eigenvalues, ≈ 0);
* even when it is invertible, a chi-square / F reference needs many clusters per restriction
  (with G = 2q the Hotelling factor doubles the statistic's null mean), and with fewer than
  about five treated (or control) units the variance of their side is barely estimated — with
  one control unit it is not estimated at all.

:func:`wald_problem` says why the Wald test cannot be trusted (or ``None`` when it can); the
estimators then run :func:`randomization_pretrend`, a randomization test over the units'
adoption dates:

1. the estimated effect of every post-adoption cell (cohort g, period t ≥ g: the 2×2 DiD of the
   cohort against the controls between g − 1 and t, exactly Callaway–Sant'Anna's ATT(g,t)) is
   subtracted from the cohort's units, so that post-adoption periods hold estimates of the
   untreated outcome (otherwise a re-assignment that makes an early adopter a "late" one would
   count its treatment effect as a pre-trend, and p would drift to 1 as effects grow);
2. the statistic is the sum of squares of the pre-period gaps by event time: for every cohort g
   and period t < g − 1, the cohort's change from t to g − 1 minus the controls' change, averaged
   over cohorts with cohort-size weights (the grey points of an event-study plot, against the
   period before adoption). In levels, a gradual pre-trend adds up over the pre-periods;
3. the units' cohorts (the "never treated" label included) are re-assigned at random among the
   units (every distinct re-assignment when there are at most ``draws`` of them, else ``draws``
   seeded random ones, with the +1 correction of Phipson & Smyth 2010), the statistic is
   recomputed for each, and p is the share at least as large as the observed one.

With exchangeable units it needs no covariance and no large-sample approximation; step 1 makes
it approximately rather than exactly valid (simulated: p-values uniform within noise, with
effects of any size). With no pre-periods at all there is nothing to test and the result says
"no pre-periods to test" instead of reporting a p-value.
"""
from __future__ import annotations

import math
from itertools import combinations
from typing import Callable, Iterator, Optional

import numpy as np

from ._panel import NEVER

#: The Wald test needs at least this many clusters per restriction.
MIN_CLUSTERS_PER_LEAD = 10
#: ... and at least this many units on each side of every pre-period comparison.
MIN_GROUP = 5
#: Default number of random re-assignments of the randomization test.
DRAWS = 999


def wald_problem(V: np.ndarray, q: int, n_clusters: int, min_group: int) -> Optional[str]:
    """Why the Wald test of ``q`` restrictions with covariance ``V`` is unreliable, or None."""
    if q == 0:
        return "no pre-periods to test"
    V = np.asarray(V, dtype=float)
    if not np.isfinite(V).all():
        return "the covariance of the pre-period estimates has missing values"
    ev = np.linalg.eigvalsh((V + V.T) / 2)
    top = float(ev.max()) if ev.size else 0.0
    rank = int((ev > 1e-10 * max(top, 1e-300)).sum()) if top > 0 else 0
    if rank < q:
        return (f"the covariance of the {q} pre-period estimates is singular (rank {rank}, "
                f"{n_clusters} clusters)")
    if n_clusters < MIN_CLUSTERS_PER_LEAD * q:
        return (f"{n_clusters} clusters are too few for a Wald test of {q} pre-period estimates "
                f"(needs {MIN_CLUSTERS_PER_LEAD} per estimate)")
    if min_group < MIN_GROUP:
        return (f"a treated or control group has only {min_group} unit(s) (needs {MIN_GROUP}) for "
                "its variance")
    return None


def n_assignments(labels: np.ndarray) -> int:
    """Number of distinct re-assignments of ``labels`` among the positions (multinomial)."""
    _, counts = np.unique(labels, return_counts=True)
    total, left = 1, int(counts.sum())
    for c in counts:
        total *= math.comb(left, int(c))
        left -= int(c)
    return total


def _all_assignments(labels: np.ndarray) -> Iterator[np.ndarray]:
    vals, counts = np.unique(labels, return_counts=True)
    n = len(labels)

    def rec(free: tuple, k: int, out: np.ndarray):
        if k == len(vals) - 1:
            out[list(free)] = vals[k]
            yield out.copy()
            return
        for pos in combinations(free, int(counts[k])):
            out[list(pos)] = vals[k]
            taken = set(pos)
            yield from rec(tuple(f for f in free if f not in taken), k + 1, out)

    yield from rec(tuple(range(n)), 0, np.empty(n, dtype=labels.dtype))


def randomization_p(stat: Callable[[np.ndarray], float], labels: np.ndarray, *, draws: int = DRAWS,
                    seed: Optional[int] = 0) -> tuple[float, float, int, bool]:
    """Randomization p-value of ``stat(labels)`` (large = evidence against the null).

    ``labels`` holds one adoption label per exchangeable block (unit or cluster). Returns
    ``(p, observed statistic, re-assignments used, exact)``.
    """
    labels = np.asarray(labels)
    obs = float(stat(labels))
    tol = 1e-9 * max(abs(obs), 1e-300)
    total = n_assignments(labels)
    if total <= max(int(draws), 1):
        vals = np.array([stat(a) for a in _all_assignments(labels)])
        return float(np.mean(vals >= obs - tol)), obs, int(total), True
    rng = np.random.default_rng(seed)
    vals = np.array([stat(rng.permutation(labels)) for _ in range(int(draws))])
    return float((1 + np.sum(vals >= obs - tol)) / (draws + 1)), obs, int(draws), False


def effect_free(Y: np.ndarray, cohort: np.ndarray, control: str = "never",
                anticipation: int = 0) -> np.ndarray:
    """``Y`` (units × periods) with each post-adoption cell's estimated effect subtracted.

    For cohort g (base b = g − 1 − anticipation) and t > b the effect is the cohort's mean
    change from b to t minus the controls' (never treated, or also not yet treated by
    max(t, b) + anticipation with ``control="notyet"``); cells without controls stay as they are.
    """
    Y0 = np.array(Y, dtype=float, copy=True)
    n, T = Y0.shape
    never = cohort == NEVER
    for g in np.unique(cohort[~never]):
        b = int(g) - 1 - anticipation
        if b < 0:
            continue
        tr = cohort == g
        dtr = Y[tr, b + 1:] - Y[tr, b][:, None]
        if control == "never":
            if not never.any():
                continue
            dc = (Y[never, b + 1:] - Y[never, b][:, None]).mean(axis=0)
            Y0[tr, b + 1:] -= (dtr.mean(axis=0) - dc)[None, :]
            continue
        for j, t in enumerate(range(b + 1, T)):
            c = (never | (cohort > max(t, b) + anticipation)) & ~tr
            if c.any():
                Y0[tr, t] -= dtr[:, j].mean() - (Y[c, t] - Y[c, b]).mean()
    return Y0


def level_gap_statistic(Y: np.ndarray, glist: np.ndarray, weights: np.ndarray, control: str = "never",
                        anticipation: int = 0):
    """The randomization test's statistic as a function of the cohort vector (see the module doc).

    ``glist``: the treated cohorts (period indices); ``weights``: their shares of the units (a
    re-assignment keeps cohort sizes, so the cells, the control groups' sizes and the weights
    stay the same). Returns ``(stat, gaps)``, both functions of the cohort vector, and ``gaps``
    has one entry per (cohort, pre-period) cell; ``stat`` is None when there is no such cell.
    """
    glist = np.asarray(glist)
    codes = np.r_[glist, NEVER]
    gg, tt, bb = [], [], []
    for g in glist:
        b = int(g) - 1 - anticipation
        for t in range(0, max(b, 0)):
            gg.append(int(g))
            tt.append(t)
            bb.append(b)
    gg, tt, bb = np.array(gg, dtype=int), np.array(tt, dtype=int), np.array(bb, dtype=int)
    K = len(gg)
    gcode = np.searchsorted(glist, gg)
    ctrl = np.zeros((len(codes), K))
    ctrl[-1] = 1.0
    if control == "notyet":
        for k in range(K):
            ctrl[:-1, k] = (glist > max(tt[k], bb[k]) + anticipation) & (glist != gg[k])
    ee = tt - gg
    es = np.unique(ee)
    A = np.zeros((len(es), K))
    w = np.asarray(weights, dtype=float)[gcode]
    for j, e in enumerate(es):
        m = ee == e
        A[j, m] = w[m] / w[m].sum()

    def gaps(G: np.ndarray) -> np.ndarray:
        onehot = (G[:, None] == codes[None, :]).astype(float)       # n × codes
        size = onehot.sum(axis=0)
        S = onehot.T @ Y                                            # codes × T
        dS = S[:, tt] - S[:, bb]                                    # codes × K
        treat = dS[gcode, np.arange(K)] / size[gcode]
        nctrl = (ctrl * size[:, None]).sum(axis=0)
        cmean = (ctrl * dS).sum(axis=0) / np.where(nctrl > 0, nctrl, np.nan)
        return treat - cmean

    def stat(G: np.ndarray) -> float:
        return float(np.nansum((A @ np.nan_to_num(gaps(G))) ** 2))

    return (stat if K else None), gaps


def randomization_pretrend(Y: np.ndarray, cohort: np.ndarray, *, control: str = "never",
                           anticipation: int = 0, blocks: Optional[np.ndarray] = None,
                           draws: int = DRAWS, seed: Optional[int] = 0) -> Optional[dict]:
    """Randomization pre-trend test (module doc) on ``Y`` (units × periods) with ``cohort`` (period
    index of adoption, ``NEVER`` for never treated). ``blocks`` (one code per unit) re-assigns
    adoption dates by block (cluster) instead of by unit; every block must then share one
    cohort. Returns None when no cohort has a period before its base period (nothing to test),
    else a dict with ``p``, ``stat``, ``draws``, ``exact``.
    """
    cohort = np.asarray(cohort)
    glist = np.unique(cohort[cohort != NEVER])
    shares = np.array([(cohort == g).mean() for g in glist])
    Y0 = effect_free(Y, cohort, control, anticipation)
    stat, _ = level_gap_statistic(Y0, glist, shares, control, anticipation)
    if stat is None:
        return None
    if blocks is None:
        p, obs, used, exact = randomization_p(stat, cohort, draws=draws, seed=seed)
    else:
        codes = np.unique(blocks, return_inverse=True)[1].ravel()
        first = np.zeros(codes.max() + 1, dtype=int)
        first[codes[::-1]] = np.arange(len(codes))[::-1]
        labels = cohort[first]
        p, obs, used, exact = randomization_p(lambda lab: stat(lab[codes]), labels, draws=draws, seed=seed)
    return {"p": p, "stat": obs, "draws": used, "exact": exact}
