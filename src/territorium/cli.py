"""Command-line interface: ``territorium --help``.

Thin by design: each command parses its options, calls the library and formats the result.
Commands live in :mod:`territorium.commands`, one module per area, each exposing
``register(app)``.
"""
from __future__ import annotations

import importlib

import typer

from territorium import __version__
from territorium.commands._errors import GuardedGroup

app = typer.Typer(
    name="territorium",
    cls=GuardedGroup,  # file-system / database errors and Ctrl-C become one-line messages
    help="Sales territory management: import CRM and shop exports, build geographic units, "
    "design balanced territories, staff them, route accounts, set quotas, export to the CRM, "
    "and predict and explain sales.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

#: Command modules in the order their commands appear in ``--help``.
COMMAND_MODULES = ("demo", "importing", "units", "design", "summary", "route", "quota", "export", "impact", "impact_demo", "assign", "analytics", "kpi", "alerts", "report")
COMMAND_MODULES += ("plan", "serve", "users")  # plans in the database, the API server, its users


def _version(value: bool) -> None:
    if value:
        typer.echo(f"territorium {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Territorium command line."""


for _name in COMMAND_MODULES:
    try:
        _mod = importlib.import_module(f"territorium.commands.{_name}")
    except ModuleNotFoundError as exc:  # a command module not written yet
        if exc.name != f"territorium.commands.{_name}":
            raise
        continue
    _mod.register(app)


if __name__ == "__main__":  # pragma: no cover
    app()
