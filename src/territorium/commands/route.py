"""``territorium route``: assign accounts by an ordered YAML rule set (validate, dry run, route)."""
from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Optional

import typer


def example_rules() -> Path:
    """The packaged example rule set (written for the demo company)."""
    return Path(str(resources.files("territorium") / "profiles" / "routing.example.yaml"))


def _issue_table(report, console, title: str, info: bool = False) -> None:
    from rich.table import Table

    shown = [i for i in report.issues if info or i.severity != "info"]
    hidden = len(report.issues) - len(shown)
    if not shown:
        if hidden:
            console.print(f"[dim]{hidden} note(s) (overlaps no current account hits); --verbose shows them[/dim]")
        return
    t = Table(title=title)
    for c in ("line", "severity", "code", "rule", "message"):
        t.add_column(c, overflow="fold")
    style = {"error": "red", "warning": "yellow", "info": "dim"}
    for i in shown:
        s = style[i.severity]
        t.add_row(str(i.line or ""), f"[{s}]{i.severity}[/{s}]", i.code, i.rule or "", i.message)
    console.print(t)
    if hidden:
        console.print(f"[dim]{hidden} more note(s) (overlaps no current account hits); --verbose shows them[/dim]")


def route_command(
    rules: Optional[Path] = typer.Option(None, "--rules", help="Rule set (YAML). Default: the packaged example for the demo (profiles/routing.example.yaml)."),
    accounts: Optional[Path] = typer.Option(None, "--accounts", help="Accounts to route: a CRM export (any format `import accounts` reads) or 'workspace'. Default: the imported accounts."),
    alignment: Optional[Path] = typer.Option(None, "--alignment", help="Alignment (unit_id|zip, territory), e.g. out/designed.csv. Default: the imported alignment."),
    assignment: Optional[Path] = typer.Option(None, "--assignment", help="Territory → rep file (territory, rep_id). Default: imported territories, or current owners matched to the alignment."),
    units: str = typer.Option("zip", "--units", help="Unit level of the alignment: zip, county or state."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only show (and write <out>_changes.csv) what would change against the current owners."),
    validate_only: bool = typer.Option(False, "--validate-only", help="Only check the rule set (unknown fields/targets, types, unreachable rules, overlaps)."),
    strict: bool = typer.Option(False, "--strict", help="Treat warnings (unreachable rules, overlaps) as errors (exit 2)."),
    verbose: bool = typer.Option(False, "--verbose", help="Also list notes (overlaps that no current account hits)."),
    out: Path = typer.Option(Path("out/routed.csv"), "--out", help="Routed accounts CSV (rep, territory, rule, line, explanation)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    database: Optional[str] = typer.Option(None, "--database", help="Database URL (default: sqlite file territorium.db here)."),
    force: bool = typer.Option(False, "--force", help="Replace existing files that Territorium did not write (never this command's inputs)."),
) -> None:
    """Route accounts with an ordered rule set: first matching rule wins, then the fallbacks.

    Conditions on any account field (equals, in, not_in, range/between incl. ZIP ranges,
    prefix, regex, missing, contains), combined with all/any; targets territory, rep, team
    (round robin or least loaded) or the nearest territory. Validation reports unknown
    fields and targets, type errors, unreachable rules and overlaps with their YAML line.
    """
    from rich.console import Console
    from rich.table import Table

    from territorium.plan.exporting import ExportError
    from territorium.plan.routing import RoutingJobError, RuleFileInvalid, run_routing, write_routed
    from territorium.commands._outputs import check_outputs, record_outputs
    from territorium.plan.workspace import Workspace, WorkspaceError

    console = Console(stderr=as_json)
    rules = rules or example_rules()
    if accounts is not None and str(accounts).lower() == "workspace":
        accounts = None
    try:
        ws = Workspace(database)
        if not validate_only:
            check_outputs([out], inputs={"--rules": rules, "--accounts": accounts, "--alignment": alignment,
                                         "--assignment": assignment}, force=force, engine=ws.engine)
        with console.status("loading accounts and the plan, validating the rules", spinner="dots"):
            run = run_routing(rules, ws, accounts=accounts, alignment=alignment, assignment=assignment,
                              level=units, validate_only=validate_only)
    except RuleFileInvalid as exc:
        if as_json:
            typer.echo(json.dumps({"ok": False, "issues": json.loads(exc.report.frame().to_json(orient="records"))}, indent=1))
        else:
            _issue_table(exc.report, console, f"{rules}: {len(exc.report.errors)} error(s)")
        console.print(f"[red]error:[/red] the rule set {rules} has errors; nothing was routed")
        raise typer.Exit(2) from None
    except (RoutingJobError, ExportError, WorkspaceError, FileNotFoundError, ValueError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    report = run.validation
    if strict and report.warnings:
        _issue_table(report, console, f"{rules}: warnings are errors with --strict")
        raise typer.Exit(2)
    if validate_only:
        if as_json:
            typer.echo(json.dumps({"ok": True, "issues": json.loads(report.frame().to_json(orient="records"))}, indent=1))
            return
        _issue_table(report, console, f"{rules}: {len(report.warnings)} warning(s)", verbose)
        console.print(f"[green]{rules}: {len(run.ruleset.rules)} rules, no errors[/green]")
        return
    res = run.result
    files = write_routed(run, out, dry_run=dry_run)
    record_outputs(files, "route")
    dr = run.dry_run
    if as_json:
        payload = {
            "ok": True, "accounts": len(res.table), "unrouted": res.unrouted, "changed": dr.changed,
            "rules": json.loads(res.rules.to_json(orient="records")),
            "via": res.table["via"].value_counts().to_dict(),
            "by_rep": json.loads(dr.by_rep.head(50).to_json(orient="records")),
            "by_territory": json.loads(dr.by_territory.head(50).to_json(orient="records")),
            "issues": json.loads(report.frame().to_json(orient="records")),
            "files": [str(f) for f in files],
        }
        if run.credit is not None:
            payload["credit"] = {"revenue": run.credit.revenue_total, "credited": run.credit.credited_total,
                                 "expected": run.credit.expected_total, "ok": run.credit.ok}
        typer.echo(json.dumps(payload, indent=1, default=str))
        return
    _issue_table(report, console, f"{rules}: checks", verbose)
    t = Table(title=f"Rules ({rules.name}) — {len(res.table):,} accounts")
    for c in ("line", "rule", "target", "matched", "routed"):
        t.add_column(c, justify="right" if c in ("line", "matched", "routed") else "left")
    for r in res.rules.itertuples():
        t.add_row(str(r.line), r.rule, r.target, f"{r.matched:,}", f"{r.routed:,}")
    vc = res.table["via"].value_counts()
    t.add_row("", "fallback", ", ".join(x.describe() for x in run.ruleset.fallback) or "(none)", "",
              f"{int(vc.get('fallback', 0)):,}")
    t.add_row("", "unrouted", "", "", f"{res.unrouted:,}")
    console.print(t)
    names = dict(zip(run.context.reps["rep_id"], run.context.reps["name"])) if run.context.reps is not None else {}
    if dr.changed:
        t = Table(title=f"{'Would change' if dry_run else 'Changes'}: {dr.changed:,} of {dr.accounts:,} accounts "
                        "(from → to, current owner vs routed rep)")
        for c in ("from", "to", "accounts"):
            t.add_column(c, justify="right" if c == "accounts" else "left")
        for frm, to, n in dr.by_rep.head(15)[["from", "to", "accounts"]].values.tolist():
            t.add_row(str(names.get(frm, frm)), str(names.get(to, to)), f"{int(n):,}")
        if len(dr.by_rep) > 15:
            t.add_row("…", f"{len(dr.by_rep) - 15} more pairs", "")
        console.print(t)
    else:
        console.print("no account changes owner")
    if len(dr.by_territory):
        moved = int(dr.by_territory["accounts"].sum())
        console.print(f"territory changes: {moved:,} accounts in {len(dr.by_territory)} from → to pairs "
                      f"(largest: {dr.by_territory['from'].iloc[0]} → {dr.by_territory['to'].iloc[0]}, "
                      f"{int(dr.by_territory['accounts'].iloc[0]):,})")
    if run.credit is not None:
        c = run.credit
        console.print(f"overlay credit: revenue {c.revenue_total:,.0f}, credited {c.credited_total:,.0f} "
                      f"(expected {c.expected_total:,.0f}: {'ok' if c.ok else 'MISMATCH'})")
    for n in run.notes:
        console.print(f"[dim]note:[/dim] {n}")
    console.print(("dry run: nothing routed; " if dry_run else "") + "written: " + ", ".join(str(f) for f in files))


def register(app: typer.Typer) -> None:
    app.command("route")(route_command)
