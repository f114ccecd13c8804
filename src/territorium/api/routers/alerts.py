"""Alert rules over the API: stored (validated, versioned), shown, and evaluated on a plan."""
from __future__ import annotations

import datetime as dt
import json

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from territorium.analytics.alerts import AlertRuleError, parse_rules
from territorium.api.deps import CurrentUser, Eng, require
from territorium.plan import plans
from territorium.plan.alerts import RuleSetConflict, alerts_frame, run_stored, save_rules, stored_rules

router = APIRouter(prefix="/api/alerts", tags=["alerts"])


class RuleSetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    yaml: str = Field(min_length=1, max_length=200_000, description="The rules as YAML (docs/monitoring.md)")
    expected_version: int | None = Field(None, ge=0, description="The version the change is made against "
                                         "(omit or 0 for a new rule set)")


@router.get("/rules", summary="Stored alert rule sets")
def list_rule_sets(user: CurrentUser, eng: Eng):
    return [{k: v for k, v in r.items() if k != "yaml"} for r in stored_rules(eng)]


@router.get("/rules/{name}", summary="One stored rule set (YAML and the rules it defines)")
def get_rule_set(name: str, user: CurrentUser, eng: Eng):
    found = stored_rules(eng, name)
    if not found:
        raise plans.NotFound(f"no alert rules {name!r}")
    r = found[0]
    rules = parse_rules(r["yaml"], name)
    return {**r, "rules": [{"name": x.name, "condition": x.describe(), "metric": x.metric, "by": x.by,
                            "severity": x.severity, "line": x.line} for x in rules]}


@router.put("/rules/{name}", summary="Store a rule set (validated; 409 on a stale version)")
def put_rule_set(name: str, body: RuleSetIn, eng: Eng, user=require("admin", "planner")):
    if not name.strip() or len(name) > 100:
        return JSONResponse(status_code=422, content={"detail": "name: 1 to 100 characters"})
    try:
        return save_rules(eng, name, body.yaml, actor=user.username, expected_version=body.expected_version)
    except AlertRuleError as exc:
        return JSONResponse(status_code=422, content={
            "detail": f"{len(exc.issues)} problem(s) in the alert rules",
            "errors": [{"line": ln, "message": msg} for ln, msg in exc.issues]})
    except RuleSetConflict as exc:
        return JSONResponse(status_code=409, content={"detail": str(exc), "current_version": exc.current})


@router.get("", summary="Evaluate a stored rule set on a plan")
def evaluate(user: CurrentUser, eng: Eng, rules: str = Query(..., max_length=100),
             plan: str = Query(..., max_length=200), asof: dt.date | None = None):
    """The alerts that fire now; a rep sees its territories' alerts, a manager its subtree's
    (alerts by other groups than territory only for planners and admins)."""
    from territorium.plan.access import territory_scope
    from territorium.plan.kpis import KpiJobError

    content = plans.plan_content(eng, plan)
    scope = territory_scope(user, content.territories)
    if scope is not None and not scope:
        raise plans.NotFound(f"no plan {plan!r}")
    try:
        run = run_stored(eng, rules, plan, asof=asof)
    except KpiJobError as exc:
        return JSONResponse(status_code=400, content={"detail": str(exc)})
    df = alerts_frame(run.alerts)
    by = {r.name: r.by for r in parse_rules(stored_rules(eng, rules)[0]["yaml"], rules)}
    if scope is not None:
        keep = [by.get(rn) == "territory" and g in scope for rn, g in zip(df["rule"], df["group"])]
        df = df[keep]
    return {"asof": str(run.asof.date()), "rules": rules, "plan": plan, "evaluated": run.evaluated,
            "alerts": json.loads(df.to_json(orient="records", date_format="iso")), "notes": run.notes}
