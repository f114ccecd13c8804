"""Quotas over the API: the engine and options of ``territorium quota`` run on a stored plan's
alignment; optionally the quotas are written into the plan's territories as one new version."""
from __future__ import annotations

import json

from fastapi import APIRouter, Response
from pydantic import Field

from territorium.api import schemas as S
from territorium.api.deps import CurrentUser, Eng, IfMatch, etag, expected_version, require
from territorium.plan import plans
from territorium.plan.access import EDITORS

router = APIRouter(prefix="/api/plans", tags=["quotas"])


class QuotaIn(S.Request):
    total: float | None = Field(None, gt=0, le=1e15, description="company number; default: last 12 months' sales "
                                "× (1 + growth)")
    growth: float = Field(0.10, ge=-0.99, le=100, description="growth over the last 12 months (0.1 = 10 %)")
    weight: float = Field(0.5, ge=0, le=1, description="weight of history; 1 − weight goes to potential")
    cap: float | None = Field(None, ge=-0.99, le=100, description="growth cap per territory vs its last 12 months")
    floor: float | None = Field(None, ge=-0.99, le=100, description="growth floor per territory")
    round_to: float = Field(1000.0, ge=0, le=1e12, description="round quotas keeping the total (0: no rounding)")
    backtest: bool = False
    weights: list[float] = Field([0, 0.25, 0.5, 0.75, 1], min_length=1, max_length=21)
    goals: bool = Field(True, description="also visit, new-account, conversion-rate and AOV goals")
    smoothing: float = Field(0.2, ge=0, le=1, description="seasonality smoothing towards neighbouring months")
    hierarchy: str = Field("state", pattern=r"^(state|none|adjacency:\d{1,3})$", description="roll-up levels")
    save: bool = Field(False, description="write the quotas into the plan's territories (a draft; needs "
                                          "expected_version or If-Match)")
    expected_version: int | None = Field(None, ge=1)
    reason: str | None = Field(None, max_length=500)


def _records(df) -> list[dict]:
    return [] if df is None or not len(df) else json.loads(df.to_json(orient="records", date_format="iso"))


@router.post("/{name}/quotas", dependencies=[require(*EDITORS)], summary="Compute (and optionally store) quotas")
def quotas(name: str, body: QuotaIn, user: CurrentUser, eng: Eng, response: Response, if_match: IfMatch = None):
    """Top-down quotas for the plan's territories by a blend of history and potential, as
    ``territorium quota``: caps and floors, seasonal monthly split, backtest, goals. With
    ``save`` the quotas are written into the territories (one new version, 409 when stale)."""
    from territorium.plan.quotas import QuotaJob, QuotaJobError, run_quota
    from territorium.plan.stored import plan_files
    from territorium.plan.workspace import Workspace, WorkspaceError

    v = expected_version(body.expected_version, if_match) if body.save else None
    if v is not None:
        cur = plans.get_plan(eng, name)
        if cur.version != v:   # refuse before computing (the write checks again)
            ev, _ = plans.events(eng, cur.id, since_version=v)
            raise plans.Conflict(name, v, cur.version, ev.astype(object).where(ev.notna(), None).to_dict("records"))
    try:
        with plan_files(eng, name) as pf:
            job = QuotaJob(total=body.total, growth=body.growth, weight=body.weight, cap=body.cap, floor=body.floor,
                           round_to=body.round_to or None, backtest=body.backtest, weights=body.weights,
                           goals=body.goals, smoothing=body.smoothing, alignment=pf.alignment,
                           level=pf.info.unit_level, hierarchy=body.hierarchy)
            run = run_quota(Workspace(engine=eng), job)
    except (QuotaJobError, WorkspaceError, ValueError) as exc:   # as `territorium quota`
        raise plans.PlanError(str(exc)) from None
    t, al = run.territories, run.allocation
    out = {"plan": name, "total": float(al.total), "weight": float(al.weight), "quota_sum": float(al.quota.sum()),
           "territories": _records(t), "monthly": _records(run.monthly), "goals": _records(run.goals),
           "rollup": _records(run.rollup), "notes": pf.notes + run.notes, "saved_version": None}
    if run.season is not None:
        out["seasonality"] = {"shares": [float(x) for x in run.season.shares], "method": run.season.method}
    if run.backtest is not None:
        out["backtest"] = {"best_weight": float(run.backtest.best_weight), "table": _records(run.backtest.table)}
    if body.save:
        changes = {str(k): {"quota": float(q)} for k, q in zip(t["territory"], t["quota"])}
        info = plans.update_territories(eng, name, changes, expected_version=v, actor=user.username,
                                        reason=body.reason or "quotas computed over the API", job="api:quota")
        out["saved_version"] = info.version
        response.headers["ETag"] = etag(info)
    return out
