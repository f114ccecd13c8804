"""Long work on a plan as a job in a worker process: realign a stored plan with the design
engine, with progress events, cancel, and all-or-nothing results.

The worker reads a snapshot (the plan at the version the job was started against and the
workspace's units with their measures), runs the engine, and writes the units that moved as
ONE new plan version made against the snapshot's version, with the job id in every audit
event. So a failed job writes nothing, a cancelled job (the worker process is terminated)
writes nothing, and a job whose plan was edited meanwhile fails with the conflict instead of
overwriting the edit.

Jobs live in the memory of the process that started them (the API server); a restart forgets
them, never the plans (which only change in the job's single final transaction).
"""
from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import queue as queue_mod
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["JobParams", "Job", "JobManager", "run_realign"]

KINDS = ("realign",)


@dataclass(frozen=True)
class JobParams:
    plan: str
    expected_version: int
    kind: str = "realign"
    balance: dict = field(default_factory=lambda: {"workload": 0.05})
    max_disruption: float | None = None
    seed: int = 0
    time_limit: float = 60.0
    states: tuple[str, ...] | None = None


@dataclass
class Job:
    id: str
    params: JobParams
    actor: str
    status: str = "queued"  # queued | running | succeeded | failed | cancelled
    progress: float = 0.0
    message: str = ""
    result_version: int | None = None
    created_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))
    events: list[dict] = field(default_factory=list)
    process: object | None = field(default=None, repr=False)

    @property
    def done(self) -> bool:
        return self.status in ("succeeded", "failed", "cancelled")

    def public(self) -> dict:
        return {"id": self.id, "plan": self.params.plan, "kind": self.params.kind, "status": self.status,
                "progress": self.progress, "message": self.message, "result_version": self.result_version,
                "actor": self.actor, "created_at": self.created_at.isoformat(sep=" ")}


def run_realign(url: str, params: JobParams, job_id: str, actor: str, say=None) -> int:
    """Realign the plan (in the calling process); returns the new version. Raises PlanError,
    DesignJobError or Conflict; writes nothing unless everything succeeded."""
    from territorium import store
    from territorium.plan import plans
    from territorium.plan.designing import DesignJob, DesignJobError, run_design
    from territorium.plan.workspace import Workspace

    say = say or (lambda f, m: None)
    eng = store.engine(url)
    try:
        say(0.01, "reading the plan")
        c = plans.plan_content(eng, params.plan, params.expected_version)
        if c.info.version != params.expected_version:
            raise plans.Conflict(c.info.name, params.expected_version, c.info.version,
                                 plans.events(eng, c.info.id, since_version=params.expected_version)[0]
                                 .to_dict("records"))
        if c.info.status != "draft":
            raise plans.PlanError(f"plan {c.info.name!r} is {c.info.status}; only draft plans are realigned")
        if c.units.empty:
            raise plans.PlanError(f"plan {c.info.name!r} has no units to realign")
        with tempfile.TemporaryDirectory() as d:
            cur = Path(d) / "current.csv"
            c.units.rename(columns={"territory_id": "territory"}).to_csv(cur, index=False)
            job = DesignJob(level=c.info.unit_level, states=params.states, realign=True, current=cur,
                            balance=params.balance, max_disruption=params.max_disruption, seed=params.seed,
                            time_limit=params.time_limit, n_jobs=1)
            say(0.05, "building the units")
            load, result, labels, _ = run_design(job, Workspace(engine=eng),
                                                 progress=lambda f, m: say(0.05 + 0.9 * f, m))
        new = dict(zip(map(str, load.units.ids), [str(labels[t]) for t in result.assignment]))
        moves = {u: new[u] for u, t in zip(c.units["unit_id"], c.units["territory_id"]) if u in new and new[u] != t}
        if not moves:
            say(1.0, "no unit moves: the plan is kept as it is")
            return c.info.version
        r = result.report
        why = (f"realign job: max deviation " + ", ".join(f"{m} {v:.1%}" for m, v in r.max_abs_dev.items())
               + f"; seed {params.seed}")
        say(0.97, f"writing {len(moves)} moves")
        info = plans.move_units(eng, params.plan, moves, expected_version=params.expected_version, actor=actor,
                                reason=why, job=job_id)
        say(1.0, f"done: version {info.version}, {len(moves)} units moved")
        return info.version
    except DesignJobError as exc:
        raise plans.PlanError(str(exc)) from None
    finally:
        eng.dispose()


def _exit_with_parent(parent: int) -> None:  # pragma: no cover - child process
    """End this worker when the process that started it is gone (e.g. the server was killed
    with SIGKILL), so an orphan never writes a result nobody asked for any more."""
    import os

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(3)
            time.sleep(0.2)

    threading.Thread(target=watch, daemon=True).start()


def _worker(url: str, params: JobParams, job_id: str, actor: str, q, parent: int) -> None:  # pragma: no cover
    from territorium.plan import plans

    _exit_with_parent(parent)

    def say(f: float, m: str) -> None:
        q.put(("progress", float(f), str(m)))

    try:
        v = run_realign(url, params, job_id, actor, say)
        q.put(("succeeded", 1.0, str(v)))
    except plans.PlanError as exc:
        q.put(("failed", 1.0, str(exc)))
    except Exception as exc:  # a bug: say what, never leave the job hanging
        q.put(("failed", 1.0, f"internal error in the job ({type(exc).__name__}: {exc})"))


class JobManager:
    """Starts jobs in worker processes (spawn) and keeps their status and events."""

    def __init__(self, url: str):
        self.url = url
        self.jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._ctx = mp.get_context("spawn")

    def start(self, params: JobParams, actor: str) -> Job:
        if params.kind not in KINDS:
            from territorium.plan.plans import PlanError

            raise PlanError(f"job kind {params.kind!r} is not one of {', '.join(KINDS)}")
        job = Job(id=uuid.uuid4().hex[:12], params=params, actor=actor)
        q = self._ctx.Queue()
        import os

        p = self._ctx.Process(target=_worker, args=(self.url, params, job.id, actor, q, os.getpid()), daemon=True)
        with self._lock:
            self.jobs[job.id] = job
        self._event(job, "running", 0.0, "started")
        p.start()
        job.process = p
        threading.Thread(target=self._pump, args=(job, q, p), daemon=True).start()
        return job

    def _event(self, job: Job, status: str, progress: float, message: str) -> None:
        with self._lock:
            job.status = status if not job.done else job.status
            job.progress = max(job.progress, progress)
            job.message = message
            job.events.append({"status": job.status, "progress": job.progress, "message": message,
                               "at": time.time()})

    def _pump(self, job: Job, q, p) -> None:
        while True:
            try:
                kind, f, msg = q.get(timeout=0.5)
            except queue_mod.Empty:
                if not p.is_alive():
                    if not job.done:
                        self._event(job, "failed", 1.0, f"the worker process ended (exit code {p.exitcode})")
                    return
                continue
            except (EOFError, OSError):
                return
            if kind == "progress":
                self._event(job, "running", f, msg)
            elif kind == "succeeded":
                job.result_version = int(msg)
                self._event(job, "succeeded", 1.0, "done")
                return
            else:
                self._event(job, "failed", 1.0, msg)
                return

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def cancel(self, job_id: str) -> Job | None:
        """Terminate the worker; the plan is untouched unless the job had already committed."""
        job = self.jobs.get(job_id)
        if job is None or job.done:
            return job
        p = job.process
        if p is not None and p.is_alive():
            p.terminate()
            p.join(10)
        if not job.done and self._committed(job):
            self._event(job, "succeeded", 1.0, "done (finished before the cancel arrived)")
        if not job.done:
            self._event(job, "cancelled", job.progress, "cancelled; the plan is unchanged")
        return job

    def _committed(self, job: Job) -> bool:
        """Whether the job's single write made it to the database."""
        from territorium import store
        from territorium.plan import plans

        eng = store.engine(self.url)
        try:
            ev, n = plans.events(eng, job.params.plan, since_version=job.params.expected_version)
            hit = ev[ev["job"] == job.id]
            if len(hit):
                job.result_version = int(hit["version"].iloc[0])
            return bool(len(hit))
        finally:
            eng.dispose()

    def shutdown(self) -> None:
        for j in list(self.jobs.values()):
            self.cancel(j.id)
