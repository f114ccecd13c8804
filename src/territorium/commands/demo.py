"""``territorium demo``: write the demo company's export files."""
from __future__ import annotations

import json
from datetime import date, datetime
from enum import Enum
from pathlib import Path

import typer


def _parse_date(value: str) -> date:
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError as exc:
        raise typer.BadParameter(f"expected YYYY-MM-DD, got {value!r}") from exc


class Size(str, Enum):
    full = "full"
    medium = "medium"
    small = "small"


def demo(
    out: Path = typer.Option(Path("demo_data"), "--out", "-o",
                             help="Output folder (created if missing; files are overwritten)."),
    seed: int = typer.Option(7, "--seed", help="Random seed: the same seed gives identical files."),
    size: Size = typer.Option(Size.full, "--size",
                             help="full: ~20,000 accounts, ~1M Shopify order lines; "
                                  "medium: ~4,000 accounts, ~320k order lines; "
                                  "small: ~1,500 accounts, ~20k order lines."),
    today: str = typer.Option("2026-11-01", "--today",
                              help="Export date (YYYY-MM-DD); two years of history end the day "
                                   "before."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Write the demo company "Lumière & Co." as Salesforce and Shopify exports.

    A fashion & beauty brand in NY, NJ, PA, CT, MA, RI, NH, VT and ME.
    Salesforce: users (40 reps), accounts, contacts, opportunities,
    activities. Shopify: two years of orders and the customers.
    Also the current territories, their ZIP alignment, and a
    manifest.yaml for `territorium import all OUT`.
    """
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from territorium.data.demo import STEPS, generate

    day = _parse_date(today)
    console = Console(stderr=as_json)
    if as_json:
        summary = generate(out, seed=seed, size=size.value, today=day)
        typer.echo(json.dumps(summary.to_dict(), indent=2, ensure_ascii=False))
        return
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task("demo", total=len(STEPS))
        done = {"n": 0}

        def step(name: str) -> None:
            bar.update(task, completed=done["n"], description=name)
            done["n"] += 1

        summary = generate(out, seed=seed, size=size.value, today=day,
                           progress=step)
        bar.update(task, completed=len(STEPS))
    table = Table(title=f"{summary.company} ({summary.size}, seed {summary.seed}) -> {out}")
    table.add_column("file")
    table.add_column("table")
    table.add_column("format")
    table.add_column("rows", justify="right")
    table.add_column("size", justify="right")
    for f in summary.files:
        table.add_row(f.file, f.table, f.format, f"{f.rows:,}", f"{f.bytes / 1e6:,.1f} MB")
    console.print(table)
    c = summary.counts
    console.print(
        f"{c['accounts']:,} accounts ({c['customers_b2b']:,} customers), {c['contacts']:,} "
        f"contacts, {c['reps']} reps in {c['territories']} territories, {c['orders']:,} orders "
        f"({c['wholesale_orders']:,} wholesale) with {c['order_lines']:,} lines; "
        f"states {','.join(summary.states)}; {summary.seconds:.1f} s."
    )


def register(app: typer.Typer) -> None:
    """Add the ``demo`` command to the CLI."""
    app.command("demo")(demo)
