"""Routing rule sets over the API: stored (validated with line numbers, versioned, 409 on a
stale write), shown, and run on a stored plan for given accounts or all unrouted ones, as
``territorium route`` does (nothing is written: the answer is the decisions)."""
from __future__ import annotations

import json

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import Field

from territorium.api import schemas as S
from territorium.api.deps import Eng, IfMatch, expected_version, require
from territorium.plan import plans
from territorium.plan import routing as R
from territorium.plan.access import EDITORS
from territorium.plan.exporting import ExportError
from territorium.plan.rulesets import RuleSetConflict
from territorium.plan.workspace import WorkspaceError

router = APIRouter(prefix="/api/routing", tags=["routing"], dependencies=[require(*EDITORS)])
Name = Path(..., min_length=1, max_length=100, pattern=r"^\S(.*\S)?$", description="rule set name")


class RuleSetIn(S.Request):
    yaml: str = Field(min_length=1, max_length=200_000, description="The rules as YAML (docs/routing.md)")
    expected_version: int | None = Field(None, ge=0, description="The version the change is made against "
                                         "(omit or 0 for a new rule set)")


class RouteIn(S.Request):
    plan: str = Field(min_length=1, max_length=200, description="the stored plan (alignment and staffing)")
    accounts: list[str] | None = Field(None, min_length=1, max_length=100_000,
                                       description="account ids to route; omitted: every account without an owner "
                                                   "(or all of them with all_accounts)")
    all_accounts: bool = Field(False, description="route every imported account (when accounts is omitted)")


def _records(df) -> list[dict]:
    return json.loads(df.to_json(orient="records", date_format="iso")) if len(df) else []


def invalid(exc: R.RuleFileInvalid) -> JSONResponse:
    """422 with every problem of the rule set and its YAML line."""
    return JSONResponse(status_code=422, content={
        "detail": f"{len(exc.report.errors)} problem(s) in the routing rules: {exc}",
        "errors": [{"line": i.line, "severity": i.severity, "code": i.code, "rule": i.rule, "message": i.message}
                   for i in exc.report.issues]})


def conflict(exc: RuleSetConflict) -> JSONResponse:
    return JSONResponse(status_code=409, content={"detail": str(exc), "expected_version": exc.expected,
                                                  "current_version": exc.current})


@router.get("/rules", summary="Stored routing rule sets")
def list_rule_sets(eng: Eng):
    from territorium.plan import rulesets

    return [{k: v for k, v in r.items() if k != "yaml"} for r in rulesets.stored(eng, "routing")]


def _etag(version: int) -> str:
    return f'"r-v{version}"'


@router.get("/rules/{name}", summary="One stored rule set (YAML, rules with their lines); ETag names its version")
def get_rule_set(request: Request, response: Response, eng: Eng, name: str = Name):
    r = R.stored_rule_set(eng, name)
    tag = _etag(r["version"])
    if tag in [t.strip().removeprefix("W/") for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers={"ETag": tag})
    response.headers["ETag"] = tag
    rs = R.parse_yaml(r["yaml"], source=name)
    return {**r, "rules": [{"name": x.name, "line": x.line, "target": x.target.describe()} for x in rs.rules],
            "fallback": [t.describe() for t in rs.fallback]}


@router.put("/rules/{name}", summary="Store a rule set (validated; 422 with lines; 409 on a stale version)")
def put_rule_set(body: RuleSetIn, eng: Eng, response: Response, user=require(*EDITORS), name: str = Name,
                 if_match: IfMatch = None):
    """The version the change is made against: ``expected_version`` or the ETag in If-Match
    (neither: a new rule set)."""
    v = body.expected_version if body.expected_version is not None or not if_match \
        else expected_version(None, if_match)
    try:
        saved = R.save_rule_set(eng, name, body.yaml, actor=user.username, expected_version=v)
        response.headers["ETag"] = _etag(saved["version"])
        return saved
    except R.RuleFileInvalid as exc:
        return invalid(exc)
    except RuleSetConflict as exc:
        return conflict(exc)


@router.post("/rules/{name}/route", summary="Route accounts on a stored plan (nothing is written)")
def route(body: RouteIn, eng: Eng, name: str = Name, limit: int = Query(1000, ge=1, le=100_000),
          offset: int = Query(0, ge=0)):
    """The decision for every account (territory, rep, rule and its line, explanation, current
    owner, whether it changes), paged, with the per-rule counts and the changes by rep."""
    try:
        run = R.route_stored(eng, name, body.plan, account_ids=body.accounts, unrouted_only=not body.all_accounts)
    except R.RuleFileInvalid as exc:
        return invalid(exc)
    except (R.RoutingJobError, ExportError, WorkspaceError, ValueError) as exc:   # as `territorium route`
        raise plans.PlanError(str(exc)) from None
    df = R.routed_frame(run)
    res, dr = run.result, run.dry_run
    return {"rules": name, "plan": body.plan, "accounts": len(df), "unrouted": int(res.unrouted),
            "changed": int(dr.changed), "per_rule": _records(res.rules), "by_rep": _records(dr.by_rep.head(100)),
            "issues": _records(run.validation.frame()), "notes": run.notes,
            "decisions": S.Page[dict](items=_records(df.iloc[offset:offset + limit]), total=len(df), limit=limit,
                                      offset=offset).model_dump()}
