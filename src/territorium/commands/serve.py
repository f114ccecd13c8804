"""``territorium serve``: the REST API (FastAPI + uvicorn) over the workspace database."""
from __future__ import annotations

import os
from typing import Optional

import typer

DEFAULT_THREADS = 40  # anyio's default thread pool size


def serve_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (loopback by default)."),
    port: int = typer.Option(8000, "--port", help="Port (0 picks a free one)."),
    database: Optional[str] = typer.Option(None, "--database", help="Database URL (default: sqlite file "
                                           "territorium.db here, or TERRITORIUM_DATABASE_URL)."),
    secure_cookies: bool = typer.Option(True, "--secure-cookies/--no-secure-cookies", help="Mark the session "
                                        "cookie Secure (browsers keep it on https and on localhost)."),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
    threads: int = typer.Option(DEFAULT_THREADS, "--threads", min=1, max=256,
                                help="Threads that run the API's endpoints (more requests wait in turn); the "
                                     "database keeps as many connections open."),
    max_jobs: int = typer.Option(0, "--max-jobs", min=0, max=256,
                                 help="Jobs (design, realign, ...) that run at once; later ones wait queued "
                                      "in order (0: one per CPU core)."),
    create: bool = typer.Option(False, "--create", help="Create the workspace database when the SQLite file does "
                                "not exist yet (without it, a missing file is refused: a mistyped --database "
                                "creates nothing)."),
) -> None:
    """Start the API server; OpenAPI docs at /docs. On a workspace without users, an admin is
    created with the password in TERRITORIUM_ADMIN_PASSWORD or a printed one-time password."""
    from territorium import store
    from territorium.api import create_app
    from territorium.plan import users as U

    eng = store.engine(database, pool_size=threads, create=create)
    try:
        pw = U.ensure_admin(eng, os.environ.get("TERRITORIUM_ADMIN_PASSWORD") or None)
    except U.UserError as exc:
        typer.echo(f"error: TERRITORIUM_ADMIN_PASSWORD: {exc}", err=True)
        raise typer.Exit(2) from None
    if pw is not None:
        if os.environ.get("TERRITORIUM_ADMIN_PASSWORD"):
            typer.echo("created user admin with the password from TERRITORIUM_ADMIN_PASSWORD")
        else:
            typer.echo(f"created user admin with the one-time password: {pw}\n"
                       "(shown once; change it with: territorium users password admin)")
    app = create_app(engine=eng, cookie_secure=secure_cookies, max_jobs=max_jobs or None)
    from territorium.api.routers import map as map_router

    map_router.prewarm(app)   # the map geometry of the plans' unit levels, in the background
    typer.echo(f"serving {eng.url.render_as_string(hide_password=True)} on http://{host}:{port} (API docs: /docs)")
    run_server(app, host=host, port=port, log_level=log_level, threads=threads)


def run_server(app, *, host: str, port: int, log_level: str, threads: int) -> None:
    """uvicorn with at most ``threads`` requests in the endpoints at once: the rest wait in
    arrival order instead of all contending for the interpreter (which made the slowest
    request of a burst much slower than the typical one)."""
    import asyncio

    import anyio.to_thread
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=log_level))

    async def main() -> None:
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        await server.serve()

    asyncio.run(main())


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)
