"""Jobs over the API: a worker process, progress as server-sent events, the result as one new
version (or scenario plans, or a result only); failed and cancelled jobs of every kind leave the
plan untouched; job records outlive the app; bad bodies are 422 naming the field."""
from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "plan"))
from _jobws import job_workspace  # noqa: E402


def _workspace(url):
    """The grid workspace with a planner and a rep; returns their auth headers."""
    from territorium import store
    from territorium.plan import users as U

    job_workspace(url)
    eng = store.engine(url)
    U.create_user(eng, "pat", role="planner")
    U.create_user(eng, "ann", role="rep", person_id="r1")
    tok = {u: U.create_token(eng, u) for u in ("pat", "ann")}
    eng.dispose()
    return {u: {"Authorization": f"Bearer {t}"} for u, t in tok.items()}


@contextlib.contextmanager
def _client(url):
    """A client of a new app on ``url``; its engine is closed afterwards (as when a server
    process ends), before another app opens the file."""
    from fastapi.testclient import TestClient

    from territorium.api import create_app

    app = create_app(url)
    try:
        with TestClient(app, base_url="https://testserver") as c:
            yield c
    finally:
        app.state.engine.dispose()


@pytest.fixture
def client(tmp_path):
    url = f"sqlite:///{tmp_path / 'ws.db'}"
    h = _workspace(url)
    with _client(url) as c:
        yield c, h


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


POINT_KEYS = {"cap", "scenario", "max_deviation", "moved_units", "moved_accounts", "moved_revenue"}


def _tradeoff_and_restart(url, h):
    with _client(url) as c:
        r = c.post("/api/plans/grid/jobs", json={"kind": "tradeoff", "caps": [0, 0.5], "balance": {"account_count": 0.1},
                                                  "time_limit": 5, "expected_version": 1}, headers=h["pat"])
        assert r.status_code == 202, r.text
        job = r.json()
        assert job["kind"] == "tradeoff" and job["params"]["caps"] == [0.0, 0.5]
        events = sse(c, h["pat"], job["id"])
        assert events[0][0] == "running" and events[-1][0] == "succeeded", events
        progress = [e["progress"] for _, e in events]
        assert progress == sorted(progress) and len(events) >= 3
        j = c.get(f"/api/jobs/{job['id']}", headers=h["pat"]).json()
        points = j["result"]["points"]
        assert [p["scenario"] for p in points] == ["grid~cap0", "grid~cap50"] and all(set(p) == POINT_KEYS for p in points)
        assert j["result_version"] is None and j["finished_at"] >= j["started_at"] >= j["created_at"]
        for p in points:  # each point's numbers are those of its stored scenario
            units = {u["unit_id"]: u["territory_id"] for u in c.get(f"/api/plans/{p['scenario']}/units",
                                                                    headers=h["pat"]).json()["items"]}
            n = [sum(1 for t in units.values() if t == x) for x in ("T1", "T2")]
            assert p["max_deviation"]["account_count"] == pytest.approx(max(abs(k / 20 - 1) for k in n))
            assert p["moved_units"] == abs(n[0] - 30)
        assert c.get("/api/plans/grid", headers=h["pat"]).json()["version"] == 1
        listed = c.get("/api/jobs?plan=grid&limit=5", headers=h["pat"]).json()
        assert listed["total"] == 1 and listed["items"][0]["id"] == job["id"] and listed["limit"] == 5
        assert c.get("/api/jobs?plan=other", headers=h["pat"]).json()["total"] == 0
    with _client(url) as c:  # a new server process on the same database
        again = c.get(f"/api/jobs/{job['id']}", headers=h["pat"]).json()
        assert again == j
        assert [e for _, e in sse(c, h["pat"], job["id"])] == [e for _, e in events]


@pytest.mark.slow
def test_tradeoff_job_stores_scenarios_and_its_record_outlives_the_app(tmp_path):
    url = f"sqlite:///{tmp_path / 'ws.db'}"
    _tradeoff_and_restart(url, _workspace(url))


@pytest.mark.slow
@pytest.mark.postgres
def test_tradeoff_job_on_postgresql(pg_url):
    _tradeoff_and_restart(pg_url, _workspace(pg_url))


@pytest.mark.parametrize("body", [
    {"kind": "design", "k": 3}, {"kind": "tradeoff", "caps": [0.05, 0.1]}, {"kind": "assign"},
    {"kind": "size", "n_min": 1, "n_max": 3}], ids=lambda b: b["kind"])
def test_a_cancelled_job_of_every_kind_leaves_everything_as_it_was(client, body):
    c, h = client
    r = c.post("/api/plans/grid/jobs", json={**body, "expected_version": 1}, headers=h["pat"])
    assert r.status_code == 202, r.text
    j = c.post(f"/api/jobs/{r.json()['id']}/cancel", headers=h["pat"]).json()
    assert j["status"] == "cancelled" and j["message"] == "cancelled; the plan is unchanged" and j["result"] is None
    time.sleep(0.5)
    assert c.get(f"/api/jobs/{j['id']}", headers=h["pat"]).json()["status"] == "cancelled"
    assert c.get("/api/plans/grid", headers=h["pat"]).json()["version"] == 1
    assert c.get("/api/plans/grid/events", headers=h["pat"]).json()["total"] == 1
    assert [p["name"] for p in c.get("/api/plans", headers=h["pat"]).json()["items"]] == ["grid"]
    assert [e for e, _ in sse(c, h["pat"], j["id"])][-1] == "cancelled"


BAD = [
    ({"kind": "design", "caps": [0.1]}, "body.caps"),
    ({"kind": "tradeoff"}, "body.caps"),
    ({"kind": "tradeoff", "caps": [0.1, 1.5]}, "body.caps.1"),
    ({"kind": "tradeoff", "caps": [0.1, 0.1]}, "body.caps.1"),
    ({"kind": "tradeoff", "caps": []}, "body.caps"),
    ({"kind": "design", "k": 0}, "body.k"),
    ({"kind": "design", "k": 3, "centers": "reps"}, "body.k"),
    ({"kind": "design", "centers": "mars"}, "body.centers"),
    ({"kind": "assign", "weights": {"travel": 1, "luck": 2}}, "body.weights.luck"),
    ({"kind": "assign", "slots": 0}, "body.slots"),
    ({"kind": "assign", "balance": {"workload": 0.1}}, "body.balance"),
    ({"kind": "size", "n_min": 5, "n_max": 2}, "body.n_max"),
    ({"kind": "size", "n_min": 1, "n_max": 500, "step": 1}, "body.step"),
    ({"kind": "size", "coverage": 2}, "body.coverage"),
    ({"kind": "realign", "balance": {"workload": 0}}, "body.balance.workload"),
    ({"kind": "mystery"}, "body.kind"),
    ({"kind": "realign", "targets": "mean"}, "body.targets"),
    ({"kind": "assign", "targets": "plan"}, "body.targets"),
    ({"kind": "design", "targets": "plan"}, "body.targets"),   # capacity targets need centers reps
]


def test_bad_job_bodies_are_422_naming_the_field(client):
    c, h = client
    for body, field in BAD:
        r = c.post("/api/plans/grid/jobs", json={**body, "expected_version": 1}, headers=h["pat"])
        assert r.status_code == 422, (body, r.text)
        assert r.json()["errors"][0]["field"] == field and r.json()["detail"].startswith(field), (body, r.json())
    assert c.get("/api/jobs", headers=h["pat"]).json()["total"] == 0


def test_the_targets_option_of_design_jobs_is_parsed_with_rep_centres():
    """A design job takes ``targets`` around rep homes (default plan), and equal with free centres."""
    from territorium.api.routers.jobs import JobIn, _params

    def params(**body):
        return _params(JobIn(kind="design", **body), "grid", 1)

    assert params(centers="reps").targets == "plan"
    assert params(centers="reps", targets="equal").targets == "equal"
    assert params(targets="equal").targets == "equal" and params().targets == "plan"   # free: no rep, the mean


@pytest.mark.slow
def test_the_targets_option_of_realign_jobs(client):
    """On a plan with capacity targets (T1 staffed by a 1,600 h rep, T2 by an 800 h one: 26.7 and
    13.3 of the 40 accounts) a realign job balances towards them by default, and towards the
    mean with ``targets: "equal"``; the option is stored with the job."""
    import sqlalchemy as sa

    from territorium.plan import plans

    c, h = client
    eng = c.app.state.engine
    with eng.begin() as conn:
        conn.execute(sa.text("UPDATE reps SET capacity_hours = 800 WHERE rep_id = 'rB'"))
    plans.update_territories(eng, "grid", {"T1": {"reps": ["rA"]}, "T2": {"reps": ["rB"]}}, expected_version=1,
                             actor="t")
    plans.copy_plan(eng, "grid", "grid-eq", actor="t")
    target = {"T1": 40 * 2 / 3, "T2": 40 / 3}
    for plan, body, ref in (("grid", {"expected_version": 2}, target),
                            ("grid-eq", {"expected_version": 1, "targets": "equal"}, {"T1": 20, "T2": 20})):
        r = c.post(f"/api/plans/{plan}/jobs", json={"balance": {"account_count": 0.1}, "time_limit": 5, **body},
                   headers=h["pat"])
        assert r.status_code == 202, r.text
        assert r.json()["params"]["targets"] == body.get("targets", "plan")
        j = wait(c, h["pat"], r.json()["id"])
        assert j["status"] == "succeeded", j
        assert j["result"]["targets"] == ("equal" if "targets" in body else "capacity")
        n = {t["territory_id"]: t["units"] for t in c.get(f"/api/plans/{plan}/content", headers=h["pat"]).json()[
            "territories"]}
        assert all(abs(n[t] / ref[t] - 1) <= 0.1 + 1e-9 for t in ref), (plan, n)
    assert n["T2"] > 40 / 3 * 1.1   # the equal rebalance is off the capacity target


def test_jobs_refused_before_they_start(client):
    from territorium.plan import plans

    c, h = client
    eng = c.app.state.engine
    assert c.post("/api/plans/grid/jobs", json={"kind": "design", "expected_version": 2}, headers=h["pat"]).status_code == 409
    assert c.post("/api/plans/grid/jobs", json={"kind": "design"}, headers=h["pat"]).status_code == 428
    assert c.post("/api/plans/nope/jobs", json={"kind": "size"}, headers=h["pat"]).status_code == 404
    v = plans.set_status(eng, "grid", "proposed", expected_version=1, actor="t").version
    for kind in ("design", "realign", "assign"):
        r = c.post("/api/plans/grid/jobs", json={"kind": kind, "expected_version": v}, headers=h["pat"])
        assert r.status_code == 400 and "only draft plans" in r.json()["detail"], r.text
    assert c.get("/api/jobs", headers=h["ann"]).status_code == 403
    assert c.get("/api/jobs?limit=0", headers=h["pat"]).status_code == 422
    assert c.get("/api/jobs", headers=h["pat"]).json() == {"items": [], "total": 0, "limit": 50, "offset": 0}


def test_stopping_the_server_cancels_its_running_jobs(tmp_path):
    from territorium import store
    from territorium.plan import job_records, plans

    url = f"sqlite:///{tmp_path / 'ws.db'}"
    h = _workspace(url)
    with _client(url) as c:
        r = c.post("/api/plans/grid/jobs", json={"kind": "design", "k": 3, "expected_version": 1}, headers=h["pat"])
        assert r.status_code == 202 and r.json()["status"] == "running"
    eng = store.engine(url)
    j = job_records.get(eng, r.json()["id"])
    assert j["status"] == "cancelled" and j["message"] == "cancelled; the plan is unchanged"
    assert plans.get_plan(eng, "grid").version == 1
    eng.dispose()


def test_jobs_beyond_the_limit_wait_in_order_and_a_queued_job_can_be_cancelled(tmp_path):
    """With one worker allowed, the second and third jobs wait (queued, with their place in
    line); a queued job cancelled never runs and writes nothing; the third starts only after
    the first ended."""
    import datetime as dt

    from fastapi.testclient import TestClient

    from territorium.api import create_app

    url = f"sqlite:///{tmp_path / 'ws.db'}"
    h = _workspace(url)["pat"]
    app = create_app(url, max_jobs=1)
    try:
        with TestClient(app, base_url="https://testserver") as c:
            size = {"kind": "size", "n_min": 1, "n_max": 3, "expected_version": 1}
            a = c.post("/api/plans/grid/jobs", json=size, headers=h).json()
            b = c.post("/api/plans/grid/jobs", json={"kind": "design", "k": 3, "expected_version": 1}, headers=h).json()
            c3 = c.post("/api/plans/grid/jobs", json=size, headers=h).json()
            assert a["status"] == "running"
            assert b["status"] == "queued" and "1 run at once; 1 job(s) ahead" in b["message"], b
            assert c3["status"] == "queued" and "2 job(s) ahead" in c3["message"], c3
            jb = c.post(f"/api/jobs/{b['id']}/cancel", headers=h).json()
            assert jb["status"] == "cancelled" and jb["started_at"] is None
            assert jb["message"] == "cancelled before it started; the plan is unchanged"
            ja, jc = wait(c, h, a["id"]), wait(c, h, c3["id"])
            assert ja["status"] == jc["status"] == "succeeded", (ja, jc)
            assert dt.datetime.fromisoformat(jc["started_at"]) >= dt.datetime.fromisoformat(ja["finished_at"])
            assert jc["result"] == ja["result"]   # the same curve, computed after the first ended
            assert [e for e, _ in sse(c, h, b["id"])] == ["queued", "cancelled"]
            assert c.get(f"/api/jobs/{b['id']}", headers=h).json()["status"] == "cancelled"
            assert c.get("/api/plans/grid", headers=h).json()["version"] == 1
            assert c.get("/api/plans/grid/events", headers=h).json()["total"] == 1
    finally:
        app.state.engine.dispose()
