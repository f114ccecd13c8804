"""Browser sessions: log in (rate-limited), log out, who am I."""
from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response

from territorium.api import schemas as S
from territorium.api.deps import SESSION_COOKIE, CurrentUser, Eng
from territorium.plan import users as U

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post("/login", response_model=S.SessionPublic)
def login(body: S.LoginIn, request: Request, response: Response, eng: Eng):
    """Check the password and set a session cookie (Secure, HttpOnly, SameSite=Strict); the
    answer carries the CSRF token that writes made with the cookie must send as X-CSRF-Token.
    Too many failures for one address and user name answer 429 with Retry-After."""
    limiter = request.app.state.login_limiter
    key = (request.client.host if request.client else "?", body.username)
    wait = limiter.retry_after(key)
    if wait:
        raise HTTPException(429, f"too many failed logins; try again in {wait} s", headers={"Retry-After": str(wait)})
    user = U.authenticate(eng, body.username, body.password)
    if user is None:
        limiter.failed(key)
        raise HTTPException(401, "wrong user name or password")
    limiter.succeeded(key)
    sid, csrf = U.create_session(eng, user, hours=request.app.state.session_hours)
    response.set_cookie(SESSION_COOKIE, sid, httponly=True, secure=request.app.state.cookie_secure,
                        samesite="strict", max_age=int(request.app.state.session_hours * 3600), path="/")
    return S.SessionPublic(username=user.username, role=user.role, person_id=user.person_id, csrf_token=csrf)


@router.post("/logout", status_code=204)
def logout(request: Request, user: CurrentUser, eng: Eng):
    """End the browser session."""
    sid = request.cookies.get(SESSION_COOKIE)
    if sid:
        U.delete_session(eng, sid)
    r = Response(status_code=204)
    r.delete_cookie(SESSION_COOKIE, path="/")
    return r


@router.get("/me", response_model=S.SessionPublic)
def me(user: CurrentUser):
    """The current user."""
    return S.SessionPublic(username=user.username, role=user.role, person_id=user.person_id)
