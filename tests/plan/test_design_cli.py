"""`territorium design` end to end on the imported small demo (in-process CLI, real SQLite)."""
import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from territorium.cli import app

runner = CliRunner()


def _run(args, demo_small):
    _, url = demo_small
    return runner.invoke(app, ["design", "--database", url, "--jobs", "1", *args])


def _pieces(units, assign):
    from scipy.sparse import coo_array
    from scipy.sparse.csgraph import connected_components

    e = units.adjacency.edges()
    same = assign[e[:, 0]] == assign[e[:, 1]]
    g = coo_array((np.ones(same.sum()), (e[same, 0], e[same, 1])), shape=(units.n, units.n))
    _, lab = connected_components(g, directed=False)
    return {t: len(np.unique(lab[assign == t])) for t in np.unique(assign)}


@pytest.fixture(scope="module")
def county_load(demo_small):
    from territorium.plan.workspace import Workspace

    return Workspace(demo_small[1]).load_units("county")


def test_design_counties_balanced_contiguous_and_locked(demo_small, county_load, tmp_path):
    units = county_load.units
    lock_ids = units.ids[:3]
    locks = tmp_path / "locks.csv"
    pd.DataFrame({"unit_id": lock_ids, "territory": ["T03"] * 3}).to_csv(locks, index=False)
    out = tmp_path / "plan.csv"
    r = _run(["--units", "county", "--k", "6", "--balance", "account_count:10%", "--balance", "workload:15%",
              "--lock", str(locks), "--time-limit", "15", "--seed", "3", "--out", str(out), "--json"], demo_small)
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    plan = pd.read_csv(out, dtype=str)
    assert len(plan) == units.n and set(plan["unit_id"]) == set(units.ids)
    # locks honoured
    assert (plan.set_index("unit_id").loc[lock_ids, "territory"] == "T03").all()
    # contiguity recounted independently of the engine
    terr = plan.set_index("unit_id")["territory"].reindex(units.ids).to_numpy()
    assert max(_pieces(units, pd.factorize(terr)[0]).values()) == 1
    # balance recounted from the measures
    for m, tol in (("account_count", 0.10), ("workload", 0.15)):
        tot = pd.Series(units.measure(m)).groupby(terr).sum()
        assert (tot / tot.mean() - 1).abs().max() <= tol + 1e-9
    assert rep["status"] == "feasible"
    assert rep["lower_bound"] <= rep["objective"]


def test_same_seed_same_plan(demo_small, tmp_path):
    outs = []
    for i in range(2):
        out = tmp_path / f"p{i}.csv"
        r = _run(["--units", "county", "--k", "5", "--balance", "account_count:10%", "--time-limit", "8",
                  "--seed", "11", "--out", str(out), "--json"], demo_small)
        assert r.exit_code == 0, r.output
        outs.append(out.read_text())
    assert outs[0] == outs[1]


def test_realign_respects_the_disruption_cap_and_explains_moves(demo_small, tmp_path):
    out = tmp_path / "re.csv"
    r = _run(["--units", "zip", "--realign", "--balance", "workload:10%", "--max-disruption", "8%",
              "--time-limit", "20", "--out", str(out), "--json"], demo_small)
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    d = rep["disruption"]
    assert d["moved_fraction"] <= 0.08 + 1e-9
    plan = pd.read_csv(out, dtype=str, keep_default_na=False)
    moved = plan[plan["moved_from"] != ""]
    assert len(moved) == d["units_moved"] > 0
    assert (moved["reason"].str.len() > 0).all()
    assert (moved["moved_from"] != moved["territory"]).all()


def test_tradeoff_writes_table_and_png(demo_small, tmp_path):
    out = tmp_path / "t.csv"
    r = _run(["--units", "county", "--realign", "--balance", "workload:10%", "--tradeoff", "0,5%,20%",
              "--time-limit", "5", "--out", str(out)], demo_small)
    assert r.exit_code == 0, r.output
    curve = pd.read_csv(tmp_path / "t_tradeoff.csv")
    assert curve["cap"].tolist()[:3] == [0.0, 0.05, 0.2]
    assert np.isnan(curve["cap"].iloc[3])  # the uncapped plan closes the curve
    swept = curve.iloc[:3]
    assert (swept["moved_fraction"] <= swept["cap"] + 1e-9).all()
    # more freedom never makes the best balance worse by much (monotone up to search noise)
    assert swept["max_dev_workload"].iloc[-1] <= swept["max_dev_workload"].iloc[0] + 1e-9
    png = (tmp_path / "t_tradeoff.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


@pytest.mark.parametrize("args, message", [
    (["--balance", "wrkload:5%"], "unknown measure 'wrkload'"),
    (["--balance", "workload:abc"], "'abc' is not a number"),
    (["--max-disruption", "150%"], "between 0% and 100%"),
    (["--freeze", "T01"], "needs a current alignment"),
])
def test_bad_options_exit_2_with_a_message(demo_small, tmp_path, args, message):
    r = _run(["--units", "county", "--k", "4", "--time-limit", "2", "--out", str(tmp_path / "x.csv"), *args], demo_small)
    assert r.exit_code == 2
    assert message in " ".join(r.output.split())
    assert not (tmp_path / "x.csv").exists()


def test_bad_lock_file_names_file_row_and_value(demo_small, tmp_path):
    locks = tmp_path / "locks.csv"
    locks.write_text("zip,territory\n02903,T01\n99999,T02\n02906,T77\n")
    r = _run(["--units", "zip", "--k", "40", "--lock", str(locks), "--time-limit", "2",
              "--out", str(tmp_path / "x.csv")], demo_small)
    assert r.exit_code == 2
    text = " ".join(r.output.split())
    assert "locks.csv" in text and "row 3" in text and "'99999'" in text
    assert not (tmp_path / "x.csv").exists()


def test_design_balances_the_estimated_potential(demo_small, county_load, tmp_path):
    """``--balance est_potential:..`` runs the potential model and balances its per-unit sum;
    the balance is recounted from the model's own output."""
    from territorium.plan.analytics import account_frame, run_potential, unit_potential
    from territorium.plan.workspace import Workspace

    out = tmp_path / "plan.csv"
    r = _run(["--units", "county", "--k", "4", "--balance", "est_potential:12%", "--balance", "workload:20%",
              "--time-limit", "12", "--seed", "2", "--out", str(out), "--json"], demo_small)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["status"] == "feasible"
    ws = Workspace(demo_small[1])
    est = unit_potential(run_potential(ws, frame=account_frame(ws, load=county_load), seed=2))
    plan = pd.read_csv(out, dtype=str).set_index("unit_id")["territory"].reindex(county_load.units.ids)
    tot = pd.Series(est).groupby(plan.to_numpy()).sum()
    assert len(tot) == 4 and (tot / tot.mean() - 1).abs().max() <= 0.12 + 1e-9
