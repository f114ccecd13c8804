"""``territorium plan ...``: plans in the workspace database (list, show, copy, diff, move,
status, promote, restore, import, export, history, owner)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer
from territorium.data.cells import write_csv

plan_app = typer.Typer(help="Plans in the database: versions, scenarios, comparison, promotion, audit trail.",
                       no_args_is_help=True)

DB_HELP = "Database URL (default: sqlite file territorium.db here, or TERRITORIUM_DATABASE_URL)."
ACTOR_HELP = "Who makes the change, for the audit trail (default: cli:<login name>)."
EXPECT_HELP = "Version the change is made against (default: the current one); a stale one is refused."


def _engine(database: str | None):
    """The workspace's engine; a SQLite file that does not exist is refused ("no workspace at
    ..."), never created from a mistyped path."""
    from territorium import store

    eng = store.engine(database, create=False)
    store.upgrade(eng)
    return eng


def _actor(actor: str | None) -> str:
    if actor:
        return actor
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no login name (containers)
        return "cli"


def _fail(exc: Exception) -> None:
    from rich.console import Console

    from territorium.plan.plans import Conflict

    Console(stderr=True).print("[red]error:[/red] " + _escape(str(exc)))
    raise typer.Exit(3 if isinstance(exc, Conflict) else 2)


def _escape(s: str) -> str:
    from rich.markup import escape

    return escape(s)


def _expected(eng, name: str, expect: int | None) -> int:
    from territorium.plan import plans

    return expect if expect is not None else plans.get_plan(eng, name).version


def _say_done(info, what: str) -> None:
    typer.echo(f"{what}: plan {info.name} is {info.status}, version {info.version}")


def _info_dict(p) -> dict:
    d = dict(p.__dict__)
    for k in ("created_at", "updated_at", "effective_from"):
        d[k] = None if d[k] is None else d[k].isoformat(sep=" ")
    return d


@plan_app.command("list")
def list_command(
    model: Optional[str] = typer.Option(None, "--model", help="Only plans of this territory model."),
    status: Optional[str] = typer.Option(None, "--status", help="Only plans with this status."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    database: Optional[str] = typer.Option(None, "--database", help=DB_HELP),
) -> None:
    """The plans (newest first) with model, status, version and author."""
    from rich.console import Console
    from rich.table import Table

    from territorium.plan import plans

    try:
        rows, total = plans.list_plans(_engine(database), model=model, status=status)
    except plans.PlanError as exc:
        _fail(exc)
    if as_json:
        typer.echo(json.dumps([_info_dict(p) for p in rows], indent=1))
        return
    if not rows:
        typer.echo("no plans yet: territorium plan import NAME --alignment out/plan.csv")
        return
    t = Table(title=f"Plans ({total})")
    for c in ("name", "model", "status", "version", "units", "by", "updated", "effective"):
        t.add_column(c)
    for p in rows:
        t.add_row(p.name, p.model, p.status, str(p.version), p.unit_level, p.created_by,
                  f"{p.updated_at:%Y-%m-%d %H:%M}", f"{p.effective_from:%Y-%m-%d}" if p.effective_from else "")
    Console().print(t)


@plan_app.command("show")
def show_command(
    name: str = typer.Argument(..., help="Plan name, or NAME@VERSION for an earlier version."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    database: Optional[str] = typer.Option(None, "--database", help=DB_HELP),
) -> None:
    """A plan's settings and its territories: units, reps, quota, parent, manager."""
    from rich.console import Console
    from rich.table import Table

    from territorium.plan import plans

    try:
        c = plans.plan_content(_engine(database), name)
    except plans.PlanError as exc:
        _fail(exc)
    n_units = c.units.groupby("territory_id").size()
    if as_json:
        terr = [{**r, "reps": [list(x) for x in r["reps"]], "units": int(n_units.get(r["territory_id"], 0)),
                 "quota": None if r["quota"] != r["quota"] else r["quota"]}
                for r in c.territories.to_dict("records")]
        typer.echo(json.dumps({"plan": _info_dict(c.info), "version": c.version, "territories": terr,
                               "accounts": c.accounts.to_dict("records")}, indent=1))
        return
    con = Console()
    i = c.info
    con.print(f"[bold]{i.name}[/bold] — model {i.model} ({i.kind}), {i.unit_level} units, {i.status}, "
              f"version {c.version}{'' if c.version == i.version else f' of {i.version}'}; by {i.created_by}, "
              f"seed {i.seed}; settings {json.dumps(i.settings)}")
    t = Table()
    for col in ("territory", "name", "units", "reps", "quota", "parent", "manager"):
        t.add_column(col, justify="right" if col in ("units", "quota") else "left")
    for r in c.territories.itertuples(index=False):
        t.add_row(r.territory_id, r.name or "", f"{int(n_units.get(r.territory_id, 0)):,}",
                  ";".join(x[0] for x in r.reps), "" if r.quota != r.quota else f"{r.quota:,.0f}",
                  r.parent or "", r.manager or "")
    con.print(t)
    if len(c.accounts):
        con.print(f"{len(c.accounts):,} accounts assigned explicitly")


@plan_app.command("copy")
def copy_command(
    source: str = typer.Argument(..., help="Plan to copy (NAME or NAME@VERSION)."),
    new_name: str = typer.Argument(..., help="Name of the new draft (scenario)."),
    model: Optional[str] = typer.Option(None, "--model", help="Territory model of the copy (default: the source's)."),
    actor: Optional[str] = typer.Option(None, "--actor", help=ACTOR_HELP),
    database: Optional[str] = typer.Option(None, "--database", help=DB_HELP),
) -> None:
    """Copy a plan into a new draft scenario."""
    from territorium.plan import plans

    try:
        p = plans.copy_plan(_engine(database), source, new_name, actor=_actor(actor), model=model)
    except plans.PlanError as exc:
        _fail(exc)
    _say_done(p, "copied")


@plan_app.command("move")
def move_command(
    name: str = typer.Argument(..., help="Plan (a draft)."),
    moves: List[str] = typer.Argument(..., help="UNIT=TERRITORY pairs, e.g. 10001=T3."),
    reason: Optional[str] = typer.Option(None, "--reason", help="Why, for the audit trail."),
    expect: Optional[int] = typer.Option(None, "--expect-version", help=EXPECT_HELP),
    actor: Optional[str] = typer.Option(None, "--actor", help=ACTOR_HELP),
    database: Optional[str] = typer.Option(None, "--database", help=DB_HELP),
) -> None:
    """Move units to other territories by hand (one new version)."""
    from territorium.plan import plans

    pairs = {}
    for m in moves:
        if "=" not in m:
            _fail(plans.PlanError(f"{m!r}: write UNIT=TERRITORY"))
        u, t = m.split("=", 1)
        pairs[u.strip()] = t.strip()
    try:
        eng = _engine(database)
        p = plans.move_units(eng, name, pairs, expected_version=_expected(eng, name, expect), actor=_actor(actor),
                             reason=reason)
    except plans.PlanError as exc:
        _fail(exc)
    _say_done(p, f"moved {len(pairs)} unit(s)")


@plan_app.command("status")
def status_command(
    name: str = typer.Argument(..., help="Plan."),
    status: str = typer.Argument(..., help="New status: proposed, approved, draft or archived."),
    reason: Optional[str] = typer.Option(None, "--reason", help="Why, for the audit trail."),
    expect: Optional[int] = typer.Option(None, "--expect-version", help=EXPECT_HELP),
    actor: Optional[str] = typer.Option(None, "--actor", help=ACTOR_HELP),
    database: Optional[str] = typer.Option(None, "--database", help=DB_HELP),
) -> None:
    """Move a plan through review: draft → proposed → approved (or back to draft, or archived)."""
    from territorium.plan import plans

    try:
        eng = _engine(database)
        p = plans.set_status(eng, name, status, expected_version=_expected(eng, name, expect), actor=_actor(actor),
                             reason=reason)
    except plans.PlanError as exc:
        _fail(exc)
    _say_done(p, "status changed")


@plan_app.command("promote")
def promote_command(
    name: str = typer.Argument(..., help="Plan to activate."),
    effective: Optional[str] = typer.Option(None, "--effective", help="Effective date (YYYY-MM-DD; default now)."),
    review: bool = typer.Option(False, "--through-review", help="Take a draft or proposed plan through proposed and "
                                "approved first (each step is audited)."),
    reason: Optional[str] = typer.Option(None, "--reason", help="Why, for the audit trail."),
    actor: Optional[str] = typer.Option(None, "--actor", help=ACTOR_HELP),
    database: Optional[str] = typer.Option(None, "--database", help=DB_HELP),
) -> None:
    """Activate an approved plan from its effective date: the model's active plan is archived and
    account ownership from then on follows this plan."""
    from territorium.plan import plans

    who = _actor(actor)
    try:
        eng = _engine(database)
        p = plans.get_plan(eng, name)
        if review:
            for s in ("proposed", "approved"):
                if p.status == "draft" and s == "proposed" or p.status == "proposed" and s == "approved":
                    p = plans.set_status(eng, name, s, expected_version=p.version, actor=who, reason=reason)
        p = plans.promote(eng, name, expected_version=p.version, actor=who, effective=effective, reason=reason)
    except plans.PlanError as exc:
        _fail(exc)
    _say_done(p, f"promoted from {p.effective_from:%Y-%m-%d %H:%M}")


@plan_app.command("restore")
def restore_command(
    name: str = typer.Argument(..., help="Plan (a draft)."),
    version: int = typer.Argument(..., help="Earlier version whose content becomes the new version."),
    expect: Optional[int] = typer.Option(None, "--expect-version", help=EXPECT_HELP),
    actor: Optional[str] = typer.Option(None, "--actor", help=ACTOR_HELP),
    database: Optional[str] = typer.Option(None, "--database", help=DB_HELP),
) -> None:
    """Restore an earlier version (written as a new version; nothing is deleted)."""
    from territorium.plan import plans

    try:
        eng = _engine(database)
        p = plans.restore(eng, name, version, expected_version=_expected(eng, name, expect), actor=_actor(actor))
    except plans.PlanError as exc:
        _fail(exc)
    _say_done(p, f"restored version {version}")


@plan_app.command("diff")
def diff_command(
    names: List[str] = typer.Argument(..., help="Two or more plans (NAME or NAME@VERSION); the first is the base."),
    measures: Optional[str] = typer.Option(None, "--measures", help="Also sum these unit measures per territory "
                                           "(e.g. workload,potential_est); builds the plans' units from the workspace."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write the accounts that change owner to this CSV."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    database: Optional[str] = typer.Option(None, "--database", help=DB_HELP),
) -> None:
    """Compare plans side by side: balance per measure, units and accounts that change territory or
    owner, the revenue they carry and the reps affected."""
    from rich.console import Console
    from rich.table import Table

    from territorium.plan import plans

    try:
        eng = _engine(database)
        um = None
        if measures:
            from territorium.plan.workspace import Workspace, WorkspaceError

            level = plans.get_plan(eng, plans.parse_ref(names[0])[0]).unit_level
            try:
                load = Workspace(engine=eng).load_units(level)
            except (WorkspaceError, ValueError) as exc:
                raise plans.PlanError(str(exc)) from None
            cols = [m.strip() for m in measures.split(",") if m.strip()]
            missing = [m for m in cols if m not in load.units.table.columns]
            if missing:
                raise plans.PlanError(f"--measures: no unit measure {missing[0]!r}")
            um = load.units.table[cols].set_axis(list(map(str, load.units.ids)))
        cmp = plans.compare(eng, names, unit_measures=um)
    except plans.PlanError as exc:
        _fail(exc)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_csv(cmp.moved, out)
    if as_json:
        typer.echo(json.dumps({"summary": json.loads(cmp.summary.to_json(orient="records")),
                               "balance": json.loads(cmp.balance.to_json(orient="records")),
                               "territories": json.loads(cmp.territories.to_json(orient="records"))}, indent=1))
        return
    con = Console()
    t = Table(title="Balance: largest deviation of a territory from the mean")
    t.add_column("measure")
    for p in cmp.plans:
        t.add_column(p, justify="right")
    b = cmp.balance.set_index(["measure", "plan"])["max_abs_dev"]
    for m in dict.fromkeys(cmp.balance["measure"]):
        t.add_row(m, *[("–" if b[(m, p)] != b[(m, p)] else f"{b[(m, p)]:.1%}") for p in cmp.plans])
    con.print(t)
    t = Table(title=f"Changes against {cmp.plans[0]}")
    for c in ("plan", "territories", "units moved", "accounts moved", "revenue moved", "reps affected"):
        t.add_column(c, justify="right")
    for r in cmp.summary.itertuples(index=False):
        t.add_row(r.plan, str(r.territories), f"{r.units_moved:,}", f"{r.accounts_moved:,}", f"{r.revenue_moved:,.0f}",
                  f"{r.reps_affected} {('(' + r.reps[:40] + ')') if r.reps else ''}")
    con.print(t)
    if out is not None:
        con.print(f"written: {out}")


@plan_app.command("import")
def import_command(
    name: str = typer.Argument(..., help="Name of the new draft plan."),
    alignment: Optional[Path] = typer.Option(None, "--alignment", help="Alignment CSV (design --out: unit_id, territory)."),
    staffing: Optional[Path] = typer.Option(None, "--staffing", help="Staffing CSV (assign territories --out: "
                                            "territory_id, rep_id or team_id + members)."),
    accounts: Optional[Path] = typer.Option(None, "--accounts", help="Account assignments (assign accounts "
                                            "*_accounts.csv: account_id, new_owner, optional territory)."),
    quotas: Optional[Path] = typer.Option(None, "--quotas", help="Quotas CSV (quota --out: territory, quota)."),
    hierarchy: Optional[Path] = typer.Option(None, "--hierarchy", help="Hierarchy CSV (territory, parent, optional "
                                             "manager, name)."),
    model: str = typer.Option("geographic", "--model", help="Territory model (geographic, or an overlay name)."),
    unit_level: Optional[str] = typer.Option(None, "--unit-level", help="Unit level of the alignment (default: zip, "
                                             "or account when the file has account_id)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed of the run that made the plan (recorded)."),
    settings: Optional[Path] = typer.Option(None, "--settings", help="JSON or YAML file of the settings that made "
                                            "the plan (recorded)."),
    actor: Optional[str] = typer.Option(None, "--actor", help=ACTOR_HELP),
    database: Optional[str] = typer.Option(None, "--database", help=DB_HELP),
) -> None:
    """Store the CSV outputs of design / assign / quota as a new draft plan (all files are
    checked first; a problem names the file, row and column and stores nothing)."""
    from territorium.plan import plans

    try:
        st = None
        if settings is not None:
            import yaml

            try:
                st = yaml.safe_load(settings.read_text())
            except (OSError, yaml.YAMLError) as exc:
                raise plans.PlanError(f"{settings}: cannot read settings ({exc})") from None
            if not isinstance(st, dict):
                raise plans.PlanError(f"{settings}: settings must be a mapping")
        p = plans.import_plan(_engine(database), name, actor=_actor(actor), alignment=alignment, staffing=staffing,
                              accounts=accounts, quotas=quotas, hierarchy=hierarchy, model=model,
                              unit_level=unit_level, seed=seed, settings=st)
    except plans.PlanError as exc:
        _fail(exc)
    _say_done(p, "imported")


@plan_app.command("export")
def export_command(
    name: str = typer.Argument(..., help="Plan (NAME or NAME@VERSION)."),
    out: Path = typer.Option(Path("out/plan"), "--out", help="Folder for alignment, staffing, territories, "
                             "accounts, owners and events CSVs."),
    database: Optional[str] = typer.Option(None, "--database", help=DB_HELP),
) -> None:
    """Write a plan (and its audit trail) as CSV files that `plan import` reads back."""
    from territorium.plan import plans

    try:
        paths = plans.export_plan(_engine(database), name, out)
    except plans.PlanError as exc:
        _fail(exc)
    typer.echo("written: " + ", ".join(str(p) for p in paths.values()))


@plan_app.command("history")
def history_command(
    name: Optional[str] = typer.Argument(None, help="Plan (default: every plan, with --account)."),
    account: Optional[str] = typer.Option(None, "--account", help="Only events of this account."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write the events to this CSV."),
    limit: int = typer.Option(50, "--limit", help="Events shown (newest last)."),
    database: Optional[str] = typer.Option(None, "--database", help=DB_HELP),
) -> None:
    """The audit trail: who changed what, when, from what to what, and why."""
    from rich.console import Console
    from rich.table import Table

    from territorium.plan import plans

    try:
        ev, total = plans.events(_engine(database), name, entity="account" if account else None, entity_id=account)
    except plans.PlanError as exc:
        _fail(exc)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_csv(ev, out)
        typer.echo(f"written: {out} ({total} events)")
        return
    t = Table(title=f"Audit trail ({total} events)")
    for c in ("plan", "v", "at", "who", "what", "from", "to", "why"):
        t.add_column(c)
    for r in ev.tail(limit).itertuples(index=False):
        t.add_row(r.plan, str(r.version), f"{r.at:%Y-%m-%d %H:%M}", r.actor, f"{r.entity} {r.entity_id} {r.field}",
                  r.old_value or "", r.new_value or "", r.reason or r.job or "")
    Console().print(t)


@plan_app.command("owner")
def owner_command(
    account: str = typer.Argument(..., help="Account id."),
    at: Optional[str] = typer.Option(None, "--at", help="Date (YYYY-MM-DD); default: the whole history."),
    model: str = typer.Option("geographic", "--model", help="Territory model."),
    database: Optional[str] = typer.Option(None, "--database", help=DB_HELP),
) -> None:
    """Who owned an account on a date (or its whole ownership history) under the active plans."""
    from territorium.plan import plans

    try:
        eng = _engine(database)
        if at:
            o = plans.owner_at(eng, account, at, model=model)
            if o is None:
                typer.echo(f"account {account}: no {model} plan was active on {at}")
                return
            until = "" if o["valid_to"] is None else f" to {o['valid_to']:%Y-%m-%d}"
            typer.echo(f"account {account} on {at}: rep {o['rep_id'] or '–'}, territory {o['territory_id'] or '–'} "
                       f"(plan {o['plan']} v{o['plan_version']}, from {o['valid_from']:%Y-%m-%d}{until})")
            return
        h = plans.ownership_history(eng, account, model=model)
    except plans.PlanError as exc:
        _fail(exc)
    if h.empty:
        typer.echo(f"account {account}: no ownership recorded for model {model}")
        return
    for r in h.itertuples(index=False):
        end = "open" if r.valid_to is None or r.valid_to != r.valid_to else f"{r.valid_to:%Y-%m-%d}"
        typer.echo(f"{r.valid_from:%Y-%m-%d} – {end:10}  rep {r.rep_id or '–'}  territory {r.territory_id or '–'}  "
                   f"({r.plan} v{r.plan_version})")


def register(app: typer.Typer) -> None:
    app.add_typer(plan_app, name="plan")
