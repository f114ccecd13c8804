"""Realign, trade-off and design (around rep homes) jobs on a plan with capacity targets
(``plan/targets.py``): each territory is balanced towards its own target, not the mean, and the
deviations are measured against it; ``targets="equal"`` balances towards the mean.

The planted plan: the job tests' 5 × 8 grid of account units (``_jobws``: T1 holds 30, T2 10),
T1 staffed by rA (1,600 h), T2 by rB whose capacity is set to 800 h here: targets 2/3 and 1/3,
i.e. 26.7 and 13.3 accounts, far from the mean of 20 that an equal rebalance aims at."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from territorium import store
from territorium.plan import plans
from territorium.plan.jobs import JobParams, run_kind
from territorium.plan.targets import stored_targets

from _jobws import job_workspace

BAL = {"account_count": 0.1}
N = 40
TARGET = {"T1": N * 2 / 3, "T2": N / 3}


@pytest.fixture
def url(tmp_path):
    u = f"sqlite:///{tmp_path / 'ws.db'}"
    job_workspace(u)
    eng = store.engine(u)
    with eng.begin() as conn:
        conn.execute(sa.text("UPDATE reps SET capacity_hours = 800 WHERE rep_id = 'rB'"))
    plans.update_territories(eng, "grid", {"T1": {"reps": ["rA"]}, "T2": {"reps": ["rB"]}}, expected_version=1,
                             actor="t")
    eng.dispose()
    return u


def sizes(eng, ref="grid") -> dict:
    c = plans.plan_content(eng, ref)
    return c.units["territory_id"].value_counts().to_dict()


def test_the_planted_plan_has_unequal_targets(url):
    eng = store.engine(url)
    tg = stored_targets(eng, plans.plan_content(eng, "grid"))
    assert tg is not None and tg.source == "staffing"
    assert tg.shares == pytest.approx({t: v / N for t, v in TARGET.items()}, rel=1e-12)
    eng.dispose()


@pytest.mark.slow
def test_realign_balances_each_territory_towards_its_capacity_target(url):
    eng = store.engine(url)
    plans.copy_plan(eng, "grid", "grid-eq", actor="t")
    out = run_kind(url, JobParams(plan="grid", expected_version=2, balance=BAL, time_limit=3), "job-r", "t",
                   engine=eng)
    n = sizes(eng)
    assert out.version == 3 and out.result["targets"] == "capacity" and sum(n.values()) == N
    dev = {t: n[t] / TARGET[t] - 1 for t in TARGET}
    assert all(abs(d) <= 0.1 + 1e-9 for d in dev.values()), n
    assert abs(n["T2"] / (N / 2) - 1) > 0.1, n   # and not at the mean, where an equal rebalance puts it
    assert out.result["max_deviation"]["account_count"] == pytest.approx(max(abs(d) for d in dev.values()))
    ev, _ = plans.events(eng, "grid", since_version=2)
    assert all(ev["reason"].str.endswith("balanced towards the capacity targets"))

    # targets="equal": towards the mean, on a copy with the same staffing
    out = run_kind(url, JobParams(plan="grid-eq", expected_version=1, balance=BAL, time_limit=3, targets="equal"),
                   "job-e", "t", engine=eng)
    n = sizes(eng, "grid-eq")
    assert out.result["targets"] == "equal" and all(abs(v / (N / 2) - 1) <= 0.1 + 1e-9 for v in n.values()), n
    with pytest.raises(plans.PlanError, match="targets 'mean'"):
        run_kind(url, JobParams(plan="grid-eq", expected_version=2, balance=BAL, targets="mean"), "job-x", "t",
                 engine=eng)
    eng.dispose()


@pytest.mark.slow
def test_tradeoff_deviations_are_measured_against_the_targets(url):
    eng = store.engine(url)
    out = run_kind(url, JobParams(plan="grid", expected_version=2, kind="tradeoff", balance=BAL, caps=(0.0, 0.5),
                                  time_limit=3), "job-t", "t", engine=eng)
    assert out.result["targets"] == "capacity"
    for p in out.result["points"]:
        n = sizes(eng, p["scenario"])
        want = max(abs(n[t] / TARGET[t] - 1) for t in TARGET)
        assert p["max_deviation"]["account_count"] == pytest.approx(want), (p, n)
        assert plans.get_plan(eng, p["scenario"]).settings["targets"] == "capacity"
    cap0, cap50 = out.result["points"]
    # unmoved: T1 30 of 26.7 (+12.5 %), T2 10 of 13.3 (-25 %); against the mean it would read 50 %
    assert cap0["moved_units"] == 0 and cap0["max_deviation"]["account_count"] == pytest.approx(0.25)
    assert cap50["max_deviation"]["account_count"] <= 0.1 + 1e-9
    n = sizes(eng, cap50["scenario"])
    assert abs(n["T2"] / (N / 2) - 1) > 0.1, n
    eng.dispose()


@pytest.mark.slow
def test_design_from_plan_balances_towards_its_targets_unless_told_equal(url, tmp_path):
    import json

    import pandas as pd
    from typer.testing import CliRunner

    from territorium.cli import app

    runner = CliRunner()
    base = ["design", "--database", url, "--jobs", "1", "--units", "account", "--balance", "account_count:10%",
            "--time-limit", "3", "--seed", "1", "--json"]
    for opt, ref in (([], TARGET), (["--targets", "equal"], {"T1": N / 2, "T2": N / 2})):
        out = tmp_path / f"a{len(opt)}.csv"
        r = runner.invoke(app, [*base, "--from-plan", "grid", *opt, "--out", str(out)])
        assert r.exit_code == 0, r.output
        n = pd.read_csv(out, dtype=str)["territory"].value_counts().to_dict()
        assert all(abs(n[t] / ref[t] - 1) <= 0.1 + 1e-9 for t in ref), (opt, n)
        rep = json.loads(r.stdout[r.stdout.index("{"):])
        got = {t["territory"]: t["account_count_target"] for t in rep["territories"]}
        assert got == pytest.approx(ref), opt   # the report's targets, which its deviations are from
    r = runner.invoke(app, [*base, "--realign", "--targets", "plan", "--out", str(tmp_path / "x.csv")])
    assert r.exit_code == 2 and "--targets needs --from-plan" in r.output


@pytest.mark.slow
def test_design_around_rep_homes_gives_each_rep_its_capacity_share(url):
    """centers="reps": one territory per rep (rA lives north, rB south), rA's at 2/3 of the
    accounts and rB's at 1/3 on this plan with capacity targets; targets="equal": the mean.
    Free centres have no rep to take a target from: towards the mean, and the result says so."""
    eng = store.engine(url)
    plans.copy_plan(eng, "grid", "grid-eq", actor="t")
    plans.copy_plan(eng, "grid", "grid-free", actor="t")
    out = run_kind(url, JobParams(plan="grid", expected_version=2, kind="design", centers="reps", balance=BAL,
                                  time_limit=3), "job-d", "t", engine=eng)
    n = sizes(eng)
    assert out.result["targets"] == "capacity" and out.result["k"] == 2 and sum(n.values()) == N
    assert all(abs(n[t] / TARGET[t] - 1) <= 0.1 + 1e-9 for t in TARGET), n
    assert abs(n["T2"] / (N / 2) - 1) > 0.1, n
    ev, _ = plans.events(eng, "grid", since_version=2)
    assert all(ev["reason"].str.endswith("balanced towards the capacity targets"))

    out = run_kind(url, JobParams(plan="grid-eq", expected_version=1, kind="design", centers="reps", balance=BAL,
                                  time_limit=3, targets="equal"), "job-e", "t", engine=eng)
    n = sizes(eng, "grid-eq")
    assert out.result["targets"] == "equal" and all(abs(v / (N / 2) - 1) <= 0.1 + 1e-9 for v in n.values()), n

    out = run_kind(url, JobParams(plan="grid-free", expected_version=1, kind="design", k=2, balance=BAL,
                                  time_limit=3), "job-f", "t", engine=eng)
    n = sizes(eng, "grid-free")
    assert out.result["targets"] == "equal" and all(abs(v / (N / 2) - 1) <= 0.1 + 1e-9 for v in n.values()), n
    eng.dispose()
