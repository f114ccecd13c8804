"""Job records in the database: the ``jobs`` row (parameters, status, progress, result) and
its progress events (``job_events``), so a job's status and event stream outlive the server
process that ran it.

Status: ``queued`` → ``running`` → ``succeeded`` | ``failed`` | ``cancelled``. A finished job
never changes again (every update is conditional on the row not being finished yet).
:func:`recover` runs when a server starts: jobs a stopped server left queued or running are
closed (failed, or succeeded when their single write did reach the database first).
"""
from __future__ import annotations

import datetime as dt
import json
from typing import Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from territorium.store.db import write_transaction
from territorium.store.models import Job, JobEvent, Plan, PlanEvent

__all__ = ["DONE", "STATUSES", "STOPPED_MESSAGE", "create", "record", "get", "list_jobs", "events", "recover",
           "committed"]

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
DONE = ("succeeded", "failed", "cancelled")
STOPPED_MESSAGE = "server stopped while the job ran; the plan is unchanged"

_J = Job.__table__
_JE = JobEvent.__table__
_E = PlanEvent.__table__
_P = Plan.__table__


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def _iso(v) -> str | None:
    return None if v is None else v.isoformat(sep=" ")


def _public(row) -> dict:
    m = row._mapping
    return {"id": m["id"], "plan": m["plan"], "kind": m["kind"], "status": m["status"],
            "progress": float(m["progress"]), "message": m["message"] or "", "result_version": m["result_version"],
            "result": json.loads(m["result"]) if m["result"] else None, "params": json.loads(m["params"]),
            "actor": m["actor"], "created_at": _iso(m["created_at"]), "started_at": _iso(m["started_at"]),
            "finished_at": _iso(m["finished_at"])}


def create(eng: Engine, job_id: str, *, plan: str, kind: str, params: Mapping, actor: str) -> dict:
    """A new ``queued`` job row."""
    with write_transaction(eng) as conn:  # the server's writers take turns (SQLite)
        conn.execute(sa.insert(_J).values(id=job_id, plan=plan, kind=kind, params=json.dumps(dict(params), default=str),
                                          actor=actor, status="queued", progress=0.0, message="queued",
                                          created_at=_now()))
    return get(eng, job_id)


def record(eng: Engine, job_id: str, status: str, progress: float, message: str, *,
           result: Mapping | None = None, result_version: int | None = None) -> bool:
    """Set the job's status / progress / message (and result when it finished) and append the
    event, in one transaction. Returns False (and writes nothing) when the job had already
    finished: a finished job never changes."""
    if status not in STATUSES:
        raise ValueError(f"job status {status!r} is not one of {', '.join(STATUSES)}")
    now = _now()
    values: dict = {"status": status, "message": message,
                    "progress": sa.case((_J.c.progress > float(progress), _J.c.progress), else_=float(progress))}
    if status == "running":
        values["started_at"] = sa.func.coalesce(_J.c.started_at, now)
    if status in DONE:
        values["finished_at"] = now
        values["result"] = json.dumps(dict(result), default=str) if result is not None else None
        values["result_version"] = result_version
    with write_transaction(eng) as conn:  # the server's writers take turns (SQLite)
        n = conn.execute(sa.update(_J).where(_J.c.id == job_id, _J.c.status.not_in(DONE)).values(**values)).rowcount
        if n != 1:
            return False
        p = conn.execute(sa.select(_J.c.progress).where(_J.c.id == job_id)).scalar_one()
        conn.execute(sa.insert(_JE).values(job_id=job_id, at=now, status=status, progress=p, message=message))
    return True


def get(eng: Engine, job_id: str) -> dict | None:
    with eng.connect() as conn:
        row = conn.execute(sa.select(_J).where(_J.c.id == job_id)).first()
    return None if row is None else _public(row)


def list_jobs(eng: Engine, *, plan: str | None = None, status: str | None = None, kind: str | None = None,
              limit: int = 50, offset: int = 0) -> tuple[list[dict], int]:
    """Jobs, newest first, with the number that match in all."""
    q = sa.select(_J)
    if plan is not None:
        q = q.where(_J.c.plan == plan)
    if status is not None:
        q = q.where(_J.c.status == status)
    if kind is not None:
        q = q.where(_J.c.kind == kind)
    with eng.connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(q.subquery())).scalar_one()
        rows = conn.execute(q.order_by(_J.c.created_at.desc(), _J.c.id).limit(limit).offset(offset)).all()
    return [_public(r) for r in rows], int(total)


def events(eng: Engine, job_id: str, after: int = 0) -> list[dict]:
    """The job's progress events after event id ``after``, oldest first."""
    with eng.connect() as conn:
        rows = conn.execute(sa.select(_JE).where(_JE.c.job_id == job_id, _JE.c.id > after).order_by(_JE.c.id)).all()
    return [{"id": r.id, "status": r.status, "progress": float(r.progress), "message": r.message or "",
             "at": _iso(r.at)} for r in rows]


def committed(eng: Engine, job_id: str) -> tuple[bool, int | None]:
    """Whether the job's single write reached the database (every audit event of a job's write
    carries its id), and the version it made of the job's own plan (None when it wrote none, e.g.
    a trade-off, whose events are the creation of its scenario plans)."""
    with eng.connect() as conn:
        plan = conn.execute(sa.select(_J.c.plan).where(_J.c.id == job_id)).scalar_one_or_none()
        wrote = conn.execute(sa.select(sa.func.count()).select_from(_E).where(_E.c.job == job_id)).scalar_one() > 0
        v = conn.execute(sa.select(sa.func.max(_E.c.version)).select_from(_E.join(_P, _P.c.id == _E.c.plan_id))
                         .where(_E.c.job == job_id, _P.c.name == plan)).scalar_one() if wrote else None
    return wrote, v


def recover(eng: Engine) -> list[str]:
    """Close the jobs a stopped server left queued or running (run when a server starts; one
    server per database runs jobs). Returns their ids."""
    with eng.connect() as conn:
        stale = list(conn.execute(sa.select(_J.c.id).where(_J.c.status.in_(("queued", "running")))).scalars())
    for job_id in stale:
        wrote, v = committed(eng, job_id)
        if not wrote:
            record(eng, job_id, "failed", 1.0, STOPPED_MESSAGE)
        else:
            record(eng, job_id, "succeeded", 1.0, "finished while the server stopped (its result was written; "
                                                 "details were lost)", result_version=v)
    return stale
