"""Jobs: design, realign, trade-off, assign and size a plan in a worker process; status,
progress as server-sent events, cancel, the list of a plan's jobs.

A job writes its result only when it succeeds (see :mod:`territorium.plan.jobs`); job records
live in the database, so they outlive a server restart."""
from __future__ import annotations

import asyncio
import json
from typing import Annotated, Literal

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from territorium.api import schemas as S
from territorium.api.deps import CurrentUser, Eng, IfMatch, expected_version, require
from territorium.plan import job_records, plans
from territorium.plan.access import EDITORS
from territorium.plan.job_kinds import WRITES_PLAN, scenario_name, stale
from territorium.plan.jobs import JobManager, JobParams

router = APIRouter(prefix="/api", tags=["jobs"], dependencies=[require(*EDITORS)])

Fraction = Annotated[float, Field(ge=0, le=1)]

#: the body fields each kind takes (besides kind, expected_version, reason, seed, time_limit)
FIELDS = {
    "realign": {"balance", "max_disruption", "states", "targets"},
    "design": {"balance", "k", "centers", "states", "targets"},
    "tradeoff": {"balance", "caps", "states", "targets"},
    "assign": {"method", "capacity", "slack", "slots", "weights"},
    "size": {"balance", "n_min", "n_max", "step", "capacity_hours", "coverage", "tolerance"},
}
COMMON = {"kind", "expected_version", "reason", "seed", "time_limit"}
WEIGHTS = ("travel", "skill", "capacity", "continuity", "vacancy")
#: default seconds per trade-off point and per sizing head count (else 60 for the whole job)
TIME_LIMIT = {"tradeoff": 20.0, "size": 5.0}


class JobIn(S.Versioned):
    """A job on the plan; which fields apply depends on ``kind`` (see docs/server.md)."""

    kind: Literal["design", "realign", "tradeoff", "assign", "size"] = "realign"
    seed: int = 0
    time_limit: float = Field(default=60.0, gt=0, le=3600, description="seconds (per point for tradeoff, per "
                                                                        "head count for size)")
    balance: dict[str, float] | None = Field(default=None, description="measure → tolerance (0.05 = ±5 %); "
                                             "default {\"workload\": 0.05}")
    states: list[str] | None = None
    max_disruption: float | None = Field(default=None, gt=0, le=1)
    targets: Literal["plan", "equal"] | None = Field(
        default=None, description="realign, tradeoff: what each territory is balanced towards: plan = the plan's "
                                  "capacity targets when it has them (the default), equal = the mean; design "
                                  "(centers reps only): plan = each rep's capacity share when the plan has "
                                  "capacity targets (the default), equal = the mean")
    k: int | None = Field(default=None, ge=1, le=5000)
    centers: Literal["free", "reps"] | None = None
    caps: list[Fraction] | None = Field(default=None, min_length=1, max_length=10,
                                        description="disruption caps, fractions of the disruption measure")
    method: Literal["lap", "mip"] | None = None
    capacity: Literal["hours", "share"] | None = None
    slack: float | None = Field(default=None, ge=0, le=1)
    slots: int | Literal["auto"] | None = Field(default=None, description="reps per territory: a number or auto")
    weights: dict[str, float] | None = Field(default=None, description="travel, skill, capacity, continuity, vacancy")
    n_min: int | None = Field(default=None, ge=1, le=5000)
    n_max: int | None = Field(default=None, ge=1, le=5000)
    step: int | None = Field(default=None, ge=1, le=5000)
    capacity_hours: float | None = Field(default=None, gt=0, le=10_000)
    coverage: float | None = Field(default=None, gt=0, le=1)
    tolerance: float | None = Field(default=None, ge=0, le=1)


class JobPublic(BaseModel):
    id: str
    plan: str
    kind: str
    status: str
    progress: float
    message: str
    result_version: int | None
    result: dict | None
    params: dict
    actor: str
    created_at: str
    started_at: str | None
    finished_at: str | None


def _invalid(field: str, message: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("body", *field.split(".")), "msg": message, "type": "value_error"}])


def _params(body: JobIn, plan: str, version: int) -> JobParams:
    """The job's parameters, with every check pydantic cannot make alone (422 naming the field)."""
    given = body.model_fields_set - COMMON
    wrong = sorted(given - FIELDS[body.kind])
    if wrong:
        raise _invalid(wrong[0], f"not a field of a {body.kind} job (it takes "
                                 f"{', '.join(sorted(FIELDS[body.kind] | COMMON - {'kind'}))})")
    for m, tol in (body.balance or {}).items():
        if not 0 < tol < 1:
            raise _invalid(f"balance.{m}", f"tolerance {tol} must lie between 0 and 1")
    if body.balance == {}:
        raise _invalid("balance", "give at least one measure")
    for w, v in (body.weights or {}).items():
        if w not in WEIGHTS:
            raise _invalid(f"weights.{w}", f"unknown weight (one of {', '.join(WEIGHTS)})")
        if not v >= 0:
            raise _invalid(f"weights.{w}", f"{v} must be ≥ 0")
    if body.caps is not None:
        names = [scenario_name(plan, c) for c in body.caps]
        dup = next((i for i, n in enumerate(names) if n in names[:i]), None)
        if dup is not None:
            raise _invalid(f"caps.{dup}", f"cap {body.caps[dup]} is given twice")
    if body.kind == "tradeoff" and body.caps is None:
        raise _invalid("caps", "a tradeoff job needs caps, e.g. [0, 0.02, 0.05, 0.1, 0.2]")
    if body.kind == "design" and body.k is not None and body.centers == "reps":
        raise _invalid("k", "with centers 'reps' the reps set the number of territories; leave k out")
    if body.kind == "design" and body.targets == "plan" and body.centers != "reps":
        raise _invalid("targets", "capacity targets need centers 'reps' (one territory per rep); free centres "
                                  "balance towards equal territories")
    if isinstance(body.slots, int) and body.slots < 1:
        raise _invalid("slots", "must be ≥ 1 or 'auto'")
    kw = {f: getattr(body, f) for f in given if getattr(body, f) is not None}
    if body.kind == "size":
        lo, hi, step = kw.get("n_min", 10), kw.get("n_max", max(40, kw.get("n_min", 10))), kw.get("step", 5)
        if hi < lo:
            raise _invalid("n_max", f"{hi} is below n_min {lo}")
        if len(range(lo, hi + 1, step)) > 50:
            raise _invalid("step", f"{len(range(lo, hi + 1, step))} head counts from {lo} to {hi}: at most 50")
        kw.update(n_min=lo, n_max=hi, step=step)
    for f in ("caps", "states"):
        if f in kw:
            kw[f] = tuple(kw[f])
    kw["time_limit"] = body.time_limit if "time_limit" in body.model_fields_set else TIME_LIMIT.get(body.kind, 60.0)
    return JobParams(plan=plan, expected_version=version, kind=body.kind, seed=body.seed, **kw)


def _jobs(request: Request) -> JobManager:
    return request.app.state.jobs


def _job(request: Request, job_id: str) -> dict:
    job = _jobs(request).get(job_id)
    if job is None:
        raise plans.NotFound(f"no job {job_id!r}")
    return job


@router.post("/plans/{name}/jobs", status_code=202, response_model=JobPublic)
def start_job(name: str, body: JobIn, user: CurrentUser, eng: Eng, request: Request, if_match: IfMatch = None):
    """Start a job on the plan in a worker process (202 with the job; follow it at
    /api/jobs/{id} or /api/jobs/{id}/events). ``design``, ``realign`` and ``assign`` change a
    draft plan; ``tradeoff`` stores scenario copies; ``size`` writes nothing."""
    info = plans.get_plan(eng, name)
    if body.kind == "size" and body.expected_version is None and not if_match:
        v = info.version
    else:
        v = expected_version(body.expected_version, if_match)
    params = _params(body, info.name, v)
    if info.version != v:
        raise stale(eng, info, v)
    if body.kind in WRITES_PLAN and info.status != "draft":
        raise plans.PlanError(f"plan {name!r} is {info.status}; a {body.kind} job changes only draft plans "
                              "(copy it first)")
    return _jobs(request).start(params, user.username)


@router.get("/jobs", response_model=S.Page[JobPublic])
def list_jobs(request: Request, plan: str | None = None,
              status: Literal["queued", "running", "succeeded", "failed", "cancelled"] | None = None,
              kind: Literal["design", "realign", "tradeoff", "assign", "size"] | None = None,
              limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0)):
    """Jobs, newest first (``?plan=NAME`` for one plan's)."""
    rows, total = job_records.list_jobs(_jobs(request).engine, plan=plan, status=status, kind=kind, limit=limit,
                                        offset=offset)
    return S.Page[JobPublic](items=rows, total=total, limit=limit, offset=offset)


@router.get("/jobs/{job_id}", response_model=JobPublic)
def get_job(job_id: str, request: Request):
    """A job's status, progress, result and result version."""
    return _job(request, job_id)


@router.post("/jobs/{job_id}/cancel", status_code=202, response_model=JobPublic)
def cancel_job(job_id: str, request: Request):
    """Stop the job's worker; the plan stays as it was (unless the job had already finished)."""
    _job(request, job_id)
    return _jobs(request).cancel(job_id)


@router.get("/jobs/{job_id}/events")
async def job_events(job_id: str, request: Request):
    """Progress as server-sent events (``event: running|succeeded|failed|cancelled``), from the
    start of the job; the stream ends when the job does."""
    _job(request, job_id)
    eng = _jobs(request).engine

    async def stream():
        last = 0
        while True:
            done = (await asyncio.to_thread(job_records.get, eng, job_id))["status"] in job_records.DONE
            for e in await asyncio.to_thread(job_records.events, eng, job_id, last):
                last = e["id"]
                yield f"event: {e['status']}\ndata: {json.dumps(e)}\n\n"
            if done or await request.is_disconnected():
                return
            await asyncio.sleep(0.2)

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


def install(app: FastAPI) -> None:
    """The job manager over the app's database (jobs a stopped server left running are closed
    now; workers are daemon processes that end with the server) and the routes."""
    eng = app.state.engine
    app.state.jobs = JobManager(eng.url.render_as_string(hide_password=False), engine=eng,
                                max_running=getattr(app.state, "max_jobs", None))
    app.router.on_shutdown.append(app.state.jobs.shutdown)   # running jobs are cancelled, not orphaned
    app.include_router(router)
