"""The result type every causal estimator returns, and its plain-language summary.

Results are frozen dataclasses: the headline number (``estimate``), its standard error and
confidence interval, the effect relative to the counterfactual mean, a ``diagnostics``
dict, and per-estimator detail tables. ``table()`` gives a DataFrame, ``summary()`` one line
of plain language, ``to_dict()`` a JSON-safe dict and ``plot()`` a matplotlib ``Figure``
(drawn on the Agg canvas; nothing is written anywhere).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["ImpactResult", "draw_event_study", "json_safe", "new_figure"]


def new_figure(nrows: int = 1, ncols: int = 1, *, figsize=(8.0, 4.5), sharex: bool = False):
    """A matplotlib Figure on the Agg canvas (no pyplot, no global state) and its axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, sharex=sharex, squeeze=False)
    return fig, axes


def draw_event_study(a, coef, *, ylabel: str, xlabel: str = "periods since adoption",
                     labels=("before adoption", "after adoption")) -> None:
    """Event-time estimates with their intervals on axes ``a``: pre-periods grey, post blue,
    a zero line and a dashed line where adoption starts. ``coef``: ``event_time``,
    ``estimate``, ``ci_lo``, ``ci_hi``."""
    pre = coef["event_time"] < 0
    for mask, colour, lab in ((pre, "tab:grey", labels[0]), (~pre, "tab:blue", labels[1])):
        c = coef[mask]
        a.errorbar(c["event_time"], c["estimate"], yerr=[c["estimate"] - c["ci_lo"], c["ci_hi"] - c["estimate"]],
                   fmt="o", capsize=3, color=colour, label=lab)
    a.axhline(0, color="black", lw=0.8)
    a.axvline(-0.5, color="grey", ls="--", lw=0.8)
    a.set_xlabel(xlabel)
    a.set_ylabel(ylabel)
    a.legend(fontsize=8)


def json_safe(obj: Any) -> Any:
    """Turn numpy scalars, NaN, tuples, DataFrames and Timestamps into JSON-ready values."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, (pd.Timestamp, np.datetime64)):
        return str(pd.Timestamp(obj).date()) if pd.Timestamp(obj) == pd.Timestamp(obj).normalize() else str(pd.Timestamp(obj))
    if isinstance(obj, pd.Period):
        return str(obj)
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [json_safe(v) for v in obj.tolist()]
    if isinstance(obj, pd.DataFrame):
        return [json_safe(r) for r in obj.to_dict(orient="records")]
    if isinstance(obj, pd.Series):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if dataclasses.is_dataclass(obj):
        return json_safe(obj.to_dict() if hasattr(obj, "to_dict") else dataclasses.asdict(obj))
    return str(obj)


def _fmt_signed(x: float, digits: int) -> str:
    """+4.1 / −0.040 with a real minus sign."""
    if x is None or not math.isfinite(x):
        return "n/a"
    s = f"{x:+,.{digits}f}"
    return s.replace("-", "\u2212")


def _digits(values) -> int:
    """Enough decimals to show the interval's width with two significant figures."""
    vals = [abs(v) for v in values if v is not None and math.isfinite(v) and v != 0]
    if not vals:
        return 2
    m = min(vals)
    return int(min(6, max(0, 1 - math.floor(math.log10(m)))))


@dataclass(frozen=True, eq=False)
class ImpactResult:
    """What every causal estimator returns.

    Attributes
    ----------
    method : str
        Short name of the estimator ("did", "twfe", "callaway_santanna", ...).
    outcome : str
        Name of the outcome column (for the summary line).
    estimate : float
        The headline effect, in outcome units (per unit-period; per treatment unit for DML).
    se : float
        Its standard error (NaN when the method has none).
    ci : tuple of float
        ``(lo, hi)`` at level ``1 - alpha``.
    relative : float or None
        The effect in percent of the counterfactual mean (None where that means nothing).
    relative_ci : tuple of float or None
        The interval on the same percent scale.
    alpha : float
        Significance level of ``ci``.
    diagnostics : dict
        Checks and counts: ``pretrend_p``, ``placebo_p``, ``fit_rmse``, ``n_units``,
        ``n_periods``, ``notes`` ... (keys depend on the estimator).
    details : dict
        Detail tables (DataFrames) and series the table and plot are drawn from.
    """

    method: str
    outcome: str
    estimate: float
    se: float
    ci: tuple
    relative: Optional[float] = None
    relative_ci: Optional[tuple] = None
    alpha: float = 0.05
    diagnostics: dict = field(default_factory=dict)
    details: dict = field(default_factory=dict)

    label = "effect"

    # -- numbers ---------------------------------------------------------------------------
    @property
    def pvalue(self) -> float:
        """Two-sided normal p-value of ``estimate / se`` (NaN without a standard error)."""
        if not (self.se and math.isfinite(self.se) and self.se > 0):
            return float("nan")
        return float(2 * stats.norm.sf(abs(self.estimate / self.se)))

    def table(self) -> pd.DataFrame:
        """The headline row; estimators with detail (event times, weights, ATT(g,t)) add theirs."""
        main = self._headline_frame()
        extra = self.details.get("table")
        if isinstance(extra, pd.DataFrame) and len(extra):
            return pd.concat([main, extra], ignore_index=True, sort=False)
        return main

    def _headline_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{
            "term": self.label, "estimate": self.estimate, "se": self.se,
            "ci_lo": self.ci[0], "ci_hi": self.ci[1], "p_value": self.pvalue,
            "relative_pct": self.relative,
        }])

    # -- words -----------------------------------------------------------------------------
    def _checks(self) -> list[str]:
        d = self.diagnostics
        out = []
        p = d.get("pretrend_p")
        if p is not None and math.isfinite(p):
            ok = "OK" if p >= self.alpha else "REJECTED"
            how = "randomization " if d.get("pretrend_test") == "randomization" else ""
            out.append(f"pre-trends {ok} ({how}p = {p:.2f})")
        elif d.get("pretrend_test") == "none":
            out.append("no pre-periods to test")
        p = d.get("placebo_p")
        if p is not None and math.isfinite(p):
            out.append(f"placebo p = {p:.2f}")
        return out

    def summary(self) -> str:
        """One line: ``+4.1 % revenue, 95 % CI +2.0 … +6.2 %, pre-trends OK (p = 0.41)``."""
        level = round(100 * (1 - self.alpha))
        if self.relative is not None and math.isfinite(self.relative) and self.relative_ci is not None:
            dg = max(1, _digits([self.relative_ci[1] - self.relative_ci[0]]) - 1) if all(
                map(math.isfinite, self.relative_ci)) else 1
            dg = min(dg, 3)
            head = f"{_fmt_signed(self.relative, dg)} % {self.outcome}"
            ci = (f"{level} % CI {_fmt_signed(self.relative_ci[0], dg)} \u2026 "
                  f"{_fmt_signed(self.relative_ci[1], dg)} %")
            dga = _digits([self.ci[1] - self.ci[0], self.estimate])
            head += f" ({_fmt_signed(self.estimate, dga)} {self._per()})"
        else:
            dga = _digits([self.ci[1] - self.ci[0]]) if all(map(math.isfinite, self.ci)) else 3
            head = f"{_fmt_signed(self.estimate, dga)} {self.outcome}"
            if self._per():
                head += f" {self._per()}"
            ci = (f"{level} % CI {_fmt_signed(self.ci[0], dga)} \u2026 {_fmt_signed(self.ci[1], dga)}"
                  if all(map(math.isfinite, self.ci)) else "no CI")
        parts = [f"{self._title()}: {head}", ci] + self._checks()
        return ", ".join(parts)

    def _title(self) -> str:
        return self.method

    def _per(self) -> str:
        return "per unit-period"

    # -- machines --------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """JSON-safe dict: the headline, diagnostics, the summary line and the detail tables."""
        out = {
            "method": self.method, "outcome": self.outcome, "estimate": self.estimate,
            "se": self.se, "ci": list(self.ci), "p_value": self.pvalue, "alpha": self.alpha,
            "relative_pct": self.relative,
            "relative_ci_pct": list(self.relative_ci) if self.relative_ci is not None else None,
            "diagnostics": self.diagnostics, "summary": self.summary(),
        }
        for k, v in self.details.items():
            if not k.startswith("_") and isinstance(v, (pd.DataFrame, pd.Series, dict, list, str)):
                out[k] = v
        return json_safe(out)

    def plot(self):
        """A matplotlib Figure of the analysis (subclasses draw their own)."""
        fig, ax = new_figure()
        a = ax[0, 0]
        a.errorbar([0], [self.estimate], yerr=[[self.estimate - self.ci[0]], [self.ci[1] - self.estimate]],
                   fmt="o", capsize=4)
        a.axhline(0, color="grey", lw=0.8)
        a.set_xticks([0], [self.label])
        a.set_title(self.summary(), fontsize=8)
        return fig


def normal_ci(est: float, se: float, alpha: float) -> tuple:
    if not (se is not None and math.isfinite(se)):
        return (float("nan"), float("nan"))
    z = stats.norm.ppf(1 - alpha / 2)
    return (float(est - z * se), float(est + z * se))


def relative_effect(est: float, ci: tuple, cf_mean: Optional[float], *, log_outcome: bool = False):
    """Effect in percent of the counterfactual mean (or ``exp`` scale for a log outcome)."""
    if log_outcome:
        return (float(100 * math.expm1(est)), (float(100 * math.expm1(ci[0])), float(100 * math.expm1(ci[1]))))
    if cf_mean is None or not math.isfinite(cf_mean) or cf_mean <= 0:
        return None, None
    return float(100 * est / cf_mean), (float(100 * ci[0] / cf_mean), float(100 * ci[1] / cf_mean))
