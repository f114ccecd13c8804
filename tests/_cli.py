"""A Typer app holding only the given command modules, for CLI tests through ``CliRunner``."""
from __future__ import annotations

import typer


def command_app(*modules) -> typer.Typer:
    a = typer.Typer()

    @a.callback()
    def main() -> None:
        """test app"""

    for m in modules:
        m.register(a)
    return a
