"""``territorium import``: CRM and shop exports into the workspace database.

Exit status: 0 imported; 2 the input has problems (nothing imported: validation errors,
unreadable file, unknown format, missing columns); 1 the database refused the write (nothing
imported either); 130 interrupted by Ctrl-C (the message says that nothing was imported).
"""
from __future__ import annotations

import datetime as dt
import json
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from territorium.import_kinds import IMPORT_KINDS as _TABLES  # one list with the API

EXIT_INVALID = 2
EXIT_STORE = 1
EXIT_INTERRUPTED = 130

import_app = typer.Typer(
    help="Import CRM and shop exports (Salesforce, HubSpot, Shopify, generic CSV/Excel/Parquet). "
    "A file with any error imports nothing and exits with status 2.",
    no_args_is_help=True,
)

err_console = Console(stderr=True)


def _console(as_json: bool) -> Console:
    return err_console if as_json else Console()


@contextmanager
def _progress(enabled: bool):
    """A transient spinner on stderr; yields a ``say(message)`` callback."""
    if not enabled:
        yield lambda msg: None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=err_console, transient=True) as p:
        task = p.add_task("starting", total=None)
        yield lambda msg: p.update(task, description=msg)


def _problem_table(problems, limit: int, title: str) -> Table:
    t = Table(title=title, show_lines=False)
    for c in ("file", "row", "column", "value", "reason"):
        t.add_column(c, overflow="fold", style="red" if c == "reason" else None)
    for r in problems.head(limit).itertuples(index=False):
        t.add_row(str(r.file), "" if r.row is None or str(r.row) in ("<NA>", "nan") else str(r.row),
                  str(r.column or ""), "" if r.value is None else str(r.value)[:60], str(r.reason))
    return t


def _summary_table(results) -> Table:
    from rich import box

    t = Table(title="Import summary", box=box.SIMPLE_HEAD, pad_edge=False)
    t.add_column("file", overflow="fold", max_width=24)
    t.add_column("table", overflow="fold")
    for c in ("read", "imported", "rejected", "unplaced"):
        t.add_column(c, justify="right", no_wrap=True, min_width=len(c))
    for r in results:
        t.add_row(r.file.name, r.table, f"{r.rows_read:,}", f"{r.imported:,}", f"{r.rejected:,}", f"{r.unplaced:,}")
    return t


def _report(results, stored: bool, as_json: bool, max_problems: int, skip_invalid: bool) -> int:
    import pandas as pd

    problems = [r.problems for r in results if len(r.problems)]
    problems = pd.concat(problems, ignore_index=True) if problems else None
    errors = problems.loc[problems["severity"] == "error"] if problems is not None else None
    warnings = problems.loc[problems["severity"] == "warning"] if problems is not None else None
    code = 0 if stored else EXIT_INVALID
    if as_json:
        def rec(df):
            if df is None:
                return []
            d = df.head(max_problems).astype(object).where(df.head(max_problems).notna(), None)
            return [{k: (int(v) if k == "row" and v is not None else v) for k, v in row.items()}
                    for row in d.to_dict("records")]

        out = {
            "stored": stored, "exit_code": code, "files": [r.summary() for r in results],
            "errors": int(0 if errors is None else len(errors)),
            "warnings": int(0 if warnings is None else len(warnings)),
            "problems": rec(errors) + rec(warnings),
        }
        typer.echo(json.dumps(out, indent=2, default=str))
        return code
    con = Console()
    if errors is not None and len(errors):
        n = len(errors)
        title = (f"{n:,} problem(s); rejected rows written next to the input" if stored
                 else f"{n:,} problem(s): nothing was imported")
        con.print(_problem_table(errors, max_problems, title))
        if n > max_problems:
            con.print(f"... and {n - max_problems:,} more problem(s) not shown (--max-problems).")
    if warnings is not None and len(warnings):
        con.print(_problem_table(warnings, min(max_problems, 10), f"{len(warnings):,} warning(s)"))
        if len(warnings) > min(max_problems, 10):
            con.print(f"... and {len(warnings) - min(max_problems, 10):,} more warning(s).")
    con.print(_summary_table(results))
    for r in results:
        abroad = r.outside_us if r.table in ("accounts", "customers", "orders") else {}
        if abroad and r.stored:
            con.print(f"{r.file.name}: {sum(abroad.values()):,} row(s) outside the US, kept and not placed in "
                      "US units: " + ", ".join(f"{k} {v:,}" for k, v in abroad.items()))
    for r in results:
        if r.rejects_path:
            con.print(f"Rejected rows of {r.file.name} with reasons: {r.rejects_path}")
    if not stored:
        con.print("[bold red]Nothing was imported.[/] Fix the file, or use --skip-invalid to import "
                  "the good rows and write the rejects to <file>.rejects.csv.")
    return code


def _fail(message: str, as_json: bool, code: int = EXIT_INVALID) -> None:
    if as_json:
        typer.echo(json.dumps({"stored": False, "exit_code": code, "error": message}))
    else:
        err_console.print(f"[bold red]Error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def _interrupted(exc: KeyboardInterrupt, as_json: bool) -> None:
    """Ctrl-C during an import: say whether anything was stored (only if the interrupt came
    while the transaction was committing can it have been)."""
    stored = getattr(exc, "stored", False)
    if stored is None:
        msg = "interrupted (Ctrl-C) while committing; whether the import was stored could not be checked"
    elif stored:
        msg = "interrupted (Ctrl-C) after the import was committed: the rows are stored"
    else:
        msg = "interrupted (Ctrl-C): nothing was imported"
    _fail(msg, as_json, EXIT_INTERRUPTED)


def _preflight(database: Optional[str], as_json: bool) -> None:
    """An unusable --database fails now, not after reading and checking a large file."""
    from territorium.store import DatabaseUnusable
    from territorium.store.db import preflight

    try:
        preflight(database)
    except DatabaseUnusable as exc:
        _fail(str(exc), as_json, EXIT_INVALID)


def _parse_today(today: Optional[str]) -> Optional[dt.date]:
    if not today:
        return None
    try:
        return dt.date.fromisoformat(today)
    except ValueError:
        raise typer.BadParameter(f"{today!r} is not a date (YYYY-MM-DD)", param_hint="--today") from None


def _run_file(table: str, file: Path, format: Optional[str], mapping: Optional[Path], sheet: Optional[str],
              skip_invalid: bool, replace: bool, as_json: bool, database: Optional[str], today: Optional[str],
              max_problems: int) -> None:
    from territorium.data import ImportFailed, import_file
    from territorium.store import StoreError

    day = _parse_today(today)
    sheet_arg = int(sheet) if sheet is not None and sheet.isdigit() else sheet
    _preflight(database, as_json)
    try:
        with _progress(not as_json) as say:
            result = import_file(file, table, format=format, mapping=mapping, url=database, replace=replace,
                                 skip_invalid=skip_invalid, today=day, sheet=sheet_arg, progress=say)
    except ImportFailed as exc:
        _fail(str(exc), as_json)
    except StoreError as exc:
        _fail(str(exc), as_json, EXIT_STORE)
    except KeyboardInterrupt as exc:
        _interrupted(exc, as_json)
    code = _report([result], result.stored, as_json, max_problems, skip_invalid)
    raise typer.Exit(code)


_FORMAT_HELP = "Export format: salesforce, hubspot, shopify or generic. Default: detected from the headers."
_MAPPING_HELP = "YAML column mapping (table, columns: {our_column: 'Their Header'}); implies generic."


# Options every import command takes (one definition, so the commands cannot drift apart).
SkipInvalidOpt = Annotated[bool, typer.Option(
    "--skip-invalid", help="Import the good rows; write rejects to <file>.rejects.csv.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
DatabaseOpt = Annotated[Optional[str], typer.Option(
    "--database", envvar="TERRITORIUM_DATABASE_URL", help="Database URL (default: sqlite file territorium.db here).")]
TodayOpt = Annotated[Optional[str], typer.Option("--today", help="Reference date for 'in the future' (YYYY-MM-DD).")]
MaxProblemsOpt = Annotated[int, typer.Option("--max-problems", help="Problems shown in the table.")]


def _make_command(cmd: str, table: str, help_text: str):
    def command(
        file: Path = typer.Argument(..., help="The export file (.csv/.tsv/.txt, .xlsx or .parquet)."),
        format: Optional[str] = typer.Option(None, "--format", "-f", help=_FORMAT_HELP),
        mapping: Optional[Path] = typer.Option(None, "--mapping", "-m", help=_MAPPING_HELP),
        sheet: Optional[str] = typer.Option(None, "--sheet", help="Excel sheet name or index (default: first)."),
        skip_invalid: SkipInvalidOpt = False,
        replace: bool = typer.Option(False, "--replace", help="Replace the table's rows (same transaction)."),
        as_json: JsonOpt = False,
        database: DatabaseOpt = None,
        today: TodayOpt = None,
        max_problems: MaxProblemsOpt = 20,
    ) -> None:
        _run_file(table, file, format, mapping, sheet, skip_invalid, replace, as_json, database, today, max_problems)

    command.__doc__ = help_text
    import_app.command(cmd, help=help_text)(command)


for _cmd, (_table, _help) in _TABLES.items():
    _make_command(_cmd, _table, _help)


@import_app.command("all")
def import_all(
    directory: Path = typer.Argument(..., help="Directory with manifest.yaml (list of {file, table, format})."),
    skip_invalid: SkipInvalidOpt = False,
    replace: bool = typer.Option(False, "--replace", help="Replace the rows of every table imported."),
    as_json: JsonOpt = False,
    database: DatabaseOpt = None,
    today: TodayOpt = None,
    max_problems: MaxProblemsOpt = 20,
) -> None:
    """Import every file of DIR/manifest.yaml (as written by `territorium demo`) in ONE transaction."""
    from territorium.data import ImportFailed, import_directory
    from territorium.store import StoreError

    day = _parse_today(today)
    _preflight(database, as_json)
    try:
        with _progress(not as_json) as say:
            res = import_directory(directory, url=database, replace=replace, skip_invalid=skip_invalid,
                                   today=day, progress=say)
    except ImportFailed as exc:
        _fail(str(exc), as_json)
    except StoreError as exc:
        _fail(str(exc), as_json, EXIT_STORE)
    except KeyboardInterrupt as exc:
        _interrupted(exc, as_json)
    raise typer.Exit(_report(res.results, res.stored, as_json, max_problems, skip_invalid))


def register(app: typer.Typer) -> None:
    app.add_typer(import_app, name="import")
