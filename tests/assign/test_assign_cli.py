"""`territorium assign territories|accounts` and `territorium size` end to end on a planted SQLite workspace."""
import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from _cli import command_app
from _assign_ws import tiny_frames, write_tiny_workspace
from territorium.commands import assign as assign_cmd

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_ws(tmp_path_factory):
    """(SQLite URL, alignment CSV path) of the tiny planted workspace."""
    return write_tiny_workspace(tmp_path_factory.mktemp("assign-ws"))


@pytest.fixture(scope="module")
def app():
    return command_app(assign_cmd)


def _run(app, args):
    return runner.invoke(app, args)


def test_assign_territories_planted(app, tiny_ws, tmp_path):
    url, al = tiny_ws
    out = tmp_path / "assignment.csv"
    r = _run(app, ["assign", "territories", "--database", url, "--alignment", str(al), "--units", "account",
                   "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    t = pd.read_csv(out).set_index("territory_id")
    assert t["rep_id"].to_dict() == {"BOS": "C", "NYC": "A", "PHL": "B"}   # each rep takes home; manager left out
    assert rep["vacant"] == [] and rep["benched"] == []
    acc = pd.read_csv(out.with_name("assignment_accounts.csv")).set_index("account_id")
    # phl_0 has an open deal with A: protected until it closes; phl_1..3 move from A to B
    assert acc.loc["phl_0", "new_owner"] == "A" and acc.loc["phl_0", "reason_code"] == "protected"
    assert "until 2027-02-01" in acc.loc["phl_0", "reason"]
    assert acc.loc[["phl_1", "phl_2", "phl_3"], "new_owner"].tolist() == ["B"] * 3
    assert (acc.loc[["phl_1", "phl_2", "phl_3"], "reason_code"] == "territory").all()
    assert acc.loc["nyc_5", "reason_code"] == "kept"
    ho = pd.read_csv(out.with_name("assignment_handover.csv")).set_index("rep_id")
    rev = acc.loc[["phl_1", "phl_2", "phl_3"], "revenue"].sum()
    assert rev == pytest.approx(100.0 * (12 + 13 + 14))          # orders of accounts 11, 12, 13 (1-based)
    assert ho.loc["B", "gained"] == 3 and ho.loc["B", "gained_revenue"] == pytest.approx(rev)
    assert ho.loc["A", "lost"] == 3 and ho.loc["A", "lost_revenue"] == pytest.approx(rev)
    assert ho.loc["A", "protected"] == 1
    prot = pd.read_csv(out.with_name("assignment_protected.csv"))
    assert prot["account_id"].tolist() == ["phl_0"] and prot["planned_rep"].tolist() == ["B"]
    # without protection phl_0 moves too, and its open deal follows it
    r2 = _run(app, ["assign", "territories", "--database", url, "--alignment", str(al), "--units", "account",
                    "--no-protect-open-opps", "--out", str(tmp_path / "np.csv")])
    assert r2.exit_code == 0, r2.output
    mv = pd.read_csv(tmp_path / "np_moves.csv").set_index("account_id")
    assert mv.loc["phl_0", "to_rep"] == "B" and mv.loc["phl_0", "open_amount"] == 5000.0
    assert "Hand-over per rep" in r2.stdout


def test_assign_territories_rules_and_errors(app, tiny_ws, tmp_path):
    url, al = tiny_ws
    base = ["assign", "territories", "--database", url, "--alignment", str(al), "--units", "account"]
    r = _run(app, base + ["--must", "C=NYC", "--out", str(tmp_path / "m.csv"), "--json"])
    assert r.exit_code == 0, r.output
    t = pd.read_csv(tmp_path / "m.csv").set_index("territory_id")
    assert t.loc["NYC", "rep_id"] == "C" and t.loc["NYC", "reason"].startswith("rule")
    r = _run(app, base + ["--must", "Z=NYC", "--out", str(tmp_path / "e.csv")])
    assert r.exit_code == 2 and "unknown rep 'Z'" in r.output
    reps = tmp_path / "reps.csv"
    pd.DataFrame({"rep_id": ["A", "B"], "home_zip": ["10001", ""], "capacity_hours": [1600, 1600]}).to_csv(reps, index=False)
    r = _run(app, base + ["--reps-from", str(reps), "--out", str(tmp_path / "e.csv")])
    assert r.exit_code == 2 and "reps without a home location" in r.output and "B (row 3)" in r.output
    assert not (tmp_path / "e.csv").exists()   # a failed job writes nothing


def test_assign_accounts_planted(app, tiny_ws, tmp_path):
    url, _ = tiny_ws
    out = tmp_path / "acc.csv"
    r = _run(app, ["assign", "accounts", "--database", url, "--out", str(out), "--time-limit", "5", "--json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert rep["status"] == "feasible" and rep["lower_bound"] <= rep["objective"] + 1e-9
    acc = pd.read_csv(out.with_name("acc_accounts.csv")).set_index("account_id")
    city = acc.index.str.split("_").str[0]
    expect = pd.Series(city, index=acc.index).map({"nyc": "A", "phl": "B", "bos": "C"})
    expect["phl_0"] = "A"                                   # protected: open deal with A
    assert acc["new_owner"].to_dict() == expect.to_dict()
    assert acc.loc["phl_0", "reason_code"] == "protected"
    assert acc.loc["nyc_0", "reason_code"] in ("nearest", "continuity")
    reps = pd.read_csv(out).set_index("rep_id")
    assert (reps["load_hours"] <= reps["capacity_hours"] + 1e-9).all()
    assert reps.loc["A", "accounts"] == 11 and "M" not in reps.index


def test_assign_accounts_infeasible_capacity_says_by_how_much(app, tiny_ws, tmp_path):
    from territorium.measures import account_workload


    url, _ = tiny_ws
    total = account_workload(tiny_frames()["accounts"]).sum()
    cap = float(np.floor(total / 4))  # three reps carry three quarters of the work at most
    reps = tmp_path / "reps.csv"
    pd.DataFrame({"rep_id": ["A", "B", "C"], "home_lat": [40.75, 39.95, 42.36], "home_lon": [-73.99, -75.16, -71.06],
                  "capacity_hours": [cap, cap, cap], "skills": ["Enterprise", "", ""]}).to_csv(reps, index=False)
    r = _run(app, ["assign", "accounts", "--database", url, "--reps-from", str(reps), "--no-protect-open-opps",
                   "--out", str(tmp_path / "x.csv")])
    assert r.exit_code == 2
    msg = " ".join(r.output.split())
    assert f"short by {total - 3 * cap:,.0f} h" in msg and "infeasible capacity" in msg
    assert not (tmp_path / "x.csv").exists()
    # with overload allowed it plans anyway and reports the hours over capacity
    r = _run(app, ["assign", "accounts", "--database", url, "--reps-from", str(reps), "--no-protect-open-opps",
                   "--allow-overload", "--out", str(tmp_path / "y.csv"), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["overload_hours"] == pytest.approx(total - 3 * cap)


def test_size_command_writes_curve_and_recommends(app, tiny_ws, tmp_path):
    url, _ = tiny_ws
    out = tmp_path / "sizing.png"
    r = _run(app, ["size", "--database", url, "--units", "account", "--min", "1", "--max", "4", "--step", "1",
                   "--capacity-hours", "600", "--tolerance", "20%", "--time-limit", "2", "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    t = pd.read_csv(out.with_suffix(".csv"))
    assert t["n"].tolist() == [1, 2, 3, 4] and out.read_bytes()[:4] == b"\x89PNG"
    ok = t[(t["coverage"] >= 0.95) & (t["max_regular"] <= 600 * 1.2)]
    assert rep["recommended"] == (int(ok["n"].iloc[0]) if len(ok) else None)
    assert t["mean_workload"].round(6).tolist() == list(np.round(t["mean_workload"].iloc[0] / t["n"], 6))
    r = _run(app, ["size", "--database", url, "--min", "5", "--max", "2", "--out", str(out)])
    assert r.exit_code == 2
