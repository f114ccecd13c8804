"""``territorium kpi``: commerce, field-sales and plan-health KPIs per group and period."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

from territorium.commands._outputs import check_outputs, record_outputs
from territorium.plan.kpis import GROUPS, TABLES, TARGETS, KpiJob, KpiJobError, run_kpis, write_kpis
from territorium.plan.workspace import Workspace, WorkspaceError


def _date(text: str | None, opt: str) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise KpiJobError(f"{opt}: {text!r} is not a date (YYYY-MM-DD)") from None


def _fmt(v) -> str:
    if v is None or v != v:
        return ""
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3f}".rstrip("0").rstrip(".")
    return str(v)


def kpi_command(
    by: List[str] = typer.Option(["territory"], "--by", help=f"Group by (repeatable): {', '.join(GROUPS)}."),
    period: str = typer.Option("month", "--period", help="day, week, month, quarter, year or all."),
    start: Optional[str] = typer.Option(None, "--from", help="First day reported (YYYY-MM-DD)."),
    end: Optional[str] = typer.Option(None, "--to", help="Day after the last day reported (YYYY-MM-DD)."),
    alignment: Optional[Path] = typer.Option(None, "--alignment", help="Alignment (unit_id|zip, territory), e.g. out/designed.csv. Default: the imported alignment."),
    assignment: List[Path] = typer.Option([], "--assignment", help="Assignment file(s) giving each territory its reps (repeatable)."),
    quotas: Optional[Path] = typer.Option(None, "--quotas", help="Quotas per territory (territorium quota --out) for attainment over --from/--to."),
    sessions: Optional[Path] = typer.Option(None, "--sessions", help="Sessions by region (Shopify's \"Sessions by location\" export) for the conversion rate."),
    spend: Optional[Path] = typer.Option(None, "--spend", help="Marketing spend CSV (date, region, channel, spend) for the acquisition cost."),
    units: str = typer.Option("zip", "--units", help="Unit level of the alignment: zip, county or state."),
    targets: str = typer.Option("plan", "--targets", help="What the plan balance is measured against: plan = each territory's capacity target when the staffing (--assignment) gives reps of unequal capacity, as the map's balance bars and the alerts' rebalance proposal; equal = the mean."),
    out: Path = typer.Option(Path("out/kpis"), "--out", help="Folder for the tables (commerce.csv, field_sales.csv, balance.csv, capacity.csv, clv.csv, and attainment, conversion, cac when asked for)."),
    as_json: bool = typer.Option(False, "--json", help="Print the tables as JSON."),
    force: bool = typer.Option(False, "--force", help="Replace output files Territorium did not write."),
    database: Optional[str] = typer.Option(None, "--database", help="Database URL (default: sqlite file territorium.db here)."),
) -> None:
    """KPIs per territory, rep, state, region, country or segment and period: revenue, orders,
    AOV, customers (new, returning, repeat rate), discount and refund rates, customer value,
    conversion rate and acquisition cost (with --sessions / --spend), pipeline, win rate,
    visits, coverage, balance indices, workload vs capacity and quota attainment.

    Formulas: docs/kpis.md. Aggregated with DuckDB.
    """
    console = Console(stderr=as_json)
    if targets not in TARGETS:
        console.print(f"[red]error:[/red] --targets must be 'plan' or 'equal', not {targets!r}")
        raise typer.Exit(2)
    try:
        job = KpiJob(by=tuple(by), period=period, start=_date(start, "--from"), end=_date(end, "--to"),
                     alignment=alignment, assignment=tuple(assignment), quotas=quotas, level=units,
                     sessions=sessions, spend=spend, targets=targets)
        ws = Workspace(database)
        outputs = [Path(out) / f"{n}.csv" for n in TABLES]
        check_outputs(outputs, inputs={"--alignment": alignment, "--assignment": list(assignment), "--quotas": quotas,
                                       "--sessions": sessions, "--spend": spend}, force=force, engine=ws.engine)
        with console.status("computing KPIs", spinner="dots") as st:
            run = run_kpis(ws, job, progress=lambda m: st.update(m))
        files = write_kpis(run, out)
        record_outputs(files, "kpi")
    except (KpiJobError, WorkspaceError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    tables = {n: getattr(run, n) for n in TABLES if getattr(run, n) is not None}
    if as_json:
        typer.echo(json.dumps({n: json.loads(df.to_json(orient="records", date_format="iso"))
                               for n, df in tables.items()} | {"notes": run.notes,
                                                               "files": [str(f) for f in files]}, indent=1))
        return
    c = tables.get("commerce")
    if c is not None and len(c):
        show, title = c, "Commerce KPIs"
        if "period" in c.columns:
            from territorium.analytics.kpi import _period_ends

            ends = _period_ends(period, c["period"])
            done = c[ends <= run.data_end] if run.data_end is not None else c
            last = (done if len(done) else c)["period"].max()
            show = c[c["period"] == last]
            title += f", {period} from {str(last)[:10]}" + ("" if len(done) else " (not complete)")
        cols = [*by, "orders", "revenue", "aov", "customers", "new_customers", "repeat_purchase_rate",
                "refund_rate"]
        short = {"new_customers": "new", "repeat_purchase_rate": "repeat", "refund_rate": "refunds",
                 "customers": "buyers"}
        _print(console, show[cols].rename(columns=short).head(60), title)
    b = tables.get("balance")
    if b is not None:
        title = "Plan balance vs " + ("capacity target" if run.balance_targets == "capacity" else "mean")
        _print(console, b.drop(columns="reference", errors="ignore"), title)
    for n in run.notes:
        console.print(f"[dim]note:[/dim] {n}")
    console.print("written: " + ", ".join(str(f) for f in files))


def _print(console: Console, df, title: str) -> None:
    tab = Table(title=title)
    for col in df.columns:
        tab.add_column(str(col), justify="left" if df[col].dtype == object else "right")
    for row in df.itertuples(index=False):
        tab.add_row(*[_fmt(v) for v in row])
    console.print(tab)


def register(app: typer.Typer) -> None:
    app.command("kpi")(kpi_command)
