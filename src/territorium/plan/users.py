"""Users, roles, API tokens and browser sessions of the server (service layer).

Passwords are hashed with argon2id (argon2-cffi defaults); API tokens and session ids are
random secrets of which only the SHA-256 is stored, so a copy of the database gives no way in.
Roles: ``admin`` (everything, users), ``planner`` (edit, propose and promote plans),
``manager`` (reads the subtree of the hierarchy nodes whose ``manager`` is the user's
``person_id``; approves or rejects proposed plans there), ``rep`` (reads the territories and
accounts whose rep is the user's ``person_id``).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from territorium.store import db as store
from territorium.store.models import ApiToken, User, WebSession

__all__ = ["ROLES", "UserError", "UserInfo", "create_user", "get_user", "list_users", "set_role", "set_password",
           "authenticate", "create_token", "user_for_token", "create_session", "session_user", "delete_session",
           "ensure_admin", "MIN_PASSWORD"]

ROLES = ("admin", "planner", "manager", "rep")
MIN_PASSWORD = 10
TOKEN_PREFIX = "trm_"
_U, _TK, _S = User.__table__, ApiToken.__table__, WebSession.__table__
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")


class UserError(Exception):
    """A user-management problem (message written for the user)."""


@dataclass(frozen=True)
class UserInfo:
    id: int
    username: str
    role: str
    person_id: str | None
    active: bool
    created_at: dt.datetime


def _hasher():
    from argon2 import PasswordHasher

    return PasswordHasher()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def _sha(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _info(row) -> UserInfo:
    m = row._mapping
    ca = m["created_at"]
    return UserInfo(int(m["id"]), m["username"], m["role"], m["person_id"], bool(m["active"]),
                    ca if isinstance(ca, dt.datetime) else dt.datetime.fromisoformat(str(ca)))


def _check_role(role: str, person_id: str | None) -> None:
    if role not in ROLES:
        raise UserError(f"role {role!r} is not one of {', '.join(ROLES)}")
    if role in ("rep", "manager") and not person_id:
        raise UserError(f"a {role} needs --person (the {'rep id' if role == 'rep' else 'manager id of the hierarchy'})")


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password needs at least {MIN_PASSWORD} characters")


def create_user(eng: Engine, username: str, *, role: str, password: str | None = None,
                person_id: str | None = None) -> UserInfo:
    """A new active user (``password`` None: a token-only account, e.g. for scripts)."""
    store.upgrade(eng)
    if not _NAME.fullmatch(username or ""):
        raise UserError(f"user name {username!r}: 1–64 letters, digits, '_', '.', '@' or '-'")
    _check_role(role, person_id)
    h = None
    if password is not None:
        _check_password(password)
        h = _hasher().hash(password)
    try:
        with eng.begin() as conn:
            if conn.execute(sa.select(_U.c.id).where(_U.c.username == username)).first() is not None:
                raise UserError(f"user {username!r} exists already")
            conn.execute(sa.insert(_U).values(username=username, password_hash=h, role=role, person_id=person_id,
                                              active=True, created_at=_now()))
            return _info(conn.execute(sa.select(_U).where(_U.c.username == username)).one())
    except sa.exc.IntegrityError:  # added by someone else between the check and the insert
        raise UserError(f"user {username!r} exists already") from None


def get_user(eng: Engine, username: str) -> UserInfo:
    store.upgrade(eng)
    with eng.connect() as conn:
        row = conn.execute(sa.select(_U).where(_U.c.username == username)).first()
    if row is None:
        raise UserError(f"no user {username!r}")
    return _info(row)


def list_users(eng: Engine) -> list[UserInfo]:
    store.upgrade(eng)
    with eng.connect() as conn:
        return [_info(r) for r in conn.execute(sa.select(_U).order_by(_U.c.username))]


def set_role(eng: Engine, username: str, role: str, *, person_id: str | None = None,
             active: bool | None = None) -> UserInfo:
    """Change a user's role (and person id), or (de)activate the account."""
    u = get_user(eng, username)
    person_id = person_id if person_id is not None else u.person_id
    _check_role(role, person_id)
    vals = {"role": role, "person_id": person_id}
    if active is not None:
        vals["active"] = bool(active)
    with eng.begin() as conn:
        conn.execute(sa.update(_U).where(_U.c.id == u.id).values(**vals))
        if active is False:
            conn.execute(sa.delete(_S).where(_S.c.user_id == u.id))
    return get_user(eng, username)


def set_password(eng: Engine, username: str, password: str) -> None:
    u = get_user(eng, username)
    _check_password(password)
    with eng.begin() as conn:
        conn.execute(sa.update(_U).where(_U.c.id == u.id).values(password_hash=_hasher().hash(password)))
        conn.execute(sa.delete(_S).where(_S.c.user_id == u.id))


_DUMMY = None


def authenticate(eng: Engine, username: str, password: str) -> UserInfo | None:
    """The active user with this password, else None (an unknown name costs one hash too)."""
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

    global _DUMMY
    store.upgrade(eng)
    with eng.connect() as conn:
        row = conn.execute(sa.select(_U).where(_U.c.username == username)).first()
    ph = _hasher()
    if row is None or row.password_hash is None or not row.active:
        _DUMMY = _DUMMY or ph.hash(secrets.token_urlsafe(16))
        try:
            ph.verify(_DUMMY, password)
        except VerificationError:
            pass
        return None
    try:
        ph.verify(row.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if ph.check_needs_rehash(row.password_hash):
        with eng.begin() as conn:
            conn.execute(sa.update(_U).where(_U.c.id == row.id).values(password_hash=ph.hash(password)))
    return _info(row)


def create_token(eng: Engine, username: str, name: str = "script") -> str:
    """A new API token for the user; the secret is returned once and only its hash is stored."""
    u = get_user(eng, username)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with eng.begin() as conn:
        conn.execute(sa.insert(_TK).values(user_id=u.id, name=name, token_hash=_sha(secret), created_at=_now(),
                                           revoked=False))
    return secret


def user_for_token(eng: Engine, secret: str) -> UserInfo | None:
    if not secret.startswith(TOKEN_PREFIX):
        return None
    with eng.connect() as conn:
        row = conn.execute(_BY_TOKEN, {"h": _sha(secret)}).first()
    return None if row is None else _info(row)


# every API request looks its token up: built once, so SQLAlchemy reuses its compiled form
_BY_TOKEN = sa.select(_U).join(_TK, _TK.c.user_id == _U.c.id).where(
    _TK.c.token_hash == sa.bindparam("h"), _TK.c.revoked.is_(False), _U.c.active.is_(True))


def create_session(eng: Engine, user: UserInfo, hours: float = 12.0) -> tuple[str, str]:
    """(cookie value, CSRF token) of a new browser session."""
    sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = _now()
    with eng.begin() as conn:
        conn.execute(sa.delete(_S).where(_S.c.expires_at < now))
        conn.execute(sa.insert(_S).values(id_hash=_sha(sid), user_id=user.id, csrf=csrf, created_at=now,
                                          expires_at=now + dt.timedelta(hours=hours)))
    return sid, csrf


def session_user(eng: Engine, sid: str) -> tuple[UserInfo, str] | None:
    """(user, CSRF token) of a live session, else None."""
    with eng.connect() as conn:
        row = conn.execute(sa.select(_U, _S.c.csrf, _S.c.expires_at).join(_S, _S.c.user_id == _U.c.id).where(
            _S.c.id_hash == _sha(sid), _U.c.active.is_(True))).first()
    if row is None:
        return None
    exp = row.expires_at if isinstance(row.expires_at, dt.datetime) else dt.datetime.fromisoformat(str(row.expires_at))
    if exp < _now():
        return None
    return _info(row), row.csrf


def delete_session(eng: Engine, sid: str) -> None:
    with eng.begin() as conn:
        conn.execute(sa.delete(_S).where(_S.c.id_hash == _sha(sid)))


def ensure_admin(eng: Engine, password: str | None = None, username: str = "admin") -> str | None:
    """On a workspace without users, create ``username`` as admin with ``password`` (or a
    random one-time password, returned so it can be printed once). None when users exist."""
    store.upgrade(eng)
    with eng.connect() as conn:
        if conn.execute(sa.select(sa.func.count()).select_from(_U)).scalar_one():
            return None
    pw = password or secrets.token_urlsafe(15)
    create_user(eng, username, role="admin", password=pw)
    return pw
