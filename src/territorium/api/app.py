"""The FastAPI application factory: routers, error mapping, the database handle."""
from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from territorium import __version__
from territorium.plan import plans
from territorium.plan import users as U

log = logging.getLogger("territorium.api")


def _field(loc) -> str:
    return ".".join(str(x) for x in loc)


def create_app(url: str | None = None, *, engine: Engine | None = None, cookie_secure: bool = True,
               login_failures: int = 5, login_window_s: float = 300.0, session_hours: float = 12.0,
               shopify_secret: str | None = None, upload_limit: int | None = None,
               max_jobs: int | None = None) -> FastAPI:
    """The API over the workspace database at ``url`` (or ``engine``); migrations run first.
    ``upload_limit``: bytes per uploaded file (default 100 MiB). ``max_jobs``: jobs that run at
    once (default one per CPU core; later ones wait queued)."""
    from territorium import store
    from territorium.api.deps import LoginLimiter
    from territorium.api.routers import accounts, auth, plans as plans_router, users

    eng = engine if engine is not None else store.engine(url)
    store.upgrade(eng)
    app = FastAPI(title="Territorium", version=__version__,
                  description="Sales territory plans: versions, scenarios, review, promotion, audit trail.")
    app.state.engine = eng
    app.state.login_limiter = LoginLimiter(login_failures, login_window_s)
    app.state.cookie_secure = cookie_secure
    app.state.session_hours = session_hours
    from territorium.api.uploads import UPLOAD_LIMIT

    app.state.upload_limit = upload_limit or UPLOAD_LIMIT
    app.state.max_jobs = max_jobs
    from territorium.api.uploads import UploadSizeGuard

    app.add_middleware(UploadSizeGuard)   # an oversized upload is refused before its body is read

    @app.exception_handler(plans.Conflict)
    def conflict(_: Request, exc: plans.Conflict):
        changes = [{k: (v.isoformat(sep=" ") if hasattr(v, "isoformat") else v) for k, v in c.items()
                    if k in ("version", "at", "actor", "entity", "entity_id", "field", "old_value", "new_value",
                             "reason", "job")} for c in exc.changes]
        return JSONResponse(status_code=409, content={"detail": str(exc), "expected_version": exc.expected,
                                                      "current_version": exc.current, "changes": changes})

    @app.exception_handler(plans.NotFound)
    def not_found(_: Request, exc: plans.NotFound):
        return JSONResponse(status_code=404, content={"detail": str(exc)})

    @app.exception_handler(plans.PlanError)
    def plan_error(_: Request, exc: plans.PlanError):
        return JSONResponse(status_code=400, content={"detail": str(exc)})

    @app.exception_handler(U.UserError)
    def user_error(_: Request, exc: U.UserError):
        code = 404 if str(exc).startswith("no user") else 400
        return JSONResponse(status_code=code, content={"detail": str(exc)})

    @app.exception_handler(OperationalError)
    def busy(_: Request, exc: OperationalError):
        # a database that stays locked or unreachable: the transaction was rolled back
        log.warning("database error: %s", exc.orig if exc.orig is not None else exc)
        return JSONResponse(status_code=503, headers={"Retry-After": "2"},
                            content={"detail": "the database is busy or unreachable; nothing was written, retry"})

    @app.exception_handler(RequestValidationError)
    def invalid(_: Request, exc: RequestValidationError):
        errors = [{"field": _field(e.get("loc", ())), "message": e.get("msg", "invalid")} for e in exc.errors()]
        first = errors[0] if errors else {"field": "", "message": "invalid request"}
        return JSONResponse(status_code=422, content={
            "detail": f"{first['field']}: {first['message']}" + (f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""),
            "errors": errors})

    @app.exception_handler(OverflowError)
    def out_of_range(_: Request, exc: OverflowError):
        # a whole number beyond what the database stores (64 bits), e.g. ?offset=10**30 or
        # "expected_version": 10**20; a write it was part of is rolled back
        return JSONResponse(status_code=422, content={
            "detail": f"a number in the request is out of range: at most {2**63 - 1} ({exc})"})

    @app.exception_handler(Exception)
    def unexpected(_: Request, exc: Exception):  # pragma: no cover - a bug; logged, never a traceback to the client
        log.exception("unexpected error")
        return JSONResponse(status_code=500, content={"detail": f"internal error ({type(exc).__name__})"})

    @app.get("/api/health", tags=["meta"])
    def health() -> dict:
        """Liveness (no login needed)."""
        return {"status": "ok", "version": __version__}

    for r in (auth.router, users.router, plans_router.router, accounts.router):
        app.include_router(r)
    from territorium.api.routers import jobs as jobs_router

    jobs_router.install(app)   # realign jobs in worker processes, progress over SSE, cancel
    from territorium.api.routers import alerts, events

    events.install(app, shopify_secret=shopify_secret)   # webhooks, events, live KPIs + stream
    app.include_router(alerts.router)
    from territorium import web
    from territorium.api.routers import map as map_router

    app.include_router(map_router.router)
    from territorium.api.routers import dashboard as dashboard_router

    app.include_router(dashboard_router.router)   # KPI dashboards and stored locks of a plan
    from territorium.api.routers import analytics, exports, imports, quotas, routing

    for r in (imports.router, routing.router, quotas.router, exports.router, analytics.router):   # issue 14: what the CLI does, over the API
        app.include_router(r)
    web.mount(app)   # the web app at / (last: every /api route comes first)
    return app
