"""A real ``territorium serve`` on PostgreSQL killed with SIGKILL during a trade-off job and
started again: the job record is closed as failed ("server stopped while the job ran; the plan
is unchanged"), no scenario was stored and the plan is as it was. (tests/api/test_server_process.py
does the same on SQLite with a realign job, and runs a new job after the restart.)"""
from __future__ import annotations

import os
import signal
import time

import httpx
import pytest

from test_api_jobs import _workspace
from test_server_process import PASSWORD, _free_port, _start


@pytest.mark.slow
@pytest.mark.postgres
def test_kill_9_during_a_tradeoff_job_on_postgresql(pg_url):
    h = _workspace(pg_url)["pat"]
    env = {**os.environ, "TERRITORIUM_ADMIN_PASSWORD": PASSWORD}
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    body = {"kind": "tradeoff", "caps": [0, 0.5], "balance": {"account_count": 0.1}, "time_limit": 3,
            "expected_version": 1}
    server = _start(pg_url, port, env)
    try:
        r = httpx.post(f"{base}/api/plans/grid/jobs", json=body, headers=h)
        assert r.status_code == 202, r.text
        job = r.json()["id"]
        deadline = time.monotonic() + 60  # kill it once the worker is computing
        while httpx.get(f"{base}/api/jobs/{job}", headers=h).json()["progress"] < 0.05:
            assert time.monotonic() < deadline, "the job never started computing"
            time.sleep(0.2)
        server.send_signal(signal.SIGKILL)
        server.wait(10)
    finally:
        if server.poll() is None:
            server.kill()
    server = _start(pg_url, port, env)
    try:
        j = httpx.get(f"{base}/api/jobs/{job}", headers=h).json()
        assert j["status"] == "failed" and j["message"] == "server stopped while the job ran; the plan is unchanged"
        time.sleep(3)  # an orphaned worker (two points of at most 3 s) would have stored its scenarios by now
        names = [p["name"] for p in httpx.get(f"{base}/api/plans", headers=h).json()["items"]]
        assert names == ["grid"] and httpx.get(f"{base}/api/plans/grid", headers=h).json()["version"] == 1
    finally:
        server.terminate()
        server.wait(10)
