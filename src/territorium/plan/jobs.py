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
from collections import deque

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


class JobManager:
    """Starts jobs in worker processes (spawn) and records their status and events in the
    database at ``url``, through ``engine`` when given (the server's own: a second engine
    made in a process with open SQLite connections re-reads the file's header, and closing
    that file handle drops the process's SQLite locks).

    At most ``max_running`` workers run at once (default: one per CPU core, so a burst of
    jobs does not slow every one of them down and starve the API); later jobs stay
    ``queued`` with their place in the line and start in order as workers end. A queued job
    can be cancelled; a server stopped with jobs still queued closes them at its next start."""

    def __init__(self, url: str, *, engine=None, recover: bool = True, max_running: int | None = None):
        from territorium import store

        self.url = url
        self._own_engine = engine is None
        self.engine = store.engine(url) if engine is None else engine
        store.upgrade(self.engine)
        self._procs: dict[str, object] = {}   # running workers (None: a slot taken while one starts)
        self._waiting: deque = deque()          # (job_id, params, actor) in the order they came
        self.max_running = max(1, int(max_running)) if max_running else default_max_jobs()
        self._cancelling: set[str] = set()
        self._closing = False
        self._lock = threading.Lock()
        self._ctx = mp.get_context("spawn")
        self.recovered = R.recover(self.engine) if recover else []

    def start(self, params: JobParams, actor: str) -> dict:
        """Record the job (queued), start its worker (running) and return the job's record."""
        if params.kind not in KINDS:
            from territorium.plan.plans import PlanError

            raise PlanError(f"job kind {params.kind!r} is not one of {', '.join(KINDS)}")
        job_id = uuid.uuid4().hex[:12]
        R.create(self.engine, job_id, plan=params.plan, kind=params.kind, params=params.to_dict(), actor=actor)
        with self._lock:
            free = len(self._procs) < self.max_running and not self._waiting
            if free:
                self._procs[job_id] = None
            else:
                self._waiting.append((job_id, params, actor))
                ahead = len(self._procs) + len(self._waiting) - 1
        if free:
            self._launch(job_id, params, actor)
        else:
            R.record(self.engine, job_id, "queued", 0.0,
                     f"waiting for a free worker ({self.max_running} run at once; {ahead} job(s) ahead)")
        return R.get(self.engine, job_id)

    def _launch(self, job_id: str, params: JobParams, actor: str) -> None:
        """Start the worker of a job whose slot in ``_procs`` is already taken."""
        q = self._ctx.Queue()
        p = self._ctx.Process(target=_worker, args=(self.url, params, job_id, actor, q, os.getpid()), daemon=True)
        try:
            p.start()
        except OSError as exc:  # no process could be started (memory, process limit): say so, change nothing
            with self._lock:
                self._procs.pop(job_id, None)
            R.record(self.engine, job_id, "failed", 1.0, f"the worker process could not start: {exc}")
            self._start_next()
            return
        with self._lock:
            self._procs[job_id] = p
            cancelled = job_id in self._cancelling or self._closing
        if cancelled:  # cancel() came while the worker started: it must not write
            p.terminate()
            p.join(10)
            with self._lock:
                self._procs.pop(job_id, None)
            self._start_next()
            return
        R.record(self.engine, job_id, "running", 0.0, "started")
        threading.Thread(target=self._pump, args=(job_id, q, p), daemon=True).start()

    def _start_next(self) -> None:
        """Start queued jobs while workers are free."""
        while True:
            with self._lock:
                if self._closing or not self._waiting or len(self._procs) >= self.max_running:
                    return
                job_id, params, actor = self._waiting.popleft()
                self._procs[job_id] = None
            self._launch(job_id, params, actor)

    def _pump(self, job_id: str, q, p) -> None:
        last_t, last_f = 0.0, 0.0
        try:
            while True:
                try:
                    kind, f, msg, payload = q.get(timeout=0.5)
                except queue_mod.Empty:
                    if not p.is_alive():
                        if job_id not in self._cancelling:  # else cancel() records the end
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
            with self._lock:
                self._procs.pop(job_id, None)
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
        with self._lock:
            queued = [w for w in self._waiting if w[0] == job_id]
            for w in queued:
                self._waiting.remove(w)
        if queued:
            R.record(self.engine, job_id, "cancelled", 0.0, "cancelled before it started; the plan is unchanged")
            return R.get(self.engine, job_id)
        with self._lock:
            self._cancelling.add(job_id)
            p = self._procs.get(job_id)
        if p is not None and p.is_alive():
            p.terminate()
            p.join(10)
        deadline = time.monotonic() + 5  # an answer sent before the end is recorded by the pump
        while time.monotonic() < deadline:
            with self._lock:
                if job_id not in self._procs:
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
        with self._lock:
            self._cancelling.discard(job_id)
        return R.get(self.engine, job_id)

    def shutdown(self) -> None:
        with self._lock:
            self._closing = True
            ids = [w[0] for w in self._waiting] + list(self._procs)
        for job_id in ids:
            self.cancel(job_id)
        if self._own_engine:
            self.engine.dispose()
