"""``territorium impact ...``: causal impact of an intervention, estimated on a panel file.

Each subcommand reads a long panel (CSV or Parquet: one row per unit and period), calls one
estimator of :mod:`territorium.analytics.causal`, and prints its table and a one-line summary
(or JSON with ``--json``; ``--plot FILE.png`` also draws the figure). Bad input — a missing
file, an unknown column, a non-numeric outcome — exits with status 2 and says which file and
column.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import List, Optional

import typer

impact_app = typer.Typer(help="Causal impact of campaigns, reps, realignments and visits on a panel "
                              "file: DiD, Callaway–Sant'Anna, synthetic control, SDID, BSTS, DML, geo tests.",
                         no_args_is_help=True)

PANEL = typer.Option(..., "--panel", help="Panel file (CSV or Parquet), one row per unit and period.")
UNIT = typer.Option("unit", "--unit", help="Column identifying the unit (region, territory, account).")
TIME = typer.Option("time", "--time", help="Column with the period (number, date, or quarter like Q32011).")
OUTCOME = typer.Option("revenue", "--outcome", help="Numeric outcome column.")
TREATMENT = typer.Option(None, "--treatment", help="0/1 column: treated in this row (unit-period).")
FIRST_TREAT = typer.Option(None, "--first-treat", help="Unit column with the first treated period (0 or empty = never).")
TREATED = typer.Option(None, "--treated", help="A treated unit id (repeat the option for several); needs --start.")
START = typer.Option(None, "--start", help="First treated period (same format as the time column).")
JSON = typer.Option(False, "--json", help="Print the result as JSON.")
PLOT = typer.Option(None, "--plot", help="Also write the result's figure to this PNG file.")
ALPHA = typer.Option(0.05, "--alpha", help="Significance level (0.05 gives 95 % intervals).")
SEED = typer.Option(0, "--seed", help="Random seed for placebo draws, bootstraps and sample splits.")
LOG = typer.Option(False, "--log-outcome", help="The outcome is a logarithm: report exp(effect) − 1 in percent.")
FORCE = typer.Option(False, "--force", help="Replace an existing --plot file that Territorium did not write.")


def _fail(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(2)


def read_panel(path: Path):
    """A CSV or Parquet file as a DataFrame; unreadable files exit 2 naming the file."""
    import pandas as pd

    if not path.exists():
        _fail(f"{path}: no such file")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if path.suffix.lower() in (".csv", ".txt", ".tsv"):
            return pd.read_csv(path, sep="\t" if path.suffix.lower() == ".tsv" else ",")
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad file
        _fail(f"{path}: cannot read it ({type(exc).__name__}: {exc})")
    _fail(f"{path}: unknown file type {path.suffix!r} (use .csv or .parquet)")


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        a = abs(v)
        if a != 0 and (a < 1e-3 or a >= 1e7):
            return f"{v:.3e}"
        return f"{v:,.4f}" if a < 100 else f"{v:,.1f}"
    return str(v)


def _emit(result, path: Path, as_json: bool, plot: Optional[Path], max_rows: int = 40) -> None:
    from rich.console import Console
    from rich.table import Table

    if plot is not None:
        _save_plot(result.plot(), plot)
    if as_json:
        out = result.to_dict()
        out["panel"] = str(path)
        if plot is not None:
            out["plot"] = str(plot)
        typer.echo(json.dumps(out, indent=1))
        return
    con = Console()
    tab = result.table()
    cols = [c for c in ("term", "unit", "group", "pair", "estimate", "se", "ci_lo", "ci_hi", "p_value",
                        "relative_pct", "distance") if c in tab.columns and tab[c].notna().any()]
    t = Table(title=f"{path.name}")
    for c in cols:
        t.add_column(c, justify="left" if c in ("term", "unit", "group") else "right")
    for _, row in tab.head(max_rows).iterrows():
        t.add_row(*[_fmt(row[c]) for c in cols])
    con.print(t)
    if len(tab) > max_rows:
        con.print(f"[dim]… {len(tab) - max_rows} more rows (use --json for all)[/dim]")
    con.print(result.summary(), highlight=False, soft_wrap=True)
    for n in (result.diagnostics.get("notes") or []):
        con.print(f"[dim]note:[/dim] {n}", highlight=False, soft_wrap=True)
    if plot is not None:
        con.print(f"plot: {plot}")


def _guard(panel: Path, plot: Optional[Path], force: bool) -> None:
    """The output rule (docs/storage.md): never write the plot over the panel, nor over a file
    Territorium did not write unless --force; checked before the estimate runs."""
    if plot is None:
        return
    from territorium.commands._outputs import OutputRefused, check_outputs

    try:
        check_outputs([plot], inputs={"--panel": panel}, force=force)
    except OutputRefused as exc:
        _fail(str(exc))


def _save_plot(fig, plot: Optional[Path]) -> None:
    if plot is None:
        return
    from territorium.commands._outputs import record_outputs

    plot.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(plot, dpi=120)
    record_outputs([plot], "impact")


def _run(path: Path, fn, plot: Optional[Path] = None, force: bool = False, **kw):
    from rich.console import Console

    _guard(path, plot, force)
    df = read_panel(path)
    try:
        with Console(stderr=True).status(f"estimating on {path.name} …"):
            return fn(df, **kw)
    except ValueError as exc:
        _fail(f"{path}: {exc}")


def _who(treatment, first_treat, treated, start) -> dict:
    if treated and start is None:
        _fail("--treated needs --start (the first treated period)")
    return {"treatment": treatment, "first_treat": first_treat,
            "treated_units": list(treated) if treated else None, "start": start}


@impact_app.command("did")
def did_cmd(panel: Path = PANEL, unit: str = UNIT, time: str = TIME, outcome: str = OUTCOME,
            treatment: Optional[str] = TREATMENT, first_treat: Optional[str] = FIRST_TREAT,
            treated: Optional[List[str]] = TREATED, start: Optional[str] = START,
            cluster: Optional[str] = typer.Option(None, "--cluster", help="Cluster column for the SE (default: the unit)."),
            alpha: float = ALPHA, log_outcome: bool = LOG, as_json: bool = JSON, plot: Optional[Path] = PLOT, force: bool = FORCE) -> None:
    """2×2 difference-in-differences with clustered SE, event-study plot and pre-trend test."""
    from territorium.analytics.causal import did

    r = _run(panel, did, plot=plot, force=force, unit=unit, time=time, outcome=outcome, cluster=cluster, alpha=alpha,
             log_outcome=log_outcome, **_who(treatment, first_treat, treated, start))
    _emit(r, panel, as_json, plot)


@impact_app.command("twfe")
def twfe_cmd(panel: Path = PANEL, unit: str = UNIT, time: str = TIME, outcome: str = OUTCOME,
             treatment: Optional[str] = TREATMENT, first_treat: Optional[str] = FIRST_TREAT,
             treated: Optional[List[str]] = TREATED, start: Optional[str] = START,
             cluster: Optional[str] = typer.Option(None, "--cluster", help="Cluster column for the SE (default: the unit)."),
             alpha: float = ALPHA, log_outcome: bool = LOG, as_json: bool = JSON, plot: Optional[Path] = PLOT, force: bool = FORCE) -> None:
    """Two-way fixed effects regression (biased under staggered adoption: compare `staggered`)."""
    from territorium.analytics.causal import twfe

    r = _run(panel, twfe, plot=plot, force=force, unit=unit, time=time, outcome=outcome, cluster=cluster, alpha=alpha,
             log_outcome=log_outcome, **_who(treatment, first_treat, treated, start))
    _emit(r, panel, as_json, plot)


@impact_app.command("staggered")
def staggered_cmd(panel: Path = PANEL, unit: str = UNIT, time: str = TIME, outcome: str = OUTCOME,
                  first_treat: Optional[str] = FIRST_TREAT, treatment: Optional[str] = TREATMENT,
                  treated: Optional[List[str]] = TREATED, start: Optional[str] = START,
                  control: str = typer.Option("never", "--control", help="Control group: never (never treated) or notyet (not yet treated)."),
                  base_period: str = typer.Option("varying", "--base-period", help="Pre-period comparisons: varying (previous period) or universal (g-1)."),
                  aggregation: str = typer.Option("simple", "--aggregation", help="Headline aggregation: simple, dynamic or group."),
                  bootstrap: int = typer.Option(0, "--bootstrap", help="Multiplier-bootstrap draws for the SE (0: analytic; --cluster implies 999)."),
                  cluster: Optional[str] = typer.Option(None, "--cluster", help="Cluster column (constant within a unit): one bootstrap multiplier per cluster, as R did's clustervars."),
                  multipliers: str = typer.Option("mammen", "--multipliers", help="Bootstrap multipliers: mammen (R did's default) or rademacher."),
                  seed: int = SEED, alpha: float = ALPHA, log_outcome: bool = LOG, as_json: bool = JSON,
                  plot: Optional[Path] = PLOT, force: bool = FORCE) -> None:
    """Callaway–Sant'Anna group-time ATTs for staggered adoption, with simple, dynamic and group aggregations."""
    from territorium.analytics.causal import callaway_santanna

    r = _run(panel, callaway_santanna, plot=plot, force=force, unit=unit, time=time, outcome=outcome, control=control,
             base_period=base_period, aggregation=aggregation, bootstrap=bootstrap, seed=seed, alpha=alpha,
             log_outcome=log_outcome, cluster=cluster, multipliers=multipliers,
             **_who(treatment, first_treat, treated, start))
    _emit(r, panel, as_json, plot)


@impact_app.command("synth")
def synth_cmd(panel: Path = PANEL, unit: str = UNIT, time: str = TIME, outcome: str = OUTCOME,
              treated: Optional[List[str]] = TREATED, start: Optional[str] = START,
              treatment: Optional[str] = TREATMENT, first_treat: Optional[str] = FIRST_TREAT,
              placebos: int = typer.Option(200, "--placebos", help="Donors run as placebos (random subset when more)."),
              seed: int = SEED, alpha: float = ALPHA, log_outcome: bool = LOG, as_json: bool = JSON,
              plot: Optional[Path] = PLOT, force: bool = FORCE) -> None:
    """Synthetic control with placebo-in-space (permutation) inference, for one or a few treated units."""
    from territorium.analytics.causal import synthetic_control

    r = _run(panel, synthetic_control, plot=plot, force=force, unit=unit, time=time, outcome=outcome, placebos=placebos, seed=seed,
             alpha=alpha, log_outcome=log_outcome, **_who(treatment, first_treat, treated, start))
    _emit(r, panel, as_json, plot)


@impact_app.command("sdid")
def sdid_cmd(panel: Path = PANEL, unit: str = UNIT, time: str = TIME, outcome: str = OUTCOME,
             treated: Optional[List[str]] = TREATED, start: Optional[str] = START,
             treatment: Optional[str] = TREATMENT, first_treat: Optional[str] = FIRST_TREAT,
             reps: int = typer.Option(200, "--reps", help="Placebo replications for the standard error (0: none)."),
             seed: int = SEED, alpha: float = ALPHA, log_outcome: bool = LOG, as_json: bool = JSON,
             plot: Optional[Path] = PLOT, force: bool = FORCE) -> None:
    """Synthetic difference-in-differences (unit and time weights) with the placebo standard error."""
    from territorium.analytics.causal import synthetic_did

    r = _run(panel, synthetic_did, plot=plot, force=force, unit=unit, time=time, outcome=outcome, reps=reps, seed=seed, alpha=alpha,
             log_outcome=log_outcome, **_who(treatment, first_treat, treated, start))
    _emit(r, panel, as_json, plot)


@impact_app.command("bsts")
def bsts_cmd(panel: Path = PANEL, unit: str = UNIT, time: str = TIME, outcome: str = OUTCOME,
             treated: Optional[List[str]] = TREATED, start: Optional[str] = START,
             treatment: Optional[str] = TREATMENT, first_treat: Optional[str] = FIRST_TREAT,
             controls: str = typer.Option("pca", "--controls", help="Regressors: pca (principal components of the untreated units, default), mean (of untreated units), none, or comma-separated unit ids."),
             trend: bool = typer.Option(False, "--trend", help="Local linear trend instead of a local level."),
             seasonal: Optional[int] = typer.Option(None, "--seasonal", help="Seasonal period (52 weekly, 12 monthly)."),
             seed: int = SEED, alpha: float = ALPHA, log_outcome: bool = LOG, as_json: bool = JSON,
             plot: Optional[Path] = PLOT, force: bool = FORCE) -> None:
    """Structural time-series counterfactual (CausalImpact-style) for the treated series."""
    from territorium.analytics.causal import structural_counterfactual

    ctl = None if controls == "none" else (controls if controls in ("mean", "pca") else [c.strip() for c in controls.split(",") if c.strip()])
    r = _run(panel, structural_counterfactual, plot=plot, force=force, unit=unit, time=time, outcome=outcome, controls=ctl, trend=trend,
             seasonal=seasonal, seed=seed, alpha=alpha, log_outcome=log_outcome,
             **_who(treatment, first_treat, treated, start))
    _emit(r, panel, as_json, plot)


@impact_app.command("dml")
def dml_cmd(panel: Path = PANEL, outcome: str = OUTCOME,
            treatment: str = typer.Option("visits", "--treatment", help="Activity column whose effect is wanted (e.g. visits)."),
            covariates: str = typer.Option(..., "--covariates", help="Comma-separated confounder columns."),
            learner: str = typer.Option("gbm", "--learner", help="Nuisance learner: gbm, rf or lasso."),
            folds: int = typer.Option(5, "--folds", help="Cross-fitting folds."),
            repeats: int = typer.Option(1, "--repeats", help="Independent sample splits (median combined)."),
            seed: int = SEED, alpha: float = ALPHA, as_json: bool = JSON, plot: Optional[Path] = PLOT, force: bool = FORCE) -> None:
    """Double machine learning uplift of an activity on an outcome, with a sensitivity note."""
    from territorium.analytics.causal import dml_uplift

    cov = [c.strip() for c in covariates.split(",") if c.strip()]
    r = _run(panel, dml_uplift, plot=plot, force=force, outcome=outcome, treatment=treatment, covariates=cov, learner=learner,
             n_folds=folds, n_repeats=repeats, seed=seed, alpha=alpha)
    _emit(r, panel, as_json, plot)
    if not as_json:
        typer.echo(r.diagnostics["sensitivity_note"])


@impact_app.command("geo-design")
def geo_design_cmd(panel: Path = PANEL, unit: str = UNIT, time: str = TIME, outcome: str = OUTCOME,
                   n_treated: Optional[int] = typer.Option(None, "--n-treated", help="Regions to treat."),
                   fraction: Optional[float] = typer.Option(None, "--fraction", help="Share of eligible regions to treat (instead of --n-treated)."),
                   method: str = typer.Option("matched_pairs", "--method", help="matched_pairs or synthetic."),
                   test_periods: Optional[int] = typer.Option(None, "--test-periods", help="Planned test length in periods (default: an eighth of the history)."),
                   exclude: Optional[List[str]] = typer.Option(None, "--exclude", help="A region to leave out (repeatable)."),
                   power: float = typer.Option(0.8, "--power", help="Power for the minimum detectable effect."),
                   seed: int = SEED, alpha: float = ALPHA, as_json: bool = JSON, plot: Optional[Path] = PLOT, force: bool = FORCE) -> None:
    """Pick treatment/control regions from history and the minimum detectable effect from placebo windows."""
    from territorium.analytics.causal import design_geo_experiment

    if n_treated is None and fraction is None:
        _fail("give --n-treated or --fraction")
    r = _run(panel, design_geo_experiment, plot=plot, force=force, unit=unit, time=time, outcome=outcome, n_treated=n_treated,
             fraction=fraction, method=method, test_periods=test_periods, exclude=exclude or None, power=power,
             alpha=alpha, seed=seed)
    if plot is not None:
        _save_plot(r.plot(), plot)
    if as_json:
        typer.echo(json.dumps(dict(r.to_dict(), panel=str(panel)), indent=1))
        return
    from rich.console import Console
    from rich.table import Table

    con = Console()
    t = Table(title=f"{panel.name}: geo-experiment design")
    tab = r.table()
    for c in tab.columns:
        t.add_column(str(c))
    for _, row in tab.head(60).iterrows():
        t.add_row(*[_fmt(v) for v in row.tolist()])
    con.print(t)
    con.print(r.summary(), highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.add_typer(impact_app, name="impact")
