"""Jobs: realign a plan in a worker process; status, progress as server-sent events, cancel.

A job writes one new plan version only when it succeeds (see :mod:`territorium.plan.jobs`)."""
from __future__ import annotations

import asyncio
import json
from typing import Literal

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import StreamingResponse
from pydantic import Field

from territorium.api import schemas as S
from territorium.api.deps import CurrentUser, Eng, IfMatch, expected_version, require
from territorium.plan import plans
from territorium.plan.access import EDITORS
from territorium.plan.jobs import JobManager, JobParams

router = APIRouter(prefix="/api", tags=["jobs"], dependencies=[require(*EDITORS)])


class JobIn(S.Versioned):
    kind: Literal["realign"] = "realign"
    balance: dict[str, float] = Field(default_factory=lambda: {"workload": 0.05},
                                      description="measure → tolerance (0.05 = ±5 %)")
    max_disruption: float | None = Field(default=None, gt=0, le=1)
    seed: int = 0
    time_limit: float = Field(default=60.0, gt=0, le=3600)
    states: list[str] | None = None


def _jobs(request: Request) -> JobManager:
    return request.app.state.jobs


def _job(request: Request, job_id: str):
    job = _jobs(request).get(job_id)
    if job is None:
        raise plans.NotFound(f"no job {job_id!r} (jobs are kept until the server restarts)")
    return job


@router.post("/plans/{name}/jobs", status_code=202)
def start_job(name: str, body: JobIn, user: CurrentUser, eng: Eng, request: Request, if_match: IfMatch = None) -> dict:
    """Start a realignment of a draft plan in a worker process (202 with the job; follow it at
    /api/jobs/{id} or /api/jobs/{id}/events)."""
    v = expected_version(body.expected_version, if_match)
    for m, tol in body.balance.items():
        if not 0 < tol < 1:
            raise HTTPException(422, f"body.balance.{m}: tolerance {tol} must lie between 0 and 1")
    info = plans.get_plan(eng, name)
    if info.version != v:
        ev, _ = plans.events(eng, info.id, since_version=v)
        raise plans.Conflict(info.name, v, info.version, ev.to_dict("records"))
    if info.status != "draft":
        raise plans.PlanError(f"plan {name!r} is {info.status}; only draft plans are realigned")
    params = JobParams(plan=info.name, expected_version=v, kind=body.kind, balance=dict(body.balance),
                       max_disruption=body.max_disruption, seed=body.seed, time_limit=body.time_limit,
                       states=tuple(body.states) if body.states else None)
    return _jobs(request).start(params, user.username).public()


@router.get("/jobs/{job_id}")
def get_job(job_id: str, request: Request) -> dict:
    """A job's status, progress and result version."""
    return _job(request, job_id).public()


@router.post("/jobs/{job_id}/cancel", status_code=202)
def cancel_job(job_id: str, request: Request) -> dict:
    """Stop the job's worker; the plan stays as it was."""
    _job(request, job_id)
    return _jobs(request).cancel(job_id).public()


@router.get("/jobs/{job_id}/events")
async def job_events(job_id: str, request: Request):
    """Progress as server-sent events (``event: running|succeeded|failed|cancelled``), from the
    start of the job; the stream ends when the job does."""
    job = _job(request, job_id)

    async def stream():
        sent = 0
        while True:
            events = job.events
            while sent < len(events):
                e = events[sent]
                sent += 1
                yield f"event: {e['status']}\ndata: {json.dumps(e)}\n\n"
            if job.done and sent >= len(job.events):
                return
            if await request.is_disconnected():
                return
            await asyncio.sleep(0.2)

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


def install(app: FastAPI) -> None:
    """The job manager (over the app's database URL; its workers are daemon processes that end
    with the server) and the routes."""
    app.state.jobs = JobManager(app.state.engine.url.render_as_string(hide_password=False))
    app.include_router(router)
