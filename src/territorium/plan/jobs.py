"""Long work on a plan as a job in a worker process: design, realign, trade-off, assign and
size (see :mod:`territorium.plan.job_kinds`), with progress events, cancel, and
all-or-nothing results.

The worker reads a snapshot (the plan at the version the job was started against and the
workspace's units), runs the engine, and writes its result in ONE transaction at the end,
with the job id in every audit event. So a failed job writes nothing, a cancelled job (the
worker process is terminated) writes nothing, and a job whose plan was edited meanwhile fails
with the conflict instead of overwriting the edit.

Job records (status, progress, result, events) live in the database
(:mod:`territorium.plan.job_records`), written by the process that started the job (the API
server) from the worker's messages; so they outlive the server. When a server starts, the jobs
a stopped server left running are closed (:func:`job_records.recover`). A worker ends itself
when the process that started it is gone, before it writes anything if it had not yet.
"""
from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue as queue_mod
import threading
import time
import uuid
from dataclasses import dataclass

import sqlalchemy as sa

from territorium.plan import job_records as R
from territorium.plan.job_kinds import KINDS, WRITES_PLAN, JobOutcome, JobParams, run_kind, run_realign

__all__ = ["JobParams", "JobOutcome", "JobManager", "KINDS", "WRITES_PLAN", "run_kind", "run_realign"]

log = logging.getLogger("territorium.jobs")

#: progress events closer together than this (and less than PROGRESS_STEP apart) are not stored
PROGRESS_EVERY_S = 0.25
PROGRESS_STEP = 0.05


def _exit_with_parent(parent: int) -> None:  # pragma: no cover - child process
    """End this worker when the process that started it is gone (e.g. the server was killed
    with SIGKILL), so an orphan never writes a result nobody asked for any more. An open
    transaction is rolled back by the database when the process ends."""

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
        q.put(("progress", float(f), str(m), None))

    try:
        out = run_kind(url, params, job_id, actor, say)
        q.put(("succeeded", 1.0, "done", {"version": out.version, "result": out.result}))
    except plans.PlanError as exc:
        q.put(("failed", 1.0, str(exc), None))
    except Exception as exc:  # a bug: say what, never leave the job hanging
        q.put(("failed", 1.0, f"internal error in the job ({type(exc).__name__}: {exc})", None))


def default_max_jobs() -> int:
    """Jobs that run at once by default: one per CPU core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - platforms without affinity
        return max(1, os.cpu_count() or 1)


#: the states of a job in its :class:`JobManager` (it leaves the table when its worker is over)
QUEUED, STARTING, RUNNING, CANCELLING = "queued", "starting", "running", "cancelling"
#: the moves a job may make (None: it leaves the manager's table)
MOVES = {QUEUED: (STARTING, None), STARTING: (RUNNING, CANCELLING, None), RUNNING: (CANCELLING, None),
         CANCELLING: (CANCELLING, None)}


@dataclass
class _Slot:
    """One job of this manager and where it stands: ``queued`` (waiting for a free worker)
    -> ``starting`` (a worker slot taken, the process being started) -> ``running`` (its
    process and pump); ``cancel`` moves a starting or running job to ``cancelling``, and
    whoever holds the process then (the start or the cancel) terminates it. Changed only
    under the manager's lock, through :meth:`JobManager._move`."""

    params: JobParams
    actor: str
    state: str = QUEUED
    proc: object = None


class JobManager:
    """Starts jobs in worker processes (spawn) and records their status and events in the
    database at ``url``, through ``engine`` when given (the server's own: a second engine
    made in a process with open SQLite connections re-reads the file's header, and closing
    that file handle drops the process's SQLite locks).

    At most ``max_running`` workers run at once (default: one per CPU core, so a burst of
    jobs does not slow every one of them down and starve the API); later jobs stay
    ``queued`` with their place in the line and start in order as workers end. A queued job
    can be cancelled; a server stopped with jobs still queued closes them at its next start.

    Each job of this manager is a :class:`_Slot` whose state moves only through
    :meth:`_move`; a cancel that comes while the worker is starting is one of its moves
    (``starting`` -> ``cancelling``), so the start sees it when it would move the job to
    ``running`` and terminates the worker before it can write."""

    def __init__(self, url: str, *, engine=None, recover: bool = True, max_running: int | None = None):
        from territorium import store

        self.url = url
        self._own_engine = engine is None
        self.engine = store.engine(url) if engine is None else engine
        store.upgrade(self.engine)
        self._jobs: dict[str, _Slot] = {}   # this manager's jobs until their worker is over, in arrival order
        self.max_running = max(1, int(max_running)) if max_running else default_max_jobs()
        self._closing = False
        self._lock = threading.Lock()
        self._ctx = mp.get_context("spawn")
        self.recovered = R.recover(self.engine) if recover else []

    def _busy(self) -> int:
        """Worker slots taken (every job that is not queued); under the lock."""
        return sum(j.state != QUEUED for j in self._jobs.values())

    def _move(self, job_id: str, *moves: tuple[str, str | None], proc=None) -> str | None:
        """Apply the first of ``moves`` (``(from, to)``; ``to`` None: the job leaves the
        table) that matches the job's state, under the lock; ``proc`` is kept with the job.
        Returns the state it was in (None: not in the table, or no move matched: unchanged)."""
        with self._lock:
            j = self._jobs.get(job_id)
            for frm, to in moves:
                if j is not None and j.state == frm:
                    self._step(job_id, to, proc)
                    return frm
        return None

    def _step(self, job_id: str, to: str | None, proc=None) -> None:
        """Move the job to ``to`` (one of :data:`MOVES`); the caller holds the lock."""
        j = self._jobs[job_id]
        assert to in MOVES[j.state], f"job {job_id}: no move from {j.state} to {to}"
        if to is None:
            del self._jobs[job_id]
        else:
            j.state = to
            if proc is not None:
                j.proc = proc

    def start(self, params: JobParams, actor: str) -> dict:
        """Record the job (queued), start its worker (running) and return the job's record."""
        if params.kind not in KINDS:
            from territorium.plan.plans import PlanError

            raise PlanError(f"job kind {params.kind!r} is not one of {', '.join(KINDS)}")
        job_id = uuid.uuid4().hex[:12]
        R.create(self.engine, job_id, plan=params.plan, kind=params.kind, params=params.to_dict(), actor=actor)
        with self._lock:
            queued = sum(j.state == QUEUED for j in self._jobs.values())
            free = self._busy() < self.max_running and not queued
            self._jobs[job_id] = _Slot(params, actor, STARTING if free else QUEUED)
            ahead = len(self._jobs) - 1
        if free:
            self._launch(job_id)
        else:
            R.record(self.engine, job_id, "queued", 0.0,
                     f"waiting for a free worker ({self.max_running} run at once; {ahead} job(s) ahead)")
        return R.get(self.engine, job_id)

    def _launch(self, job_id: str) -> None:
        """Start the worker of a job in state ``starting``."""
        with self._lock:
            slot = self._jobs[job_id]
        q = self._ctx.Queue()
        p = self._ctx.Process(target=_worker, args=(self.url, slot.params, job_id, slot.actor, q, os.getpid()),
                              daemon=True)
        try:
            p.start()
        except OSError as exc:  # no process could be started (memory, process limit): say so, change nothing
            self._move(job_id, (STARTING, None), (CANCELLING, None))
            R.record(self.engine, job_id, "failed", 1.0, f"the worker process could not start: {exc}")
            self._start_next()
            return
        if self._closing:   # a server stopping cancels what starts (and cancel() each job it had)
            self._move(job_id, (STARTING, CANCELLING))
        if self._move(job_id, (STARTING, RUNNING), proc=p) != STARTING:
            # cancelled while the worker started (cancel() waits for it to leave): it must not write
            p.terminate()
            p.join(10)
            self._move(job_id, (CANCELLING, None))
            self._start_next()
            return
        R.record(self.engine, job_id, "running", 0.0, "started")
        threading.Thread(target=self._pump, args=(job_id, q, p), daemon=True).start()

    def _start_next(self) -> None:
        """Start queued jobs while workers are free."""
        while True:
            with self._lock:
                if self._closing or self._busy() >= self.max_running:
                    return
                job_id = next((k for k, j in self._jobs.items() if j.state == QUEUED), None)
                if job_id is None:
                    return
                self._step(job_id, STARTING)
            self._launch(job_id)

    def _pump(self, job_id: str, q, p) -> None:
        last_t, last_f = 0.0, 0.0
        try:
            while True:
                try:
                    kind, f, msg, payload = q.get(timeout=0.5)
                except queue_mod.Empty:
                    if not p.is_alive():
                        with self._lock:
                            slot = self._jobs.get(job_id)
                        if slot is None or slot.state != CANCELLING:  # else cancel() records the end
                            self._finish_dead(job_id, p)
                        return
                    continue
                except (EOFError, OSError):
                    return
                if kind == "progress":
                    now = time.monotonic()
                    if now - last_t >= PROGRESS_EVERY_S or f - last_f >= PROGRESS_STEP:
                        try:
                            R.record(self.engine, job_id, "running", f, msg)
                        except sa.exc.OperationalError as exc:  # busy database: the next event will do
                            log.warning("job %s: progress not recorded (%s)", job_id, exc.orig)
                        last_t, last_f = now, f
                elif kind == "succeeded":
                    self._record_end(job_id, "succeeded", msg, result=payload["result"],
                                     result_version=payload["version"])
                    return
                else:
                    self._record_end(job_id, "failed", msg)
                    return
        finally:
            self._move(job_id, (RUNNING, None), (CANCELLING, None))
            self._start_next()

    def _record_end(self, job_id: str, status: str, msg: str, **kw) -> None:
        """The job's end, retried while the database is busy (a job must not stay "running")."""
        for attempt in range(5):
            try:
                R.record(self.engine, job_id, status, 1.0, msg, **kw)
                return
            except sa.exc.OperationalError as exc:
                log.warning("job %s: end not recorded yet (%s); retrying", job_id, exc.orig)
                time.sleep(2.0 * (attempt + 1))
        log.error("job %s: its end (%s: %s) could not be recorded; the next start closes it", job_id, status, msg)

    def _finish_dead(self, job_id: str, p) -> None:
        """The worker ended without a word (killed, crashed): its write either made it or not."""
        wrote, v = R.committed(self.engine, job_id)
        if wrote:
            self._record_end(job_id, "succeeded", "done (its answer was lost)", result_version=v)
        else:
            self._record_end(job_id, "failed", f"the worker process ended (exit code {p.exitcode}); the plan is unchanged")

    def get(self, job_id: str) -> dict | None:
        return R.get(self.engine, job_id)

    def cancel(self, job_id: str) -> dict | None:
        """Terminate the worker; nothing is written unless the job had already committed."""
        job = R.get(self.engine, job_id)
        if job is None or job["status"] in R.DONE:
            return job
        was = self._move(job_id, (QUEUED, None), (STARTING, CANCELLING), (RUNNING, CANCELLING),
                         (CANCELLING, CANCELLING))
        if was == QUEUED:
            R.record(self.engine, job_id, "cancelled", 0.0, "cancelled before it started; the plan is unchanged")
            return R.get(self.engine, job_id)
        with self._lock:   # starting: no process yet, the start terminates it
            slot = self._jobs.get(job_id)
            p = slot.proc if slot is not None else None
        if p is not None and p.is_alive():
            p.terminate()
            p.join(10)
        deadline = time.monotonic() + 5  # an answer sent before the end is recorded by the pump
        while time.monotonic() < deadline:
            with self._lock:
                if job_id not in self._jobs:
                    break
            time.sleep(0.05)
        job = R.get(self.engine, job_id)
        if job["status"] not in R.DONE:
            wrote, v = R.committed(self.engine, job_id)
            if wrote:
                R.record(self.engine, job_id, "succeeded", 1.0, "done (finished before the cancel arrived)",
                         result_version=v)
            else:
                R.record(self.engine, job_id, "cancelled", job["progress"], "cancelled; the plan is unchanged")
        return R.get(self.engine, job_id)

    def shutdown(self) -> None:
        with self._lock:
            self._closing = True
            ids = list(self._jobs)
        for job_id in ids:
            self.cancel(job_id)
        if self._own_engine:
            self.engine.dispose()
