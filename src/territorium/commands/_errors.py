"""One place that turns what goes wrong outside the program into a one-line message.

:class:`GuardedGroup` is the root command group of ``territorium``: every command runs inside
its ``invoke``, so a file-system error (read-only folder, ``--out`` below a regular file, a
full disk), an unusable ``--database`` (unknown scheme, a folder, random bytes, no workspace
there), a database that refuses, or Ctrl-C ends with ``error: ...`` naming what and where on
stderr and a non-zero exit status, never a traceback.

Exit statuses: 2 the input or the options are wrong (also the database URL / file),
1 the file system or the database refused, 130 interrupted (Ctrl-C).
Anything else is a bug: it prints ``internal error: <type>: <message>`` and exits 1;
``TERRITORIUM_DEBUG=1`` re-raises it so the traceback is shown.
"""
from __future__ import annotations

import errno
import os
from pathlib import Path

import click
import typer
from typer.core import TyperGroup

EXIT_INPUT = 2
EXIT_REFUSED = 1
EXIT_INTERRUPTED = 130

__all__ = ["GuardedGroup", "describe", "say_error", "EXIT_INPUT", "EXIT_REFUSED", "EXIT_INTERRUPTED"]


def debug() -> bool:
    return os.environ.get("TERRITORIUM_DEBUG", "").strip() not in ("", "0", "false", "no")


def say_error(message: str, prefix: str = "error") -> None:
    """``prefix: message`` on stderr (markup in the message is printed as is)."""
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True, highlight=False, soft_wrap=True).print(f"[bold red]{prefix}:[/] {escape(message)}")


def _file_in_the_way(path: str) -> Path | None:
    """The first component of ``path`` that exists and is not a folder (``--out file.csv/x``)."""
    p = Path(path)
    for parent in reversed(p.parents):
        if parent.exists() and not parent.is_dir():
            return parent
    return None


def _os_message(exc: OSError) -> str:
    name = exc.filename
    what = exc.strerror or str(exc)
    if name is None:
        return f"file system: {what}"
    where = str(name) + (f" -> {exc.filename2}" if exc.filename2 else "")
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        blocker = _file_in_the_way(str(name))
        if blocker is not None:
            return f"{where}: {blocker} is a file, not a folder"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"{where}: permission denied (is the folder writable?)"
    if exc.errno == errno.EROFS:
        return f"{where}: read-only file system"
    if exc.errno == errno.ENOSPC:
        return f"{where}: no space left on the device"
    if exc.errno == errno.EISDIR:
        return f"{where}: is a folder, a file name was expected"
    return f"{where}: {what}"


def describe(exc: BaseException) -> tuple[str, int] | None:
    """(message, exit status) for an error the user can act on; None for a bug."""
    import sqlalchemy as sa

    from territorium.commands._outputs import OutputRefused
    from territorium.store import db as store

    if isinstance(exc, OutputRefused):
        return str(exc), EXIT_INPUT
    if isinstance(exc, store.DatabaseUnusable):
        return str(exc), EXIT_INPUT
    if isinstance(exc, store.StoreError):
        return str(exc), EXIT_REFUSED
    if isinstance(exc, OSError):
        return _os_message(exc), EXIT_REFUSED
    if isinstance(exc, MemoryError):
        return "out of memory", EXIT_REFUSED
    db_errors: tuple = (sa.exc.DBAPIError,)
    try:
        import sqlite3

        db_errors += (sqlite3.Error,)
    except ImportError:  # pragma: no cover
        pass
    try:
        import psycopg

        db_errors += (psycopg.Error,)
    except ImportError:  # pragma: no cover
        pass
    if isinstance(exc, db_errors):
        orig = getattr(exc, "orig", None) or exc
        text = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
        where = store.LAST_URL or "the workspace"
        return f"database {where}: {text}", EXIT_REFUSED
    return None


class GuardedGroup(TyperGroup):
    """The root group: runs the command and maps known failures to one-line messages."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException, typer.Exit, typer.Abort):
            raise
        except KeyboardInterrupt:
            say_error("stopped by Ctrl-C before the command finished; nothing more was written "
                      "(imports and database writes are all-or-nothing)", prefix="interrupted")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Exception as exc:
            known = describe(exc)
            if known is None:
                if debug():
                    raise
                say_error(f"{type(exc).__name__}: {exc} (this is a bug; TERRITORIUM_DEBUG=1 shows the "
                          "traceback to report)", prefix="internal error")
                raise typer.Exit(EXIT_REFUSED) from None
            say_error(known[0])
            raise typer.Exit(known[1]) from None
