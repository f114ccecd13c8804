"""``territorium report``: the plan report as self-contained HTML and PDF (cron-friendly)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from territorium.analytics.alerts import AlertRuleError, parse_rules
from territorium.commands._outputs import check_outputs, record_outputs
from territorium.plan.kpis import TARGETS, KpiJobError
from territorium.plan.report import ReportJob, build_report, write_report
from territorium.plan.workspace import Workspace, WorkspaceError


def report_command(
    alignment: Optional[Path] = typer.Option(None, "--alignment", help="Alignment (unit_id|zip, territory), e.g. out/designed.csv. Default: the imported alignment."),
    assignment: List[Path] = typer.Option([], "--assignment", help="Assignment file(s) giving each territory its reps (repeatable)."),
    quotas: Optional[Path] = typer.Option(None, "--quotas", help="Quotas per territory, for pace alerts."),
    since: Optional[Path] = typer.Option(None, "--since", help="The previous plan's alignment: report what changes."),
    rules: Optional[Path] = typer.Option(None, "--rules", help="Alert rules (YAML) to evaluate into the report."),
    units: str = typer.Option("zip", "--units", help="Unit level of the alignment: zip, county or state."),
    period: str = typer.Option("month", "--period", help="KPI period: week, month or quarter."),
    targets: str = typer.Option("plan", "--targets", help="What the balance section is measured against: plan = each territory's capacity target when the staffing (--assignment) gives reps of unequal capacity, as territorium kpi and alerts; equal = the mean."),
    asof: Optional[str] = typer.Option(None, "--asof", help="Report date (YYYY-MM-DD). Default: the day after the last order."),
    title: str = typer.Option("Territory plan report", "--title", help="Title on the first page."),
    html_out: Optional[Path] = typer.Option(Path("out/report.html"), "--html", help="Self-contained HTML file."),
    pdf_out: Optional[Path] = typer.Option(Path("out/report.pdf"), "--pdf", help="PDF file (WeasyPrint)."),
    force: bool = typer.Option(False, "--force", help="Replace output files Territorium did not write."),
    database: Optional[str] = typer.Option(None, "--database", help="Database URL (default: sqlite file territorium.db here)."),
) -> None:
    """Write the plan report: map, balance, KPIs with a revenue chart, alerts and the changes
    since the previous plan, as one self-contained HTML file and a PDF."""
    console = Console()
    try:
        parsed = ()
        if rules is not None:
            try:
                parsed = tuple(parse_rules(Path(rules).read_text(encoding="utf-8"), str(rules)))
            except OSError as exc:
                raise KpiJobError(f"{rules}: cannot read ({exc.strerror or exc})") from None
        when = None
        if asof:
            try:
                when = dt.date.fromisoformat(asof)
            except ValueError:
                raise KpiJobError(f"--asof: {asof!r} is not a date (YYYY-MM-DD)") from None
        if period not in ("day", "week", "month", "quarter", "year"):
            raise KpiJobError(f"--period: {period!r} is not day, week, month, quarter or year")
        if targets not in TARGETS:
            raise KpiJobError(f"--targets must be 'plan' or 'equal', not {targets!r}")
        job = ReportJob(alignment=alignment, assignment=tuple(assignment), quotas=quotas, since=since,
                        rules=parsed, level=units, period=period, title=title, asof=when, targets=targets)
        ws = Workspace(database)
        check_outputs([html_out, pdf_out], inputs={"--alignment": alignment, "--assignment": list(assignment),
                                                   "--quotas": quotas, "--since": since, "--rules": rules},
                      force=force, engine=ws.engine)
        with console.status("writing the report", spinner="dots") as st:
            rep = build_report(ws, job, progress=lambda m: st.update(m))
            files = write_report(rep, html_out, pdf_out)
        record_outputs(files, "report")
    except AlertRuleError as exc:
        console.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
        raise typer.Exit(2) from None
    except (KpiJobError, WorkspaceError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    console.print(f"sections: {', '.join(rep.sections)}")
    console.print("written: " + ", ".join(str(f) for f in files))


def register(app: typer.Typer) -> None:
    app.command("report")(report_command)
