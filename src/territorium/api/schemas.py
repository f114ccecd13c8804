"""Request and response shapes of the API (pydantic), apart from the tables in ``store/``.

Requests forbid unknown fields, so a typo is a 422 naming the field instead of being ignored.
"""
from __future__ import annotations

import datetime as dt
from typing import Generic, Literal, TypeVar, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, create_model

from ..plan.plans import PlanInfo

T = TypeVar("T")


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


# A plan as the API shows it: the fields of ``plans.PlanInfo``, one definition for both
PlanPublic = create_model("PlanPublic", **{name: (tp, ...) for name, tp in get_type_hints(PlanInfo).items()})


class RepSlot(BaseModel):
    rep_id: str
    role: str


class TerritoryPublic(BaseModel):
    territory_id: str
    name: str | None
    parent: str | None
    manager: str | None
    quota: float | None
    reps: list[RepSlot]
    units: int


class UnitPublic(BaseModel):
    unit_id: str
    territory_id: str


class AccountAssignment(BaseModel):
    account_id: str
    territory_id: str | None
    rep_id: str | None


class PlanContentPublic(BaseModel):
    plan: PlanPublic
    version: int
    territories: list[TerritoryPublic]
    accounts: list[AccountAssignment]


class TerritoryIn(Request):
    name: str | None = None
    parent: str | None = None
    manager: str | None = None
    quota: float | None = Field(default=None, ge=0)
    reps: list[str] | None = None


class PlanCreate(Request):
    name: str = Field(min_length=1, max_length=200)
    model: str = Field(default="geographic", min_length=1, max_length=100)
    unit_level: Literal["zip", "county", "state", "account", "custom"] = "zip"
    units: dict[str, str] = Field(description="unit_id → territory_id")
    territories: dict[str, TerritoryIn] = Field(default_factory=dict)
    settings: dict = Field(default_factory=dict)
    seed: int | None = None
    reason: str | None = Field(default=None, max_length=2000)


class Versioned(Request):
    expected_version: int | None = Field(default=None, ge=1, description="the version the change is made "
                                         "against; or send it as If-Match (the plan's ETag)")
    reason: str | None = Field(default=None, max_length=2000)


class CopyIn(Request):
    name: str = Field(min_length=1, max_length=200)
    version: int | None = Field(default=None, ge=1)
    model: str | None = None


class MovesIn(Versioned):
    moves: dict[str, str] = Field(min_length=1, max_length=100_000, description="unit_id → territory_id")


class AccountMove(Request):
    territory: str | None = None
    rep: str | None = None


class AccountMovesIn(Versioned):
    moves: dict[str, AccountMove] = Field(min_length=1, max_length=100_000)


class TerritoriesIn(Versioned):
    changes: dict[str, TerritoryIn | None] = Field(min_length=1, description="territory_id → fields; null removes")


class StatusIn(Versioned):
    status: Literal["draft", "proposed", "approved", "archived"]


class PromoteIn(Versioned):
    effective: dt.datetime | dt.date | None = None


class RestoreIn(Versioned):
    version: int = Field(ge=1)


class EventPublic(BaseModel):
    id: int
    plan: str
    version: int
    at: dt.datetime
    actor: str
    entity: str
    entity_id: str
    field: str
    old_value: str | None
    new_value: str | None
    reason: str | None
    job: str | None


class ComparisonPublic(BaseModel):
    plans: list[str]
    summary: list[dict]
    balance: list[dict]
    territories: list[dict]
    moved: list[dict]
    rep_names: dict[str, str] = {}


class OwnerPublic(BaseModel):
    account_id: str
    rep_id: str | None
    territory_id: str | None
    plan: str
    plan_version: int
    valid_from: dt.datetime
    valid_to: dt.datetime | None


class AccountPublic(BaseModel):
    account_id: str
    name: str | None
    city: str | None
    state: str | None
    zip: str | None
    owners: list[OwnerPublic]


class LoginIn(Request):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class SessionPublic(BaseModel):
    username: str
    role: str
    person_id: str | None
    csrf_token: str | None = None


class UserPublic(BaseModel):
    username: str
    role: str
    person_id: str | None
    active: bool
    created_at: dt.datetime


class UserCreate(Request):
    username: str = Field(min_length=1, max_length=64)
    role: Literal["admin", "planner", "manager", "rep"]
    password: str | None = Field(default=None, min_length=10, max_length=1024)
    person_id: str | None = None


class UserUpdate(Request):
    role: Literal["admin", "planner", "manager", "rep"] | None = None
    person_id: str | None = None
    active: bool | None = None


class TokenIn(Request):
    name: str = Field(default="script", min_length=1, max_length=100)


class TokenPublic(BaseModel):
    token: str = Field(description="shown once; send as Authorization: Bearer <token>")
    username: str
    name: str
