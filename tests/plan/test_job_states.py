"""The job manager's start and cancel races, made deterministic with a stand-in for the spawn
context whose worker "process" starts only when the test says so: a cancel that comes while
the worker starts terminates it before it can run or write, a cancel of a running worker
records the end once, and a queued job cancelled never starts."""
from __future__ import annotations

import queue
import threading
import time

import pytest

from territorium.plan import job_records as R
from territorium.plan.jobs import JobManager, JobParams


class _Proc:
    """A worker process that starts when ``go`` is set and lives until terminated."""

    def __init__(self, go: threading.Event, log: list):
        self.go, self.log, self.alive, self.exitcode = go, log, False, None

    def start(self):
        self.log.append("start called")
        assert self.go.wait(30), "the test never let the worker start"
        self.alive = True
        self.log.append("started")

    def is_alive(self):
        return self.alive

    def terminate(self):
        self.log.append("terminated")
        self.alive, self.exitcode = False, -15

    def join(self, timeout=None):
        pass


class _Ctx:
    def __init__(self):
        self.go, self.log, self.procs = threading.Event(), [], []

    def Queue(self):   # noqa: N802 - as multiprocessing's context
        return queue.Queue()

    def Process(self, target, args, daemon):   # noqa: N802
        self.procs.append(_Proc(self.go, self.log))
        return self.procs[-1]


@pytest.fixture
def manager(tmp_path):
    m = JobManager(f"sqlite:///{tmp_path / 'jobs.db'}", max_running=1)
    m._ctx = _Ctx()
    yield m
    m._ctx.go.set()
    m.shutdown()


def _params():
    return JobParams(plan="p", expected_version=1, kind="design", k=2)


def _until(cond, timeout=10.0):
    t = time.monotonic()
    while not cond():
        assert time.monotonic() - t < timeout, "timed out"
        time.sleep(0.01)


def _statuses(m, job_id):
    return [e["status"] for e in R.events(m.engine, job_id)]


def test_a_cancel_while_the_worker_starts_terminates_it_before_it_runs(manager):
    m, ctx = manager, manager._ctx
    t = threading.Thread(target=lambda: m.start(_params(), "pat"))
    t.start()
    _until(lambda: "start called" in ctx.log)   # the worker is being started
    job_id = R.list_jobs(m.engine)[0][0]["id"]
    cancelled: dict = {}
    c = threading.Thread(target=lambda: cancelled.update(job=m.cancel(job_id)))
    c.start()
    time.sleep(0.3)   # the cancel is waiting for the start to end
    assert c.is_alive() and R.get(m.engine, job_id)["status"] == "queued"
    ctx.go.set()
    t.join(10)
    c.join(10)
    assert ctx.log == ["start called", "started", "terminated"]
    assert cancelled["job"]["status"] == "cancelled"
    assert cancelled["job"]["message"] == "cancelled; the plan is unchanged"
    assert _statuses(m, job_id) == ["cancelled"]   # never recorded as running: no pump, no write
    assert not m._ctx.procs[0].is_alive() and len(ctx.procs) == 1


def test_a_cancel_of_a_running_worker_records_one_end_and_frees_the_slot(manager):
    m, ctx = manager, manager._ctx
    ctx.go.set()
    a = m.start(_params(), "pat")
    b = m.start(_params(), "pat")   # one worker at once: waits
    assert a["status"] == "running" and b["status"] == "queued"
    assert "1 job(s) ahead" in b["message"]
    job = m.cancel(a["id"])
    assert job["status"] == "cancelled" and ctx.procs[0].log.count("terminated") == 1
    assert _statuses(m, a["id"]) == ["running", "cancelled"]
    _until(lambda: R.get(m.engine, b["id"])["status"] == "running")   # the freed slot starts the next
    assert len(ctx.procs) == 2


def test_a_queued_job_cancelled_never_starts(manager):
    m, ctx = manager, manager._ctx
    ctx.go.set()
    a = m.start(_params(), "pat")
    b = m.start(_params(), "pat")
    c = m.start(_params(), "pat")
    assert "2 job(s) ahead" in c["message"]
    job = m.cancel(b["id"])
    assert job["status"] == "cancelled" and job["message"] == "cancelled before it started; the plan is unchanged"
    m.cancel(a["id"])
    _until(lambda: R.get(m.engine, c["id"])["status"] == "running")
    assert len(ctx.procs) == 2 and _statuses(m, b["id"]) == ["queued", "cancelled"]
