"""Geo experiments: choose test and control regions, size the test, analyse it afterwards.

:func:`design_geo_experiment`

* ``method="matched_pairs"``: candidate regions are described by their history's level
  (log mean outcome) and trend (slope relative to the level), standardised; the closest
  pairs are formed greedily (each region once) and the ``n_treated`` best-matched pairs
  enter the test; a seeded coin decides which region of a pair is treated.
* ``method="synthetic"``: ``n_treated`` regions are drawn at random ``candidates`` times;
  the draw whose synthetic control (all other candidates as donors) is most stable over the
  placebo windows is kept.

Power comes from the history itself. The design's analysis is run on ``n_windows``
placebo windows of ``test_periods`` periods in the past, where nothing happened; the spread of
those null estimates (for pairs also over random re-assignment within pairs, which is
exact: each pair's contribution flips sign) is the noise a real test will face. The minimum
detectable effect at power 1 − β and two-sided level α is ``(z_{1−α/2} + z_{1−β}) · sd_null``.

:func:`analyse_geo_experiment` analyses the test: the mean over pairs of each pair's DiD
(treated minus control, test period minus history) with a paired t interval and a placebo
p-value from the same windows in the history; or a synthetic control of the treated regions
on the control regions.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

import numpy as np
import pandas as pd
from scipy import stats

from ._base import ImpactResult, json_safe, new_figure, relative_effect
from ._panel import _unit_index, prepare, time_value
from .synth import simplex_ls, synthetic_control

__all__ = ["design_geo_experiment", "analyse_geo_experiment", "GeoDesign", "GeoResult"]


@dataclass(frozen=True, eq=False)
class GeoDesign:
    """A geo-experiment design: who is treated, who is control, and what the test can detect.

    Attributes
    ----------
    method : str
        "matched_pairs" or "synthetic".
    treatment, control : list
        Region ids.
    pairs : DataFrame or None
        ``treated``, ``control``, ``distance`` per pair (matched pairs only).
    mde : float
        Minimum detectable effect per region-period, in outcome units.
    mde_relative : float or None
        The same in percent of the treated regions' mean outcome.
    null_sd : float
        Standard deviation of the estimate when nothing happens (from placebo windows).
    placebo : DataFrame
        One row per placebo window: start, the design's estimate there.
    """

    method: str
    outcome: str
    treatment: list
    control: list
    pairs: Optional[pd.DataFrame]
    mde: float
    mde_relative: Optional[float]
    null_sd: float
    test_periods: int
    power: float
    alpha: float
    placebo: pd.DataFrame
    diagnostics: dict = field(default_factory=dict)

    def table(self) -> pd.DataFrame:
        """One row per region in the test: unit, group (treatment/control), pair."""
        if self.pairs is not None:
            rows = []
            for k, r in self.pairs.iterrows():
                rows.append({"unit": r["treated"], "group": "treatment", "pair": k + 1, "distance": r["distance"]})
                rows.append({"unit": r["control"], "group": "control", "pair": k + 1, "distance": r["distance"]})
            return pd.DataFrame(rows)
        return pd.DataFrame({"unit": list(self.treatment) + list(self.control),
                             "group": ["treatment"] * len(self.treatment) + ["control"] * len(self.control)})

    def summary(self) -> str:
        rel = f"{self.mde_relative:.1f} % {self.outcome} (" if self.mde_relative is not None else ""
        close = ")" if rel else f" {self.outcome}"
        return (f"geo design ({self.method.replace('_', ' ')}): {len(self.treatment)} treatment / "
                f"{len(self.control)} control regions; a {self.test_periods}-period test detects "
                f"{rel}{self.mde:,.4g} per region-period{close} with {100 * self.power:.0f} % power at "
                f"α = {self.alpha:g} (from {len(self.placebo)} placebo windows)")

    def to_dict(self) -> dict:
        return json_safe({"method": self.method, "outcome": self.outcome, "treatment": self.treatment,
                          "control": self.control, "pairs": self.pairs, "mde": self.mde,
                          "mde_relative_pct": self.mde_relative, "null_sd": self.null_sd,
                          "test_periods": self.test_periods, "power": self.power, "alpha": self.alpha,
                          "placebo": self.placebo, "diagnostics": self.diagnostics, "summary": self.summary()})

    def plot(self):
        fig, ax = new_figure()
        a = ax[0, 0]
        est = self.placebo["estimate"].to_numpy()
        a.hist(est, bins=min(30, max(5, len(est) // 2)), color="lightgrey", edgecolor="grey")
        for s in (-1, 1):
            a.axvline(s * self.mde, color="tab:red", ls="--")
        a.set_xlabel(f"placebo estimate ({self.outcome} per region-period); red: ± MDE")
        a.set_ylabel("windows")
        a.set_title(self.summary(), fontsize=8)
        return fig


def _features(Y: np.ndarray) -> np.ndarray:
    T = Y.shape[1]
    t = np.arange(T) - (T - 1) / 2
    level = Y.mean(axis=1)
    slope = (Y @ t) / (t @ t)
    if (Y > 0).all():
        f = np.column_stack([np.log(level), slope / level])
    else:
        f = np.column_stack([level, slope])
    sd = f.std(axis=0)
    sd[sd == 0] = 1.0
    return (f - f.mean(axis=0)) / sd


def _greedy_pairs(F: np.ndarray) -> list[tuple[int, int, float]]:
    n = len(F)
    D = np.sqrt(((F[:, None, :] - F[None, :, :]) ** 2).sum(axis=2))
    iu = np.triu_indices(n, 1)
    order = np.argsort(D[iu], kind="stable")
    used = np.zeros(n, dtype=bool)
    pairs = []
    for k in order:
        i, j = iu[0][k], iu[1][k]
        if used[i] or used[j]:
            continue
        used[i] = used[j] = True
        pairs.append((int(i), int(j), float(D[i, j])))
        if len(pairs) == n // 2:
            break
    return pairs


def _windows(T: int, L: int, n_windows: int, min_pre: int) -> np.ndarray:
    starts = np.arange(max(min_pre, 1), T - L + 1)
    if len(starts) == 0:
        raise ValueError(f"the history has {T} periods: too short for {L}-period placebo tests "
                         f"with {min_pre} periods before each")
    if len(starts) > n_windows:
        starts = np.unique(np.round(np.linspace(starts[0], starts[-1], n_windows)).astype(int))
    return starts


def _pair_deltas(Y: np.ndarray, tr: np.ndarray, co: np.ndarray, s: int, L: int) -> np.ndarray:
    diff = Y[tr] - Y[co]
    return diff[:, s:s + L].mean(axis=1) - diff[:, :s].mean(axis=1)


def _sc_window(Y: np.ndarray, tr: np.ndarray, donors: np.ndarray, s: int, L: int) -> float:
    y1 = Y[tr].mean(axis=0)
    w = simplex_ls(Y[donors][:, :s].T, y1[:s])
    return float((y1[s:s + L] - w @ Y[donors][:, s:s + L]).mean())


def design_geo_experiment(panel: pd.DataFrame, *, unit: str, time: str, outcome: str,
                          n_treated: Optional[int] = None, fraction: Optional[float] = None,
                          method: str = "matched_pairs", eligible: Optional[Iterable] = None,
                          exclude: Optional[Iterable] = None, test_periods: Optional[int] = None,
                          n_windows: int = 20, candidates: int = 10, power: float = 0.8,
                          alpha: float = 0.05, seed: Optional[int] = 0) -> GeoDesign:
    """Pick treatment and control regions from history and estimate the minimum detectable effect.

    Parameters
    ----------
    panel : DataFrame
        History only (before the test), long: unit, time, outcome.
    n_treated, fraction : int or float
        How many regions to treat (or the share of eligible regions); at most half of them
        for matched pairs.
    method : {"matched_pairs", "synthetic"}
    eligible, exclude : lists of unit ids, optional
        Restrict the candidate regions.
    test_periods : int, optional
        Length of the planned test (default: an eighth of the history, at least 1).
    n_windows : int
        Placebo windows in the history.
    candidates : int
        Random treated sets tried by ``method="synthetic"``.
    """
    if method not in ("matched_pairs", "synthetic"):
        raise ValueError(f"method must be 'matched_pairs' or 'synthetic', not {method!r}")
    if not 0 < power < 1 or not 0 < alpha < 1:
        raise ValueError("power and alpha must lie between 0 and 1")
    P = prepare(panel, unit=unit, time=time, outcome=outcome, need_treatment=False)
    cand = np.arange(P.n)
    if eligible is not None:
        cand = _unit_index(P.units, list(eligible), unit)
    if exclude is not None:
        ex = set(_unit_index(P.units, list(exclude), unit).tolist())
        cand = np.array([i for i in cand if i not in ex], dtype=int)
    nc = len(cand)
    if n_treated is None:
        if fraction is None:
            raise ValueError("give n_treated= or fraction=")
        if not 0 < fraction < 1:
            raise ValueError("fraction must lie between 0 and 1")
        n_treated = max(1, int(math.floor(fraction * nc)))
    n_treated = int(n_treated)
    cap = nc // 2 if method == "matched_pairs" else nc - 2
    if n_treated < 1 or n_treated > cap:
        raise ValueError(f"n_treated={n_treated} is not possible with {nc} candidate regions "
                         f"({method}: at most {cap})")
    T = P.T
    L = int(test_periods) if test_periods else max(1, T // 8)
    if L >= T:
        raise ValueError(f"test_periods={L} must be shorter than the history ({T} periods)")
    min_pre = max(L, 2)
    starts = _windows(T, L, n_windows, min_pre)
    rng = np.random.default_rng(seed)
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    Y = P.Y
    labels = P.units
    if method == "matched_pairs":
        F = _features(Y[cand])
        pairs = _greedy_pairs(F)[:n_treated]
        coin = rng.random(len(pairs)) < 0.5
        tr = np.array([cand[i] if c else cand[j] for (i, j, _), c in zip(pairs, coin)])
        co = np.array([cand[j] if c else cand[i] for (i, j, _), c in zip(pairs, coin)])
        deltas = np.array([_pair_deltas(Y, tr, co, s, L) for s in starts])      # windows × pairs
        est = deltas.mean(axis=1)
        # sign re-randomisation within pairs: Var = sum(delta²)/P² per window, exactly
        null_var = float(np.mean((deltas ** 2).sum(axis=1) / deltas.shape[1] ** 2))
        null_sd = math.sqrt(null_var)
        pair_df = pd.DataFrame({"treated": labels[tr], "control": labels[co], "distance": [p[2] for p in pairs]})
        control = list(labels[co])
    else:
        best = None
        for _ in range(max(1, candidates)):
            tr = np.sort(rng.choice(cand, size=n_treated, replace=False))
            donors = np.setdiff1d(cand, tr)
            est = np.array([_sc_window(Y, tr, donors, s, L) for s in starts])
            sd = math.sqrt(float(np.mean(est ** 2)))
            if best is None or sd < best[0]:
                best = (sd, tr, donors, est)
        null_sd, tr, donors, est = best
        pair_df = None
        control = list(labels[donors])
    mde = z * null_sd
    level = float(Y[tr].mean())
    mde_rel = 100 * mde / level if level > 0 else None
    placebo = pd.DataFrame({"window_start": [P.label(s) for s in starts], "estimate": est})
    diag = {"n_candidates": int(nc), "n_windows": int(len(starts)), "history_periods": T,
            "placebo_mean": float(np.mean(est)), "treated_mean_level": level, "notes": list(P.notes)}
    return GeoDesign(method=method, outcome=outcome, treatment=list(labels[tr]), control=control, pairs=pair_df,
                     mde=float(mde), mde_relative=mde_rel, null_sd=float(null_sd), test_periods=L, power=power,
                     alpha=alpha, placebo=placebo, diagnostics=diag)


@dataclass(frozen=True, eq=False)
class GeoResult(ImpactResult):
    """Matched-pair geo-experiment analysis; ``details["pairs"]`` holds each pair's DiD."""

    label = "mean pair DiD"

    def _title(self) -> str:
        return "geo experiment (matched pairs)"

    def table(self) -> pd.DataFrame:
        p = self.details["pairs"].rename(columns={"delta": "estimate"})
        p = p.assign(term="pair " + p["treated"].astype(str) + " vs " + p["control"].astype(str))
        return pd.concat([self._headline_frame(), p[["term", "estimate"]]], ignore_index=True, sort=False)

    def plot(self):
        fig, ax = new_figure(2, 1, figsize=(8, 7))
        m = self.details["means"]
        x = np.arange(len(m))
        a = ax[0, 0]
        a.plot(x, m["treated"], "o-", label="treatment regions")
        a.plot(x, m["control"], "s-", label="control regions")
        a.axvline(self.details["start_index"] - 0.5, color="grey", ls="--")
        a.legend(fontsize=8)
        a.set_ylabel(f"mean {self.outcome}")
        a.set_title(self.summary(), fontsize=8)
        b = ax[1, 0]
        d = self.details["pairs"]["delta"].to_numpy()
        b.bar(np.arange(len(d)), np.sort(d), color="tab:blue")
        b.axhline(self.estimate, color="tab:red", ls="--")
        b.set_ylabel("pair DiD (sorted)")
        return fig


def analyse_geo_experiment(panel: pd.DataFrame, *, unit: str, time: str, outcome: str, start: Any,
                           design: Optional[GeoDesign] = None, treated_units: Optional[Iterable] = None,
                           control_units: Optional[Iterable] = None, pairs: Optional[Iterable] = None,
                           end: Any = None, method: Optional[str] = None, alpha: float = 0.05,
                           seed: Optional[int] = 0, log_outcome: bool = False) -> ImpactResult:
    """Analyse a geo experiment from history plus the test period.

    Give the ``design`` from :func:`design_geo_experiment`, or ``pairs`` [(treated, control),
    ...], or ``treated_units`` and ``control_units`` (with ``method="synthetic"``, or paired in
    order). Periods after ``end`` are ignored.
    """
    method = method or (design.method if design is not None else ("matched_pairs" if pairs is not None else None))
    if design is not None:
        treated_units = design.treatment
        control_units = design.control
        if design.pairs is not None and pairs is None:
            pairs = list(zip(design.pairs["treated"], design.pairs["control"]))
    if method is None:
        method = "matched_pairs" if treated_units is not None and control_units is not None and \
            len(list(treated_units)) == len(list(control_units)) else "synthetic"
    df = panel
    if end is not None:
        P0 = prepare(panel, unit=unit, time=time, outcome=outcome, need_treatment=False)
        e = time_value(end, P0.kind, "end")
        from ._panel import time_keys
        keys, _ = time_keys(panel[time], time)
        df = panel.loc[keys <= e]
    if method == "synthetic":
        if treated_units is None or control_units is None:
            raise ValueError("give treated_units and control_units (or a design)")
        keep = set(map(str, treated_units)) | set(map(str, control_units))
        sub = df[df[unit].astype(str).isin(keep)]
        return synthetic_control(sub, unit=unit, time=time, outcome=outcome, treated_units=list(treated_units),
                                 start=start, seed=seed, alpha=alpha, log_outcome=log_outcome)
    if method != "matched_pairs":
        raise ValueError(f"method must be 'matched_pairs' or 'synthetic', not {method!r}")
    if pairs is None:
        if treated_units is None or control_units is None:
            raise ValueError("give pairs=[(treated, control), ...], treated_units + control_units, or a design")
        pairs = list(zip(treated_units, control_units))
    pairs = list(pairs)
    if not pairs:
        raise ValueError("no pairs to analyse")
    tlist = [p[0] for p in pairs]
    P = prepare(df, unit=unit, time=time, outcome=outcome, treated_units=tlist, start=start)
    tr = np.array([_unit_index(P.units, [p[0]], unit)[0] for p in pairs])
    co = np.array([_unit_index(P.units, [p[1]], unit)[0] for p in pairs])
    if set(tr) & set(co):
        raise ValueError("a region is both treated and control")
    g = int(P.cohort[tr[0]])
    L = P.T - g
    deltas = _pair_deltas(P.Y, tr, co, g, L)
    n = len(deltas)
    est = float(deltas.mean())
    if n >= 2:
        se = float(deltas.std(ddof=1) / math.sqrt(n))
        q = stats.t.ppf(1 - alpha / 2, n - 1)
        ci = (est - q * se, est + q * se)
    else:
        se, ci = float("nan"), (float("nan"), float("nan"))
    # placebo p-value: the same analysis on windows of the same length inside the history
    hist = P.Y[:, :g]
    placebo_p = float("nan")
    null = np.array([])
    if g >= L + 2:
        starts = _windows(g, L, 50, max(L, 2))
        null = np.array([_pair_deltas(hist, tr, co, s, L).mean() for s in starts])
        placebo_p = float((1 + np.sum(np.abs(null) >= abs(est))) / (1 + len(null)))
    cf = float(P.Y[tr, g:].mean()) - est
    rel, rel_ci = relative_effect(est, ci, cf, log_outcome=log_outcome)
    means = pd.DataFrame({"time": [P.label(i) for i in range(P.T)], "treated": P.Y[tr].mean(axis=0),
                          "control": P.Y[co].mean(axis=0)})
    diag = {"placebo_p": placebo_p, "n_pairs": n, "n_pre": g, "n_post": L, "n_placebo_windows": int(len(null)),
            "notes": list(P.notes)}
    return GeoResult(method="geo_matched_pairs", outcome=outcome, estimate=est, se=se, ci=ci, relative=rel,
                     relative_ci=rel_ci, alpha=alpha, diagnostics=diag,
                     details={"pairs": pd.DataFrame({"treated": P.units[tr], "control": P.units[co], "delta": deltas}),
                              "means": means, "start_index": g})
