"""``territorium users ...``: accounts of the API server (roles, passwords, API tokens)."""
from __future__ import annotations

import sys
from typing import Optional

import typer

users_app = typer.Typer(help="Users of the API server: add, list, role, password, token.", no_args_is_help=True)
DB_HELP = "Database URL (default: sqlite file territorium.db here, or TERRITORIUM_DATABASE_URL)."


def _eng(database):
    """The workspace's engine; a SQLite file that does not exist is refused ("no workspace at
    ..."), never created from a mistyped path."""
    from territorium import store

    return store.engine(database, create=False)


def _password(stdin: bool) -> str:
    if stdin:
        return sys.stdin.readline().rstrip("\n")
    import secrets

    return secrets.token_urlsafe(15)


def _fail(exc) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(2)


@users_app.command("add")
def add_command(
    username: str = typer.Argument(..., help="User name."),
    role: str = typer.Option(..., "--role", help="admin, planner, manager or rep."),
    person: Optional[str] = typer.Option(None, "--person", help="Rep id (rep) or hierarchy manager id (manager)."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from standard input "
                                        "(default: a random one is printed once)."),
    no_password: bool = typer.Option(False, "--no-password", help="A token-only account (for scripts)."),
    database: Optional[str] = typer.Option(None, "--database", help=DB_HELP),
) -> None:
    """Add a user."""
    from territorium.plan import users as U

    pw = None if no_password else _password(password_stdin)
    try:
        U.create_user(_eng(database), username, role=role, password=pw, person_id=person)
    except U.UserError as exc:
        _fail(exc)
    typer.echo(f"added {username} ({role})" + (f" with the one-time password: {pw}" if pw and not password_stdin
                                                 else ""))


@users_app.command("list")
def list_command(database: Optional[str] = typer.Option(None, "--database", help=DB_HELP)) -> None:
    """List the users."""
    from territorium.plan import users as U

    for u in U.list_users(_eng(database)):
        typer.echo(f"{u.username:20} {u.role:8} {u.person_id or '':12} {'active' if u.active else 'inactive'}")


@users_app.command("role")
def role_command(
    username: str = typer.Argument(..., help="User name."),
    role: str = typer.Argument(..., help="admin, planner, manager or rep."),
    person: Optional[str] = typer.Option(None, "--person", help="Rep id (rep) or hierarchy manager id (manager)."),
    active: Optional[bool] = typer.Option(None, "--active/--inactive", help="(De)activate the account."),
    database: Optional[str] = typer.Option(None, "--database", help=DB_HELP),
) -> None:
    """Change a user's role (and person id), or deactivate the account."""
    from territorium.plan import users as U

    try:
        u = U.set_role(_eng(database), username, role, person_id=person, active=active)
    except U.UserError as exc:
        _fail(exc)
    typer.echo(f"{u.username}: {u.role}{' ' + u.person_id if u.person_id else ''}, "
               f"{'active' if u.active else 'inactive'}")


@users_app.command("password")
def password_command(
    username: str = typer.Argument(..., help="User name."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the new password from standard "
                                        "input (default: a random one is printed once)."),
    database: Optional[str] = typer.Option(None, "--database", help=DB_HELP),
) -> None:
    """Set a new password (ends the user's browser sessions)."""
    from territorium.plan import users as U

    pw = _password(password_stdin)
    try:
        U.set_password(_eng(database), username, pw)
    except U.UserError as exc:
        _fail(exc)
    typer.echo(f"new password for {username}" + ("" if password_stdin else f": {pw}"))


@users_app.command("token")
def token_command(
    username: str = typer.Argument(..., help="User name."),
    name: str = typer.Option("script", "--name", help="What the token is for."),
    database: Optional[str] = typer.Option(None, "--database", help=DB_HELP),
) -> None:
    """Create an API token (printed once; send it as Authorization: Bearer TOKEN)."""
    from territorium.plan import users as U

    try:
        tok = U.create_token(_eng(database), username, name)
    except U.UserError as exc:
        _fail(exc)
    typer.echo(tok)


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
