"""The real server: ``territorium serve`` in its own process on a free loopback port, driven
over HTTP; then killed with SIGKILL in the middle of a stream of writes and restarted: the plan,
its versions and its audit trail are intact (each write is one transaction)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

PASSWORD = "a-long-admin-password"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(url: str, port: int, env: dict, *extra: str) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-m", "territorium.cli", "serve", "--port", str(port), "--database", url,
                          "--no-secure-cookies", "--log-level", "warning", *extra], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if p.poll() is not None:
            raise AssertionError(f"server exited: {p.stdout.read()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                return p
        except httpx.HTTPError:
            time.sleep(0.2)
    p.kill()
    raise AssertionError("server did not answer within 60 s")


@pytest.mark.slow
def test_real_server_login_token_conflict_and_kill_9_during_writes(tmp_path):
    url = f"sqlite:///{tmp_path / 'ws.db'}"
    env = {**os.environ, "TERRITORIUM_ADMIN_PASSWORD": PASSWORD}
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = _start(url, port, env, "--create")  # a new, empty workspace
    try:
        with httpx.Client(base_url=base, timeout=10) as web:
            r = web.post("/api/auth/login", json={"username": "admin", "password": PASSWORD})
            assert r.status_code == 200, r.text
            csrf = r.json()["csrf_token"]
            assert web.get("/openapi.json").json()["info"]["title"] == "Territorium"
            assert web.get("/docs").status_code == 200
            r = web.post("/api/users/admin/tokens", json={"name": "test"}, headers={"X-CSRF-Token": csrf})
            token = r.json()["token"]
        h = {"Authorization": f"Bearer {token}"}
        r = httpx.post(f"{base}/api/plans", json={"name": "p", "units": {"u1": "T1", "u2": "T2"}}, headers=h)
        assert r.status_code == 201, r.text
        stale = r.headers["etag"]
        r = httpx.post(f"{base}/api/plans/p/moves", json={"moves": {"u1": "T2"}}, headers={**h, "If-Match": stale})
        assert r.status_code == 200
        r = httpx.post(f"{base}/api/plans/p/moves", json={"moves": {"u2": "T1"}}, headers={**h, "If-Match": stale})
        assert r.status_code == 409 and r.json()["changes"][0]["entity_id"] == "u1"

        # a stream of writes; the server is killed with SIGKILL in the middle of it
        done = []
        stop = threading.Event()

        def writer():
            v, where = 2, "T2"
            with httpx.Client(base_url=base, timeout=5, headers=h) as cl:
                while not stop.is_set():
                    where = "T1" if where == "T2" else "T2"
                    try:
                        rr = cl.post("/api/plans/p/moves", json={"moves": {"u1": where}, "expected_version": v})
                    except httpx.HTTPError:
                        return
                    if rr.status_code != 200:
                        return
                    v = rr.json()["version"]
                    done.append((v, where))

        t = threading.Thread(target=writer)
        t.start()
        time.sleep(1.5)
        server.send_signal(signal.SIGKILL)
        server.wait(10)
        stop.set()
        t.join(10)
        assert len(done) >= 3, "the writer made too few writes before the kill to test anything"
    finally:
        if server.poll() is None:
            server.kill()
    server = _start(url, port, env)
    try:
        p = httpx.get(f"{base}/api/plans/p", headers=h).json()
        ev = httpx.get(f"{base}/api/plans/p/events?limit=10000", headers=h).json()["items"]
        # every acknowledged write is there; at most one more (committed, answer lost in the kill)
        assert p["version"] - done[-1][0] in (0, 1)
        assert sorted({e["version"] for e in ev}) == list(range(1, p["version"] + 1))
        units = {u["unit_id"]: u["territory_id"] for u in
                 httpx.get(f"{base}/api/plans/p/units", headers=h).json()["items"]}
        last = [e for e in ev if e["entity_id"] == "u1"][-1]
        assert units == {"u1": last["new_value"], "u2": "T2"}
        v1 = httpx.get(f"{base}/api/plans/p/content?version=1", headers=h)
        assert v1.status_code == 200 and v1.json()["version"] == 1
        r = httpx.post(f"{base}/api/plans/p/moves", json={"moves": {"u2": "T1"}, "expected_version": p["version"]},
                       headers=h)
        assert r.status_code == 200
        r = httpx.post(f"{base}/api/plans/p/restore", json={"version": 1}, headers={**h, "If-Match": r.headers["etag"]})
        assert r.status_code == 200, r.text
        units = {u["unit_id"]: u["territory_id"] for u in
                 httpx.get(f"{base}/api/plans/p/units", headers=h).json()["items"]}
        assert units == {"u1": "T1", "u2": "T2"}
    finally:
        server.terminate()
        server.wait(10)


@pytest.mark.slow
def test_kill_9_of_the_server_during_a_job_leaves_the_plan_untouched(tmp_path):
    sys.path.insert(0, str(Path(__file__).parents[1] / "plan"))
    from _planws import grid_plan

    from territorium import store
    from territorium.plan import users as U

    url = f"sqlite:///{tmp_path / 'ws.db'}"
    grid_plan(url)
    eng = store.engine(url)
    U.create_user(eng, "pat", role="planner")
    h = {"Authorization": f"Bearer {U.create_token(eng, 'pat')}"}
    eng.dispose()
    env = {**os.environ, "TERRITORIUM_ADMIN_PASSWORD": PASSWORD}
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = _start(url, port, env)
    try:
        r = httpx.post(f"{base}/api/plans/grid/jobs", json={"balance": {"account_count": 0.1}, "time_limit": 20,
                                                             "expected_version": 1}, headers=h)
        assert r.status_code == 202, r.text
        time.sleep(0.5)
        assert httpx.get(f"{base}/api/jobs/{r.json()['id']}", headers=h).json()["status"] == "running"
        server.send_signal(signal.SIGKILL)
        server.wait(10)
    finally:
        if server.poll() is None:
            server.kill()
    # the same job left running would have written version 2 within seconds; its worker ends instead
    time.sleep(12)
    server = _start(url, port, env)
    try:
        assert httpx.get(f"{base}/api/plans/grid", headers=h).json()["version"] == 1
        assert httpx.get(f"{base}/api/plans/grid/events", headers=h).json()["total"] == 1
        # the job record outlived the server: closed on start-up, saying the plan is unchanged
        killed = httpx.get(f"{base}/api/jobs/{r.json()['id']}", headers=h).json()
        assert killed["status"] == "failed" and killed["result_version"] is None, killed
        assert killed["message"] == "server stopped while the job ran; the plan is unchanged"
        stream = httpx.get(f"{base}/api/jobs/{killed['id']}/events", headers=h, timeout=10).text
        assert stream.count("event: running") >= 1 and stream.rstrip().splitlines()[-2] == "event: failed", stream
        # and the plan still takes a job after the restart
        r = httpx.post(f"{base}/api/plans/grid/jobs", json={"balance": {"account_count": 0.1}, "time_limit": 20,
                                                             "expected_version": 1}, headers=h)
        job = r.json()["id"]
        for _ in range(300):
            j = httpx.get(f"{base}/api/jobs/{job}", headers=h).json()
            if j["status"] != "running":
                break
            time.sleep(0.3)
        assert j["status"] == "succeeded" and j["result_version"] == 2, j
        listed = httpx.get(f"{base}/api/jobs?plan=grid", headers=h).json()
        assert [x["id"] for x in listed["items"]] == [job, killed["id"]] and listed["total"] == 2
    finally:
        server.terminate()
        server.wait(10)
