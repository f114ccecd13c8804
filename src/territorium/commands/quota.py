"""``territorium quota``: top-down quotas with caps, seasonality, backtest and other goals."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Optional

import typer


def parse_amount(text: str | None) -> float | None:
    """``12000000``, ``12,000,000``, ``$12M``, ``12.5m``, ``800k`` → a number.

    >>> parse_amount("$12M"), parse_amount("800k"), parse_amount("12,000,000")
    (12000000.0, 800000.0, 12000000.0)
    """
    if text is None:
        return None
    s = str(text).strip().replace(",", "").replace("$", "").replace("_", "")
    m = re.fullmatch(r"([0-9]*\.?[0-9]+)\s*([kKmMbB]?)", s)
    if not m:
        raise ValueError(f"--total: {text!r} is not an amount (e.g. 12000000, 12M, 800k)")
    mult = {"": 1, "k": 1e3, "m": 1e6, "b": 1e9}[m.group(2).lower()]
    return float(m.group(1)) * mult


def quota_command(
    total: Optional[str] = typer.Option(None, "--total", help="Company number to allocate (12000000, 12M). Default: last 12 months' sales × (1 + --growth)."),
    growth: str = typer.Option("10%", "--growth", help="Growth over the last 12 months when --total is not given (also the new-account and visit goals)."),
    weight: float = typer.Option(0.5, "--weight", help="w: weight of history (last 12 months' sales); 1 − w goes to potential."),
    cap: Optional[str] = typer.Option(None, "--cap", help="Growth cap per territory vs its last 12 months, e.g. +30%."),
    floor: Optional[str] = typer.Option(None, "--floor", help="Growth floor per territory vs its last 12 months, e.g. -10% (write --floor=-10%)."),
    round_to: float = typer.Option(1000.0, "--round", help="Round quotas to this unit keeping the total exactly (0: no rounding)."),
    backtest: bool = typer.Option(False, "--backtest", help="Backtest the weights: last year's quota from the year before, scored on what happened."),
    weights: str = typer.Option("0,0.25,0.5,0.75,1", "--weights", help="Weights compared by --backtest."),
    goals: bool = typer.Option(True, "--goals/--no-goals", help="Also set visit, new-account, conversion-rate and AOV goals."),
    smoothing: float = typer.Option(0.2, "--smoothing", help="Seasonality smoothing towards neighbouring months (0–1)."),
    alignment: Optional[Path] = typer.Option(None, "--alignment", help="Alignment (unit_id|zip, territory), e.g. out/designed.csv. Default: the imported alignment."),
    units: str = typer.Option("zip", "--units", help="Unit level of the alignment: zip, county or state."),
    hierarchy: str = typer.Option("state", "--hierarchy", help="Roll-up levels: state, adjacency:N, none, or a CSV (territory, area, region)."),
    out: Path = typer.Option(Path("out/quotas.csv"), "--out", help="Quotas per territory; _monthly, _backtest, _goals and _rollup CSVs beside it."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    database: Optional[str] = typer.Option(None, "--database", help="Database URL (default: sqlite file territorium.db here)."),
    force: bool = typer.Option(False, "--force", help="Replace existing files that Territorium did not write (never this command's inputs)."),
) -> None:
    """Allocate a company number to territories by a blend of history and potential.

    Q_k = Q·[w·S_k/ΣS + (1−w)·P_k/ΣP].

    Growth caps and floors relative to last year's sales (clamp and redistribute), a monthly
    split by the seasonality learnt from the orders, rounding that keeps the total exactly,
    an optional backtest of the weights (share of territories within 90–110 % attainment,
    Gini of attainment) and goals for visits, new accounts, conversion rate and AOV.
    """
    from rich.console import Console
    from rich.table import Table

    from territorium.plan.quotas import QuotaJob, QuotaJobError, parse_growth, run_quota, write_quota
    from territorium.commands._outputs import check_outputs, record_outputs
    from territorium.plan.workspace import Workspace, WorkspaceError

    console = Console(stderr=as_json)
    try:
        job = QuotaJob(
            total=parse_amount(total), growth=parse_growth(growth, "--growth") or 0.0, weight=weight,
            cap=parse_growth(cap, "--cap"), floor=parse_growth(floor, "--floor"),
            round_to=round_to or None, backtest=backtest,
            weights=[float(w) for w in weights.split(",") if w.strip()], goals=goals, smoothing=smoothing,
            alignment=alignment, level=units, hierarchy=hierarchy,
        )
        if not 0 <= weight <= 1:
            raise QuotaJobError(f"--weight must be between 0 and 1, not {weight}")
        ws = Workspace(database)
        check_outputs([out], inputs={"--alignment": alignment, "--hierarchy": hierarchy if hierarchy.lower().endswith(".csv") else None},
                      force=force, engine=ws.engine)
        with console.status("computing quotas", spinner="dots") as st:
            run = run_quota(ws, job, progress=lambda m: st.update(m))
        files = write_quota(run, out)
        record_outputs(files, "quota")
    except (QuotaJobError, WorkspaceError, ValueError, FileNotFoundError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    t = run.territories
    al = run.allocation
    if as_json:
        payload = {"total": al.total, "weight": al.weight, "quota_sum": float(al.quota.sum()),
                   "territories": json.loads(t.to_json(orient="records")), "notes": run.notes,
                   "files": [str(f) for f in files]}
        if run.season is not None:
            payload["seasonality"] = {"shares": run.season.shares.tolist(), "method": run.season.method}
        if run.backtest is not None:
            payload["backtest"] = {"best_weight": run.backtest.best_weight,
                                   "table": json.loads(run.backtest.table.to_json(orient="records"))}
        typer.echo(json.dumps(payload, indent=1, default=float))
        return
    tab = Table(title=f"Quotas: {al.total:,.0f} over {len(t)} territories (w = {al.weight:g}"
                      + (f", cap {job.cap:+.0%}" if job.cap is not None else "")
                      + (f", floor {job.floor:+.0%}" if job.floor is not None else "") + ")")
    for c in ("territory", "last 12m", "potential", "quota", "growth", "bound"):
        tab.add_column(c, justify="left" if c in ("territory", "bound") else "right")
    for r in t.itertuples():
        g = "" if r.growth != r.growth else f"{r.growth:+.1%}"
        tab.add_row(str(r.territory), f"{r.sales:,.0f}", f"{r.potential:,.0f}", f"{r.quota:,.0f}", g, str(r.bound))
    tab.add_row("total", f"{t['sales'].sum():,.0f}", f"{t['potential'].sum():,.0f}", f"{al.quota.sum():,.0f}", "", "")
    console.print(tab)
    if run.season is not None:
        console.print(f"seasonality ({run.season.method}, {run.season.months_used} months): "
                      + " ".join(f"{m}:{s:.1%}" for m, s in zip("JFMAMJJASOND", run.season.shares)))
    if run.backtest is not None:
        bt = run.backtest
        tb = Table(title="Backtest: last year's quota from the year before (attainment = actual / quota)")
        for c in ("w", "within 90–110 %", "Gini", "p10", "median", "p90"):
            tb.add_column(c, justify="right")
        for r in bt.table.itertuples():
            mark = " ←" if r.weight == bt.best_weight else ""
            tb.add_row(f"{r.weight:g}{mark}", f"{r.share_90_110:.0%}", f"{r.gini:.3f}", f"{r.p10:.2f}",
                       f"{r.median:.2f}", f"{r.p90:.2f}")
        console.print(tb)
        console.print(f"best weight: w = {bt.best_weight:g} (most territories within 90–110 %, then lowest Gini)")
    for n in run.notes:
        console.print(f"[dim]note:[/dim] {n}")
    console.print("written: " + ", ".join(str(f) for f in files))


def register(app: typer.Typer) -> None:
    app.command("quota")(quota_command)
