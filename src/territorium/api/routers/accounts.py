"""Accounts as the user may see them, with their ownership history."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from fastapi import APIRouter, Query

from territorium.api import schemas as S
from territorium.api.deps import CurrentUser, Eng, require
from territorium.plan import plans
from territorium.plan.access import EDITORS, territory_scope

router = APIRouter(prefix="/api/accounts", tags=["accounts"])


def _visible(eng, user, account_id: str, history) -> bool:
    if user.role in EDITORS:
        return True
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    current = history[(history["valid_from"] <= now) & (history["valid_to"].isna() | (history["valid_to"] > now))]
    if user.role == "rep":
        return bool((current["rep_id"] == user.person_id).any())
    for r in current.itertuples(index=False):
        scope = territory_scope(user, plans.plan_content(eng, r.plan, units=False).territories)
        if scope is None or r.territory_id in scope:
            return True
    return False


@router.get("/{account_id}", response_model=S.AccountPublic)
def get_account(account_id: str, user: CurrentUser, eng: Eng):
    """An account and its ownership history; a rep sees only accounts it owns now, a manager
    those in its subtree (anything else is 404)."""
    with eng.connect() as conn:
        row = conn.execute(sa.text("SELECT account_id, name, city, state, zip FROM accounts WHERE account_id = :a"),
                           {"a": account_id}).first()
    if row is None:
        raise plans.NotFound(f"no account {account_id!r}")
    h = plans.ownership_history(eng, account_id)
    if not _visible(eng, user, account_id, h):
        raise plans.NotFound(f"no account {account_id!r}")
    owners = [S.OwnerPublic(account_id=account_id, **{k: (None if v is None or v != v else v) for k, v in r.items()
                                                      if k != "model"}) for r in h.to_dict("records")]
    return S.AccountPublic(**dict(row._mapping), owners=owners)


@router.get("/{account_id}/owner", response_model=S.OwnerPublic)
def owner_on(account_id: str, user: CurrentUser, eng: Eng, at: dt.date = Query(..., description="YYYY-MM-DD"),
             model: str = "geographic"):
    """Who owned the account on a date under the model's active plans (404: nobody / not visible)."""
    get_account(account_id, user, eng)
    o = plans.owner_at(eng, account_id, at, model=model)
    if o is None:
        raise plans.NotFound(f"no {model} plan was active for account {account_id!r} on {at}")
    return S.OwnerPublic(**o)


@router.get("/{account_id}/events", response_model=S.Page[S.EventPublic], dependencies=[require(*EDITORS)])
def account_events(account_id: str, eng: Eng, limit: int = Query(100, ge=1, le=10_000), offset: int = Query(0, ge=0)):
    """The audit trail of one account across every plan (explicit assignments), oldest first."""
    ev, total = plans.events(eng, entity="account", entity_id=account_id, limit=limit, offset=offset)
    items = [S.EventPublic(**{k: (None if v != v else v) for k, v in r.items()}) for r in ev.to_dict("records")]
    return S.Page[S.EventPublic](items=items, total=total, limit=limit, offset=offset)
