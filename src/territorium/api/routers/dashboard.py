"""KPI dashboards of a plan (``GET /api/plans/{name}/kpis``) and the plan's locked units
(``GET`` / ``POST /api/plans/{name}/locks``), for the web app.

A rep gets the rows of their own territory (or, by rep, their own row); a manager those of the
territories below the nodes they manage; planners and admins everything, including orders
outside every territory (group ``null``). The hierarchy comes with the answer, so the page
filters by region without another request.
"""
from __future__ import annotations

import datetime as dt
from typing import Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import Field

from territorium.api import schemas as S
from territorium.api.deps import CurrentUser, Eng, IfMatch, VisiblePlan, VisiblePlanSummary, etag, expected_version, require
from territorium.plan import plans
from territorium.plan.access import EDITORS
from territorium.plan.dashboard import KpiCache, dashboard, placed_plan, records
from territorium.plan.kpis import KpiJobError

router = APIRouter(prefix="/api", tags=["dashboard"])
EDIT = require(*EDITORS)


def _cache(request: Request) -> KpiCache:
    st = request.app.state
    if not hasattr(st, "kpi_cache"):
        st.kpi_cache = KpiCache()
    return st.kpi_cache


def _hierarchy(territories, scope: set[str] | None) -> tuple[list[dict], list[dict]]:
    """(leaf territories with name, parent, reps; region / area nodes), as the user may see them."""
    parents = set(territories["parent"].dropna().astype(str))
    leaves, nodes = [], []
    for r in territories.itertuples(index=False):
        if scope is not None and r.territory_id not in scope:
            continue
        rec = {"id": r.territory_id, "name": r.name or r.territory_id, "parent": r.parent}
        if r.territory_id in parents:
            nodes.append(rec)
        else:
            leaves.append({**rec, "reps": [x[0] for x in r.reps]})
    return leaves, nodes


@router.get("/plans/{name}/kpis")
def plan_kpis(loaded: VisiblePlanSummary, request: Request, user: CurrentUser, eng: Eng,
              by: Literal["territory", "rep"] = "territory",
              period: Literal["week", "month", "quarter", "year"] = "month",
              start: dt.date | None = Query(None, description="first day of the window (default: a year before end)"),
              end: dt.date | None = Query(None, description="day after the window (default: the day after the last order)")):
    """Commerce and field-sales KPIs of the plan per territory or rep: ``series`` (per period)
    and ``totals`` (over the window), with the hierarchy for filtering (docs/kpis.md has the
    formulas). Scoped per role."""
    c, scope = loaded.content, loaded.scope
    key = (c.info.id, c.version, _data_stamp(eng))   # new orders, deals or visits: placed again
    try:
        data = _cache(request).get(key, lambda: placed_plan(eng, c.info.name, c.version))
        d = dashboard(data, by=by, period=period, start=start, end=end)
    except KpiJobError as exc:
        return JSONResponse(status_code=400, content={"detail": str(exc)})
    leaves, nodes = _hierarchy(c.territories, scope)
    if by == "territory":
        groups = leaves
        allowed = None if scope is None else {g["id"] for g in leaves}
    else:
        names = _rep_names(eng)
        groups = [{"id": r, "name": names.get(r, r), "territory": t["id"], "parent": t["parent"]}
                  for t in leaves for r in t["reps"]]
        allowed = None if scope is None else ({user.person_id} if user.role == "rep" else {g["id"] for g in groups})
    series, totals = d.series, d.totals
    if allowed is not None:
        series, totals = series[series["group"].isin(allowed)], totals[totals["group"].isin(allowed)]
    return {"plan": c.info.name, "version": c.version, "by": by, "period": period,
            "start": f"{d.start:%Y-%m-%d}", "end": f"{d.end:%Y-%m-%d}", "groups": groups, "nodes": nodes,
            "kpis": [k for k in totals.columns if k != "group"], "series": records(series),
            "totals": records(totals), "notes": list(d.notes) if scope is None else []}


def _data_stamp(eng) -> tuple:
    """Row counts of the tables the KPIs read (cheap), so an import or a webhook refreshes them."""
    import sqlalchemy as sa

    with eng.connect() as conn:
        return tuple(conn.execute(sa.text(
            "SELECT (SELECT COUNT(*) FROM orders), (SELECT COUNT(*) FROM opportunities), "
            "(SELECT COUNT(*) FROM activities), (SELECT COUNT(*) FROM accounts)")).one())


def _rep_names(eng) -> dict[str, str]:
    from territorium.store import db as store

    reps = store.read_table(eng, "reps")
    return dict(zip(reps["rep_id"].astype(str), reps["name"].astype(str))) if len(reps) else {}


# ------------------------------------------------------------------------------ locks
class LocksIn(S.Versioned):
    lock: list[str] = Field(default_factory=list, max_length=100_000, description="unit ids to lock in their territory")
    unlock: list[str] = Field(default_factory=list, max_length=100_000, description="unit ids to free")


@router.get("/plans/{name}/locks")
def get_locks(loaded: VisiblePlan) -> dict:
    """The plan's locked units (a rep or manager: those in their territories)."""
    c, scope = loaded.content, loaded.scope
    units = list(c.locks)
    if scope is not None:
        terr = dict(zip(c.units["unit_id"], c.units["territory_id"]))
        units = [u for u in units if terr.get(u) in scope]
    return {"plan": c.info.name, "version": c.version, "units": units}


@router.post("/plans/{name}/locks", response_model=S.PlanPublic, dependencies=[EDIT])
def set_locks(name: str, body: LocksIn, user: CurrentUser, eng: Eng, response: Response, if_match: IfMatch = None):
    """Lock units in their territory or unlock them (one new version of a draft plan; moves then
    refuse a locked unit and realign jobs keep it)."""
    v = expected_version(body.expected_version, if_match)
    info = plans.set_locks(eng, name, lock=body.lock, unlock=body.unlock, expected_version=v, actor=user.username,
                           reason=body.reason, job="api")
    response.headers["ETag"] = etag(info)
    return S.PlanPublic(**info.__dict__)
