"""Activity uplift from observational data: double/debiased machine learning (partially linear).

Model: ``Y = θ·D + g(X) + ε`` and ``D = m(X) + v`` (Chernozhukov et al. 2018). With K-fold
cross-fitting, flexible learners predict Y and D from the confounders X on the other folds;
θ is the slope of the Y-residuals on the D-residuals (the "partialling-out" orthogonal
score ψ = (Ỹ − θ·Ď)·Ď), and its standard error is ``sqrt(mean(ψ²) / mean(Ď²)² / n)``.
With ``n_repeats > 1`` the split is redrawn and θ and its variance are the medians over
splits (the paper's recipe).

Sensitivity (Cinelli & Hazlett 2020, applied to the final residual-on-residual regression):
the robustness value RV is the share of the residual variance of *both* the treatment and
the outcome (after the observed confounders) that an omitted confounder would have to
explain to bring the estimate to zero; ``rv_alpha`` is the share that would make it
statistically insignificant at ``alpha``. Small RVs (a few percent) mean a weak hidden
confounder could explain the effect away.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence, Union

import numpy as np
import pandas as pd
from scipy import stats

from ._base import ImpactResult, new_figure, normal_ci, relative_effect

__all__ = ["dml_uplift", "DmlResult", "robustness_value"]


def robustness_value(t_stat: float, dof: int, q: float = 1.0, alpha: Optional[float] = None) -> float:
    """Cinelli & Hazlett's RV_q (or RV_{q,alpha}) from a t-statistic and residual degrees of freedom."""
    f = abs(t_stat) / math.sqrt(dof)
    fq = q * f
    if alpha is not None:
        fq = fq - stats.t.ppf(1 - alpha / 2, dof - 1) / math.sqrt(dof - 1)
        if fq <= 0:
            return 0.0
    return float(0.5 * (math.sqrt(fq ** 4 + 4 * fq ** 2) - fq ** 2))


_LINEAR_PLUS = None


def _linear_plus_trees():
    """The class of :func:`_learner`'s tree learners: a standardised ridge regression, then the
    trees on its residuals (built on first use, so importing this module does not import
    scikit-learn)."""
    global _LINEAR_PLUS
    if _LINEAR_PLUS is None:
        from sklearn.base import BaseEstimator, RegressorMixin, clone
        from sklearn.linear_model import RidgeCV
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        class LinearPlusTrees(RegressorMixin, BaseEstimator):
            """Ridge (standardised columns, alpha by leave-one-out CV) plus trees on its residuals.

            Trees fit steps, so a confounder acting linearly on a long-tailed scale (annual
            revenue in dollars) is approximated badly where the data thin out, and the residual
            confounding biases θ; the linear part takes that trend, the trees the rest.
            """

            def __init__(self, trees=None):
                self.trees = trees

            def fit(self, X, y):
                self.linear_ = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13))).fit(X, y)
                self.trees_ = clone(self.trees).fit(X, y - self.linear_.predict(X))
                return self

            def predict(self, X):
                return self.linear_.predict(X) + self.trees_.predict(X)

        _LINEAR_PLUS = LinearPlusTrees
    return _LINEAR_PLUS


def _learner(spec, seed):
    """A fresh nuisance learner: "gbm" and "rf" are trees on top of a linear fit, "lasso" is
    LassoCV on standardised columns, anything else is cloned as given."""
    from sklearn.base import clone
    from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
    from sklearn.linear_model import LassoCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if spec is None or spec == "gbm":
        return _linear_plus_trees()(HistGradientBoostingRegressor(
            max_iter=500, learning_rate=0.05, early_stopping=True, validation_fraction=0.2,
            n_iter_no_change=20, random_state=seed))
    if spec == "rf":
        return _linear_plus_trees()(RandomForestRegressor(
            n_estimators=300, min_samples_leaf=5, max_features=0.5, n_jobs=1, random_state=seed))
    if spec == "lasso":
        # Standardise first: the L1 penalty is not scale-free. On raw columns (revenue in
        # dollars next to 0/1 dummies) one alpha shrinks the small-scale columns to zero and
        # leaves the large ones unpenalised, so the nuisance models miss the confounders.
        return make_pipeline(StandardScaler(), LassoCV(cv=5, max_iter=20_000, random_state=seed))
    if isinstance(spec, str):
        raise ValueError(f"learner must be 'gbm', 'rf', 'lasso' or a scikit-learn regressor, not {spec!r}")
    return clone(spec)


@dataclass(frozen=True, eq=False)
class DmlResult(ImpactResult):
    """DML partially linear model; ``estimate`` is θ, the effect of one more unit of treatment."""

    label = "θ (per unit of treatment)"

    def _title(self) -> str:
        return "DML uplift"

    def _per(self) -> str:
        return f"per unit of {self.details.get('treatment_name', 'treatment')}"

    def _checks(self) -> list[str]:
        d = self.diagnostics
        out = []
        if d.get("naive_estimate") is not None:
            out.append(f"naive regression {d['naive_estimate']:+,.4g}")
        if d.get("robustness_value") is not None:
            out.append(f"robustness value {100 * d['robustness_value']:.1f} %")
        return out

    def table(self) -> pd.DataFrame:
        d = self.diagnostics
        rows = pd.DataFrame([
            {"term": "naive OLS (no controls)", "estimate": d["naive_estimate"], "se": d["naive_se"]},
            {"term": "OLS with linear controls", "estimate": d["linear_estimate"], "se": d["linear_se"]},
        ])
        return pd.concat([self._headline_frame(), rows], ignore_index=True, sort=False)

    def plot(self):
        fig, ax = new_figure(1, 2, figsize=(10, 4.5))
        r = self.details["_residuals"]
        a = ax[0, 0]
        a.scatter(r["d_res"], r["y_res"], s=4, alpha=0.3)
        xs = np.linspace(r["d_res"].min(), r["d_res"].max(), 10)
        a.plot(xs, self.estimate * xs, color="tab:red", label=f"θ = {self.estimate:,.4g}")
        a.set_xlabel("treatment residual (after X)")
        a.set_ylabel("outcome residual (after X)")
        a.legend(fontsize=8)
        b = ax[0, 1]
        d = self.diagnostics
        names = ["naive", "linear controls", "DML"]
        est = [d["naive_estimate"], d["linear_estimate"], self.estimate]
        se = [d["naive_se"], d["linear_se"], self.se]
        z = stats.norm.ppf(1 - self.alpha / 2)
        b.errorbar(range(3), est, yerr=[z * s for s in se], fmt="o", capsize=4)
        b.set_xticks(range(3), names)
        b.axhline(0, color="grey", lw=0.8)
        fig.suptitle(self.summary(), fontsize=8)
        return fig


def _crossfit(yv, dv, Xv, learner, learner_m, n_folds, n_repeats, seed, KFold):
    n = len(yv)
    thetas, variances, yres_all, dres_all, r2y, r2d = [], [], None, None, [], []
    for rep in range(n_repeats):
        rs = None if seed is None else seed + rep
        kf = KFold(n_splits=n_folds, shuffle=True, random_state=rs)
        yhat = np.empty(n)
        dhat = np.empty(n)
        for tr_idx, te_idx in kf.split(Xv):
            ml = _learner(learner, rs).fit(Xv[tr_idx], yv[tr_idx])
            mm = _learner(learner_m if learner_m is not None else learner, rs).fit(Xv[tr_idx], dv[tr_idx])
            yhat[te_idx] = ml.predict(Xv[te_idx])
            dhat[te_idx] = mm.predict(Xv[te_idx])
        yr, dr = yv - yhat, dv - dhat
        theta = float((dr @ yr) / (dr @ dr))
        psi = (yr - theta * dr) * dr
        J = float(np.mean(dr ** 2))
        var = float(np.mean(psi ** 2) / J ** 2 / n)
        thetas.append(theta)
        variances.append(var)
        r2y.append(1 - np.var(yr) / np.var(yv))
        r2d.append(1 - np.var(dr) / np.var(dv))
        if rep == 0:
            yres_all, dres_all = yr, dr
    return thetas, variances, yres_all, dres_all, r2y, r2d


def dml_uplift(y, d=None, X=None, *, outcome: Optional[str] = None, treatment: Optional[str] = None,
               covariates: Optional[Sequence[str]] = None, learner: Union[str, object] = "gbm",
               learner_m: Union[str, object, None] = None, n_folds: int = 5, n_repeats: int = 1,
               seed: Optional[int] = 0, alpha: float = 0.05, n_threads: Optional[int] = 1) -> DmlResult:
    """Effect of a continuous or binary activity (visits, calls) on an outcome, confounders X.

    Parameters
    ----------
    y, d, X : arrays
        Outcome (n), treatment (n) and confounders (n × p). Or pass a DataFrame as ``y`` with
        ``outcome=``, ``treatment=`` and ``covariates=`` column names (non-numeric covariates
        are one-hot encoded).
    learner : "gbm", "rf", "lasso" or a scikit-learn regressor
        For E[Y|X]; ``learner_m`` for E[D|X] (default: the same kind). "gbm" (gradient
        boosting) and "rf" (random forest) fit the residuals of a ridge regression on
        standardised columns, "lasso" is LassoCV on standardised columns; a regressor you pass
        is used as given (standardise it yourself if it is scale-sensitive).
    n_folds : int
        Cross-fitting folds.
    n_repeats : int
        Independent sample splits; estimates are combined by the median.
    n_threads : int or None
        Native threads the learners may use (OpenMP/BLAS); 1 by default, which is fastest on a
        shared machine and keeps results reproducible. None leaves the library default.

    Returns
    -------
    DmlResult
        ``estimate`` = θ with its orthogonal-score SE; diagnostics: naive and linear-OLS
        estimates, nuisance R², robustness values.
    """
    from sklearn.model_selection import KFold

    tname = "treatment"
    if isinstance(y, pd.DataFrame):
        df = y
        if outcome is None or treatment is None or covariates is None:
            raise ValueError("with a DataFrame, give outcome=, treatment= and covariates= column names")
        from ._panel import numeric_column, require_columns
        require_columns(df, {"outcome": outcome, "treatment": treatment})
        for c in covariates:
            require_columns(df, {"covariate": c})
        yv = numeric_column(df, outcome, "outcome")
        dv = numeric_column(df, treatment, "treatment")
        Xdf = df[list(covariates)]
        Xv = pd.get_dummies(Xdf, drop_first=True, dtype=float).to_numpy(dtype=float)
        oname, tname = outcome, treatment
    else:
        if d is None or X is None:
            raise ValueError("give y, d and X arrays (or a DataFrame with column names)")
        yv = np.asarray(y, dtype=float).ravel()
        dv = np.asarray(d, dtype=float).ravel()
        Xv = np.asarray(X, dtype=float)
        if Xv.ndim == 1:
            Xv = Xv[:, None]
        oname = outcome or "outcome"
        tname = treatment or "treatment"
    n = len(yv)
    if len(dv) != n or Xv.shape[0] != n:
        raise ValueError(f"y, d and X must have the same number of rows ({n}, {len(dv)}, {Xv.shape[0]})")
    ok = np.isfinite(yv) & np.isfinite(dv) & np.isfinite(Xv).all(axis=1)
    notes = []
    if not ok.all():
        notes.append(f"{int((~ok).sum())} row(s) with missing values dropped")
        yv, dv, Xv = yv[ok], dv[ok], Xv[ok]
        n = len(yv)
    if n < 2 * n_folds:
        raise ValueError(f"{n} rows are too few for {n_folds}-fold cross-fitting")
    if np.std(dv) == 0:
        raise ValueError(f"treatment {tname!r} does not vary")

    from contextlib import nullcontext

    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=n_threads) if n_threads else nullcontext():
        thetas, variances, yres, dres, r2y, r2d = _crossfit(yv, dv, Xv, learner, learner_m, n_folds, n_repeats,
                                                            seed, KFold)
    yres_all, dres_all = yres, dres
    thetas = np.array(thetas)
    theta = float(np.median(thetas))
    var = float(np.median(np.array(variances) + (thetas - theta) ** 2))
    se = math.sqrt(var)
    ci = normal_ci(theta, se, alpha)
    # naive comparisons (statsmodels OLS, HC1)
    import statsmodels.api as sm
    naive = sm.OLS(yv, sm.add_constant(dv)).fit(cov_type="HC1")
    lin = sm.OLS(yv, sm.add_constant(np.column_stack([dv, Xv]))).fit(cov_type="HC1")
    t_stat = theta / se
    dof = n - 1
    rv = robustness_value(t_stat, dof)
    rva = robustness_value(t_stat, dof, alpha=alpha)
    ybar = float(np.mean(yv))
    rel, rel_ci = relative_effect(theta, ci, ybar)
    diag = {"naive_estimate": float(naive.params[1]), "naive_se": float(naive.bse[1]),
            "linear_estimate": float(lin.params[1]), "linear_se": float(lin.bse[1]),
            "robustness_value": rv, "robustness_value_alpha": rva,
            "sensitivity_note": (f"an omitted confounder would have to explain {100 * rv:.1f} % of the residual "
                                 f"variance of both {tname} and {oname} to bring the effect to zero, and "
                                 f"{100 * rva:.1f} % to make it insignificant at {alpha:g}"),
            "r2_outcome_model": float(np.median(r2y)), "r2_treatment_model": float(np.median(r2d)),
            "n": n, "n_folds": n_folds, "n_repeats": n_repeats, "learner": str(learner),
            "theta_by_split": thetas.tolist(), "notes": notes}
    return DmlResult(method="dml_uplift", outcome=oname, estimate=theta, se=se, ci=ci, relative=rel,
                     relative_ci=rel_ci, alpha=alpha, diagnostics=diag,
                     details={"treatment_name": tname,
                              "_residuals": pd.DataFrame({"y_res": yres_all, "d_res": dres_all})})
