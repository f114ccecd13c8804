"""The plan-health balance (``territorium kpi``'s ``balance.csv``, the report's balance section)
on a plan with capacity targets (``plan/targets.py``): each territory is read against its own
target, not the mean, and the tables say which; ``targets="equal"`` gives the mean-based figures.

The planted plan: the job tests' 5 × 8 grid of account units (``_jobws``: every account has the
same workload, so workload balance is account balance), staffed T1 → rA (1,600 h) and T2 → rB
(800 h): targets 26.7 and 13.3 of the 40 accounts. The alignment ``on`` puts 27 / 13 accounts
in them (+1.25 % / −2.5 % of the targets; ±35 % of the mean), ``off`` 30 / 10 (+12.5 % / −25 %
of the targets; ±50 % of the mean)."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from _cli import command_app
from _jobws import capacity_workspace

N = 40


def _workspace(tmp_path, rb_hours: float = 800.0) -> str:
    url = capacity_workspace(tmp_path, rb_hours)
    ids = [f"acc{i:02d}" for i in range(N)]
    for name, n1 in (("on", 27), ("off", 30)):
        pd.DataFrame({"unit_id": ids, "territory": ["T1" if i < n1 else "T2" for i in range(N)]}) \
            .to_csv(tmp_path / f"{name}.csv", index=False)
    pd.DataFrame({"territory": ["T1", "T2"], "rep_id": ["rA", "rB"]}).to_csv(tmp_path / "assignment.csv", index=False)
    return url


def _balance(tmp_path, url, alignment="on", targets="plan"):
    from territorium.plan.kpis import health_tables, place
    from territorium.plan.workspace import Workspace

    data = place(Workspace(url), alignment=tmp_path / f"{alignment}.csv",
                 assignment=(tmp_path / "assignment.csv",), level="account")
    balance, _ = health_tables(data, targets)
    return balance.set_index("measure")


@pytest.mark.parametrize("measure", ["account_count", "workload"])
def test_territories_on_their_capacity_targets_are_balanced(tmp_path, measure):
    url = _workspace(tmp_path)
    b = _balance(tmp_path, url).loc[measure]
    assert b["reference"] == "capacity target"
    assert b["max_dev"] == pytest.approx(0.025, abs=0.005)          # T2: 13 of 13.3
    assert b["cv"] < 0.03 and b["gini"] < 0.01
    m = _balance(tmp_path, url, targets="equal").loc[measure]
    assert m["reference"] == "mean"
    assert m["max_dev"] == pytest.approx(0.35, abs=0.005)           # 27 and 13 of 20
    assert m["cv"] == pytest.approx(0.35, abs=0.005) and m["gini"] == pytest.approx(0.175, abs=0.005)


def test_off_target_figures_are_relative_to_each_target(tmp_path):
    url = _workspace(tmp_path)
    b = _balance(tmp_path, url, "off").loc["account_count"]
    assert b["max_dev"] == pytest.approx(0.25, abs=0.005)           # T2: 10 of 13.3
    # r = 30/26.7, 10/13.3 = 1.125, 0.75: CV = 0.1875 / 0.9375
    assert b["cv"] == pytest.approx(0.2, abs=0.005)
    assert _balance(tmp_path, url, "off", "equal").loc["account_count", "max_dev"] == pytest.approx(0.5, abs=0.005)


def test_equal_capacities_give_the_mean(tmp_path):
    url = _workspace(tmp_path, 1600.0)
    b = _balance(tmp_path, url)
    assert (b["reference"] == "mean").all()
    assert b.loc["account_count", "max_dev"] == pytest.approx(0.35, abs=0.005)


def test_kpi_cli_option_title_and_csv(tmp_path):
    from territorium.commands import kpi as kpi_cmd

    url = _workspace(tmp_path)
    runner = CliRunner()
    base = ["kpi", "--units", "account", "--database", url, "--alignment", str(tmp_path / "on.csv"),
            "--assignment", str(tmp_path / "assignment.csv"), "--out", str(tmp_path / "k")]
    r = runner.invoke(command_app(kpi_cmd), [*base, "--targets", "mean"])
    assert r.exit_code == 2 and "--targets must be 'plan' or 'equal'" in r.output
    r = runner.invoke(command_app(kpi_cmd), base)
    assert r.exit_code == 0, r.output
    assert "Plan balance vs capacity target" in r.output
    csv = pd.read_csv(tmp_path / "k" / "balance.csv").set_index("measure")
    assert csv.loc["account_count", "reference"] == "capacity target"
    assert csv.loc["account_count", "max_dev"] == pytest.approx(0.025, abs=0.005)
    r = runner.invoke(command_app(kpi_cmd), [*base, "--targets", "equal", "--json"])
    assert r.exit_code == 0, r.output
    b = pd.DataFrame(json.loads(r.stdout)["balance"]).set_index("measure")
    assert b.loc["account_count", "reference"] == "mean"
    assert b.loc["account_count", "max_dev"] == pytest.approx(0.35, abs=0.005)


def test_report_balance_section_says_its_reference(tmp_path):
    from territorium.plan.report import ReportJob, build_report
    from territorium.plan.workspace import Workspace

    url = _workspace(tmp_path)
    job = ReportJob(alignment=tmp_path / "on.csv", assignment=(tmp_path / "assignment.csv",), level="account")
    page = build_report(Workspace(url), job).html
    balance = page[page.index("<h2>Balance</h2>"):]
    assert "Balance vs capacity target" in balance and "target_share" in balance
    assert "<td>66.7%</td>" in balance and "<td>33.3%</td>" in balance   # T1, T2 target shares
    assert "<td>-2.5%</td>" in balance                                    # T2's workload from its target
    page = build_report(Workspace(url), ReportJob(alignment=tmp_path / "on.csv", targets="equal",
                                                  assignment=(tmp_path / "assignment.csv",), level="account")).html
    balance = page[page.index("<h2>Balance</h2>"):]
    assert "Balance vs mean" in balance and "target_share" not in balance and "<td>-35.0%</td>" in balance
