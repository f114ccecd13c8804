"""Realign jobs over the API: a worker process, progress as server-sent events, the result as
one new version; a failed job and a cancelled job leave the plan untouched."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "plan"))
from _planws import grid_plan  # noqa: E402


@pytest.fixture
def client(tmp_path):
    from fastapi.testclient import TestClient

    from territorium import store
    from territorium.api import create_app
    from territorium.plan import users as U

    url = f"sqlite:///{tmp_path / 'ws.db'}"
    grid_plan(url)
    eng = store.engine(url)
    U.create_user(eng, "pat", role="planner")
    U.create_user(eng, "ann", role="rep", person_id="r1")
    tok = {u: U.create_token(eng, u) for u in ("pat", "ann")}
    with TestClient(create_app(engine=eng), base_url="https://testserver") as c:
        yield c, {u: {"Authorization": f"Bearer {t}"} for u, t in tok.items()}
    eng.dispose()


def sse(c, h, job_id):
    out = []
    with c.stream("GET", f"/api/jobs/{job_id}/events", headers=h) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        event = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                out.append((event, json.loads(line[6:])))
    return out


def wait(c, h, job_id, timeout=120):
    t = time.monotonic()
    while time.monotonic() - t < timeout:
        j = c.get(f"/api/jobs/{job_id}", headers=h).json()
        if j["status"] in ("succeeded", "failed", "cancelled"):
            return j
        time.sleep(0.3)
    raise AssertionError("job did not finish")


@pytest.mark.slow
def test_realign_job_streams_progress_and_writes_one_version(client):
    c, h = client
    r = c.post("/api/plans/grid/jobs", json={"balance": {"account_count": 0.1}, "time_limit": 20,
                                              "expected_version": 1}, headers=h["pat"])
    assert r.status_code == 202, r.text
    job = r.json()
    events = sse(c, h["pat"], job["id"])
    assert events[-1][0] == "succeeded" and events[0][0] == "running"
    progress = [e["progress"] for _, e in events]
    assert progress == sorted(progress) and progress[-1] == pytest.approx(1.0) and len(events) >= 4
    j = c.get(f"/api/jobs/{job['id']}", headers=h["pat"]).json()
    assert j["status"] == "succeeded" and j["result_version"] == 2
    ev = c.get("/api/plans/grid/events?since_version=1", headers=h["pat"]).json()["items"]
    assert ev and {e["job"] for e in ev} == {job["id"]} and {e["version"] for e in ev} == {2}
    counts = {t["territory_id"]: t["units"] for t in c.get("/api/plans/grid/content", headers=h["pat"]).json()[
        "territories"]}
    assert all(18 <= n <= 22 for n in counts.values()), counts


@pytest.mark.slow
def test_failed_cancelled_stale_and_forbidden_jobs_leave_the_plan_untouched(client):
    c, h = client
    r = c.post("/api/plans/grid/jobs", json={"balance": {"nonsense": 0.1}, "expected_version": 1}, headers=h["pat"])
    j = wait(c, h["pat"], r.json()["id"])
    assert j["status"] == "failed" and "unknown measure 'nonsense'" in j["message"]
    r = c.post("/api/plans/grid/jobs", json={"balance": {"account_count": 0.1}, "expected_version": 1},
               headers=h["pat"])
    j = c.post(f"/api/jobs/{r.json()['id']}/cancel", headers=h["pat"]).json()
    assert j["status"] == "cancelled"
    time.sleep(1.0)
    assert c.get(f"/api/jobs/{j['id']}", headers=h["pat"]).json()["status"] == "cancelled"
    assert c.get("/api/plans/grid", headers=h["pat"]).json()["version"] == 1
    assert c.get("/api/plans/grid/events", headers=h["pat"]).json()["total"] == 1
    r = c.post("/api/plans/grid/jobs", json={"expected_version": 7}, headers=h["pat"])
    assert r.status_code == 409
    r = c.post("/api/plans/grid/jobs", json={"balance": {"workload": 1.5}, "expected_version": 1}, headers=h["pat"])
    assert r.status_code == 422 and "body.balance.workload" in r.json()["detail"]
    assert c.post("/api/plans/grid/jobs", json={"expected_version": 1}, headers=h["ann"]).status_code == 403
    assert c.get("/api/jobs/nope", headers=h["pat"]).status_code == 404
