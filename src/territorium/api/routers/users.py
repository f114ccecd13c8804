"""Users and API tokens (admin only)."""
from __future__ import annotations

from fastapi import APIRouter

from territorium.api import schemas as S
from territorium.api.deps import Eng, require
from territorium.plan import users as U

router = APIRouter(prefix="/api/users", tags=["users"], dependencies=[require("admin")])


def _public(u: U.UserInfo) -> S.UserPublic:
    return S.UserPublic(username=u.username, role=u.role, person_id=u.person_id, active=u.active,
                        created_at=u.created_at)


@router.get("", response_model=list[S.UserPublic])
def list_users(eng: Eng):
    """Every user."""
    return [_public(u) for u in U.list_users(eng)]


@router.post("", response_model=S.UserPublic, status_code=201)
def add_user(body: S.UserCreate, eng: Eng):
    """A new user (no password: a token-only account)."""
    return _public(U.create_user(eng, body.username, role=body.role, password=body.password,
                                 person_id=body.person_id))


@router.patch("/{username}", response_model=S.UserPublic)
def update_user(username: str, body: S.UserUpdate, eng: Eng):
    """Change role, person id, or (de)activate."""
    u = U.get_user(eng, username)
    return _public(U.set_role(eng, username, body.role or u.role, person_id=body.person_id, active=body.active))


@router.post("/{username}/tokens", response_model=S.TokenPublic, status_code=201)
def add_token(username: str, body: S.TokenIn, eng: Eng):
    """A new API token for the user; the secret is shown in this answer only."""
    return S.TokenPublic(token=U.create_token(eng, username, body.name), username=username, name=body.name)
