"""Dependencies of the routers: the database, the current user, a plan loaded or 404, the
version a write is made against, the login rate limiter."""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request
from sqlalchemy.engine import Engine

from territorium.store import db as store
from territorium.plan import plans
from territorium.plan import users as U
from territorium.plan.access import territory_scope

SESSION_COOKIE = "territorium_session"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


# Dependencies that do no I/O are ``async``: FastAPI runs them on the event loop instead of
# handing each to the thread pool and back (a round trip through the loop per dependency).
async def get_engine(request: Request) -> Engine:
    return request.app.state.engine


Eng = Annotated[Engine, Depends(get_engine)]


def current_user(request: Request, eng: Eng) -> U.UserInfo:
    """The user of an API token (``Authorization: Bearer ...``) or of a browser session cookie;
    a cookie-authenticated write must echo the session's CSRF token in ``X-CSRF-Token``."""
    auth = request.headers.get("authorization", "")
    eng = store.reader(eng)  # one SELECT: no transaction around it
    if auth:
        scheme, _, secret = auth.partition(" ")
        user = U.user_for_token(eng, secret.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            raise HTTPException(401, "invalid or revoked API token", headers={"WWW-Authenticate": "Bearer"})
        return user
    sid = request.cookies.get(SESSION_COOKIE)
    if sid:
        found = U.session_user(eng, sid)
        if found is None:
            raise HTTPException(401, "the session expired; log in again", headers={"WWW-Authenticate": "Bearer"})
        user, csrf = found
        if request.method in UNSAFE and request.headers.get(CSRF_HEADER) != csrf:
            raise HTTPException(403, f"missing or wrong CSRF token (send the {CSRF_HEADER} header from login)")
        return user
    raise HTTPException(401, "log in (POST /api/auth/login) or send an API token (Authorization: Bearer ...)",
                        headers={"WWW-Authenticate": "Bearer"})


CurrentUser = Annotated[U.UserInfo, Depends(current_user)]


def require(*roles: str):
    async def check(user: CurrentUser) -> U.UserInfo:
        if user.role not in roles:
            raise HTTPException(403, f"a {user.role} may not do this (needs {' or '.join(roles)})")
        return user

    return Depends(check)


@dataclass(frozen=True)
class Loaded:
    """A plan as the current user may see it: content (whole) and scope (None: everything)."""

    content: plans.PlanContent
    scope: set[str] | None


def load_plan(name: str, user: CurrentUser, eng: Eng, version: int | None = None, *, units: bool = True) -> Loaded:
    """The plan, or 404 when it does not exist or the user may see none of it."""
    c = plans.plan_content(eng, name, version, units=units)
    scope = territory_scope(user, c.territories)
    if scope is not None and not scope:
        raise plans.NotFound(f"no plan {name!r}")
    return Loaded(c, scope)


def load_plan_summary(name: str, user: CurrentUser, eng: Eng, version: int | None = None) -> Loaded:
    """Like :func:`load_plan`, but the current version comes without its alignment (only unit
    counts per territory): cheap for plans of tens of thousands of units."""
    return load_plan(name, user, eng, version, units=False)


#: the plan with its whole alignment (``content.units``)
VisiblePlan = Annotated[Loaded, Depends(load_plan)]
#: the plan without the alignment of the current version (``content.unit_counts`` only)
VisiblePlanSummary = Annotated[Loaded, Depends(load_plan_summary)]


def expected_version(body_version: int | None, if_match: str | None) -> int:
    """From the body's ``expected_version`` or the ``If-Match`` header (the plan's ETag);
    428 when neither says which version the change is made against."""
    if body_version is not None:
        return body_version
    if if_match:
        tag = if_match.strip().removeprefix("W/").strip('"')
        v = tag.rsplit("-v", 1)[-1]
        if v.isdigit():
            return int(v)
        raise HTTPException(400, f"If-Match {if_match!r} is not an ETag of a plan (\"p<id>-v<version>\")")
    raise HTTPException(428, "say which version the change is made against: expected_version in the body "
                             "or If-Match with the plan's ETag")


IfMatch = Annotated[str | None, Header(alias="If-Match")]


def etag(info: plans.PlanInfo) -> str:
    return f'"p{info.id}-v{info.version}"'


class LoginLimiter:
    """At most ``failures`` failed logins per client address and user name in ``window`` seconds."""

    def __init__(self, failures: int = 5, window: float = 300.0):
        self.failures, self.window = failures, window
        self._seen: dict[tuple[str, str], deque] = {}
        self._lock = threading.Lock()

    def retry_after(self, key: tuple[str, str]) -> int:
        now = time.monotonic()
        with self._lock:
            q = self._seen.get(key)
            while q and now - q[0] > self.window:
                q.popleft()
            if q is not None and len(q) >= self.failures:
                return max(1, int(self.window - (now - q[0])) + 1)
        return 0

    def failed(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._seen.setdefault(key, deque()).append(time.monotonic())

    def succeeded(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._seen.pop(key, None)
