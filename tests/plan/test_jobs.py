"""Realign jobs: the result is one new version with the job id in its events; a failed or
stale job writes nothing."""
from __future__ import annotations

import pytest

from territorium import store
from territorium.plan import plans
from territorium.plan.jobs import JobParams, run_realign

from _planws import grid_plan


@pytest.fixture
def url(tmp_path):
    u = f"sqlite:///{tmp_path / 'ws.db'}"
    grid_plan(u)
    return u


def sizes(eng):
    return plans.plan_content(eng, "grid").units.groupby("territory_id").size().to_dict()


def test_realign_balances_and_writes_one_audited_version(url):
    seen = []
    eng = store.engine(url)
    v = run_realign(url, JobParams(plan="grid", expected_version=1, balance={"account_count": 0.1}, time_limit=20),
                    "job-1", "tester", lambda f, m: seen.append(f), engine=eng)
    assert v == 2 and plans.get_plan(eng, "grid").version == 2
    s = sizes(eng)
    assert sum(s.values()) == 40 and all(abs(n / 20 - 1) <= 0.1 + 1e-9 for n in s.values()), s
    ev, n = plans.events(eng, "grid", since_version=1)
    old = plans.plan_content(eng, "grid@1").units.set_index("unit_id")["territory_id"]
    now = plans.plan_content(eng, "grid").units.set_index("unit_id")["territory_id"]
    changed = int((old != now.reindex(old.index)).sum())
    assert n == changed >= 8  # 30/10 -> within 18..22 needs at least 8 units to move
    assert set(ev["job"]) == {"job-1"} and set(ev["actor"]) == {"tester"} and set(ev["version"]) == {2}
    assert all(ev["reason"].str.startswith("realign job: max deviation account_count"))
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0)


def test_a_failed_or_stale_job_leaves_the_plan_as_it_was(url):
    eng = store.engine(url)
    before = plans.plan_content(eng, "grid")
    with pytest.raises(plans.PlanError, match="unknown measure 'nonsense'"):
        run_realign(url, JobParams(plan="grid", expected_version=1, balance={"nonsense": 0.1}), "j", "t", engine=eng)
    plans.move_units(eng, "grid", {"acc00": "T2"}, expected_version=1, actor="bob")
    with pytest.raises(plans.Conflict, match="bob"):
        run_realign(url, JobParams(plan="grid", expected_version=1, balance={"account_count": 0.1}), "j", "t",
                    engine=eng)
    after = plans.plan_content(eng, "grid")
    assert after.version == 2 and plans.events(eng, "grid")[1] == 2
    assert dict(zip(after.units["unit_id"], after.units["territory_id"])) == {
        **dict(zip(before.units["unit_id"], before.units["territory_id"])), "acc00": "T2"}
