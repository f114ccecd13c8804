"""Synthetic control (Abadie) and synthetic difference-in-differences (Arkhangelsky et al. 2021).

For one or a few treated regions and many untreated ones.

* :func:`synthetic_control` — non-negative donor weights summing to one that reproduce the
  treated units' (mean) pre-period outcome path; the effect is the post-period gap. Inference
  is placebo-in-space: every donor in turn is treated as if treated, and the p-value is the
  rank of the treated unit's post/pre RMSPE ratio among them (Abadie, Diamond & Hainmueller
  2010). The standard error is the root mean square of the placebo effects of donors that fit
  their own pre-period about as well (pre-RMSPE ≤ 5 × the treated one), so ``ci`` is a
  placebo interval.
* :func:`synthetic_did` — unit weights (ridge-penalised, with an intercept) and time weights
  found by Frank–Wolfe as in the authors' ``synthdid`` R package (including its
  sparsification step), the weighted DiD, and the placebo variance estimator.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Optional

import numpy as np
import pandas as pd
from scipy.optimize import nnls

from ._base import ImpactResult, new_figure, normal_ci, relative_effect
from ._panel import Panel, prepare

__all__ = ["synthetic_control", "synthetic_did", "SyntheticControlResult", "SyntheticDidResult", "simplex_ls"]


def simplex_ls(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """argmin ||A w − b||² over w ≥ 0, sum(w) = 1 (NNLS with a heavily weighted sum row).

    Centering both sides by the mean of ``b`` leaves the solution unchanged (the weights sum to
    one) and keeps the problem well scaled; the sum row carries 1000 × the data's scale, so
    the sum is exact to ~1e-7 before the final renormalisation.
    """
    A = np.asarray(A, dtype=float)
    b = np.asarray(b, dtype=float)
    J = A.shape[1]
    if J == 1:
        return np.ones(1)
    c = b.mean()
    Ac, bc = A - c, b - c
    s = max(np.abs(Ac).max(), np.abs(bc).max(), 1e-12)
    M = 1000.0 * s
    w, _ = nnls(np.vstack([Ac, np.full((1, J), M)]), np.r_[bc, M], maxiter=max(50 * J, 1000))
    tot = w.sum()
    if tot <= 0:
        return np.full(J, 1.0 / J)
    return w / tot


def _single_start(P: Panel) -> int:
    cohorts = np.unique(P.cohort[P.treated])
    if len(cohorts) == 0:
        raise ValueError("no treated units: nothing to estimate")
    if len(cohorts) > 1:
        raise ValueError(f"treated units start at {len(cohorts)} different dates "
                         f"({[P.label(c) for c in cohorts[:5]]}): these estimators need one start")
    if not (~P.treated).any():
        raise ValueError("no untreated (donor) units")
    return int(cohorts[0])


# ----------------------------------------------------------------------------------------
# synthetic control
# ----------------------------------------------------------------------------------------

def _draw_paths(a, res, x, treated_label: str, synthetic_label: str) -> None:
    """Top panel of the synthetic-control and synthetic-DiD plots: the treated path, its
    counterfactual and the start of treatment, titled with the result's summary."""
    p = res.details["path"]
    a.plot(x, p["treated"], "-", lw=2, label=treated_label)
    a.plot(x, p["synthetic"], "--", lw=2, label=synthetic_label)
    a.axvline(res.details["start_index"] - 0.5, color="grey", ls="--")
    a.set_ylabel(res.outcome)
    a.legend(fontsize=8)
    a.set_title(res.summary(), fontsize=8)


@dataclass(frozen=True, eq=False)
class SyntheticControlResult(ImpactResult):
    """Synthetic control. ``details``: ``weights`` (donor → weight), ``path`` (treated,
    synthetic, gap per period), ``placebos`` (per donor: effect, pre/post RMSPE, ratio)."""

    label = "mean post-period gap"

    def _title(self) -> str:
        return "synthetic control"

    def _checks(self) -> list[str]:
        out = super()._checks()
        r = self.diagnostics.get("pre_rmspe")
        if r is not None:
            out.append(f"pre-period fit RMSPE {r:,.3g}")
        return out

    def table(self) -> pd.DataFrame:
        w = self.details["weights"]
        w = w[w > 1e-4].sort_values(ascending=False)
        donors = pd.DataFrame({"term": ["weight " + str(k) for k in w.index], "estimate": w.to_numpy()})
        return pd.concat([self._headline_frame(), donors], ignore_index=True, sort=False)

    def plot(self):
        fig, ax = new_figure(2, 1, figsize=(8, 7))
        p = self.details["path"]
        x = np.arange(len(p))
        g = self.details["start_index"]
        _draw_paths(ax[0, 0], self, x, "treated", "synthetic control")
        b = ax[1, 0]
        for gap in self.details.get("_placebo_gaps", []):
            b.plot(x, gap, color="lightgrey", lw=0.7)
        b.plot(x, p["gap"], color="black", lw=2, label="treated − synthetic")
        b.axhline(0, color="grey", lw=0.8)
        b.axvline(g - 0.5, color="grey", ls="--")
        b.set_ylabel("gap (grey: placebos)")
        step = max(1, len(p) // 12)
        b.set_xticks(x[::step], [str(v) for v in p["time"].iloc[::step]], rotation=30, fontsize=7)
        return fig


def _sc_fit(Y0: np.ndarray, y1: np.ndarray, g: int):
    w = simplex_ls(Y0[:, :g].T, y1[:g])
    synth = w @ Y0
    gap = y1 - synth
    pre = math.sqrt(float(np.mean(gap[:g] ** 2)))
    post = math.sqrt(float(np.mean(gap[g:] ** 2)))
    return w, synth, gap, pre, post


def synthetic_control(panel: pd.DataFrame, *, unit: str, time: str, outcome: str,
                      treated_units: Optional[Iterable] = None, start: Any = None,
                      treatment: Optional[str] = None, first_treat: Optional[str] = None,
                      placebos: Optional[int] = 200, rmspe_cap: float = 5.0, seed: Optional[int] = 0,
                      alpha: float = 0.05, log_outcome: bool = False,
                      treated: Optional[str] = None) -> SyntheticControlResult:
    """Synthetic control for one treated unit (or the mean of a few) with placebo inference.

    Parameters
    ----------
    panel : DataFrame
        Balanced long panel.
    unit, time, outcome : str
        Column names.
    treated_units, start
        The treated unit(s) and the first treated period (or ``treatment`` / ``first_treat``
        with a single start date). Several treated units are averaged into one series.
    placebos : int or None
        Number of donors run as placebos (a seeded random subset when there are more);
        None runs every donor.
    rmspe_cap : float
        Placebos whose pre-period RMSPE exceeds ``rmspe_cap`` × the treated one's are left out of
        the standard error (they are kept in the rank p-value, whose ratio already scales by fit).

    Returns
    -------
    SyntheticControlResult
        ``estimate`` = mean post-period gap; ``diagnostics["placebo_p"]`` = rank p-value of the
        post/pre RMSPE ratio; ``se`` from the placebo effects.
    """
    treatment = treatment or treated
    P = prepare(panel, unit=unit, time=time, outcome=outcome, treatment=treatment, first_treat=first_treat,
                treated_units=treated_units, start=start)
    g = _single_start(P)
    tr = P.treated
    y1 = P.Y[tr].mean(axis=0)
    Y0 = P.Y[~tr]
    donors = P.units[~tr]
    w, synth, gap, pre_r, post_r = _sc_fit(Y0, y1, g)
    est = float(gap[g:].mean())
    ratio = post_r / pre_r if pre_r > 0 else float("inf")
    # placebo in space ----------------------------------------------------------------------
    J = Y0.shape[0]
    idx = np.arange(J)
    if placebos is not None and J > placebos:
        idx = np.sort(np.random.default_rng(seed).choice(J, size=placebos, replace=False))
    rows, gaps = [], []
    if J >= 3:
        for j in idx:
            keep = np.ones(J, dtype=bool)
            keep[j] = False
            _, _, gj, pj, qj = _sc_fit(Y0[keep], Y0[j], g)
            rows.append({"unit": donors[j], "effect": float(gj[g:].mean()), "pre_rmspe": pj, "post_rmspe": qj,
                         "ratio": qj / pj if pj > 0 else float("inf")})
            gaps.append(gj)
    plac = pd.DataFrame(rows, columns=["unit", "effect", "pre_rmspe", "post_rmspe", "ratio"])
    if len(plac):
        p = float((1 + (plac["ratio"] >= ratio).sum()) / (1 + len(plac)))
        good = plac[plac["pre_rmspe"] <= rmspe_cap * max(pre_r, 1e-12)]
        use = good if len(good) >= 5 else plac
        se = float(math.sqrt(np.mean(use["effect"].to_numpy() ** 2)))
    else:
        p, se = float("nan"), float("nan")
    ci = normal_ci(est, se, alpha)
    cf = float(synth[g:].mean())
    rel, rel_ci = relative_effect(est, ci, cf, log_outcome=log_outcome)
    diag = {"placebo_p": p, "pre_rmspe": pre_r, "post_rmspe": post_r, "rmspe_ratio": ratio,
            "fit_rmse": pre_r, "n_donors": int(J), "n_placebos": int(len(plac)), "n_treated": int(tr.sum()),
            "n_units": P.n, "n_periods": P.T, "n_pre": g, "n_post": P.T - g,
            "se_method": "placebo-in-space (RMS of placebo effects)", "notes": list(P.notes)}
    path = pd.DataFrame({"time": [P.label(i) for i in range(P.T)], "treated": y1, "synthetic": synth, "gap": gap})
    return SyntheticControlResult(
        method="synthetic_control", outcome=outcome, estimate=est, se=se, ci=ci, relative=rel, relative_ci=rel_ci,
        alpha=alpha, diagnostics=diag,
        details={"weights": pd.Series(w, index=donors, name="weight"), "path": path, "placebos": plac,
                 "_placebo_gaps": gaps[:100], "start_index": g})


# ----------------------------------------------------------------------------------------
# synthetic DiD
# ----------------------------------------------------------------------------------------

def _fw(A: np.ndarray, b: np.ndarray, x: np.ndarray, eta: float, zeta2: float, min_decrease: float,
        max_iter: int) -> np.ndarray:
    """Frank–Wolfe on the simplex for ||A x − b||² + eta ||x||² (synthdid's ``sc.weight.fw``)."""
    x = x.astype(float).copy()
    Ax = A @ x
    rows = A.shape[0]
    prev = None
    thresh = min_decrease ** 2
    for it in range(max_iter):
        r = Ax - b
        half_grad = r @ A + eta * x
        i = int(np.argmin(half_grad))
        d_x = -x
        d_x[i] = 1.0 - x[i]
        if not d_x.any():
            break
        d_err = A[:, i] - Ax
        den = d_err @ d_err + eta * (d_x @ d_x)
        # exact line search on the penalised objective: the slope along d_x is the whole
        # half-gradient (fit term and ridge term), as in synthdid's fw.step
        step = float(-(half_grad @ d_x) / den) if den > 0 else 0.0
        step = min(1.0, max(0.0, step))
        x += step * d_x
        Ax += step * d_err
        e = Ax - b
        val = zeta2 * (x @ x) + (e @ e) / rows
        if prev is not None and prev - val <= thresh:
            break
        prev = val
    return x


def _sparsify(v: np.ndarray) -> np.ndarray:
    v = np.where(v <= v.max(axis=-1, keepdims=True) / 4, 0.0, v)
    return v / v.sum(axis=-1, keepdims=True)


def _fw_gram(G: np.ndarray, c: np.ndarray, d: np.ndarray, X: np.ndarray, eta: np.ndarray, zeta2: np.ndarray,
             rows: int, min_decrease: np.ndarray, max_iter: int) -> np.ndarray:
    """The same Frank–Wolfe steps as :func:`_fw` on B problems at once, through Gram matrices.

    Problem b is ``||A_b x − b_b||² + eta_b ||x||²`` on the simplex with ``G = AᵀA``,
    ``c = Aᵀb``, ``d = bᵀb``; each step costs O(k) instead of O(rows·k), and problems that
    have converged stop moving.
    """
    X = X.astype(float).copy()
    B, k = X.shape
    Gx = np.einsum("bij,bj->bi", G, X)
    diagG = np.einsum("bii->bi", G)
    active = np.ones(B, dtype=bool)
    prev = np.full(B, np.nan)
    thresh = min_decrease ** 2
    ar = np.arange(B)
    for _ in range(max_iter):
        g = Gx - c + eta[:, None] * X
        i = np.argmin(g, axis=1)
        xi = X[ar, i]
        xGx = np.einsum("bi,bi->b", X, Gx)
        xx = np.einsum("bi,bi->b", X, X)
        # slope along d_x = e_i − x: fit term (A x − b)ᵀ A d_x plus ridge term eta xᵀ d_x
        r_dot = (Gx[ar, i] - c[ar, i]) - (xGx - np.einsum("bi,bi->b", X, c)) + eta * (xi - xx)
        dd = diagG[ar, i] - 2 * Gx[ar, i] + xGx
        dx2 = xx - 2 * xi + 1.0
        den = dd + eta * dx2
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.where(den > 0, -r_dot / den, 0.0)
        step = np.clip(step, 0.0, 1.0)
        step = np.where(active & (dx2 > 1e-300), step, 0.0)
        X *= (1 - step)[:, None]
        X[ar, i] += step
        Gx = (1 - step)[:, None] * Gx + step[:, None] * G[ar, i]     # row i = column i (G symmetric)
        xGx = np.einsum("bi,bi->b", X, Gx)
        val = zeta2 * np.einsum("bi,bi->b", X, X) + (xGx - 2 * np.einsum("bi,bi->b", X, c) + d) / rows
        done = (~np.isnan(prev)) & (prev - val <= thresh)
        active &= ~done
        prev = np.where(active, val, prev)
        if not active.any():
            break
    return X


def _weights_batch(mats: list, zeta: np.ndarray, inits: np.ndarray, min_decrease: np.ndarray,
                   max_iter: int, pre_sparsify: int = 100) -> np.ndarray:
    """synthdid's ``sc.weight.fw`` (intercept, 100 steps, sparsify, then up to ``max_iter``) for a
    batch of problems of one shape; each matrix has observations in rows and the target last."""
    G, c, d = [], [], []
    for M in mats:
        Mc = M - M.mean(axis=0, keepdims=True)
        A, b = Mc[:, :-1], Mc[:, -1]
        G.append(A.T @ A)
        c.append(A.T @ b)
        d.append(b @ b)
    G, c, d = np.array(G), np.array(c), np.array(d)
    rows = mats[0].shape[0]
    zeta = np.broadcast_to(np.asarray(zeta, dtype=float), (len(mats),))
    eta = rows * zeta ** 2
    X = _fw_gram(G, c, d, inits, eta, zeta ** 2, rows, min_decrease, pre_sparsify)
    X = _sparsify(X)
    return _fw_gram(G, c, d, X, eta, zeta ** 2, rows, min_decrease, max_iter)


def _sc_weight(Ymat: np.ndarray, zeta: float, init: np.ndarray, min_decrease: float, max_iter: int,
               pre_sparsify: int = 100) -> np.ndarray:
    """Ymat: rows = observations, last column = target; intercept via column demeaning."""
    k = Ymat.shape[1] - 1
    if k <= 3000:
        return _weights_batch([Ymat], zeta, init[None, :], np.array([min_decrease]), max_iter, pre_sparsify)[0]
    Yc = Ymat - Ymat.mean(axis=0, keepdims=True)
    A, b = Yc[:, :-1], Yc[:, -1]
    eta = Yc.shape[0] * zeta ** 2
    x = _fw(A, b, init, eta, zeta ** 2, min_decrease, pre_sparsify)
    x = _sparsify(x)
    return _fw(A, b, x, eta, zeta ** 2, min_decrease, max_iter)


def _noise(Y: np.ndarray, N0: int, T0: int) -> float:
    return float(np.std(np.diff(Y[:N0, :T0], axis=1), ddof=1)) if T0 > 1 else 0.0


def _sdid_core(Y: np.ndarray, N0: int, T0: int, *, zeta_omega: Optional[float] = None,
               omega0: Optional[np.ndarray] = None, lambda0: Optional[np.ndarray] = None,
               max_iter: int = 10000):
    N, T = Y.shape
    N1, T1 = N - N0, T - T0
    noise = _noise(Y, N0, T0)
    if zeta_omega is None:
        zeta_omega = ((N1 * T1) ** 0.25) * noise
    zeta_lambda = 1e-6 * noise
    min_dec = 1e-5 * noise if noise > 0 else 1e-12
    # time weights: controls' post mean on their pre-periods
    Yl = np.column_stack([Y[:N0, :T0], Y[:N0, T0:].mean(axis=1)])
    lam = _sc_weight(Yl, zeta_lambda, lambda0 if lambda0 is not None else np.full(T0, 1.0 / T0), min_dec, max_iter)
    # unit weights: treated pre mean on controls' pre paths
    Yo = np.column_stack([Y[:N0, :T0].T, Y[N0:, :T0].mean(axis=0)])
    om = _sc_weight(Yo, zeta_omega, omega0 if omega0 is not None else np.full(N0, 1.0 / N0), min_dec, max_iter)
    return _tau(Y, N0, T0, om, lam), om, lam, zeta_omega, noise


def _tau(Y, N0, T0, om, lam) -> float:
    N, T = Y.shape
    wu = np.r_[-om, np.full(N - N0, 1.0 / (N - N0))]
    wt = np.r_[-lam, np.full(T - T0, 1.0 / (T - T0))]
    return float(wu @ Y @ wt)


def _sdid_placebos(Y: np.ndarray, N0: int, T0: int, om: np.ndarray, lam: np.ndarray, zeta: float,
                   noise: float, reps: int, rng, max_iter: int = 10000) -> np.ndarray:
    """synthdid's placebo replications (``placebo_se``), the weight problems solved in batches.

    As in the reference, each replication keeps the original fit's tuning (ζ_ω, ζ_λ and the
    minimum decrease, all from the full panel's noise level) and starts Frank–Wolfe from the
    original time weights and the renormalised original unit weights of the kept controls.
    """
    N1 = Y.shape[0] - N0
    n0 = N0 - N1
    perms = [rng.permutation(N0) for _ in range(reps)]
    Yps = [Y[p] for p in perms]
    min_dec = np.full(reps, 1e-5 * noise if noise > 0 else 1e-12)
    lam_mats = [np.column_stack([Yp[:n0, :T0], Yp[:n0, T0:].mean(axis=1)]) for Yp in Yps]
    lams = _weights_batch(lam_mats, 1e-6 * noise, np.tile(lam, (reps, 1)), min_dec, max_iter)
    o0s = []
    for p in perms:
        o0 = om[p[:n0]]
        o0s.append(o0 / o0.sum() if o0.sum() > 0 else np.full(n0, 1.0 / n0))
    om_mats = [np.column_stack([Yp[:n0, :T0].T, Yp[n0:, :T0].mean(axis=0)]) for Yp in Yps]
    # unit-weight problems in batches whose Gram matrices stay within ~64 MB
    chunk = max(1, min(reps, int(8e6 // max(n0 * n0, 1))))
    oms = np.empty((reps, n0))
    for s in range(0, reps, chunk):
        sl = slice(s, min(reps, s + chunk))
        oms[sl] = _weights_batch(om_mats[sl], zeta, np.array(o0s[sl]), min_dec[sl], max_iter)
    return np.array([_tau(Yp, n0, T0, oms[r], lams[r]) for r, Yp in enumerate(Yps)])


@dataclass(frozen=True, eq=False)
class SyntheticDidResult(ImpactResult):
    """Synthetic DiD. ``details``: ``unit_weights``, ``time_weights``, ``path``, ``placebo_estimates``."""

    label = "SDID ATT"

    def _title(self) -> str:
        return "synthetic DiD"

    def table(self) -> pd.DataFrame:
        w = self.details["unit_weights"]
        w = w[w > 1e-4].sort_values(ascending=False)
        lam = self.details["time_weights"]
        lam = lam[lam > 1e-4]
        rows = pd.DataFrame({"term": ["unit weight " + str(k) for k in w.index] + ["time weight " + str(k) for k in lam.index],
                             "estimate": np.r_[w.to_numpy(), lam.to_numpy()]})
        return pd.concat([self._headline_frame(), rows], ignore_index=True, sort=False)

    def plot(self):
        fig, ax = new_figure(2, 1, figsize=(8, 7), sharex=True)
        p = self.details["path"]
        x = np.arange(len(p))
        g = self.details["start_index"]
        _draw_paths(ax[0, 0], self, x, "treated (mean)", "weighted controls + shift")
        b = ax[1, 0]
        lam = self.details["time_weights"].to_numpy()
        b.bar(x[:g], lam, color="tab:orange")
        b.set_ylabel("time weight λ")
        step = max(1, len(p) // 12)
        b.set_xticks(x[::step], [str(v) for v in p["time"].iloc[::step]], rotation=30, fontsize=7)
        return fig


def synthetic_did(panel: pd.DataFrame, *, unit: str, time: str, outcome: str,
                  treated_units: Optional[Iterable] = None, start: Any = None,
                  treatment: Optional[str] = None, first_treat: Optional[str] = None,
                  reps: int = 200, seed: Optional[int] = 0, alpha: float = 0.05,
                  log_outcome: bool = False, treated: Optional[str] = None) -> SyntheticDidResult:
    """Synthetic difference-in-differences (Arkhangelsky, Athey, Hirshberg, Imbens & Wager 2021).

    Unit weights ω (regularisation ζ = (N_tr·T_post)^¼ · σ, σ the SD of the controls'
    first differences before the start) and time weights λ are found by Frank–Wolfe with an
    intercept, as in ``synthdid``; the estimate is the ω/λ-weighted DiD. The standard error is
    the placebo estimator: ``reps`` times, a random set of controls plays the treated units,
    weights are re-fitted, and SE = sqrt((reps−1)/reps) · SD of those estimates; it needs more
    controls than treated units. ``reps=0`` skips it. ``diagnostics["placebo_p"]`` is the share
    of placebo estimates at least as large in absolute value as the estimate.
    """
    treatment = treatment or treated
    P = prepare(panel, unit=unit, time=time, outcome=outcome, treatment=treatment, first_treat=first_treat,
                treated_units=treated_units, start=start)
    g = _single_start(P)
    tr = P.treated
    Y = np.vstack([P.Y[~tr], P.Y[tr]])
    N0, T0 = int((~tr).sum()), g
    N1 = P.n - N0
    tau, om, lam, zeta, noise = _sdid_core(Y, N0, T0)
    rng = np.random.default_rng(seed)
    plac = []
    notes = list(P.notes)
    if reps and N0 > N1:
        plac = list(_sdid_placebos(Y, N0, T0, om, lam, zeta, noise, int(reps), rng))
        se = float(math.sqrt((reps - 1) / reps) * np.std(plac, ddof=1))
        pp = float((1 + np.sum(np.abs(plac) >= abs(tau))) / (1 + len(plac)))
    else:
        se, pp = float("nan"), float("nan")
        if reps:
            notes.append("placebo SE needs more control than treated units")
    ci = normal_ci(tau, se, alpha)
    y1 = Y[N0:].mean(axis=0)
    sc = om @ Y[:N0]
    shift = float(lam @ (y1[:T0] - sc[:T0]))
    synth = sc + shift
    fit_rmse = math.sqrt(float(np.mean((y1[:T0] - synth[:T0]) ** 2)))
    cf = float(y1[T0:].mean()) - tau
    rel, rel_ci = relative_effect(tau, ci, cf, log_outcome=log_outcome)
    diag = {"placebo_p": pp, "fit_rmse": fit_rmse, "noise_level": noise, "zeta_omega": zeta,
            "n_units": P.n, "n_treated": N1, "n_controls": N0, "n_periods": P.T, "n_pre": T0, "n_post": P.T - T0,
            "placebo_reps": len(plac), "se_method": "placebo", "notes": notes}
    path = pd.DataFrame({"time": [P.label(i) for i in range(P.T)], "treated": y1, "synthetic": synth})
    return SyntheticDidResult(
        method="synthetic_did", outcome=outcome, estimate=tau, se=se, ci=ci, relative=rel, relative_ci=rel_ci,
        alpha=alpha, diagnostics=diag,
        details={"unit_weights": pd.Series(om, index=P.units[~tr], name="omega"),
                 "time_weights": pd.Series(lam, index=[P.label(i) for i in range(T0)], name="lambda"),
                 "path": path, "placebo_estimates": np.asarray(plac), "start_index": g})
