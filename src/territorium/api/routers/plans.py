"""Plans: list, read (ETag), create, copy, move units and accounts, edit territories, review
status, promote, restore, audit events, comparison."""
from __future__ import annotations

import json

from typing import Literal

from fastapi import APIRouter, File, Form, HTTPException, Query, Request, Response, UploadFile

from territorium.api import schemas as S
from territorium.api.uploads import save_upload, upload_limit
from territorium.api.deps import (
    CurrentUser, Eng, IfMatch, VisiblePlanSummary, etag, expected_version, load_plan_summary, require,
)
from territorium.plan import plans
from territorium.plan._cache import attached
from territorium.plan.access import EDITORS, may_set_status, territory_scope

router = APIRouter(prefix="/api", tags=["plans"])
EDIT = require(*EDITORS)


def _public(info: plans.PlanInfo) -> S.PlanPublic:
    return S.PlanPublic(**info.__dict__)


def _with_etag(response: Response, info: plans.PlanInfo) -> None:
    response.headers["ETag"] = etag(info)
    response.headers["Vary"] = "Authorization, Cookie"


def _not_modified(request: Request, info: plans.PlanInfo) -> Response | None:
    inm = request.headers.get("if-none-match")
    if inm and etag(info) in [t.strip().removeprefix("W/") for t in inm.split(",")]:
        return Response(status_code=304, headers={"ETag": etag(info)})
    return None


@router.get("/plans", response_model=S.Page[S.PlanPublic])
def list_plans(user: CurrentUser, eng: Eng, model: str | None = None, status: str | None = None,
               limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0)):
    """Plans the user may see, newest first."""
    if user.role in EDITORS:
        rows, total = plans.list_plans(eng, model=model, status=status, limit=limit, offset=offset)
    else:
        every, _ = plans.list_plans(eng, model=model, status=status)
        seen = [p for p in every if territory_scope(user, plans.plan_content(eng, p.id, units=False).territories)]
        rows, total = seen[offset:offset + limit], len(seen)
    return S.Page[S.PlanPublic](items=[_public(p) for p in rows], total=total, limit=limit, offset=offset)


@router.post("/plans", response_model=S.PlanPublic, status_code=201, dependencies=[EDIT])
def create_plan(body: S.PlanCreate, user: CurrentUser, eng: Eng, response: Response):
    """A new draft plan from its content."""
    terr = {k: {f: v for f, v in t.model_dump().items() if v is not None} for k, t in body.territories.items()}
    info = plans.create_plan(eng, body.name, units=body.units, territories=terr or None, model=body.model,
                             unit_level=body.unit_level, settings=body.settings, seed=body.seed, actor=user.username,
                             reason=body.reason, job="api")
    _with_etag(response, info)
    return _public(info)


@router.get("/plans/{name}", response_model=S.PlanPublic)
def get_plan(loaded: VisiblePlanSummary, request: Request, response: Response):
    """A plan's record; the ETag names its version (send it back as If-Match on a write)."""
    info = loaded.content.info
    nm = _not_modified(request, info)
    if nm is not None:
        return nm
    _with_etag(response, info)
    return _public(info)


def _content(loaded) -> S.PlanContentPublic:
    c, scope = loaded.content, loaded.scope
    n_units = c.unit_counts
    terr = []
    for r in c.territories.itertuples(index=False):
        if scope is not None and r.territory_id not in scope:
            continue
        terr.append(S.TerritoryPublic(territory_id=r.territory_id, name=r.name, parent=r.parent, manager=r.manager,
                                      quota=None if r.quota != r.quota else float(r.quota),
                                      reps=[S.RepSlot(rep_id=a, role=b) for a, b in r.reps],
                                      units=int(n_units.get(r.territory_id, 0))))
    acc = [S.AccountAssignment(**a) for a in c.accounts.to_dict("records")
           if scope is None or a["territory_id"] in scope]
    return S.PlanContentPublic(plan=_public(c.info), version=c.version, territories=terr, accounts=acc)


CONTENT_CACHE = 64  # rendered content answers kept per app: (plan id, version, updated_at, scope) -> JSON


@router.get("/plans/{name}/content", response_model=S.PlanContentPublic)
def get_content(loaded: VisiblePlanSummary, request: Request):
    """Territories (hierarchy, reps, quota, unit count) and explicit account assignments; an
    earlier version with ?version=N. Managers and reps see their part only. The current
    version carries an ETag; If-None-Match with it answers 304 without a body."""
    c, info = loaded.content, loaded.content.info
    headers = {}
    if c.version == info.version:
        nm = _not_modified(request, info)
        if nm is not None:
            return nm
        headers = {"ETag": etag(info), "Vary": "Authorization, Cookie"}
    # a version's content never changes, so its rendering is kept (pydantic for 500 territories
    # costs more than the cached read of the plan)
    cache = attached(request.app.state, "content_cache", CONTENT_CACHE)
    key = (info.id, c.version, info.updated_at, None if loaded.scope is None else frozenset(loaded.scope))
    body = cache.get(key)
    if body is None:
        body = _content(loaded).model_dump_json().encode()
        cache.put(key, body)
    return Response(body, media_type="application/json", headers=headers)


@router.get("/plans/{name}/units", response_model=S.Page[S.UnitPublic])
def get_units(loaded: VisiblePlanSummary, eng: Eng, territory: str | None = None,
              limit: int = Query(1000, ge=1, le=100_000), offset: int = Query(0, ge=0)):
    """The alignment (unit → territory; ?version=N for an earlier one), paged; ?territory=T filters."""
    c = loaded.content
    terrs = loaded.scope
    if territory is not None:
        terrs = {territory} if terrs is None or territory in terrs else set()
    if c.version == c.info.version:
        page, total = plans.plan_units(eng, c.info.id, territories=terrs, limit=limit, offset=offset)
    else:  # an earlier version, rebuilt from the audit trail
        u = c.units if terrs is None else c.units[c.units["territory_id"].isin(terrs)]
        page, total = u.iloc[offset:offset + limit], len(u)
    return S.Page[S.UnitPublic](items=[S.UnitPublic(**r) for r in page.to_dict("records")], total=total,
                                limit=limit, offset=offset)


def _written(info: plans.PlanInfo, response: Response) -> S.PlanPublic:
    _with_etag(response, info)
    return _public(info)


@router.post("/plans/{name}/copy", response_model=S.PlanPublic, status_code=201, dependencies=[EDIT])
def copy_plan(name: str, body: S.CopyIn, user: CurrentUser, eng: Eng, response: Response):
    """A draft scenario copied from the plan (or one of its versions)."""
    return _written(plans.copy_plan(eng, name, body.name, actor=user.username, version=body.version,
                                    model=body.model), response)


@router.post("/plans/{name}/moves", response_model=S.PlanPublic, dependencies=[EDIT])
def move_units(name: str, body: S.MovesIn, user: CurrentUser, eng: Eng, response: Response, if_match: IfMatch = None):
    """Move units to other territories (one new version; 409 when the version is stale)."""
    v = expected_version(body.expected_version, if_match)
    return _written(plans.move_units(eng, name, body.moves, expected_version=v, actor=user.username,
                                     reason=body.reason, job="api"), response)


@router.post("/plans/{name}/account-moves", response_model=S.PlanPublic, dependencies=[EDIT])
def move_accounts(name: str, body: S.AccountMovesIn, user: CurrentUser, eng: Eng, response: Response,
                  if_match: IfMatch = None):
    """Assign accounts to a territory and / or rep explicitly (both null: follow the unit again)."""
    v = expected_version(body.expected_version, if_match)
    moves = {a: m.model_dump() for a, m in body.moves.items()}
    return _written(plans.move_accounts(eng, name, moves, expected_version=v, actor=user.username,
                                        reason=body.reason, job="api"), response)


@router.patch("/plans/{name}/territories", response_model=S.PlanPublic, dependencies=[EDIT])
def edit_territories(name: str, body: S.TerritoriesIn, user: CurrentUser, eng: Eng, response: Response,
                     if_match: IfMatch = None):
    """Add, change or remove territories and hierarchy nodes (name, parent, manager, quota, reps)."""
    v = expected_version(body.expected_version, if_match)
    changes = {k: (None if t is None else t.model_dump(exclude_unset=True)) for k, t in body.changes.items()}
    return _written(plans.update_territories(eng, name, changes, expected_version=v, actor=user.username,
                                             reason=body.reason, job="api"), response)


@router.post("/plans/{name}/status", response_model=S.PlanPublic)
def set_status(name: str, body: S.StatusIn, user: CurrentUser, eng: Eng, response: Response, if_match: IfMatch = None):
    """Review: propose (planner), approve or send back (manager of the plan's subtree, admin), archive."""
    loaded = load_plan_summary(name, user, eng)
    if not may_set_status(user, loaded.content.info.status, body.status):
        raise HTTPException(403, f"a {user.role} may not move a {loaded.content.info.status} plan to {body.status}")
    v = expected_version(body.expected_version, if_match)
    return _written(plans.set_status(eng, name, body.status, expected_version=v, actor=user.username,
                                     reason=body.reason), response)


@router.post("/plans/{name}/promote", response_model=S.PlanPublic, dependencies=[EDIT])
def promote(name: str, body: S.PromoteIn, user: CurrentUser, eng: Eng, response: Response, if_match: IfMatch = None):
    """Activate an approved plan from ``effective`` (default now); the model's active plan is archived."""
    v = expected_version(body.expected_version, if_match)
    return _written(plans.promote(eng, name, expected_version=v, actor=user.username, effective=body.effective,
                                  reason=body.reason), response)


@router.post("/plans/{name}/restore", response_model=S.PlanPublic, dependencies=[EDIT])
def restore(name: str, body: S.RestoreIn, user: CurrentUser, eng: Eng, response: Response, if_match: IfMatch = None):
    """Write an earlier version's content back as a new version."""
    v = expected_version(body.expected_version, if_match)
    return _written(plans.restore(eng, name, body.version, expected_version=v, actor=user.username,
                                  reason=body.reason), response)


@router.get("/plans/{name}/events", response_model=S.Page[S.EventPublic], dependencies=[EDIT])
def plan_events(name: str, eng: Eng, since_version: int | None = Query(None, ge=0),
                limit: int = Query(100, ge=1, le=10_000), offset: int = Query(0, ge=0)):
    """The plan's audit trail, oldest first."""
    ev, total = plans.events(eng, name, since_version=since_version, limit=limit, offset=offset)
    items = [S.EventPublic(**{k: (None if v != v else v) for k, v in r.items()}) for r in ev.to_dict("records")]
    return S.Page[S.EventPublic](items=items, total=total, limit=limit, offset=offset)


@router.get("/compare", response_model=S.ComparisonPublic, dependencies=[EDIT])
def compare(eng: Eng, plan: list[str] = Query(..., min_length=2, description="two or more plans (NAME or NAME@V)")):
    """Plans side by side: balance, accounts and revenue that change owner, reps affected (and their names)."""
    c = plans.compare(eng, plan)

    def rec(df):
        return json.loads(df.to_json(orient="records", date_format="iso")) if len(df) else []

    return S.ComparisonPublic(plans=list(c.plans), summary=rec(c.summary), balance=rec(c.balance),
                              territories=rec(c.territories), moved=rec(c.moved), rep_names=c.rep_names)


@router.post("/plans/import", response_model=S.PlanPublic, status_code=201, dependencies=[EDIT])
def import_plan(user: CurrentUser, eng: Eng, response: Response, request: Request,
                name: str = Form(..., min_length=1, max_length=200),
                model: str = Form("geographic", min_length=1, max_length=100),
                unit_level: Literal["zip", "county", "state", "account", "custom"] | None = Form(None),
                seed: int | None = Form(None),
                alignment: UploadFile | None = File(None, description="design --out CSV: unit_id, territory"),
                staffing: UploadFile | None = File(None, description="assign territories --out CSV"),
                accounts: UploadFile | None = File(None, description="assign accounts *_accounts.csv"),
                quotas: UploadFile | None = File(None, description="quota --out CSV: territory, quota"),
                hierarchy: UploadFile | None = File(None, description="territory, parent, manager, name")):
    """A new draft plan from the CSV outputs of the CLI, uploaded as multipart form fields. All
    files are checked first; a problem is a 400 naming the file, row, column and value, and
    nothing is stored."""
    import tempfile

    files = {"alignment": alignment, "staffing": staffing, "accounts": accounts, "quotas": quotas,
             "hierarchy": hierarchy}
    with tempfile.TemporaryDirectory(prefix="territorium-upload-") as d:
        paths = {k: save_upload(k, f, d, upload_limit(request)) for k, f in files.items() if f is not None}
        try:
            info = plans.import_plan(eng, name, actor=user.username, model=model, unit_level=unit_level, seed=seed,
                                     reason="uploaded over the API", **paths)
        except plans.PlanError as exc:
            raise type(exc)(str(exc).replace(f"{d}/", "").replace(f"{d}", "")) from None
    _with_etag(response, info)
    return _public(info)
