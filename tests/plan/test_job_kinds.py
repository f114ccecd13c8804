"""Every job kind run in-process on a real database: design from scratch, trade-off scenarios,
rep assignment and sizing write what they say in one version (or nothing), and a write that
meets a concurrent change leaves no partial result behind."""
from __future__ import annotations

import pytest

from territorium import store
from territorium.plan import plans
from territorium.plan.job_kinds import _free_names
from territorium.plan.jobs import JobParams, run_kind, run_realign

from _jobws import job_workspace

BAL = {"account_count": 0.1}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request, tmp_path):
    u = f"sqlite:///{tmp_path / 'ws.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    job_workspace(u)
    return u


@pytest.fixture
def sqlite_url(tmp_path):
    u = f"sqlite:///{tmp_path / 'ws.db'}"
    job_workspace(u)
    return u


def units(eng, ref="grid") -> dict:
    c = plans.plan_content(eng, ref)
    return dict(zip(c.units["unit_id"], c.units["territory_id"]))


def sizes(assignment: dict) -> dict:
    out: dict = {}
    for t in assignment.values():
        out[t] = out.get(t, 0) + 1
    return out


def on_write(action):
    """A progress callback that runs ``action`` once, when the job says it starts writing:
    a concurrent change that lands between the job's computation and its write."""
    seen = []

    def say(f, m):
        seen.append(f)
        if m.startswith("writing") and action is not None:
            action()
    return say, seen


@pytest.mark.slow
def test_design_from_scratch_writes_one_version_and_keeps_territory_ids(url):
    eng = store.engine(url)
    before = units(eng)
    out = run_kind(url, JobParams(plan="grid", expected_version=1, kind="design", k=3, balance=BAL, time_limit=3),
                   "job-d", "tester", on_write(None)[0], engine=eng)
    assert out.version == 2 and plans.get_plan(eng, "grid").version == 2
    after = units(eng)
    n = sizes(after)
    assert len(n) == 3 and sum(n.values()) == 40 and all(abs(v / (40 / 3) - 1) <= 0.1 + 1e-9 for v in n.values()), n
    assert out.result["max_deviation"]["account_count"] == pytest.approx(max(abs(v / (40 / 3) - 1) for v in n.values()))
    # the two old ids stay on the new territories that share most units with them; one new id
    assert set(out.result["new_territories"]) == set(n) - {"T1", "T2"} and len(out.result["new_territories"]) == 1
    new_id = out.result["new_territories"][0]

    def overlap(new, old):
        return sum(1 for u in after if after[u] == new and before[u] == old)
    assert overlap("T1", "T1") + overlap("T2", "T2") >= overlap("T1", "T2") + overlap("T2", "T1")
    assert overlap("T1", "T1") + overlap("T2", "T2") >= max(overlap(new_id, "T1") + overlap("T2", "T2"),
                                                            overlap("T1", "T1") + overlap(new_id, "T2"))
    ev, total = plans.events(eng, "grid", since_version=1)
    assert set(ev["job"]) == {"job-d"} and set(ev["version"]) == {2} and set(ev["actor"]) == {"tester"}
    assert out.result["moved_units"] == sum(1 for u in after if after[u] != before[u]) == \
        int((ev["entity"] == "unit").sum())
    assert all(ev["reason"].str.startswith("design job: 3 territories"))
    eng.dispose()


@pytest.mark.slow
def test_a_failed_or_overtaken_design_writes_nothing(sqlite_url):
    eng = store.engine(sqlite_url)
    before = units(eng)
    with pytest.raises(plans.PlanError, match="unknown measure 'nope'"):
        run_kind(sqlite_url, JobParams(plan="grid", expected_version=1, kind="design", balance={"nope": 0.1}), "j", "t",
                 engine=eng)
    assert plans.get_plan(eng, "grid").version == 1
    say, seen = on_write(lambda: plans.move_units(eng, "grid", {"acc00": "T2"}, expected_version=1, actor="bob"))
    with pytest.raises(plans.Conflict, match="bob"):
        run_kind(sqlite_url, JobParams(plan="grid", expected_version=1, kind="design", balance=BAL, time_limit=3),
                 "job-x", "t", say, engine=eng)
    assert seen, "the job never reported progress"
    assert units(eng) == {**before, "acc00": "T2"} and plans.get_plan(eng, "grid").version == 2
    ev, _ = plans.events(eng, "grid")
    assert "job-x" not in set(ev["job"].dropna())
    eng.dispose()


@pytest.mark.slow
def test_tradeoff_stores_one_scenario_per_cap_and_leaves_the_plan(sqlite_url):
    url = sqlite_url  # PostgreSQL: tests/api/test_api_jobs.py runs it through the API and a worker
    eng = store.engine(url)
    base = plans.get_plan(eng, "grid")
    before = units(eng)
    out = run_kind(url, JobParams(plan="grid", expected_version=1, kind="tradeoff", balance=BAL, caps=(0.0, 0.5),
                                  time_limit=5), "job-t", "tester", engine=eng)
    assert out.version is None
    assert [p["scenario"] for p in out.result["points"]] == ["grid~cap0", "grid~cap50"]
    assert plans.get_plan(eng, "grid").version == 1 and plans.events(eng, "grid")[1] == 1 and units(eng) == before
    for p in out.result["points"]:
        s = plans.get_plan(eng, p["scenario"])
        assert s.status == "draft" and s.parent_id == base.id and s.settings["tradeoff_cap"] == p["cap"]
        got = units(eng, p["scenario"])
        moved = [u for u in got if got[u] != before[u]]
        # account units: one account per unit, and the accounts are the units
        assert p["moved_units"] == p["moved_accounts"] == len(moved) <= p["cap"] * 40 + 1e-9
        assert p["moved_revenue"] == 0.0  # the grid has no orders
        assert p["max_deviation"]["account_count"] == pytest.approx(max(abs(v / 20 - 1) for v in sizes(got).values()))
        assert set(plans.events(eng, p["scenario"])[0]["job"]) == {"job-t"}
    cap0, cap50 = out.result["points"]
    assert cap0["moved_units"] == 0 and cap0["max_deviation"]["account_count"] == pytest.approx(0.5)
    assert cap50["max_deviation"]["account_count"] <= 0.1 + 1e-9 and cap50["moved_units"] >= 8
    eng.dispose()


@pytest.mark.slow
def test_a_tradeoff_that_fails_at_its_write_stores_no_scenario_and_taken_names_get_a_suffix(sqlite_url):
    eng = store.engine(sqlite_url)
    say, _ = on_write(lambda: plans.copy_plan(eng, "grid", "grid~cap50", actor="bob"))
    with pytest.raises(plans.PlanError, match="grid~cap50"):
        run_kind(sqlite_url, JobParams(plan="grid", expected_version=1, kind="tradeoff", balance=BAL,
                                       caps=(0.0, 0.5), time_limit=3), "job-t", "t", say, engine=eng)
    names = {p.name for p in plans.list_plans(eng)[0]}
    assert names == {"grid", "grid~cap50"}  # the scenario for cap 0 was computed first, and is not stored
    assert plans.get_plan(eng, "grid").version == 1
    # the next trade-off's names: a taken one gets the next free suffix
    plans.copy_plan(eng, "grid", "grid~cap50-2", actor="bob")
    plans.copy_plan(eng, "grid", "grid~cap5-x", actor="bob")  # not a suffix of grid~cap5
    assert _free_names(eng, ["grid~cap0", "grid~cap50", "grid~cap5"]) == ["grid~cap0", "grid~cap50-3", "grid~cap5"]
    eng.dispose()


def test_assign_writes_the_nearest_reps_as_one_version_or_nothing(sqlite_url):
    eng = store.engine(sqlite_url)
    say, _ = on_write(lambda: plans.update_territories(eng, "grid", {"T1": {"quota": 5.0}}, expected_version=1,
                                                       actor="bob"))
    with pytest.raises(plans.Conflict):
        run_kind(sqlite_url, JobParams(plan="grid", expected_version=1, kind="assign"), "job-y", "t", say, engine=eng)
    reps = plans.plan_content(eng, "grid").territories.set_index("territory_id")["reps"]
    assert [r[0] for r in reps["T1"]] == ["r1"] and [r[0] for r in reps["T2"]] == ["r2"]
    out = run_kind(sqlite_url, JobParams(plan="grid", expected_version=2, kind="assign"), "job-a", "tester",
                   engine=eng)
    # T2 holds the north rows where rA lives; T1 the south rows, by rB
    assert out.version == 3 and out.result["territories"] == {"T1": ["rB"], "T2": ["rA"]}
    c = plans.plan_content(eng, "grid")
    reps = c.territories.set_index("territory_id")["reps"]
    assert [r[0] for r in reps["T1"]] == ["rB"] and [r[0] for r in reps["T2"]] == ["rA"] and c.territories["quota"].max() == 5.0
    ev, _ = plans.events(eng, "grid", since_version=2)
    assert set(ev["job"]) == {"job-a"} and set(ev["field"]) == {"reps"} and set(ev["version"]) == {3}
    assert out.result["vacant"] == [] and out.result["benched"] == []
    eng.dispose()


@pytest.mark.slow
def test_size_returns_the_curve_and_writes_nothing(sqlite_url):
    from territorium.plan.workspace import Workspace

    eng = store.engine(sqlite_url)
    out = run_kind(sqlite_url, JobParams(plan="grid", expected_version=1, kind="size", n_min=1, n_max=2, step=1,
                                         balance=BAL, time_limit=2, capacity_hours=40.0), "job-s", "t", engine=eng)
    total = float(Workspace(engine=eng).load_units("account").units.table["workload"].sum())
    t = out.result["table"]
    assert [r["n"] for r in t] == [1, 2] and total > 0
    for r in t:
        assert r["mean_workload"] * r["n"] == pytest.approx(total, rel=1e-6)
    # 40 h per rep: one rep cannot carry it all when the total is above 40 h * (1 + 10 %)
    assert (out.result["recommended"] == 1) == (total <= 44.0)
    assert out.version is None and plans.get_plan(eng, "grid").version == 1 and plans.events(eng, "grid")[1] == 1
    eng.dispose()


@pytest.mark.slow
def test_design_around_rep_homes_keeps_each_reps_territory(sqlite_url):
    eng = store.engine(sqlite_url)
    # T1 (the south 30 units) is staffed by rA, who lives in the north; T2 (the north 10) by rB in the south:
    # around rep homes, rA's territory T1 moves north (matching by overlap would keep T1 south)
    plans.update_territories(eng, "grid", {"T1": {"reps": ["rA"]}, "T2": {"reps": ["rB"]}}, expected_version=1,
                             actor="t")
    out = run_kind(sqlite_url, JobParams(plan="grid", expected_version=2, kind="design", centers="reps", balance=BAL,
                                         time_limit=3), "job-r", "t", engine=eng)
    assert out.version == 3 and out.result["new_territories"] == [] and out.result["k"] == 2
    after = units(eng)
    n = sizes(after)
    assert set(n) == {"T1", "T2"} and all(18 <= v <= 22 for v in n.values()), n
    lat = {f"acc{i:02d}": 42.0 + (i // 8) * 0.1 for i in range(40)}  # the grid's rows, south to north
    mean = {t: sum(lat[u] for u in after if after[u] == t) / n[t] for t in n}
    assert mean["T1"] > mean["T2"] + 0.1  # rA's territory lies north, around rA's home
    eng.dispose()


@pytest.mark.slow
def test_locked_units_stay_put_in_realign_and_design(sqlite_url):
    eng = store.engine(sqlite_url)
    locked = [f"acc{i:02d}" for i in range(24, 30)]  # T1's units next to T2: a realignment would move them first
    plans.set_locks(eng, "grid", lock=locked, expected_version=1, actor="t")
    v = run_realign(sqlite_url, JobParams(plan="grid", expected_version=2, balance=BAL, time_limit=3), "job-r", "t",
                    engine=eng)
    after = units(eng)
    assert v == 3 and all(after[u] == "T1" for u in locked) and all(18 <= n <= 22 for n in sizes(after).values())
    out = run_kind(sqlite_url, JobParams(plan="grid", expected_version=3, kind="design", k=3, balance=BAL,
                                         time_limit=3), "job-d", "t", engine=eng)
    after = units(eng)
    assert out.version == 4 and {after[u] for u in locked} == {"T1"}  # together, and T1 keeps them
    eng.dispose()
