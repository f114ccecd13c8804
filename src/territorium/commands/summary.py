"""``territorium summary``: what the workspace holds and how balanced the current alignment is."""
from __future__ import annotations

import json
from typing import Optional

import typer


def summary_command(
    level: str = typer.Option("zip", "--units", help="Unit level to aggregate measures on: zip, county or state."),
    states: Optional[str] = typer.Option(None, "--states", help="Comma-separated USPS codes (default: where the accounts are)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    database: Optional[str] = typer.Option(None, "--database", help="Database URL (default: sqlite file territorium.db here)."),
) -> None:
    """Rows per table, measure totals per unit set, and the balance of the current alignment."""
    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from territorium.measures import MEASURE_NAMES
    from territorium.plan.workspace import Workspace, WorkspaceError, fill_unassigned

    ws = Workspace(database)
    counts = ws.counts()
    out: dict = {"tables": counts}
    if counts.get("accounts", 0) == 0:
        if as_json:
            typer.echo(json.dumps(out, indent=1))
        else:
            Console().print("The workspace is empty: run `territorium import ...` or `make demo`.")
        return
    try:
        load = ws.load_units(level, states=[s.strip() for s in states.split(",")] if states else None)
    except (WorkspaceError, ValueError) as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    u = load.units
    out["units"] = {"level": u.level, "count": u.n, "virtual_edges": int(len(u.adjacency.virtual_edges())),
                    "unplaced_accounts": load.unplaced_accounts, "unplaced_orders": load.unplaced_orders,
                    "accounts_outside_us": load.accounts_abroad,
                    "revenue_window": [str(load.window[0].date()), str(load.window[1].date())],
                    "totals": {m: float(u.table[m].sum()) for m in MEASURE_NAMES}}
    try:
        cur, labels = ws.current_alignment(u)
        cur = fill_unassigned(u, cur)
        k = len(labels)
        bal = {}
        for m in MEASURE_NAMES:
            tot = np.bincount(cur, u.table[m].to_numpy(), k)
            mean = tot.mean()
            bal[m] = {"min_ratio": float(tot.min() / mean) if mean else 0.0,
                      "max_ratio": float(tot.max() / mean) if mean else 0.0,
                      "max_abs_dev": float(np.abs(tot / mean - 1).max()) if mean else 0.0}
        out["current_alignment"] = {"territories": k, "balance": bal}
    except WorkspaceError:
        out["current_alignment"] = None
    if as_json:
        typer.echo(json.dumps(out, indent=1))
        return
    con = Console()
    t = Table(title="Workspace")
    t.add_column("table")
    t.add_column("rows", justify="right")
    for name, n in counts.items():
        t.add_row(name, f"{n:,}")
    con.print(t)
    un = out["units"]
    t = Table(title=f"{un['count']:,} {u.level} units — measures (revenue window "
                    f"{un['revenue_window'][0]} to {un['revenue_window'][1]})")
    t.add_column("measure")
    t.add_column("total", justify="right")
    if out["current_alignment"]:
        t.add_column("current: smallest / largest territory vs mean", justify="right")
    for m in MEASURE_NAMES:
        row = [m, f"{un['totals'][m]:,.0f}"]
        if out["current_alignment"]:
            b = out["current_alignment"]["balance"][m]
            row.append(f"{b['min_ratio']:.0%} / {b['max_ratio']:.0%}")
        t.add_row(*row)
    con.print(t)
    con.print(f"unplaced: {load.unplaced_accounts} accounts, {load.unplaced_orders} orders; "
              f"virtual (island) edges: {un['virtual_edges']}")
    if load.accounts_abroad:
        where = "not placed in US units" if u.level not in ("custom", "account") else "placed by their coordinates"
        con.print("accounts outside the US (" + where + "): "
                  + ", ".join(f"{k} {v:,}" for k, v in load.accounts_abroad.items()))


def register(app: typer.Typer) -> None:
    app.command("summary")(summary_command)
