"""``territorium alerts``: evaluate alert rules on the plan's KPIs (cron-friendly)."""
from __future__ import annotations

import datetime as dt
import json
from importlib import resources
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

from territorium.data.cells import write_csv
from territorium.analytics.alerts import AlertRuleError, parse_rules
from territorium.commands._outputs import check_outputs, record_outputs
from territorium.plan.alerts import AlertJob, alerts_frame, post_alerts, run_alerts
from territorium.plan.kpis import KpiJobError
from territorium.plan.workspace import Workspace, WorkspaceError


def _rules_text(path: Path | None) -> tuple[str, str]:
    if path is None:
        ref = resources.files("territorium.profiles").joinpath("alerts.example.yaml")
        return ref.read_text(encoding="utf-8"), "alerts.example.yaml"
    try:
        return Path(path).read_text(encoding="utf-8"), str(path)
    except OSError as exc:
        raise KpiJobError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise KpiJobError(f"{path}: not UTF-8 text") from None


def alerts_command(
    rules: Optional[Path] = typer.Option(None, "--rules", help="Alert rules (YAML). Default: the packaged example rules."),
    alignment: Optional[Path] = typer.Option(None, "--alignment", help="Alignment (unit_id|zip, territory). Default: the imported alignment."),
    assignment: List[Path] = typer.Option([], "--assignment", help="Assignment file(s) giving each territory its reps (repeatable)."),
    quotas: Optional[Path] = typer.Option(None, "--quotas", help="Quotas per territory (territorium quota --out), for pace and attainment rules."),
    units: str = typer.Option("zip", "--units", help="Unit level of the alignment: zip, county or state."),
    asof: Optional[str] = typer.Option(None, "--asof", help="Evaluation date (YYYY-MM-DD). Default: the day after the last order."),
    propose: Optional[Path] = typer.Option(None, "--propose", help="Write a minimum-disruption rebalance here when a rule with 'propose: rebalance' fires."),
    targets: str = typer.Option("plan", "--targets", help="What the rebalance proposal balances towards: plan = each territory's capacity target when the staffing (--assignment) gives reps of unequal capacity, as the map's balance bars; equal = the mean."),
    post: bool = typer.Option(False, "--post", help="POST each rule's alerts to its webhook URL."),
    validate_only: bool = typer.Option(False, "--validate-only", help="Only check the rules file."),
    fail_on_alert: bool = typer.Option(False, "--fail-on-alert", help="Exit with status 3 when any alert fires (for cron / CI)."),
    out: Path = typer.Option(Path("out/alerts.csv"), "--out", help="Fired alerts as CSV (a .json beside it)."),
    as_json: bool = typer.Option(False, "--json", help="Print the alerts as JSON."),
    force: bool = typer.Option(False, "--force", help="Replace output files Territorium did not write."),
    database: Optional[str] = typer.Option(None, "--database", help="Database URL (default: sqlite file territorium.db here)."),
) -> None:
    """Evaluate alert rules (drift over consecutive weeks or months, quota pace at
    mid-quarter, white space) on the plan's KPIs; optionally post them to webhooks and
    propose a minimum-disruption rebalance. Rules: docs/monitoring.md.
    """
    console = Console(stderr=as_json)
    try:
        text, source = _rules_text(rules)
        parsed = parse_rules(text, source)
    except AlertRuleError as exc:
        console.print(f"[red]error:[/red] {len(exc.issues)} problem(s) in the alert rules")
        for line in str(exc).splitlines():
            console.print(f"  {line}", markup=False, highlight=False)
        raise typer.Exit(2) from None
    except KpiJobError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    if validate_only:
        console.print(f"{source}: {len(parsed)} rule(s) OK", markup=False, highlight=False)
        for r in parsed:
            console.print(f"  line {r.line}: {r.name}: {r.describe()}", markup=False, highlight=False)
        return
    try:
        when = dt.date.fromisoformat(asof) if asof else None
    except ValueError:
        console.print(f"[red]error:[/red] --asof: {asof!r} is not a date (YYYY-MM-DD)")
        raise typer.Exit(2) from None
    if targets not in ("plan", "equal"):
        console.print(f"[red]error:[/red] --targets must be 'plan' or 'equal', not {targets!r}")
        raise typer.Exit(2)
    try:
        job = AlertJob(rules=tuple(parsed), alignment=alignment, assignment=tuple(assignment), quotas=quotas,
                       level=units, asof=when, propose=propose, targets=targets)
        ws = Workspace(database)
        check_outputs([out, out.with_suffix(".json"), propose],
                      inputs={"--rules": rules, "--alignment": alignment, "--assignment": list(assignment),
                              "--quotas": quotas}, force=force, engine=ws.engine)
        with console.status("evaluating alerts", spinner="dots") as st:
            run = run_alerts(ws, job, progress=lambda m: st.update(m))
    except (KpiJobError, WorkspaceError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    posted = post_alerts(run, parsed) if post else []
    df = alerts_frame(run.alerts)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_csv(df, out)
    payload = {"asof": str(run.asof.date()), "quarter_elapsed": run.quarter_elapsed, "evaluated": run.evaluated,
               "alerts": json.loads(df.to_json(orient="records", date_format="iso")), "posted": posted,
               "proposal": str(run.proposal) if run.proposal else None, "proposal_targets": run.proposal_targets,
               "notes": run.notes}
    out.with_suffix(".json").write_text(json.dumps(payload, indent=1))
    record_outputs([out, out.with_suffix(".json"), run.proposal], "alerts")
    if as_json:
        typer.echo(json.dumps(payload, indent=1))
    else:
        tab = Table(title=f"Alerts as of {run.asof.date()} ({len(run.alerts)} fired, {len(run.evaluated)} rules)")
        for c in ("severity", "rule", "group", "value", "since"):
            tab.add_column(c, justify="right" if c == "value" else "left")
        for a in run.alerts:
            v = f"{a.value:,.0f}" if abs(a.value) >= 100 else f"{a.value:.3g}"
            tab.add_row(a.severity, a.rule, a.group, v, str(a.since.date()) if a.since is not None else "now")
        console.print(tab)
        if run.proposal:
            towards = ("towards the capacity targets" if run.proposal_targets == "capacity"
                       else "towards equal territories")
            console.print(f"rebalance proposal: {run.proposal}, balanced {towards} (as a scenario: territorium "
                          f"plan import rebalance --alignment {run.proposal})", markup=False, highlight=False)
        for line in posted + [f"note: {n}" for n in run.notes]:
            console.print(line, markup=False, highlight=False)
        console.print(f"written: {out}, {out.with_suffix('.json')}")
    if fail_on_alert and run.alerts:
        raise typer.Exit(3)


def register(app: typer.Typer) -> None:
    app.command("alerts")(alerts_command)
