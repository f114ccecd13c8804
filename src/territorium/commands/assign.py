"""``territorium assign territories|accounts`` and ``territorium size``: staffing and sizing."""
from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import List, Optional

import typer

assign_app = typer.Typer(
    help="Staff territories (reps or teams, head counts, exact) or assign accounts straight to reps (capacities, "
    "skills, a bound and the gap); explanations and the hand-over list per rep.",
    no_args_is_help=True,
)

_PROTECT_HELP = ("Accounts with open opportunities stay with their current owner until the deals close "
                 "(the deals and open activities of every other moved account follow it).")


@contextmanager
def _progress(console, disable: bool, first: str = "loading"):
    """A transient progress bar; yields the ``progress(fraction, message)`` callback the
    plan jobs take."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console,
                  transient=True, disable=disable) as bar:
        task = bar.add_task(first, total=1.0)
        yield lambda f, m: bar.update(task, completed=f, description=m[:60])


def _rule(protect: bool, horizon: Optional[int], min_prob: float):
    from territorium.assign import ProtectionRule

    return ProtectionRule(enabled=protect, horizon_days=horizon, min_probability=min_prob)


def _fail(console, exc) -> None:
    console.print(f"[red]error:[/red] {exc}")
    raise typer.Exit(2)


def _handover_table(ho, names, title: str):
    from rich.table import Table

    t = Table(title=title)
    for c in ("rep", "kept", "gained", "gained revenue", "lost", "lost revenue", "net revenue", "protected"):
        t.add_column(c, justify="left" if c == "rep" else "right")
    s = ho.summary.sort_values("net_revenue", kind="stable")
    for _, r in s.iterrows():
        if r["gained"] == 0 and r["lost"] == 0 and r["protected"] == 0:
            continue
        nm = names.get(r["rep_id"]) or r["rep_id"]
        t.add_row(str(nm), f"{r['kept']:,}", f"{r['gained']:,}", f"{r['gained_revenue']:,.0f}", f"{r['lost']:,}",
                  f"{r['lost_revenue']:,.0f}", f"{r['net_revenue']:+,.0f}", f"{r['protected']:,}")
    return t


@assign_app.command("territories")
def territories_command(
    alignment: Optional[Path] = typer.Option(Path("out/designed.csv"), "--alignment", help="Alignment CSV (unit_id|zip, territory), e.g. from `territorium design`; 'none' uses the imported alignment."),
    units: str = typer.Option("zip", "--units", help="Unit level of the alignment: zip, county, state or account."),
    reps_from: str = typer.Option("workspace", "--reps-from", help="'workspace' (imported active reps, managers left out) or a CSV/Excel file: rep_id, name, home_zip or home_lat/home_lon, capacity_hours, fte, skills, team."),
    slots: Optional[str] = typer.Option(None, "--slots", help="Reps per territory: auto (ceil(workload / (mean capacity x (1 + --slack)))), a number, or a CSV/Excel file (territory, slots; territories not listed get 1). Every slot must be filled. Default: one each, vacancies allowed."),
    by: str = typer.Option("rep", "--by", help="rep: assign reps; team: assign predefined teams (a team column on the reps, or --teams), each as one assignee with the members' capacity-weighted home, summed capacity and joint skills."),
    teams: Optional[Path] = typer.Option(None, "--teams", help="CSV/Excel file of teams: team, rep_id (one row per member). It is then the list of teams: the reps' own team column must name teams in it."),
    weights: Optional[str] = typer.Option(None, "--weights", help="Cost weights in km-equivalents, e.g. travel=1,skill=100,capacity=200,continuity=100,vacancy=1000 (these are the defaults)."),
    capacity: str = typer.Option("hours", "--capacity", help="hours: capacity_hours as given; share: capacities as shares of the total workload (+ --slack)."),
    slack: float = typer.Option(0.05, "--slack", help="Head-room over the total workload with --capacity share, and the overload one rep may carry before --slots auto adds another (0.05 = 5%)."),
    must: List[str] = typer.Option([], "--must", help="REP=TERRITORY (TEAM=TERRITORY with --by team): must take this territory (repeatable)."),
    must_not: List[str] = typer.Option([], "--must-not", help="REP=TERRITORY (TEAM=TERRITORY with --by team): must not take it (repeatable)."),
    require: List[str] = typer.Option([], "--require", help="TERRITORY=SKILL[;SKILL]: only reps with these skills may take it (repeatable)."),
    protect: bool = typer.Option(True, "--protect-open-opps/--no-protect-open-opps", help=_PROTECT_HELP),
    protect_days: Optional[int] = typer.Option(None, "--protect-days", help="Only deals closing within this many days protect (default: every open deal)."),
    protect_min_prob: float = typer.Option(0.0, "--protect-min-probability", help="Only deals at or above this win probability (%) protect."),
    method: str = typer.Option("lap", "--method", help="lap (linear assignment, exact) or mip (the same model with HiGHS)."),
    out: Path = typer.Option(Path("out/assignment.csv"), "--out", help="Rep (or team) → territory CSV, one row per territory and rep; _territories (head count, reps, combined capacity), _accounts, _handover, _moves and _protected CSVs are written beside it."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    database: Optional[str] = typer.Option(None, "--database", help="Database URL (default: sqlite file territorium.db here)."),
    force: bool = typer.Option(False, "--force", help="Replace existing files that Territorium did not write (never this command's inputs)."),
    plan: Optional[str] = typer.Option(None, "--plan", help="Staff the stored draft plan NAME (its alignment and unit level replace --alignment and --units) and store the reps of every territory in it as one new version (see `territorium plan`)."),
    expect_version: Optional[int] = typer.Option(None, "--expect-version", help="With --plan: the version the staffing is made against (default: the current one); a plan changed since is refused (exit status 3)."),
    actor: Optional[str] = typer.Option(None, "--actor", help="With --plan: who makes the change, for the audit trail (default: cli:<login name>)."),
) -> None:
    """Reps (or teams) to territories at least cost: travel from home, skills, capacity, continuity.

    One rep per territory, or a head count per territory (--slots), or predefined teams
    (--by team); solved exactly (linear assignment). Vacant territories and benched reps are
    reported. Accounts follow their territory's rep (split among its reps when it has several)
    unless protected by open deals; every account gets a reason and every rep a hand-over list
    (accounts and revenue gained and lost).
    """
    from rich.console import Console
    from rich.table import Table

    from territorium.assign import AssignInputError, RepWeights
    from territorium.plan.assigning import AssignJobError, TerritoryJob, run_assign_territories, write_territory_outputs
    from territorium.commands._outputs import check_outputs, record_outputs
    from territorium.plan.workspace import Workspace, WorkspaceError

    from contextlib import ExitStack

    from territorium.plan import plans as stored
    from territorium.plan.job_kinds import plan_files, plan_snapshot

    console = Console(stderr=as_json)
    stored_as = None
    with ExitStack() as stack:
        try:
            job = TerritoryJob(alignment=None if alignment is None or str(alignment).lower() == "none" else alignment,
                               level=units, reps=reps_from, weights=RepWeights.parse(weights), capacity=capacity,
                               slack=slack, must=must, forbid=must_not, require=require,
                               protect=_rule(protect, protect_days, protect_min_prob), method=method,
                               slots=slots, by=by, teams=teams)
            ws = Workspace(database)
            if plan is not None:  # the stored plan's alignment, checked now: a stale version is refused before the work
                c = plan_snapshot(ws.engine, plan, expect_version, draft=True, what="assign --plan")
                (job.alignment, _), job.level, version = stack.enter_context(plan_files(c)), c.info.unit_level, c.version
            check_outputs([out], force=force, engine=ws.engine, inputs={
                "--alignment": job.alignment, "--teams": teams,
                "--reps-from": None if reps_from == "workspace" else reps_from,
                "--slots": slots if slots and Path(slots).suffix else None})  # a file, not auto or a number
            with _progress(console, as_json) as progress:
                res = run_assign_territories(job, ws, progress=progress)
            paths = write_territory_outputs(res, out)
            record_outputs(paths.values(), "assign territories")
            if plan is not None:
                from territorium.commands.plan import _actor
                from territorium.plan.assigning import store_plan_reps, territory_reps

                r = res.result
                stored_as = store_plan_reps(ws.engine, plan, territory_reps(r), expected_version=version,
                                            actor=_actor(actor), reason=f"assign territories --plan ({r.method}, "
                                            f"cost {r.objective:,.0f} km-eq.)") or stored.get_plan(ws.engine, plan)
        except stored.Conflict as exc:
            console.print(f"[red]error:[/red] {exc} (the files were written; nothing was stored)")
            raise typer.Exit(3) from None
        except (AssignJobError, AssignInputError, WorkspaceError, stored.PlanError) as exc:
            _fail(console, exc)
    r = res.result
    idc = r.id_column
    if as_json:
        typer.echo(json.dumps({
            "objective": r.objective, "vacant": list(r.vacant), "benched": list(r.benched), "method": r.method,
            "by": r.by, "slots": {t: int(n) for t, n in zip(r.territory_ids, r.slots)},
            "territories": json.loads(r.table.to_json(orient="records")),
            "territory_summary": json.loads(r.territories.to_json(orient="records")),
            "protected": int(len(res.handover.protected)), "moved": int(len(res.handover.moves)),
            "files": {k: str(v) for k, v in paths.items()},
            **({"plan": {"name": stored_as.name, "version": stored_as.version}} if stored_as else {})}, indent=1))
        return
    names = res.reps.set_index("rep_id")["name"].to_dict()
    who = "Teams" if r.by == "team" else "Reps"
    t = Table(title=f"{who} → territories ({len(r.territory_ids)} territories, {int(r.slots.sum())} slots, "
                    f"{len(r.rep_ids)} {who.lower()}; total cost {r.objective:,.0f} km-eq.)")
    cols = ["territory", "team", "members"] if r.by == "team" else ["territory", "rep"]
    for c in cols + ["km", "skills", "workload h", "capacity h", "owns", "rank", "cost"]:
        t.add_column(c, justify="left" if c in ("territory", "rep", "team", "members") else "right")
    shared = bool((r.slots > 1).any())
    for _, row in r.table.iterrows():
        lab = row["territory_id"] + (f" ({int(row['slot'])}/{int(row['slots'])})" if shared else "")
        if row[idc] is None:
            t.add_row(lab, "[yellow]vacant[/yellow]", *[""] * (len(cols) + 4), f"{row['cost']:,.0f}")
            continue
        if r.by == "team":
            first = [lab, str(row[idc]), ", ".join(str(names.get(m) or m) for m in str(row["members"]).split(";"))]
        else:
            first = [lab, str(names.get(row[idc]) or row[idc])]
        wl = (f"{row['workload_share']:,.0f} of {row['workload']:,.0f}" if row["slots"] > 1
              else f"{row['workload']:,.0f}")
        t.add_row(*first, f"{row['travel_km']:,.0f}", f"{row['skill_cover']:.0%}", wl, f"{row['capacity']:,.0f}",
                  f"{row['owned_share']:.0%}", str(int(row["rank"])), f"{row['cost']:,.0f}")
    console.print(t)
    if shared or r.by == "team":
        s = Table(title="Per territory: head count, reps, combined capacity vs workload")
        for c in ("territory", "slots", "reps", "workload h", "capacity h", "use"):
            s.add_column(c, justify="left" if c in ("territory", "reps") else "right")
        for _, row in r.territories.iterrows():
            reps_txt = ", ".join(str(names.get(m) or m) for m in str(row["reps"]).split(";") if m)
            s.add_row(row["territory_id"], str(int(row["slots"])), reps_txt or "[yellow]vacant[/yellow]",
                      f"{row['workload']:,.0f}", "" if row["capacity"] != row["capacity"] else f"{row['capacity']:,.0f}",
                      "" if row["utilisation"] != row["utilisation"] else f"{row['utilisation']:.0%}")
        console.print(s)
    if r.benched:
        console.print(f"benched {who.lower()} (more {who.lower()} than slots): "
                      + ", ".join(str(names.get(b) or b) for b in r.benched))
    console.print(_handover_table(res.handover, names, "Hand-over per rep (accounts and revenue)"))
    console.print(f"{len(res.handover.moves):,} accounts change owner; {len(res.handover.protected):,} stay with "
                  "their owner for now (open opportunities)")
    for n in res.notes:
        console.print(f"[dim]note:[/dim] {n}")
    console.print("written: " + ", ".join(str(p) for p in paths.values()))
    if stored_as is not None:
        console.print(f"stored in plan {stored_as.name}: version {stored_as.version} (territorium plan show "
                      f"{stored_as.name})")


@assign_app.command("accounts")
def accounts_command(
    reps_from: str = typer.Option("workspace", "--reps-from", help="'workspace' (imported active reps, managers left out) or a CSV/Excel file: rep_id, name, home_zip or home_lat/home_lon, capacity_hours, fte, skills."),
    capacity: str = typer.Option("hours", "--capacity", help="hours: capacity_hours as given (infeasible capacity is an error); share: capacities as shares of the total workload (+ --slack)."),
    slack: float = typer.Option(0.05, "--slack", help="Head-room over the total workload with --capacity share (0.05 = 5%)."),
    allow_overload: bool = typer.Option(False, "--allow-overload", help="Let reps go over capacity at --overload-penalty km per hour instead of failing."),
    overload_penalty: float = typer.Option(1000.0, "--overload-penalty", help="Cost of one hour over capacity (km) with --allow-overload."),
    continuity_km: float = typer.Option(10.0, "--continuity-km", help="Bonus (km) for keeping an account with its current owner."),
    require: List[str] = typer.Option(["segment", "language"], "--require", help="Account fields whose values are skills a rep must have (when a rep lists them), e.g. segment (Enterprise)."),
    protect: bool = typer.Option(True, "--protect-open-opps/--no-protect-open-opps", help=_PROTECT_HELP),
    protect_days: Optional[int] = typer.Option(None, "--protect-days", help="Only deals closing within this many days protect (default: every open deal)."),
    protect_min_prob: float = typer.Option(0.0, "--protect-min-probability", help="Only deals at or above this win probability (%) protect."),
    candidates: int = typer.Option(30, "--candidates", help="Nearest eligible reps per account tried first by the local search."),
    time_limit: float = typer.Option(45.0, "--time-limit", help="Seconds for bound and search."),
    seed: int = typer.Option(0, "--seed", help="Random seed: same seed, same plan."),
    out: Path = typer.Option(Path("out/account_assignment.csv"), "--out", help="Per-rep load CSV; _accounts (with reasons), _handover, _moves and _protected CSVs beside it."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    database: Optional[str] = typer.Option(None, "--database", help="Database URL (default: sqlite file territorium.db here)."),
    force: bool = typer.Option(False, "--force", help="Replace existing files that Territorium did not write (never this command's inputs)."),
) -> None:
    """Assign every account to a rep: least travel within capacity and skills (GAP).

    Reports the plan's cost, a valid lower bound (Lagrangian / LP relaxation) and the gap,
    reps over capacity, why each account went where it did, and the hand-over per rep.
    """
    from rich.console import Console
    from rich.table import Table

    from territorium.assign import AssignInputError
    from territorium.plan.assigning import AccountJob, AssignJobError, run_assign_accounts, write_account_outputs
    from territorium.commands._outputs import check_outputs, record_outputs
    from territorium.plan.workspace import Workspace, WorkspaceError

    console = Console(stderr=as_json)
    try:
        job = AccountJob(reps=reps_from, capacity=capacity, slack=slack, allow_overload=allow_overload,
                         overload_penalty=overload_penalty, continuity_km=continuity_km, require=tuple(require),
                         protect=_rule(protect, protect_days, protect_min_prob), candidates=candidates,
                         time_limit=time_limit, seed=seed)
        ws = Workspace(database)
        check_outputs([out], force=force, engine=ws.engine,
                      inputs={"--reps-from": None if reps_from == "workspace" else reps_from})
        with _progress(console, as_json) as progress:
            res = run_assign_accounts(job, ws, progress=progress)
        paths = write_account_outputs(res, out)
        record_outputs(paths.values(), "assign accounts")
    except (AssignJobError, AssignInputError, WorkspaceError) as exc:
        _fail(console, exc)
    g = res.result
    if as_json:
        typer.echo(json.dumps({
            "status": g.status, "objective": g.objective, "lower_bound": g.lower_bound, "gap": g.gap,
            "bound_method": g.bound_method, "time_s": g.time_s, "seed": g.seed,
            "overload_hours": float(g.overload.sum()),
            "reasons": {str(k): int(v) for k, v in res.accounts["reason_code"].value_counts().items()},
            "moved": int(len(res.handover.moves)), "protected": int(len(res.handover.protected)),
            "reps": json.loads(res.reps.to_json(orient="records")),
            "files": {k: str(v) for k, v in paths.items()}}, indent=1))
        return
    t = Table(title=f"Accounts → reps ({len(res.accounts):,} accounts, {len(res.reps)} reps)")
    for c in ("rep", "accounts", "load h", "capacity h", "use", "over h"):
        t.add_column(c, justify="left" if c == "rep" else "right")
    for _, row in res.reps.iterrows():
        over = row["overload_hours"]
        t.add_row(str(row["name"] or row["rep_id"]), f"{row['accounts']:,}", f"{row['load_hours']:,.0f}",
                  f"{row['capacity_hours']:,.0f}", f"{row['utilisation']:.0%}",
                  f"[red]{over:,.0f}[/red]" if over > 1e-6 else "0")
    console.print(t)
    console.print(g.summary())
    rc = res.accounts["reason_code"].value_counts()
    console.print("why: " + ", ".join(f"{k} {v:,}" for k, v in rc.items()))
    names = res.reps.set_index("rep_id")["name"].to_dict()
    console.print(_handover_table(res.handover, names, "Hand-over per rep (accounts and revenue)"))
    for n in res.notes:
        console.print(f"[dim]note:[/dim] {n}")
    console.print("written: " + ", ".join(str(p) for p in paths.values()))


def size_command(
    units: str = typer.Option("zip", "--units", help="Unit level: zip, county or state."),
    n_min: int = typer.Option(10, "--min", help="Smallest head count to try."),
    n_max: int = typer.Option(40, "--max", help="Largest head count to try."),
    step: int = typer.Option(5, "--step", help="Step between head counts."),
    capacity_hours: float = typer.Option(1600.0, "--capacity-hours", help="Selling hours per rep per year (one FTE)."),
    coverage: str = typer.Option("95%", "--coverage", help="Share of potential that must lie in territories within capacity."),
    tolerance: str = typer.Option("10%", "--tolerance", help="How far the largest territory may exceed capacity."),
    balance: List[str] = typer.Option(["workload:5%"], "--balance", help="MEASURE:TOLERANCE for each design (repeatable)."),
    time_limit: float = typer.Option(5.0, "--time-limit", help="Seconds per design."),
    seed: int = typer.Option(0, "--seed", help="Random seed, the same for every head count."),
    jobs: Optional[int] = typer.Option(1, "--jobs", help="Worker processes per design."),
    out: Path = typer.Option(Path("out/sizing.png"), "--out", help="Sizing curve PNG; the table is written beside it as CSV."),
    as_json: bool = typer.Option(False, "--json", help="Print the table as JSON."),
    database: Optional[str] = typer.Option(None, "--database", help="Database URL (default: sqlite file territorium.db here)."),
    force: bool = typer.Option(False, "--force", help="Replace existing files that Territorium did not write (never this command's inputs)."),
) -> None:
    """How many reps do we need? Design n territories for each n and compare.

    Reports workload per rep against capacity, coverage (% of potential in territories within
    capacity) and travel per head count, writes the sizing curve, and recommends the smallest
    n with enough coverage and no territory far over capacity.
    """
    from rich.console import Console
    from rich.table import Table

    from territorium.plan.assigning import AssignJobError, plot_sizing, run_sizing
    from territorium.plan.designing import DesignJobError, parse_balance, parse_fraction
    from territorium.commands._outputs import check_outputs, record_outputs
    from territorium.plan.workspace import Workspace, WorkspaceError

    console = Console(stderr=as_json)
    if step < 1 or n_min < 1 or n_max < n_min:
        _fail(console, f"--min {n_min} --max {n_max} --step {step}: need 1 ≤ min ≤ max and step ≥ 1")
    try:
        ns = list(range(n_min, n_max + 1, step))
        cov, tol, bal = parse_fraction(coverage, "--coverage"), parse_fraction(tolerance, "--tolerance"), parse_balance(balance)
        ws = Workspace(database)
        check_outputs([out, out.with_suffix(".csv")], force=force, engine=ws.engine)
        with _progress(console, as_json, "loading units") as progress:
            load = ws.load_units(units)
            s = run_sizing(ws, ns, load=load, capacity_hours=capacity_hours, coverage_target=cov, tolerance=tol,
                           balance=bal, time_limit=time_limit, seed=seed, n_jobs=jobs, progress=progress)
        csv = out.with_suffix(".csv")
        csv.parent.mkdir(parents=True, exist_ok=True)
        tmp = csv.with_name(csv.name + ".tmp")
        s.table.to_csv(tmp, index=False)
        plot_sizing(s, out)
        tmp.replace(csv)
        record_outputs([out, csv], "size")
    except (AssignJobError, DesignJobError, WorkspaceError, ValueError) as exc:
        _fail(console, exc)
    if as_json:
        typer.echo(json.dumps({"recommended": s.recommended, "reason": s.reason,
                               "table": json.loads(s.table.to_json(orient="records")),
                               "plot": str(out), "csv": str(out.with_suffix(".csv"))}, indent=1))
        return
    t = Table(title=f"Sizing: capacity {capacity_hours:,.0f} h per rep, coverage target {cov:.0%}")
    for c in ("reps", "mean h", "max h", "mean use", "coverage", "within", "mean km", "status", "meets"):
        t.add_column(c, justify="right")
    for _, r in s.table.iterrows():
        if r["mean_workload"] != r["mean_workload"]:
            t.add_row(str(r["n"]), *[""] * 6, str(r["status"]), "")
            continue
        t.add_row(str(r["n"]), f"{r['mean_workload']:,.0f}", f"{r['max_regular']:,.0f}", f"{r['mean_utilisation']:.0%}",
                  f"{r['coverage']:.0%}", f"{int(r['within_capacity'])}/{r['n']}", f"{r['mean_km']:,.1f}",
                  str(r["status"]), "[green]yes[/green]" if r["meets"] else "no")
    console.print(t)
    console.print(("[green]recommended:[/green] " if s.recommended else "[yellow]no recommendation:[/yellow] ") + s.reason)
    console.print(f"written: {out}, {out.with_suffix('.csv')}")


def register(app: typer.Typer) -> None:
    app.add_typer(assign_app, name="assign")
    app.command("size")(size_command)
