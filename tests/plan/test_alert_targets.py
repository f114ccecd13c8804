"""Alert rebalance proposals on a plan with capacity targets (``plan/targets.py``): the
proposal balances each territory towards its own target, not the mean, and the alerts that
carry it say which; ``targets="equal"`` balances towards the mean.

The planted plan: the job tests' 5 × 8 grid of account units (``_jobws``: every account has the
same workload, so workload balance is account balance); the alignment gives T1 30 accounts and
T2 10, the staffing file gives T1 rep rA (1,600 h) and T2 rep rB, whose capacity is set here:
at 800 h the targets are 26.7 and 13.3 accounts (±5 %: T2 holds 13 or 14), far from the mean of
20 (±5 %: 19 to 21) that an equal rebalance aims at."""
from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from _cli import command_app
from _jobws import capacity_workspace

N = 40
TARGET = {"T1": N * 2 / 3, "T2": N / 3}
RULES = ("alerts:\n  - name: staffed\n    metric: workload_load\n    above: 0\n    propose: rebalance\n")
ASOF = dt.date(2026, 6, 1)


def _workspace(tmp_path, rb_hours: float) -> str:
    url = capacity_workspace(tmp_path, rb_hours)
    ids = [f"acc{i:02d}" for i in range(N)]
    pd.DataFrame({"unit_id": ids, "territory": ["T1" if i < 30 else "T2" for i in range(N)]}) \
        .to_csv(tmp_path / "alignment.csv", index=False)
    pd.DataFrame({"territory": ["T1", "T2"], "rep_id": ["rA", "rB"]}).to_csv(tmp_path / "assignment.csv", index=False)
    return url


def _run(tmp_path, url, targets="plan"):
    from territorium.analytics.alerts import parse_rules
    from territorium.plan.alerts import AlertJob, run_alerts
    from territorium.plan.workspace import Workspace

    job = AlertJob(rules=tuple(parse_rules(RULES)), alignment=tmp_path / "alignment.csv",
                   assignment=(tmp_path / "assignment.csv",), level="account", asof=ASOF,
                   propose=tmp_path / f"proposal-{targets}.csv", propose_time_limit=3, targets=targets)
    run = run_alerts(Workspace(url), job)
    sizes = pd.read_csv(run.proposal, dtype=str)["territory"].value_counts().to_dict()
    return run, sizes


@pytest.mark.slow
def test_the_proposal_balances_towards_the_staffings_capacity_targets(tmp_path):
    url = _workspace(tmp_path, 800.0)
    run, n = _run(tmp_path, url)
    assert run.proposal_targets == "capacity" and sum(n.values()) == N
    assert all(abs(n[t] / TARGET[t] - 1) <= 0.05 + 1e-9 for t in TARGET), n
    assert abs(n["T2"] / (N / 2) - 1) > 0.05, n   # not at the mean, where the equal proposal puts it
    assert {a.group for a in run.alerts} == {"T1", "T2"}
    for a in run.alerts:
        assert a.proposal == str(run.proposal) and a.extra["proposal_targets"] == "capacity"
        assert a.message.endswith("rebalance proposal towards the capacity targets (the reps' capacity)")

    run, n = _run(tmp_path, url, "equal")
    assert run.proposal_targets == "equal"
    assert all(abs(v / (N / 2) - 1) <= 0.05 + 1e-9 for v in n.values()), n
    assert all(a.message.endswith("rebalance proposal towards equal territories") for a in run.alerts)


@pytest.mark.slow
def test_equal_capacities_give_the_mean(tmp_path):
    url = _workspace(tmp_path, 1600.0)
    run, n = _run(tmp_path, url)
    assert run.proposal_targets == "equal"
    assert all(abs(v / (N / 2) - 1) <= 0.05 + 1e-9 for v in n.values()), n


def test_the_cli_option_and_the_reference_in_its_output(tmp_path):
    from territorium.commands import alerts as alerts_cmd

    url = _workspace(tmp_path, 800.0)
    (tmp_path / "rules.yaml").write_text(RULES)
    runner = CliRunner()
    base = ["alerts", "--rules", str(tmp_path / "rules.yaml"), "--units", "account", "--database", url,
            "--alignment", str(tmp_path / "alignment.csv"), "--assignment", str(tmp_path / "assignment.csv"),
            "--asof", str(ASOF), "--out", str(tmp_path / "alerts.csv")]
    r = runner.invoke(command_app(alerts_cmd), [*base, "--targets", "mean"])
    assert r.exit_code == 2 and "--targets must be 'plan' or 'equal'" in r.output
    # without --propose: no proposal, no reference
    r = runner.invoke(command_app(alerts_cmd), [*base, "--json"])
    assert r.exit_code == 0, r.output
    payload = json.loads(r.stdout)
    assert payload["proposal"] is None and payload["proposal_targets"] is None and len(payload["alerts"]) == 2
