"""``territorium potential`` and ``territorium forecast``: white space, where the next rep should go,
and monthly sales forecasts checked against seasonal naive."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from territorium.commands._outputs import OutputRefused, check_outputs, record_outputs
from territorium.data.cells import write_csv

_LEVELS = ("territory", "state", "region", "total", "all")


def _fail(msg: str) -> None:
    from rich.console import Console

    Console(stderr=True).print(f"[red]error:[/red] {msg}")
    raise typer.Exit(2)


def _pair(text: str, option: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v.strip().rstrip("%")) / (100.0 if v.strip().endswith("%") else 1.0)
                  for v in text.split(","))
    except ValueError:
        _fail(f"{option} {text!r}: expected two quantiles LOW,HIGH such as 0.1,0.9")
    if not 0 < lo < hi < 1:
        _fail(f"{option} {text!r}: need 0 < LOW < HIGH < 1")
    return lo, hi


FORCE = typer.Option(False, "--force", help="Replace existing output files that Territorium did not write.")


def _guard(outputs: list, ws, force: bool, inputs: dict | None = None) -> None:
    """The output rule (docs/storage.md), checked before the model runs."""
    try:
        check_outputs(outputs, inputs=inputs or {}, force=force, engine=ws.engine)
    except OutputRefused as exc:
        _fail(str(exc))


def _money(v: float) -> str:
    if v != v:  # NaN
        return "–"
    for unit, div in (("M", 1e6), ("k", 1e3)):
        if abs(v) >= div:
            return f"${v / div:,.1f}{unit}"
    return f"${v:,.0f}"


def potential_command(
    quantile: float = typer.Option(0.9, "--quantile", help="Quantile reported as potential (0.9: 9 in 10 similar accounts have a smaller wallet)."),
    interval: str = typer.Option("0.1,0.9", "--interval", help="Quantiles of the potential interval, LOW,HIGH."),
    target: str = typer.Option("auto", "--target", help="What the model learns from: crm (the CRM potential field where filled), spend (12-month spend of mature customers), auto (crm if at least 100 accounts have one)."),
    out: Path = typer.Option(Path("out/potential.csv"), "--out", help="Per-account CSV; the territory ranking and the rep sites are written beside it (*_territories.csv, *_sites.csv)."),
    top: int = typer.Option(10, "--top", help="Rows shown in each ranking (and rep sites proposed)."),
    radius_km: float = typer.Option(40.0, "--radius-km", help="A unit farther than this from every rep's home counts as uncovered."),
    folds: int = typer.Option(5, "--folds", help="Cross-fitting folds: every account with a target is scored by a model that never saw it."),
    holdout: bool = typer.Option(False, "--holdout", help="Also hide a quarter of the labelled accounts in a second run and report coverage on them."),
    units: str = typer.Option("zip", "--units", help="Unit level for the area tables: zip, county or state."),
    seed: int = typer.Option(0, "--seed", help="Random seed: same seed, same estimates."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Limit the gradient-boosting threads (e.g. 1 on a busy shared machine; default: all cores)."),
    database: Optional[str] = typer.Option(None, "--database", help="Database URL (default: sqlite file territorium.db here)."),
    force: bool = FORCE,
) -> None:
    """Account potential and white space, and where the next rep should go.

    Quantile gradient boosting gives each account a potential and an interval; territories are
    ranked by white space per hour of rep capacity."""
    from rich.console import Console
    from rich.table import Table

    from territorium.plan.analytics import account_frame, run_potential
    from territorium.plan.workspace import Workspace, WorkspaceError

    lo_hi = _pair(interval, "--interval")
    if not 0 < quantile < 1:
        _fail(f"--quantile {quantile}: must be between 0 and 1")
    if folds < 2:
        _fail("--folds must be at least 2")
    con = Console()
    ws = Workspace(database)
    if ws.counts().get("accounts", 0) == 0:
        _fail("the workspace has no accounts: run `territorium import ...` or `make demo` first")
    t_path = out.with_name(out.stem + "_territories.csv")
    s_path = out.with_name(out.stem + "_sites.csv")
    _guard([out, t_path, s_path], ws, force)
    try:
        with con.status("reading accounts, orders and pipeline ...") as st:
            frame = account_frame(ws, level=units)
            rep = run_potential(ws, frame=frame, target=target, quantile=quantile, interval=lo_hi, folds=folds,
                                holdout=holdout, top=top, radius_km=radius_km, seed=seed, n_threads=threads,
                                progress=lambda msg: st.update(f"{msg} ..."))
    except (WorkspaceError, ValueError) as exc:
        _fail(str(exc))
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    write_csv(rep.accounts, out)
    if len(rep.territories):
        write_csv(rep.territories, t_path)
    write_csv(rep.sites, s_path)
    record_outputs([out, t_path, s_path], "potential")

    c = rep.check
    t = Table(title=f"Potential model (target: {c.target}, {c.n_labelled:,} accounts with a target, "
                    f"potential = q{rep.quantile:g})")
    t.add_column("check")
    t.add_column("value", justify="right")
    t.add_column("nominal", justify="right")
    t.add_row(f"interval q{rep.interval[0]:g}–q{rep.interval[1]:g} coverage (cross-validated)", f"{c.coverage_cv:.1%}",
              f"{c.nominal:.0%}")
    t.add_row("  before calibration", f"{c.coverage_raw:.1%}", f"{c.nominal:.0%}")
    t.add_row(f"share at or below potential (q{c.quantile:g})", f"{c.quantile_hit_cv:.1%}", f"{c.quantile:.0%}")
    t.add_row("rank correlation, estimate vs target (Spearman)", f"{c.spearman_target:.3f}", "")
    if c.spearman_crm_white_space == c.spearman_crm_white_space:
        t.add_row("rank correlation, white space vs CRM potential − revenue", f"{c.spearman_crm_white_space:.3f}", "")
    if rep.validation is not None:
        v = rep.validation
        t.add_row(f"held-out coverage ({v.n_test:,} hidden accounts)", f"{v.coverage:.1%}", f"{v.nominal:.0%}")
        if v.spearman_white_space == v.spearman_white_space:
            t.add_row("held-out white-space rank correlation", f"{v.spearman_white_space:.3f}", "")
    con.print(t)

    a = rep.accounts.sort_values("white_space", ascending=False).head(top)
    t = Table(title=f"Top {len(a)} accounts by white space")
    for col, just in (("account", "left"), ("territory", "left"), ("industry", "left"), ("revenue 12m", "right"),
                      ("potential", "right"), (f"interval q{rep.interval[0]:g}–q{rep.interval[1]:g}", "right"),
                      ("white space", "right")):
        t.add_column(col, justify=just)
    for r in a.itertuples():
        t.add_row(str(r.name)[:32], str(r.territory), str(r.industry), _money(r.revenue), _money(r.potential),
                  f"{_money(r.lower)} – {_money(r.upper)}", _money(r.white_space))
    con.print(t)

    if len(rep.territories):
        tt = rep.territories.head(top)
        t = Table(title="Where is the most white space per hour of rep capacity? (split these first)")
        for col in ("rank", "territory", "rep", "accounts", "revenue", "white space", "capacity h", "white space / h"):
            t.add_column(col, justify="left" if col in ("territory", "rep") else "right")
        for r in tt.itertuples():
            t.add_row(str(r.rank), r.territory, "VACANT" if r.vacant else str(r.rep_name or r.rep),
                      f"{r.accounts:,.0f}", _money(r.revenue), _money(r.white_space),
                      f"{r.capacity_hours:,.0f}" if r.capacity_hours == r.capacity_hours else "–",
                      _money(r.white_space_per_hour))
        con.print(t)
    if len(rep.sites):
        t = Table(title=f"Where should the next rep go? Units more than {rep.radius_km:g} km from every rep, "
                        "by white space a rep based there would reach")
        for col in ("#", "base at", "state", "territory", "uncovered white space", "units reached", "nearest rep km"):
            t.add_column(col, justify="left" if col in ("base at", "state", "territory") else "right")
        for i, r in enumerate(rep.sites.itertuples(), start=1):
            t.add_row(str(i), f"{r.unit_id} {r.name or ''}", str(r.state), str(r.territory),
                      _money(r.reach_white_space), str(r.reach_units), f"{r.nearest_rep_km:,.0f}")
        con.print(t)
    else:
        con.print(f"Every unit with white space is within {rep.radius_km:g} km of a rep.")
    con.print(f"wrote {out}" + (f", {t_path}" if len(rep.territories) else "") + f", {s_path}")
    for n in rep.notes:
        con.print(f"[dim]note:[/dim] {n}")


def forecast_command(
    level: str = typer.Option("territory", "--level", help="Series to show and write: territory, state, region (needs --regions), total or all. All levels are forecast and reconciled together."),
    horizon: int = typer.Option(6, "--horizon", help="Months ahead."),
    origins: int = typer.Option(4, "--backtest-origins", help="Rolling origins of the backtest (at least 3); each scores --horizon months."),
    coverage: float = typer.Option(0.8, "--coverage", help="Coverage of the prediction intervals."),
    raw_intervals: bool = typer.Option(False, "--raw-intervals", help="Use each model's own interval (moved to the reconciled forecast) instead of the interval calibrated on the backtest errors; the calibrated coverage is still reported."),
    method: str = typer.Option("mint_shrink", "--method", help="Reconciliation: mint_shrink, wls_var, wls_struct or ols."),
    models: str = typer.Option(",".join(("snaive", "hw_add", "hw_mul", "holt_pooled", "sarima_drift", "sarima_ar1", "sarima_airline")), "--models", help="Candidate models, comma-separated (seasonal naive is always the benchmark)."),
    regions: Optional[Path] = typer.Option(None, "--regions", help="CSV with columns territory, region: adds a region level (territories sum to regions)."),
    out: Path = typer.Option(Path("out/forecast.csv"), "--out", help="Forecast CSV (level, name, period, model, base forecast and its interval, reconciled forecast, the model interval moved to it, the interval used)."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Also draw history, forecast and interval of each series of --level to this PNG."),
    jobs: int = typer.Option(1, "--jobs", help="Worker processes for the per-series backtests."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap paths behind the exponential-smoothing intervals."),
    as_json: bool = typer.Option(False, "--json", help="Print the coverage per level, the backtest table and the forecasts of --level as JSON."),
    database: Optional[str] = typer.Option(None, "--database", help="Database URL (default: sqlite file territorium.db here)."),
    force: bool = FORCE,
) -> None:
    """Monthly sales forecasts per territory, state and total, with calibrated intervals.

    The model that wins a rolling-origin backtest is used only if it beats seasonal naive
    (MASE); forecasts are reconciled so territories add up, and the prediction intervals are
    calibrated on the backtest errors (coverage checked out of sample)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from territorium.analytics.forecast import MODEL_LABELS, MODELS, InsufficientHistory
    from territorium.analytics.reconcile import METHODS
    from territorium.plan.analytics import monthly_sales, plot_forecast, read_regions, run_forecast
    from territorium.plan.workspace import Workspace, WorkspaceError

    if level not in _LEVELS:
        _fail(f"--level {level!r}: choose from {', '.join(_LEVELS)}")
    if level == "region" and regions is None:
        _fail("--level region needs --regions FILE (columns territory, region)")
    if method not in METHODS:
        _fail(f"--method {method!r}: choose from {', '.join(METHODS)}")
    if horizon < 1:
        _fail("--horizon must be at least 1 month")
    cand = [m.strip() for m in models.split(",") if m.strip()]
    bad = [m for m in cand if m not in MODELS]
    if bad:
        _fail(f"--models: unknown {', '.join(bad)}; choose from {', '.join(MODELS)}")
    if origins < 3:
        _fail("--backtest-origins must be at least 3")
    if not 0 < coverage < 1:
        _fail(f"--coverage {coverage}: must be between 0 and 1")
    con = Console(stderr=as_json)
    ws = Workspace(database)
    if ws.counts().get("orders", 0) == 0:
        _fail("the workspace has no orders: run `territorium import orders FILE` or `make demo` first")
    out_series = out.with_name(out.stem + "_backtest.csv")
    _guard([out, out_series, plot], ws, force, inputs={"--regions": regions})
    try:
        mapping = read_regions(regions) if regions is not None else None
        with con.status("aggregating monthly sales ..."):
            series = monthly_sales(ws, regions=mapping)
        if level == "territory" and "territory" not in series.levels:
            _fail("no current alignment imported, so there are no territories: use --level state")
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=con, transient=True, disable=as_json) as prog:
            task = prog.add_task("backtesting", total=None)

            def progress(done: int, total: int, label: str) -> None:
                prog.update(task, completed=done, total=total, description=f"backtesting {label}")

            hf, _ = run_forecast(ws, series=series, horizon=horizon, origins=origins, level=coverage,
                                 method=method, models=cand, calibrate=not raw_intervals, n_jobs=jobs, seed=seed,
                                 progress=progress)
    except InsufficientHistory as exc:
        _fail(str(exc))
        return
    except (WorkspaceError, ValueError) as exc:
        _fail(str(exc))
        return

    s = hf.series
    show = s if level == "all" else s[s["level"] == level]
    show = show[show["level"] != "bottom"] if level == "all" else show
    fc = hf.forecast
    keep = fc if level == "all" else fc[fc["level"] == level]
    out.parent.mkdir(parents=True, exist_ok=True)
    write_csv(keep, out)
    write_csv(s, out_series)
    if plot is not None:
        plot_forecast(hf, plot, level="territory" if level == "all" else level)
    record_outputs([out, out_series, plot], "forecast")
    notes = list(series.notes) + list(hf.notes)
    if as_json:
        import json

        def records(df):
            return json.loads(df.assign(**{c: df[c].astype(str) for c in df.columns if c == "period"})
                              .to_json(orient="records"))

        typer.echo(json.dumps({
            "horizon": horizon, "origins": origins, "nominal": coverage, "method": hf.method,
            "intervals": "calibrated" if hf.calibrated else "model",
            "coverage": records(hf.coverage), "series": records(show), "forecast": records(keep),
            "files": {"forecast": str(out), "backtest": str(out_series)} | ({"plot": str(plot)} if plot else {}),
            "notes": notes}, indent=1, ensure_ascii=False))
        return

    t = Table(title=f"Backtest: {origins} rolling origins × {horizon} months, MASE (seasonal scaling, m=12); "
                    "a model is used only if it beats seasonal naive at every origin")
    for col in ("series", "months", "used", "best challenger", "MASE challenger", "MASE s-naive", "ratio",
                "MASE reconciled", f"coverage {coverage:.0%}: model", "calibrated"):
        t.add_column(col, justify="left" if col in ("series", "used", "best challenger") else "right")
    for r in show.itertuples():
        name = r.name if r.level in (level, "total") or level != "all" else f"{r.level} {r.name}"
        used = "[green]" + str(r.model) + "[/green]" if r.offered else "seasonal naive"
        t.add_row(str(name), str(r.months), used, str(r.challenger or "–"),
                  f"{r.mase_model:.3f}" if r.mase_model == r.mase_model else "–", f"{r.mase_snaive:.3f}",
                  f"{r.ratio:.2f}" if r.ratio == r.ratio else "–", f"{r.mase_reconciled:.3f}",
                  f"{r.coverage_reconciled:.0%}",
                  f"{r.coverage_calibrated:.0%}" if r.coverage_calibrated == r.coverage_calibrated else "–")
    con.print(t)
    wins = int(show["offered"].sum())
    con.print(f"A model beat seasonal naive in {wins} of {len(show)} series (median MASE ratio "
              f"{show['ratio'].median():.2f}); seasonal naive kept in {len(show) - wins}. Reconciliation: "
              f"{hf.method}. Models: " + "; ".join(f"{k} = {v}" for k, v in MODEL_LABELS.items()
                                                   if k in set(show['model']) | set(show['challenger'].dropna())))
    for r in show[~show["offered"]].itertuples():
        if r.note:
            con.print(f"[dim]{r.name}:[/dim] {r.note}")

    cv = hf.coverage
    t = Table(title=f"Do the {coverage:.0%} intervals cover {coverage:.0%} of outcomes? Backtest origins 2–{origins}, "
                    "each judged by intervals calibrated on the origins before it")
    for col in ("level", "series", "outcomes", "model interval", "moved to reconciled", "calibrated",
                "width calibrated / model", "calibrated from"):
        t.add_column(col, justify="left" if col in ("level", "calibrated from") else "right")

    def pct(v: float) -> str:
        return f"{v:.0%}" if v == v else "–"

    for r in cv.itertuples():
        t.add_row(str(r.level), str(r.series), str(r.points), pct(r.base), pct(r.reconciled),
                  f"[bold]{pct(r.calibrated)}[/bold]", f"{r.width_ratio:.2f}" if r.width_ratio == r.width_ratio else "–",
                  str(r.calibration))
    con.print(t)

    tot = fc[fc["level"] == "total"]
    t = Table(title=f"Total sales forecast (reconciled, {coverage:.0%} interval "
                    f"{'calibrated on the backtest' if hf.calibrated else 'of the model'})")
    for col in ("month", "forecast", "interval", "model interval", "base model"):
        t.add_column(col, justify="right")
    for r in tot.itertuples():
        t.add_row(str(r.period), _money(r.forecast), f"{_money(r.lower)} – {_money(r.upper)}",
                  f"{_money(r.model_lower)} – {_money(r.model_upper)}", _money(r.base))
    con.print(t)
    con.print(f"wrote {out} and {out_series}" + (f", {plot}" if plot is not None else ""))
    for n in notes:
        con.print(f"[dim]note:[/dim] {n}")


def register(app: typer.Typer) -> None:
    app.command("potential")(potential_command)
    app.command("forecast")(forecast_command)
