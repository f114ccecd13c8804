"""``territorium design``: balanced, contiguous, compact territories from the workspace data."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import List, Optional

import typer


def _compact(v: float) -> str:
    """Totals short enough for an 80-column table: 1,406 · 42.7k · 53.5M."""
    if not math.isfinite(v):
        return "–"
    a = abs(v)
    if a >= 1e9:
        return f"{v / 1e9:.1f}G"
    if a >= 1e6:
        return f"{v / 1e6:.1f}M"
    if a >= 1e5:
        return f"{v / 1e3:.0f}k"
    return f"{v:,.0f}"


def _print_report(load, result, labels, console) -> None:
    from rich.table import Table

    r = result.report
    measures = list(r.tolerances)
    from rich import box

    t = Table(title=f"Territories ({len(labels)}) — status: {r.status}", box=box.SIMPLE_HEAD, pad_edge=False,
              collapse_padding=True)
    t.add_column("territory", no_wrap=True)
    t.add_column("units", justify="right", no_wrap=True)
    for m in measures:  # short headers that wrap, so the table fits 80 columns
        t.add_column(m.replace("_", "\n"), justify="right", no_wrap=True)
        t.add_column("Δ", justify="right", no_wrap=True)
    t.add_column("pcs", justify="right", no_wrap=True)
    t.add_column("avg\nkm", justify="right", no_wrap=True)
    terr = r.territories
    for i, lab in enumerate(labels):
        row = terr.iloc[i]
        cells = [str(lab), f"{int(row['units']):,}"]
        for m in measures:
            dev = row.get(f"{m}_dev", float("nan"))
            style = "red" if abs(dev) > r.tolerances[m] + 1e-9 else "green"
            cells += [_compact(float(row.get(m, float("nan")))), f"[{style}]{dev:+.1%}[/{style}]"]
        cells += [str(int(row.get("pieces", 1))), f"{row.get('mean_distance_km', float('nan')):,.0f}"]
        t.add_row(*cells)
    console.print(t)
    console.print(r.summary())
    for n in load.notes:
        console.print(f"[dim]note:[/dim] {n}")


def design_command(
    units: str = typer.Option("zip", "--units", help="Unit level: zip, county, state or account."),
    states: Optional[str] = typer.Option(None, "--states", help="Comma-separated USPS codes; CONUS for the 48 contiguous states and DC (default: where the accounts are)."),
    k: Optional[int] = typer.Option(None, "--k", help="Number of territories (default: one per rep with --centers reps, or the current count)."),
    centers: str = typer.Option("free", "--centers", help="free: the engine places centres; reps: one territory per rep, centred on the rep's home."),
    capacity_targets: bool = typer.Option(False, "--capacity-targets", help="Targets proportional to each rep's capacity (a 0.5 FTE rep gets half); needs --centers reps."),
    balance: List[str] = typer.Option(["workload:5%"], "--balance", help="MEASURE:TOLERANCE, repeatable (e.g. --balance workload:5% --balance potential:8%). Measures: account_count, revenue, order_count, customers, potential, workload, units; est_potential and white_space run the potential model first (see `territorium potential`)."),
    compactness: Optional[str] = typer.Option(None, "--compactness", help="Weight of the moment of inertia (default: the first balance measure)."),
    lock: Optional[Path] = typer.Option(None, "--lock", help="CSV of locks: unit_id|zip|account_id, territory."),
    freeze: Optional[str] = typer.Option(None, "--freeze", help="Comma-separated territories that keep exactly their current units."),
    current: Optional[Path] = typer.Option(None, "--from", help="Current alignment CSV (unit_id|zip, territory): realign it with minimal disruption."),
    realign: bool = typer.Option(False, "--realign", help="Realign the imported current alignment (as --from, from the database)."),
    max_disruption: Optional[str] = typer.Option(None, "--max-disruption", help="Cap on what moves, e.g. 10% of the disruption measure."),
    disruption: str = typer.Option("account_count", "--disruption", help="Disruption measure: account_count, revenue or units."),
    tradeoff_caps: Optional[str] = typer.Option(None, "--tradeoff", help="Sweep disruption caps, e.g. 0,2%,5%,10%,20%: writes the balance–disruption table and PNG."),
    tradeoff_time_limit: float = typer.Option(20.0, "--tradeoff-time-limit", help="Seconds for each point of the --tradeoff sweep."),
    seed: int = typer.Option(0, "--seed", help="Random seed: same seed, same plan."),
    time_limit: float = typer.Option(60.0, "--time-limit", help="Seconds for the optimisation."),
    jobs: Optional[int] = typer.Option(None, "--jobs", help="Worker processes for multistart (default: all cores)."),
    out: Path = typer.Option(Path("out/alignment.csv"), "--out", help="Alignment CSV to write (unit, territory, moved_from, reason)."),
    geojson: Optional[Path] = typer.Option(None, "--geojson", help="Also write the units with their territory as GeoJSON."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    database: Optional[str] = typer.Option(None, "--database", help="Database URL (default: sqlite file territorium.db here)."),
    force: bool = typer.Option(False, "--force", help="Replace existing files that Territorium did not write (never this command's inputs)."),
    plan: Optional[str] = typer.Option(None, "--plan", help="Also store the result as a new draft plan of this name in the database, with the settings and seed that made it (see `territorium plan`)."),
    from_plan: Optional[str] = typer.Option(None, "--from-plan", help="Realign a stored plan (NAME or NAME@VERSION) instead of a file or the imported alignment."),
    targets: Optional[str] = typer.Option(None, "--targets", help="With --from-plan: plan (the default) balances each territory towards the stored plan's capacity targets when it has them (its staffing's rep capacity, as the map's balance bars); equal: towards the mean."),
) -> None:
    """Design balanced, contiguous, compact territories (or realign the current ones).

    Balances several measures at once, keeps every territory one connected piece, minimises
    the moment of inertia, honours locks and frozen territories, and reports deviations,
    compactness, a lower bound with its gap, and why every moved unit moved.
    """
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from territorium.plan.designing import (DesignJob, DesignJobError, parse_balance, parse_fraction,
                                            plot_tradeoff, report_json, run_design, write_alignment)
    from territorium.commands._outputs import check_outputs, record_outputs
    from territorium.plan.workspace import Workspace

    import os
    import signal
    import threading

    console = Console(stderr=as_json)
    cancel = threading.Event()
    main_pid = os.getpid()

    def _on_interrupt(signum, frame):  # first Ctrl-C: stop and keep the best plan; second: abort
        if os.getpid() != main_pid:  # a forked worker: the engine stops it through ``cancel``
            return
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        console.print("[yellow]stopping: finishing with the best plan found so far (Ctrl-C again to abort)[/yellow]")

    old_handler = signal.signal(signal.SIGINT, _on_interrupt) if threading.current_thread() is threading.main_thread() else None
    import tempfile

    from territorium.plan import plans as stored

    plan_tmp = tempfile.TemporaryDirectory(prefix="territorium-plan-") if from_plan else None
    plan_shares, used_targets = None, None
    try:
        if targets is not None:
            if targets not in ("plan", "equal"):
                raise DesignJobError(f"--targets must be 'plan' or 'equal', not {targets!r}")
            if from_plan is None:
                raise DesignJobError("--targets needs --from-plan (the stored plan whose targets it means)")
            if targets == "plan" and capacity_targets:
                raise DesignJobError("--capacity-targets and --targets plan: give only one")
        if plan is not None or from_plan is not None:
            eng = Workspace(database).engine
            if plan is not None:
                try:
                    stored.get_plan(eng, plan)
                except stored.NotFound:
                    pass
                else:
                    raise DesignJobError(f"--plan {plan}: a plan called {plan!r} exists already; choose another name")
            if from_plan is not None:
                if current is not None or realign:
                    raise DesignJobError("--from-plan replaces --from and --realign; give only one")
                try:
                    src = stored.plan_content(eng, from_plan)
                except stored.PlanError as exc:
                    raise DesignJobError(f"--from-plan: {exc}") from None
                if src.info.unit_level != units:
                    raise DesignJobError(f"--from-plan {from_plan}: its units are {src.info.unit_level}, not {units} "
                                         f"(use --units {src.info.unit_level})")
                current = Path(plan_tmp.name) / "current.csv"
                src.units.rename(columns={"territory_id": "territory"}).to_csv(current, index=False)
                if not capacity_targets:
                    from territorium.plan.targets import reference, stored_targets

                    tg = None if targets == "equal" else stored_targets(eng, src)
                    plan_shares, used_targets = reference(tg)
                    console.print(f"balancing towards plan {src.info.name}'s capacity targets ({tg.source})"
                                  if tg is not None else "balancing towards equal territories", highlight=False)
        job = DesignJob(
            level=units,
            states=[s.strip().upper() for s in states.split(",") if s.strip()] if states else None,
            k=k, centers=centers, capacity_targets=capacity_targets, targets=plan_shares,
            balance=parse_balance(balance),
            compactness=compactness, locks=lock,
            frozen=[f.strip() for f in freeze.split(",") if f.strip()] if freeze else (),
            current=current, realign=realign,
            max_disruption=parse_fraction(max_disruption, "--max-disruption") if max_disruption else None,
            disruption=disruption,
            tradeoff_caps=[parse_fraction(c, "--tradeoff") for c in tradeoff_caps.split(",")] if tradeoff_caps else None,
            tradeoff_time_limit=tradeoff_time_limit,
            seed=seed, time_limit=time_limit, n_jobs=jobs, cancel=cancel,
        )
        ws = Workspace(database)
        outputs = [out, geojson] + ([out.with_name(out.stem + "_tradeoff.csv"),
                                     out.with_name(out.stem + "_tradeoff.png")] if tradeoff_caps else [])
        check_outputs(outputs, inputs={"--from": current, "--lock": lock}, force=force, engine=ws.engine)
        with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                      console=console, transient=True, disable=as_json) as bar:
            task = bar.add_task("loading units and measures", total=1.0)
            load = ws.load_units(job.level, states=job.states)
            bar.update(task, description="designing")

            def progress(frac: float, msg: str) -> None:
                bar.update(task, completed=min(max(frac, 0.0), 1.0), description=msg[:60])

            load, result, labels, curve = run_design(job, ws, load=load, progress=progress)
        write_alignment(load, result, labels, out, geojson)
        if curve is not None:
            curve_csv = out.with_name(out.stem + "_tradeoff.csv")
            curve.to_csv(curve_csv, index=False)
            plot_tradeoff(curve, out.with_name(out.stem + "_tradeoff.png"))
        record_outputs(outputs, "design")
        if plan is not None:
            import getpass

            rep = result.report
            settings = {"command": "design", "units": units, "states": job.states, "k": k, "centers": centers,
                        "capacity_targets": capacity_targets, "targets": used_targets,
                        "balance": dict(job.balance), "compactness": compactness,
                        "locks": str(lock) if lock else None, "frozen": list(job.frozen),
                        "from": from_plan or (str(current) if current else None), "realign": bool(realign or from_plan),
                        "max_disruption": job.max_disruption, "disruption": disruption, "time_limit": time_limit,
                        "report": {"status": rep.status, "max_abs_dev": dict(rep.max_abs_dev)}}
            try:
                stored.import_plan(ws.engine, plan, actor=f"cli:{getpass.getuser()}", alignment=out, unit_level=units,
                                   seed=seed, settings=settings, reason="territorium design")
            except stored.PlanError as exc:
                raise DesignJobError(f"--plan {plan}: {exc} (the alignment file {out} was written)") from None
    except DesignJobError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    except Exception as exc:  # user-facing errors from the workspace/geo layers
        from territorium.plan.workspace import WorkspaceError

        if isinstance(exc, (WorkspaceError, ValueError, KeyError, FileNotFoundError)):
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
        raise
    finally:
        if old_handler is not None:
            signal.signal(signal.SIGINT, old_handler)
        if plan_tmp is not None:
            plan_tmp.cleanup()
    if as_json:
        payload = report_json(result, labels)
        if plan is not None:
            payload["plan"] = plan
        payload["alignment"] = str(out)
        if curve is not None:
            payload["tradeoff"] = json.loads(curve.to_json(orient="records"))
        typer.echo(json.dumps(payload, indent=1))
        return
    _print_report(load, result, labels, console)
    if curve is not None:
        from rich.table import Table

        t = Table(title="Balance–disruption trade-off (worst territory deviation per measure)")
        devs = [c for c in curve.columns if c.startswith("max_dev_")]
        for c in ["cap", "moved", "moved %", "units moved", *[c[8:] for c in devs], "status"]:
            t.add_column(c, justify="right")
        for _, row in curve.iterrows():
            cap = "no cap" if row["cap"] != row["cap"] else f"{row['cap']:.0%}"
            t.add_row(cap, f"{row['moved']:,.0f}", f"{row['moved_fraction']:.1%}", f"{int(row['units_moved']):,}",
                      *[f"{row[c]:.1%}" for c in devs], str(row["status"]))
        console.print(t)
        console.print(f"trade-off curve: {out.with_name(out.stem + '_tradeoff.png')}")
    console.print(f"alignment written to {out}" + (f" and {geojson}" if geojson else ""))
    if plan is not None:
        console.print(f"stored as draft plan {plan} (territorium plan show {plan})")


def register(app: typer.Typer) -> None:
    app.command("design")(design_command)
