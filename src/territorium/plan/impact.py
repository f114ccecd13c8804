"""The impact of the demo company's planted interventions, estimated and checked against truth.

``territorium demo`` plants three interventions in the data it writes and records their true
effect in ``truth.yaml`` (see :mod:`territorium.data.demo_effects`). This module estimates each
one from the imported workspace the way an analyst would, puts the naive estimate beside it,
and says whether each confidence interval covers the truth:

* the **staggered regional campaign**: Callaway–Sant'Anna on the state × month panel of
  log DTC revenue (and on territories), with two-way fixed effects beside it;
* the **visit programme**: double machine learning of account revenue on visits with the
  account's firmographics as confounders, beside the naive regression (and the raw
  correlation);
* the **realignment**: 2×2 difference-in-differences of moved vs unmoved accounts over the
  hand-over dip, beside the naive before/after of the moved accounts.

:func:`demo_impact_report` returns a JSON-friendly dict; :func:`impact_markdown` renders it and
:func:`write_impact_report` writes ``.md`` and ``.json`` (and, optionally, plots).

Example::

    from territorium.plan.impact import demo_impact_report, write_impact_report
    report = demo_impact_report("sqlite:///territorium.db", "demo_data/truth.yaml")
    write_impact_report(report, "out/impact.md")
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from territorium.data.demo_effects import load_truth
from territorium.plan.panels import (account_frame, campaign_treatment, realignment_treatment,
                                     revenue_panel)
from territorium.plan.workspace import Workspace, WorkspaceError

__all__ = ["demo_impact_report", "campaign_analysis", "visits_analysis", "realignment_analysis",
           "impact_markdown", "write_impact_report", "VISIT_COVARIATES"]

#: Confounders of the visit programme: what a rep knows when deciding whom to visit.
VISIT_COVARIATES = ("tier", "segment", "industry", "potential", "employees", "annual_revenue",
                    "product_line_count")


def _ws(workspace) -> Workspace:
    """A Workspace from a Workspace, a database URL, or None (the default database)."""
    return workspace if isinstance(workspace, Workspace) else Workspace(workspace)


def _covers(ci, value: float) -> bool:
    return bool(ci[0] <= value <= ci[1])


def _res(r, truth: float | None = None) -> dict:
    """The numbers of an estimator result (and whether its CI covers ``truth``)."""
    out = {"estimate": float(r.estimate), "se": float(r.se), "ci": [float(r.ci[0]), float(r.ci[1])],
           "relative_pct": None if r.relative is None else float(r.relative),
           "summary": r.summary()}
    if truth is not None:
        out["covers_truth"] = _covers(r.ci, truth)
        out["error"] = float(r.estimate - truth)
    return out


def _check_truth(ws: Workspace, truth: dict) -> None:
    """The truth file must describe the imported data (same demo, same seed and size)."""
    acc = ws.table("accounts")
    if acc.empty:
        raise WorkspaceError("the workspace has no accounts: import the demo first "
                             "(territorium import all demo_data)")
    ids = {m["account"] for m in truth["realignment"]["moved_accounts"]}
    have = set(acc["account_id"].astype(str))
    missing = len(ids - have)
    if missing > 0.01 * max(len(ids), 1):
        raise WorkspaceError(
            f"the truth file does not belong to the imported data: {missing} of {len(ids)} moved "
            f"accounts it lists are not in the workspace (demo seed {truth.get('seed')}, size "
            f"{truth.get('size')!r}; re-import the folder the truth file came from)")


# --------------------------------------------------------------------------------------------
# The three analyses
# --------------------------------------------------------------------------------------------

def campaign_analysis(workspace, truth: dict, *, level: str = "state", freq: str = "month",
                      alpha: float = 0.05, keep_results: bool = False) -> dict:
    """Callaway–Sant'Anna (never-treated controls) and TWFE on log(1 + DTC revenue)."""
    from territorium.analytics.causal import callaway_santanna, twfe

    ws = _ws(workspace)
    h = truth["history"]
    key = f"{level}_{freq}"
    real = truth["campaign"]["realised"].get(key)
    if real is None:
        raise ValueError(f"the truth file has no campaign truth for a {level} x {freq} panel "
                         f"(it has {', '.join(truth['campaign']['realised'])})")
    panel = revenue_panel(ws, level=level, freq=freq, channel="dtc", start=h["start"], end=h["end"])
    panel = campaign_treatment(panel, truth, freq=freq)
    kw = dict(unit="unit", time="period", outcome="log_revenue", alpha=alpha, log_outcome=True)
    cs = callaway_santanna(panel, first_treat="first_treat", control="never", **kw)
    tw = twfe(panel, first_treat="first_treat", **kw)
    att = float(real["att_log"])
    dyn = cs.details["dynamic"]
    true_e = {int(k): float(v) for k, v in real.get("by_event_time_log", {}).items()}
    dynamic = [{"event_time": int(r.event_time), "estimate": float(r.estimate),
                "ci": [float(r.ci_lo), float(r.ci_hi)], "truth": true_e.get(int(r.event_time))}
               for r in dyn.itertuples() if r.event_time >= 0]
    out = {
        "level": level, "freq": freq, "outcome": "log(1 + DTC revenue)",
        "units": int(panel["unit"].nunique()), "periods": int(panel["period"].nunique()),
        "treated_units": int(panel.loc[panel["first_treat"].notna(), "unit"].nunique()),
        "truth": {"att_log": att, "att_pct": 100 * math.expm1(att),
                  "revenue_uplift_pct": 100 * float(real["relative"]),
                  "by_wave_log": {k: float(v["att_log"]) for k, v in real["by_wave"].items()}},
        "callaway_santanna": _res(cs, att),
        "twfe": _res(tw, att),
        "dynamic": dynamic,
    }
    out["callaway_santanna"]["pretrend_p"] = _pretrend_p(cs)
    out["twfe_outside_cs_ci"] = not _covers(cs.ci, tw.estimate)
    out["twfe_share_of_truth"] = float(tw.estimate / att) if att else float("nan")
    if keep_results:
        out["_results"] = {"cs": cs, "twfe": tw, "panel": panel}
    return out


def _pretrend_p(cs) -> float | None:
    p = cs.diagnostics.get("pretrend_p")
    return None if p is None or not math.isfinite(p) else float(p)


def visits_analysis(workspace, truth: dict, *, learner: str = "gbm", n_folds: int = 5,
                    seed: int = 0, alpha: float = 0.05, threads: int | None = 1,
                    keep_results: bool = False) -> dict:
    """DML of account revenue on visits over the history (direct customers), confounders
    :data:`VISIT_COVARIATES`; the naive regression and the raw correlation beside it."""
    from threadpoolctl import threadpool_limits

    from territorium.analytics.causal import dml_uplift

    ws = _ws(workspace)
    h = truth["history"]
    pop = truth["visits"]["population"]
    af = account_frame(ws, start=h["start"], end=h["end"], account_types=[pop])
    if len(af) < 4 * n_folds:
        raise WorkspaceError(f"only {len(af)} accounts of type {pop!r} in the workspace: too few "
                             "for the visit analysis")
    af["product_line_count"] = af["product_lines"].fillna("").str.count(";") + (
        af["product_lines"].fillna("") != "").astype(int)
    for c in ("tier", "segment", "industry"):
        af[c] = af[c].fillna("unknown").astype(str)
    for c in ("potential", "employees", "annual_revenue"):
        af[c] = pd.to_numeric(af[c]).astype(float).fillna(0.0)
    # One thread for the learners' native pools: on a busy machine OpenMP's spinning threads
    # make gradient boosting many times slower, and the data are small.
    with threadpool_limits(limits=threads):
        r = dml_uplift(af, outcome="revenue", treatment="visits",
                       covariates=list(VISIT_COVARIATES), learner=learner, n_folds=n_folds,
                       seed=seed, alpha=alpha)
    tv = float(truth["visits"]["realised"]["per_visit_usd"])
    d = r.diagnostics
    z = float(_z(alpha))
    naive_ci = [d["naive_estimate"] - z * d["naive_se"], d["naive_estimate"] + z * d["naive_se"]]
    lin_ci = [d["linear_estimate"] - z * d["linear_se"], d["linear_estimate"] + z * d["linear_se"]]
    out = {
        "population": pop, "accounts": int(len(af)), "visits": int(af["visits"].sum()),
        "outcome": "revenue over the history (USD)", "covariates": list(VISIT_COVARIATES),
        "learner": learner if isinstance(learner, str) else type(learner).__name__,
        "truth": {"per_visit_usd": tv,
                  "expected_extra_orders_per_visit": float(truth["visits"]["expected_extra_orders_per_visit"])},
        "raw_correlation": float(np.corrcoef(af["revenue"], af["visits"])[0, 1]),
        "dml": _res(r, tv),
        "naive": {"estimate": float(d["naive_estimate"]), "se": float(d["naive_se"]),
                  "ci": naive_ci, "covers_truth": _covers(naive_ci, tv),
                  "error": float(d["naive_estimate"] - tv)},
        "linear_controls": {"estimate": float(d["linear_estimate"]), "se": float(d["linear_se"]),
                            "ci": lin_ci, "covers_truth": _covers(lin_ci, tv)},
        "robustness_value": None if d.get("robustness_value") is None else float(d["robustness_value"]),
    }
    out["naive_over_truth"] = out["naive"]["estimate"] / tv if tv else float("nan")
    if keep_results:
        out["_results"] = {"dml": r, "frame": af}
    return out


def _z(alpha: float) -> float:
    from scipy import stats

    return stats.norm.ppf(1 - alpha / 2)


def realignment_analysis(workspace, truth: dict, *, pre_months: int = 12, alpha: float = 0.05,
                         keep_results: bool = False) -> dict:
    """2×2 DiD on account × month revenue: moved vs unmoved direct customers, the
    ``pre_months`` months before the realignment vs the dip months."""
    from territorium.analytics.causal import did

    ws = _ws(workspace)
    rl = truth["realignment"]
    pop = truth["visits"]["population"]
    date, dip_end = pd.Timestamp(rl["date"]), pd.Timestamp(rl["dip_end"])
    start = max(date - pd.DateOffset(months=pre_months), pd.Timestamp(truth["history"]["start"]))
    af = account_frame(ws, start=start, end=dip_end, account_types=[pop])
    panel = revenue_panel(ws, level="account", freq="month", channel="wholesale", start=start,
                          end=dip_end, units=af["account_id"])
    panel = realignment_treatment(panel, truth)
    if panel["moved"].sum() == 0:
        raise WorkspaceError("none of the truth file's moved accounts is in the workspace")
    r = did(panel, unit="unit", time="period", outcome="revenue", treatment="dip", alpha=alpha)
    att = float(rl["realised"]["att_usd_per_account_month"])
    mv = panel[panel["moved"] == 1]
    before = mv.loc[mv["post"] == 0, "revenue"].mean()
    after = mv.loc[mv["post"] == 1, "revenue"].mean()
    per_acc = mv.groupby(["unit", "post"])["revenue"].mean().unstack()
    diff = per_acc[1] - per_acc[0]
    se = float(diff.std(ddof=1) / math.sqrt(len(diff)))
    z = float(_z(alpha))
    ba = float(after - before)
    out = {
        "date": rl["date"], "dip_end": rl["dip_end"], "pre_months": int(pre_months),
        "population": pop, "outcome": "wholesale revenue per account and month (USD)",
        "moved_accounts": int(panel.loc[panel["moved"] == 1, "unit"].nunique()),
        "control_accounts": int(panel.loc[panel["moved"] == 0, "unit"].nunique()),
        "truth": {"att_usd": att, "relative_pct": 100 * float(rl["realised"]["relative"])},
        "did": _res(r, att),
        "before_after": {"estimate": ba, "se": se, "ci": [ba - z * se, ba + z * se],
                         "covers_truth": _covers([ba - z * se, ba + z * se], att),
                         "error": ba - att},
    }
    p = r.diagnostics.get("pretrend_p")
    out["did"]["pretrend_p"] = None if p is None or not math.isfinite(p) else float(p)
    if keep_results:
        out["_results"] = {"did": r, "panel": panel}
    return out


# --------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------

def demo_impact_report(workspace, truth_path, *,
                       panels: Sequence[tuple[str, str]] = (("state", "month"), ("territory", "month")),
                       learner: str = "gbm", seed: int = 0, alpha: float = 0.05,
                       keep_results: bool = False) -> dict:
    """Estimate the demo's three planted interventions from ``workspace`` and compare each
    with the truth in ``truth_path``.

    Parameters
    ----------
    workspace : Workspace or str or None
        The imported demo (a Workspace, a database URL, or None for the default database).
    truth_path : path
        The ``truth.yaml`` that ``territorium demo`` wrote beside the exports.
    panels : sequence of (level, freq)
        The campaign panels to analyse; the first is the headline.
    learner : str
        Learner of the DML nuisance models ("gbm", "rf", "lasso").
    keep_results : bool
        Keep the estimator result objects under ``"_results"`` keys (for plots).

    Returns
    -------
    dict
        ``campaign`` (a list, one entry per panel), ``visits``, ``realignment``, and ``truth``
        (where it came from); JSON-friendly apart from ``_results``.
    """
    ws = _ws(workspace)
    truth = load_truth(truth_path)
    _check_truth(ws, truth)
    report = {
        "truth_file": str(truth_path),
        "company": truth.get("company"), "seed": truth.get("seed"), "size": truth.get("size"),
        "history": truth["history"], "alpha": alpha,
        "campaign": [campaign_analysis(ws, truth, level=lv, freq=fq, alpha=alpha,
                                       keep_results=keep_results) for lv, fq in panels],
        "visits": visits_analysis(ws, truth, learner=learner, seed=seed, alpha=alpha,
                                  keep_results=keep_results),
        "realignment": realignment_analysis(ws, truth, alpha=alpha, keep_results=keep_results),
        "waves": [{"name": w["name"], "states": w["states"], "start": w["start"],
                   "uplift_max": w["uplift_max"]} for w in truth["campaign"]["waves"]],
        "never_treated": truth["campaign"]["never_treated"]["states"],
    }
    return report


def _yes(v: bool) -> str:
    return "yes" if v else "**no**"


def _ci(ci, fmt: str) -> str:
    return f"{format(ci[0], fmt)} … {format(ci[1], fmt)}"


def impact_markdown(report: dict) -> str:
    """The report as a markdown section."""
    lv = round(100 * (1 - report.get("alpha", 0.05)))
    L = ["## Impact of the demo's planted interventions", "",
         f"Estimated from the imported workspace and checked against the truth the generator "
         f"recorded (`{report['truth_file']}`: seed {report['seed']}, size {report['size']}; "
         f"history {report['history']['start']} to {report['history']['end']}). "
         f"Intervals are {lv} %.", ""]
    waves = "; ".join(f"{w['name']} {', '.join(w['states'])} from {w['start']} "
                      f"(uplift up to +{100 * w['uplift_max']:.0f} %)" for w in report["waves"])
    L += ["### Staggered regional campaign", "",
          f"{waves}; held out: {', '.join(report['never_treated'])}. Outcome: log(1 + DTC revenue) "
          "per unit and month, so effects are in log points (≈ % for small values).", "",
          "| panel | truth (ATT) | Callaway–Sant'Anna | covers truth | TWFE (naive) | TWFE covers truth "
          "| TWFE outside CS CI |",
          "| --- | ---: | ---: | :---: | ---: | :---: | :---: |"]
    for c in report["campaign"]:
        cs, tw = c["callaway_santanna"], c["twfe"]
        L.append(f"| {c['level']} × {c['freq']} ({c['units']} units) | {c['truth']['att_log']:+.3f} "
                 f"| {cs['estimate']:+.3f} ({_ci(cs['ci'], '+.3f')}) | {_yes(cs['covers_truth'])} "
                 f"| {tw['estimate']:+.3f} ({_ci(tw['ci'], '+.3f')}) | {_yes(tw['covers_truth'])} "
                 f"| {_yes(c['twfe_outside_cs_ci'])} |")
    head = report["campaign"][0]
    L += ["", f"Realised revenue uplift in treated {head['level']}-months: "
              f"+{head['truth']['revenue_uplift_pct']:.1f} %. "
              f"TWFE recovers {100 * head['twfe_share_of_truth']:.0f} % of the true effect: with "
              "staggered adoption and effects that grow after adoption it compares late adopters "
              "with early ones whose effect is still growing. Callaway–Sant'Anna compares each "
              "wave with the held-out state only.", ""]
    if head["dynamic"]:
        L += ["Event-time path (" + head["level"] + " × " + head["freq"] + ", log points):", "",
              "| months since start | CS estimate | 95 % CI | truth |", "| ---: | ---: | ---: | ---: |"]
        for r in head["dynamic"]:
            t = "" if r["truth"] is None else f"{r['truth']:+.3f}"
            L.append(f"| {r['event_time']} | {r['estimate']:+.3f} | {_ci(r['ci'], '+.3f')} | {t} |")
        L.append("")
    v = report["visits"]
    L += ["### Visit programme", "",
          f"{v['accounts']:,} accounts of type {v['population']} with {v['visits']:,} visits. "
          f"Outcome: {v['outcome']}; confounders: {', '.join(v['covariates'])}; "
          f"learner: {v['learner']}.", "",
          "| estimate of revenue per visit | USD | CI | covers truth |", "| --- | ---: | ---: | :---: |",
          f"| truth (realised) | {v['truth']['per_visit_usd']:,.0f} | | |",
          f"| double machine learning | {v['dml']['estimate']:,.0f} | {_ci(v['dml']['ci'], ',.0f')} "
          f"| {_yes(v['dml']['covers_truth'])} |",
          f"| OLS with linear controls | {v['linear_controls']['estimate']:,.0f} "
          f"| {_ci(v['linear_controls']['ci'], ',.0f')} | {_yes(v['linear_controls']['covers_truth'])} |",
          f"| naive regression (no controls) | {v['naive']['estimate']:,.0f} "
          f"| {_ci(v['naive']['ci'], ',.0f')} | {_yes(v['naive']['covers_truth'])} |",
          "", f"Raw correlation of revenue and visits: {v['raw_correlation']:.2f}. The naive "
              f"slope is {v['naive_over_truth']:.1f}× the truth: reps visit their best (tier A) "
              "accounts most, and those order most anyway.", ""]
    r = report["realignment"]
    L += ["### Realignment hand-over dip", "",
          f"On {r['date']} {r['moved_accounts']:,} direct customers changed owner "
          f"({r['control_accounts']:,} did not). Outcome: {r['outcome']}; the {r['pre_months']} "
          f"months before vs {r['date']} … {r['dip_end']} (exclusive).", "",
          "| estimate | USD per account-month | CI | covers truth |", "| --- | ---: | ---: | :---: |",
          f"| truth (realised) | {r['truth']['att_usd']:+,.1f} ({r['truth']['relative_pct']:+.1f} %) | | |",
          f"| difference-in-differences | {r['did']['estimate']:+,.1f} | {_ci(r['did']['ci'], '+,.1f')} "
          f"| {_yes(r['did']['covers_truth'])} |",
          f"| naive before/after (moved only) | {r['before_after']['estimate']:+,.1f} "
          f"| {_ci(r['before_after']['ci'], '+,.1f')} | {_yes(r['before_after']['covers_truth'])} |",
          ""]
    if r["did"].get("pretrend_p") is not None:
        L += [f"Pre-trend test p = {r['did']['pretrend_p']:.2f}.", ""]
    return "\n".join(L)


def _public(obj):
    if isinstance(obj, dict):
        return {k: _public(v) for k, v in obj.items() if not str(k).startswith("_")}
    if isinstance(obj, list):
        return [_public(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return None if not math.isfinite(float(obj)) else float(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def report_json(report: dict) -> dict:
    """The report without result objects, NaN as null (for ``json.dumps``)."""
    return _public(report)


def write_impact_report(report: dict, path, *, plots: bool = False) -> dict[str, Path]:
    """Write ``path`` (markdown) and the same name with ``.json``; with ``plots`` (needs a report
    made with ``keep_results=True``) also ``<stem>_campaign.png``, ``_visits.png`` and
    ``_realignment.png``. Returns the paths written by kind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = {"markdown": path, "json": path.with_suffix(".json")}
    body = impact_markdown(report)
    if plots:
        written.update(_plots(report, path))
        body += "\n" + "\n".join(f"![{k}]({p.name})" for k, p in written.items()
                                 if k not in ("markdown", "json")) + "\n"
    path.write_text(body, encoding="utf-8")
    written["json"].write_text(json.dumps(report_json(report), indent=1), encoding="utf-8")
    return written


def _plots(report: dict, path: Path) -> dict[str, Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = {}
    head = report["campaign"][0]
    res = head.get("_results")
    if res is None:
        raise ValueError("plots need a report made with keep_results=True")
    fig = res["cs"].plot()
    ax = fig.axes[0]
    tr = [(r["event_time"], r["truth"]) for r in head["dynamic"] if r["truth"] is not None]
    if tr:
        ax.plot([e for e, _ in tr], [t for _, t in tr], "k--", lw=1.2, label="truth (planted)")
        ax.axhline(head["twfe"]["estimate"], color="tab:red", lw=1, ls=":", label="TWFE (naive)")
        ax.legend(fontsize=8)
    p = path.with_name(path.stem + "_campaign.png")
    fig.savefig(p, dpi=110, bbox_inches="tight")
    plt.close(fig)
    out["campaign"] = p
    for key, name in (("visits", "dml"), ("realignment", "did")):
        r = report[key].get("_results")
        if r is None:
            continue
        fig = r[name].plot()
        p = path.with_name(f"{path.stem}_{key}.png")
        fig.savefig(p, dpi=110, bbox_inches="tight")
        plt.close(fig)
        out[key] = p
    return out
